/* The native pledge launcher: the command's common path without Python.
 *
 * `pledge -p PROMISES [-v PATH]... [-q] [--strict] PROG ARGS` for an ELF PROG is
 * planned, confined, started and watched through its loader here; anything
 * else, and anything the Python command would say a note about, is handed to
 * the Python command before anything is done (PL_FALLBACK: one behaviour, one
 * set of messages). Once PROG runs, the first notification that is not its
 * loader's (a violation, a served open) or an unclean end hands the listener
 * to the Python supervisor (takeover.py, PROTOCOL.md).
 *
 * The parts, each checked against the Python code it replaces:
 *   plan.c      promises, the seccomp plan, the opening filter, the loader's verdicts
 *   discover.c  the job: PROG, its loader and libraries, the default unveil list
 *   confine.c   the child's set-up: signals, capabilities, fds, Landlock
 *   main.c      options, fallback, fork, hand-over of the listener, the supervisor loop
 *   supervise.c the opening phase: the listener served until READY, then the takeover
 *   lists.c     pl_rules/pl_strs (discover.c's owner); package.c pl_package_dir, pl_digest
 */
#ifndef PL_LAUNCH_H
#define PL_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#define PL_OK 0
#define PL_FALLBACK 1 /* off the common path: the Python command does it all */
#define PL_ERROR (-1) /* errno says why */

/* Promises as a bitmask: bit i is pledgepy.promises.VOCABULARY[i] (promises.bits()). */
typedef uint64_t pl_promises;

/* Unveil rules in the order the Python child applies them; perms a subset of "rwxc". */
struct pl_rule {
    char *path;
    char perms[5];
};
struct pl_rules {
    size_t n, cap;
    struct pl_rule *v;
};
int pl_rules_add(struct pl_rules *rules, const char *path, const char *perms);
int pl_rules_has(const struct pl_rules *rules, const char *path);
void pl_rules_free(struct pl_rules *rules);

struct pl_strs {
    size_t n, cap;
    char **v;
};
int pl_strs_add(struct pl_strs *strs, const char *s);
void pl_strs_free(struct pl_strs *strs);

/* What a plan's placeholders are made concrete with (seccomp/plan.py: Identity). */
#define PL_MAX_GIDS 256
struct pl_ids {
    int32_t pid;
    uint32_t uid;
    size_t ngids;
    uint32_t gids[PL_MAX_GIDS]; /* sorted, unique */
    uint64_t ip;                /* the in-process handler's address: 0 here */
};

/* Everything the child needs, decided before the fork (command/run.py: Job). */
struct pl_job {
    const char *prog;        /* PROG as given */
    char path[4096];         /* PROG found (cli._find) */
    char *const *argv;       /* [PROG, ARGS...] */
    pl_promises asked;       /* -p, joined (default "stdio rpath") */
    pl_promises promises;    /* the opening filter's: asked | exec | the loader's when dynamic */
    pl_promises after;       /* once started: asked, after the shim's READY */
    int dynamic;             /* PT_INTERP: the shim narrows after the loader */
    char shim[4096];         /* the start-up shim's path (dynamic only) */
    struct pl_strs load;     /* libraries the shim loads before READY (NSS modules) */
    struct pl_rules rules;   /* the default unveil: discover.plan's rules, then the shim's */
    struct pl_rules unveils; /* -v, each as cli._unveil_spec made it */
    int quiet, strict;       /* -q, --strict */
};

/* ---- The parts' entry points (each part's own header may add more) ----
 * Return PL_OK, PL_FALLBACK (hand everything to the Python command: nothing has been
 * done yet) or PL_ERROR (errno set; a message, when one, in err[errlen]). */

/* package.c: the installed package's directory (".../pledgepy"), or NULL: PL_PACKAGE_DIR
 * when the build defined it (editable installs), else realpath(dirname(/proc/self/exe)
 * "/" PL_PACKAGE_REL). */
const char *pl_package_dir(void);
/* package.c: BLAKE2b-256 (hex, 64 chars + NUL) of the files *names* (relative to the
 * package directory, as exec/shim.py's SOURCES name them; NUL-separated, *len* bytes) in
 * native/digest.py's framing. */
int pl_digest(const char *names, size_t len, char hex[65]);

/* plan.c: "-p" text (every -p joined by spaces) -> bits, as promises.parse would accept it;
 * PL_FALLBACK for anything the Python command would refuse or say something about. */
int pl_parse_promises(const char *text, pl_promises *out);
/* plan.c: PL_OK when the launcher's generated tables match the installed policy (else
 * PL_FALLBACK: a stale build must not enforce an older policy). */
int pl_tables_check(const char *package_dir);
/* plan.c: the opening filter for *job* (job->after allowed, violations to the listener,
 * as exec/supervise.confine compiles it) for child *ids*; *out* malloc'd, *n* insns. */
struct sock_filter;
int pl_opening_filter(const struct pl_job *job, const struct pl_ids *ids,
                      struct sock_filter **out, size_t *n);
/* plan.c: what the loader's plan (exec/shim.loader_plan: *loader* less exec, for *ids*)
 * answers: 0 it runs, > 0 that errno, -1 a violation (exec/shim.verdict). */
int pl_loader_verdict(pl_promises loader, const struct pl_ids *ids, int nr,
                      const uint64_t args[6]);

/* discover.c: fill job->path, dynamic, promises, after, shim, load and rules for job->prog
 * and job->asked as cli._job, cli._after_loader and run._unveil would (the default
 * unveil, the shim and what it loads); PL_FALLBACK for any job the Python command would
 * say a note about, or that is not an ELF program. */
int pl_discover(struct pl_job *job, char *err, size_t errlen);

/* confine.c: in the child after the fork, up to (not including) the filter: signals
 * restored, capabilities dropped, inherited fds closed, no_new_privs, the Landlock
 * domain of job->rules + job->unveils as run._prepare and api.lock_unveil_for make it,
 * the shim's open check, then exec/supervise.confine's steps (the parent-death signal,
 * the nested domain). PL_FALLBACK only before anything has changed (PROTOCOL.md: `F`). */
int pl_confine(const struct pl_job *job, char *err, size_t errlen);

#endif
