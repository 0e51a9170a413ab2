/* Test front end for the S3 model source, standing in for the berth program until cmd_fetch is
 * wired into its command table: `fetch ARGS...` runs cmd_fetch exactly as `berth fetch ARGS...`
 * would; `resolve MODEL CACHE_DIR` runs model_source_resolve and prints the directory to load. */
#include <stdio.h>
#include <string.h>

#include "models/source/model_source.h"

int cmd_fetch(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "fetch")) return cmd_fetch(argc - 1, argv + 1);
    if (argc == 4 && !strcmp(argv[1], "resolve")) {
        model_source_options o = {.cache_dir = argv[3], .progress = MS_PROGRESS_NONE};
        char dir[4096], err[8192];
        if (model_source_resolve(argv[2], &o, dir, sizeof dir, err, sizeof err) != 0) {
            fprintf(stderr, "resolve: %s\n", err);
            return 1;
        }
        printf("%s\n", dir);
        return 0;
    }
    fprintf(stderr, "usage: %s fetch [berth fetch arguments] | resolve MODEL CACHE_DIR\n", argv[0]);
    return 2;
}
