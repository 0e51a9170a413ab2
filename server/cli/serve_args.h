/* berth serve's command line: every option and its environment variable into serve_args, the
 * checks between options, and --help. It starts nothing; cmd_serve.c runs what it describes. */
#ifndef BERTH_CLI_SERVE_ARGS_H
#define BERTH_CLI_SERVE_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/backends.h"
#include "server/serve/serve.h"

typedef struct serve_args {
    serve_options opts;
    engine_config engine;
    const char *host;
    int port;
    size_t max_body_bytes;
    unsigned keepalive_ms;
    unsigned idle_timeout_s;
    double shutdown_timeout_s;
    const char *tls_cert, *tls_key;
    const char *tls_priorities;
    unsigned max_connections, max_connections_per_ip, header_timeout_s, min_body_rate;
    const char *endpoints[16];
    size_t n_endpoints;
    bk_create_options backend;
    const char *auth_key_store;
    const char *auth_regions[16];
    size_t n_auth_regions;
    bool auth_accept_bedrock;
    int64_t auth_clock_skew;
    const char *auth_token_host;
    const char *api_keys[16];
    size_t n_api_keys;
    const char *api_keys_file;
    const char *config_path;    /* --config: the router of an endpoint with inference components */
    const char *unix_socket;    /* --unix-socket: a worker behind the router */
    const char *per_model_flag; /* the first per-model option given (an error with --config) */
    const char *admin_keys[16]; /* --admin-api-key: the inference-component admin API */
    size_t n_admin_keys;
} serve_args;

/* Fills *a from argv and the environment. 0, or -1 after printing the error (or the usage) to
 * stderr; --help prints the usage to stdout and exits 0. */
int serve_args_parse(int argc, char **argv, serve_args *a);

#endif
