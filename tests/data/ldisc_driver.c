/* Test driver of discover.c (tests/test_launcher_discover.py): one job per stdin line,
 * "ASKED_HEX \t PROG [\t PATH \x1f PERMS ...]" (the -v rules), one answer a line:
 * "RC \t PATH \t DYNAMIC \t PROMISES \t AFTER \t SHIM \t LOADS \t RULES", lists joined
 * by \x1e, a rule as PATH \x1f PERMS. "--time N PROG ASKED_HEX": microseconds a call.
 * The build defines PL_PACKAGE_DIR and PL_CACHE_TAG; package.c's part is here. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "discover.h"
#include "launch.h"

#include DIGEST_C

const char *pl_package_dir(void) { return PL_PACKAGE_DIR; }

int pl_digest(const char *names, size_t len, char hex[65])
{
    long rc = pp_sources_digest(pl_package_dir(), names, len, hex);
    if (rc != 0) {
        errno = (int)-rc;
        return PL_ERROR;
    }
    return PL_OK;
}

static int run(char *line)
{
    line[strcspn(line, "\n")] = 0;
    char *save;
    char *hex = strtok_r(line, "\t", &save), *prog = strtok_r(NULL, "\t", &save);
    if (hex == NULL || prog == NULL)
        return -1;
    struct pl_job job = {0};
    job.prog = prog;
    char *argv[] = {prog, NULL};
    job.argv = argv;
    job.asked = strtoull(hex, NULL, 16);
    for (char *v; (v = strtok_r(NULL, "\t", &save)) != NULL;) {
        char *sep = strchr(v, '\x1f');
        if (sep == NULL)
            return -1;
        *sep = 0;
        if (pl_rules_add(&job.unveils, v, sep + 1) != PL_OK)
            return -1;
    }
    char err[256];
    int rc = pl_discover(&job, err, sizeof err);
    printf("%d\t%s\t%d\t%llx\t%llx\t%s\t", rc, rc == PL_OK ? job.path : "", job.dynamic,
           (unsigned long long)job.promises, (unsigned long long)job.after, job.shim);
    for (size_t i = 0; i < job.load.n; i++)
        printf("%s%s", i ? "\x1e" : "", job.load.v[i]);
    putchar('\t');
    for (size_t i = 0; i < job.rules.n; i++)
        printf("%s%s\x1f%s", i ? "\x1e" : "", job.rules.v[i].path, job.rules.v[i].perms);
    putchar('\n');
    fflush(stdout);
    pl_rules_free(&job.rules);
    pl_rules_free(&job.unveils);
    pl_strs_free(&job.load);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--time") == 0) {
        long n = atol(argv[2]);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++) {
            struct pl_job job = {0};
            char *args[] = {argv[3], NULL};
            job.prog = argv[3];
            job.argv = args;
            job.asked = strtoull(argv[4], NULL, 16);
            char err[256];
            if (pl_discover(&job, err, sizeof err) != PL_OK)
                return 1;
            pl_rules_free(&job.rules);
            pl_strs_free(&job.load);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n);
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0)
        if (run(line) != 0)
            return 2;
    free(line);
    return 0;
}
