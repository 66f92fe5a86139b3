/* pl_confine on a job read from stdin, then exec of a command (tests/test_launcher_confine.py).
 *
 *   lconf_driver [-q] [-s] [-p HEXBITS] [-P PROG] [-S SHIM] -- CMD ARGS... < RULES
 *   lconf_driver -A      (landlock/abi.py's rows 0-12: "ABI<TAB>FS<TAB>SCOPES<TAB>FLAGS")
 *   lconf_driver -T      (the stdio allowance table, one "PATH<TAB>PERMS" a line)
 *
 * RULES: one a line, "R<TAB>PERMS<TAB>PATH" (job->rules) or "V<TAB>PERMS<TAB>PATH"
 * (job->unveils). Exit 3 on PL_FALLBACK (printing FALLBACK), 70 on PL_ERROR (printing
 * "pledge: " and the message, as the command would). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confine.h"

/* lists.c's (another part): here until the build links it */
int pl_rules_add(struct pl_rules *rules, const char *path, const char *perms)
{
    if (strlen(perms) >= sizeof rules->v[0].perms)
        return errno = EINVAL, -1;
    if (rules->n == rules->cap) {
        size_t cap = rules->cap ? rules->cap * 2 : 16;
        struct pl_rule *v = realloc(rules->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        rules->v = v;
        rules->cap = cap;
    }
    char *copy = strdup(path);
    if (copy == NULL)
        return -1;
    rules->v[rules->n].path = copy;
    strcpy(rules->v[rules->n].perms, perms);
    rules->n++;
    return 0;
}

int main(int argc, char **argv)
{
    static struct pl_job job;
    const char *prog = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "qsp:P:S:TA")) != -1) {
        switch (opt) {
        case 'A':
            for (int abi = 0; abi <= 12; abi++) {
                struct pl_landlock_row r = pl_landlock_row_of(abi);
                printf("%d\t%llu\t%llu\t%u\n", abi, (unsigned long long)r.fs,
                       (unsigned long long)r.scopes, r.restrict_flags);
            }
            return 0;
        case 'T':
            for (size_t i = 0; i < pl_stdio_npaths; i++)
                printf("%s\t%s\n", pl_stdio_paths[i].path, pl_stdio_paths[i].perms);
            return 0;
        case 'q': job.quiet = 1; break;
        case 's': job.strict = 1; break;
        case 'p': job.promises = strtoull(optarg, NULL, 16); break;
        case 'P': prog = optarg; break;
        case 'S': snprintf(job.shim, sizeof job.shim, "%s", optarg); break;
        default: return 2;
        }
    }
    if (optind >= argc)
        return 2;
    job.prog = prog ? prog : argv[optind];
    job.argv = argv + optind;
    char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *kind = strtok(line, "\t"), *perms = strtok(NULL, "\t"), *path = strtok(NULL, "\t");
        if (kind == NULL)
            continue;
        if (perms == NULL || path == NULL)
            return 2;
        if (strcmp(perms, "-") == 0)
            perms = "";
        if (pl_rules_add(kind[0] == 'V' ? &job.unveils : &job.rules, path, perms) != 0)
            return 2;
    }
    char err[1024];
    int rc = pl_confine(&job, err, sizeof err);
    if (rc == PL_FALLBACK) {
        puts("FALLBACK");
        return 3;
    }
    if (rc != PL_OK) {
        fprintf(stderr, "pledge: %s\n", err);
        return PL_EXIT_SANDBOX;
    }
    fflush(stdout);
    execvp(argv[optind], argv + optind);
    fprintf(stderr, "exec %s: %s\n", argv[optind], strerror(errno));
    return 127;
}
