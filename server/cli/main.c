/* berth: the inference server program. Dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "server/cli/commands.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", cmd_serve, "serve a model over the OpenAI API (HTTP)"},
    {"fetch", cmd_fetch, "download a model from S3 (s3://BUCKET/PREFIX/) into a directory"},
    {"components", cmd_components, "manage the inference components of a running berth serve --config"},
    {"run", cmd_run, "generate token ids from token ids with a local model (debugging, benchmarks)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: berth COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'berth COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("berth %s\n", BERTH_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "berth: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
