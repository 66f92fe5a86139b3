/* The pledge command's common path without Python (launch.h; PROTOCOL.md).
 *
 * Testing aid: PLEDGEPY_LAUNCHER=native turns each fallback into
 * "pledge: launcher: <reason>" and exit status 70, so that a test can tell which
 * path ran; PLEDGEPY_LAUNCHER=python always falls back (PROTOCOL.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "supervise.h"

/* command/options.py */
#define EXIT_USAGE 64
#define PL_TAKEOVER_FDS 32 /* RLIMIT_NOFILE below which the Python command runs the job */
/* RLIMIT_AS and RLIMIT_DATA below which it does too: the takeover (an interpreter, the
 * backend, a thread's stack) failed at 30 MB and ran at 35 MB on 3.11; this leaves room */
#define PL_TAKEOVER_MEMORY (256UL << 20)
#define PL_WAIT_KILLABLE_RECV (1UL << 5) /* consts.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV */
#define EXIT_SANDBOX 70
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127
#define DEFAULT_PROMISES "stdio rpath"
#define TAKEOVER_CODE "from pledgepy.command.takeover import main; main()"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, uint64_t)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

extern char **environ;

/* SIGCHLD as the caller left it (restored in PROG, and before a fallback) */
static struct sigaction g_chld_was;
static char **g_argv;
static int g_argc;
static int g_native; /* PLEDGEPY_LAUNCHER=native */
static int g_errfd = 2; /* after the fork: our own description of stderr (outlet.reopen) */

/* Hand everything to the Python command; nothing has been opened, forked or said yet. */
/* Whether the child's filter makes its callers wait killably: this process is under no
 * filter (one might kill for a flag it does not know) and the kernel knows the flag (5.19:
 * with it, a NULL program is EFAULT; without, the flag is EINVAL). Asked before the fork. */
static int g_killable;

static int unfiltered(void);

static int killable_supported(void)
{
    if (!unfiltered())
        return 0;
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                     SECCOMP_FILTER_FLAG_NEW_LISTENER | PL_WAIT_KILLABLE_RECV, NULL);
    return r < 0 && errno == EFAULT;
}

/* Whether this process runs under no seccomp filter (/proc/self/status "Seccomp: 0") */
static int unfiltered(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[128];
    int mode = -1;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "Seccomp:", 8) == 0) {
            mode = atoi(line + 8);
            break;
        }
    fclose(f);
    return mode == 0;
}

static __attribute__((noreturn, format(printf, 1, 2))) void fallback(const char *fmt, ...)
{
    char exe[PATH_MAX], path[PATH_MAX + 16];
    if (g_native) {
        va_list ap;
        va_start(ap, fmt);
        fputs("pledge: launcher: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(EXIT_SANDBOX);
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || (size_t)n >= sizeof exe - 1) {
        fprintf(stderr, "pledge: cannot find the pledge-python command: /proc/self/exe: %s\n",
                n < 0 ? strerror(errno) : "too long");
        exit(EXIT_SANDBOX);
    }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    *slash = 0;
    snprintf(path, sizeof path, "%s/pledge-python", exe);
    execv(path, g_argv);
    fprintf(stderr, "pledge: cannot run %s: %s\n", path, strerror(errno));
    exit(EXIT_SANDBOX);
}

/* ---- the command line, as options.quick and argparse read it ---- */

struct line {
    struct pl_strs promises; /* each -p */
    int given_p;
    int quiet, strict;
    int prog; /* index of PROG in g_argv */
};

static int is_strict_abbrev(const char *w)
{
    /* argparse's allow_abbrev: a unique prefix of --strict ("--s" is --save's too) */
    size_t n = strlen(w);
    return n >= 4 && n <= 8 && !strncmp(w, "--strict", n);
}

static void take_value(struct line *l, struct pl_job *job, char opt, const char *value);

static void read_line(struct line *l, struct pl_job *job)
{
    int i = 1;
    while (i < g_argc) {
        const char *w = g_argv[i];
        if (!strcmp(w, "--")) {
            i++;
            break;
        }
        if (w[0] != '-' || !w[1])
            break; /* PROG (a lone "-" too) */
        if (w[1] == '-') {
            if (is_strict_abbrev(w)) {
                l->strict = 1;
                i++;
                continue;
            }
            fallback("option %s", w);
        }
        if (strchr(w, '='))
            fallback("option %s: '=' is argparse's to read", w);
        /* a cluster of short options: flags, then at most one taking a value */
        for (const char *c = w + 1; *c; c++) {
            if (*c == 'q') {
                l->quiet = 1;
                continue;
            }
            if (*c != 'p' && *c != 'v')
                fallback("option -%c", *c);
            if (c[1]) {
                take_value(l, job, *c, c + 1);
            } else {
                if (i + 1 >= g_argc)
                    fallback("-%c without a value", *c);
                if (g_argv[i + 1][0] == '-')
                    fallback("-%c %s: a value like an option is argparse's to read", *c,
                             g_argv[i + 1]);
                take_value(l, job, *c, g_argv[++i]);
            }
            break;
        }
        i++;
    }
    if (i >= g_argc)
        fallback("no PROG");
    if (g_argv[i][0] == '-' && g_argv[i][1])
        fallback("PROG %s looks like an option", g_argv[i]);
    l->prog = i;
}

/* A path as os.path.abspath would make it, when that needs no normalising. */
static int plain_path(const char *where, char *out, size_t cap)
{
    const char *p = where;
    if (!*where)
        return -1;
    if (*where != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return -1;
        if (snprintf(out, cap, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", where) >= (int)cap)
            return -1;
    } else if (snprintf(out, cap, "%s", where) >= (int)cap) {
        return -1;
    }
    /* no empty, "." or ".." component, no trailing "/" (normpath would change them) */
    p = out;
    if (!strcmp(p, "/"))
        return 0;
    while (*p) {
        const char *next;
        p++; /* the "/" */
        next = strchr(p, '/');
        size_t n = next ? (size_t)(next - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return -1;
        p += n;
    }
    return 0;
}

static void take_value(struct line *l, struct pl_job *job, char opt, const char *value)
{
    if (opt == 'p') {
        l->given_p = 1;
        if (pl_strs_add(&l->promises, value) != 0)
            fallback("-p: %s", strerror(errno));
        return;
    }
    /* cli._unveil_spec: [PERMS:]PATH, PERMS of "rwxc" */
    const char *colon = strchr(value, ':');
    char perms[8] = "r";
    const char *where = value;
    if (colon && strspn(value, "rwxc") == (size_t)(colon - value)) {
        size_t n = (size_t)(colon - value);
        if (n == 0 || n > 2)
            fallback("-v %s: perms for Python to read", value);
        memcpy(perms, value, n);
        perms[n] = 0;
        where = colon + 1;
    }
    /* writing or creating: the takeover's imports must stay out of reach (PROTOCOL.md) */
    if (strcmp(perms, "r") && strcmp(perms, "x") && strcmp(perms, "rx"))
        fallback("-v %s: perms %s", value, perms);
    char full[PATH_MAX];
    struct stat st;
    if (plain_path(where, full, sizeof full) != 0)
        fallback("-v %s: a path for os.path.abspath", value);
    if (stat(full, &st) != 0)
        fallback("-v %s: %s", value, strerror(errno));
    if (pl_rules_add(&job->unveils, full, perms) != 0)
        fallback("-v: %s", strerror(errno));
}

/* ---- the takeover: what it takes and whether it fits, known before the fork ---- */

struct takeover {
    char interp[PATH_MAX];
    size_t room; /* bytes of argv + environment an exec may add to ours */
};

static void plan_takeover(struct takeover *t)
{
    char exe[PATH_MAX], path[PATH_MAX + 16], line[PATH_MAX + 4];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || (size_t)n >= sizeof exe - 1)
        fallback("/proc/self/exe unreadable");
    exe[n] = 0;
    *strrchr(exe, '/') = 0;
    snprintf(path, sizeof path, "%s/pledge-python", exe);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fallback("%s: %s", path, strerror(errno));
    n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n < 4 || line[0] != '#' || line[1] != '!')
        fallback("%s: no #! line", path);
    line[n] = 0;
    char *nl = strchr(line, '\n');
    if (!nl)
        fallback("%s: #! line too long", path);
    *nl = 0;
    const char *interp = line + 2;
    if (interp[0] != '/' || strpbrk(interp, " \t") || access(interp, X_OK) != 0)
        fallback("%s: #! not an absolute interpreter without arguments", path);
    if (strlen(interp) >= sizeof t->interp)
        fallback("%s: #! line too long", path);
    memcpy(t->interp, interp, strlen(interp) + 1);

    /* ours fit; the takeover adds INTERP, its options, its code and STATE */
    long max = sysconf(_SC_ARG_MAX);
    size_t used = 0;
    for (int i = 0; i < g_argc; i++)
        used += strlen(g_argv[i]) + 1 + sizeof(char *);
    for (char **e = environ; *e; e++)
        used += strlen(*e) + 1 + sizeof(char *);
    /* STATE at its longest: 24 numbers of 20 digits and their keys, and every gid */
    size_t extra = strlen(interp) + sizeof TAKEOVER_CODE + 16 + 6 * sizeof(char *)
        + 1024 + PL_MAX_GIDS * 11;
    if (max <= 0 || used + extra + 4096 > (size_t)max)
        fallback("the takeover's command line would not fit (E2BIG)");
    t->room = (size_t)max - used;
}

static int fmt_gids(char *out, size_t cap, const struct pl_ids *ids)
{
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < ids->ngids; i++) {
        int w = snprintf(out + at, cap - at, "%s%u", i ? ":" : "", ids->gids[i]);
        if (w < 0 || (size_t)w >= cap - at)
            return -1;
        at += (size_t)w;
    }
    return 0;
}

static void clear_cloexec(int fd)
{
    int flags = fd >= 0 ? fcntl(fd, F_GETFD) : -1;
    if (flags >= 0)
        fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
}

static __attribute__((noreturn)) void supervisor_failed(const struct pl_job *job, pid_t pid,
                                                        int reaped, const char *why)
{
    if (!reaped) { /* nobody would punish its violations now */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    dprintf(g_errfd, "pledge: %s[%d]: killed: the supervisor failed (%s)\n", job->prog,
            (int)pid, why);
    exit(EXIT_SANDBOX);
}

static __attribute__((noreturn)) void take_over(const struct takeover *t, const struct pl_job *job,
                                                const struct pl_opening *o, int err)
{
    char state[1024 + PL_MAX_GIDS * 11], gids[PL_MAX_GIDS * 11 + 1], tail[512];
    char why[PATH_MAX + 128];
    if (fmt_gids(gids, sizeof gids, o->ids) != 0)
        supervisor_failed(job, o->pid, o->reaped, "ValueError: too many groups");
    if (o->has_notif) {
        const struct pl_notif *n = &o->notif;
        snprintf(tail, sizeof tail, ",notif=%llx:%x:%x:%llx:%llx:%llx:%llx:%llx:%llx",
                 (unsigned long long)n->id, n->tid, (unsigned)n->nr,
                 (unsigned long long)n->args[0], (unsigned long long)n->args[1],
                 (unsigned long long)n->args[2], (unsigned long long)n->args[3],
                 (unsigned long long)n->args[4], (unsigned long long)n->args[5]);
    } else if (o->reaped) {
        snprintf(tail, sizeof tail, ",status=%d,cpu_us=%lld", o->status, (long long)o->cpu_us);
    } else {
        tail[0] = 0;
    }
    char deadline[48] = "";
    if (o->opening && job->dynamic) {
        int64_t left = (o->deadline_ns - pl_now_ns()) / 1000000;
        snprintf(deadline, sizeof deadline, ",deadline_ms=%lld", (long long)(left > 0 ? left : 0));
    }
    int w = snprintf(state, sizeof state,
                     "listener=%d,pid=%d,err=%d,held=%llx,after=%llx,shim=%d,execed=%d,"
                     "opening=%d,seen=%d%s,uid=%u,gids=%s%s",
                     o->listener, (int)o->pid, err,
                     (unsigned long long)job->promises, (unsigned long long)job->after,
                     job->dynamic ? 1 : 0, o->execed, o->opening, o->seen, deadline,
                     o->ids->uid, gids, tail);
    if (w < 0 || (size_t)w >= sizeof state)
        supervisor_failed(job, o->pid, o->reaped, "ValueError: the takeover's state is too long");
    char **argv = calloc((size_t)g_argc + 7, sizeof *argv);
    if (!argv)
        supervisor_failed(job, o->pid, o->reaped, "MemoryError");
    int k = 0;
    argv[k++] = (char *)t->interp;
    argv[k++] = "-I";
    argv[k++] = "-c";
    argv[k++] = TAKEOVER_CODE;
    argv[k++] = state;
    argv[k++] = "--";
    for (int i = 1; i < g_argc; i++)
        argv[k++] = g_argv[i];
    argv[k] = NULL;
    clear_cloexec(o->listener);
    clear_cloexec(err);
    execv(t->interp, argv);
    snprintf(why, sizeof why, "OSError: [Errno %d] cannot exec the takeover %s: %s", errno,
             t->interp, strerror(errno));
    supervisor_failed(job, o->pid, o->reaped, why);
}

/* ---- the child: run.child's steps after _prepare, in its order ---- */

static __attribute__((noreturn, format(printf, 2, 3))) void child_fail(int status, const char *fmt,
                                                                      ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs("pledge: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    _exit(status);
}

static int shim_env(const struct pl_job *job)
{
    /* exec/shim.py environment() */
    const char *theirs = getenv("LD_PRELOAD");
    size_t n = 1;
    for (size_t i = 0; i < job->load.n; i++)
        n += strlen(job->load.v[i]) + 1;
    char *load = malloc(n), *preload;
    if (!load)
        return -1;
    load[0] = 0;
    for (size_t i = 0; i < job->load.n; i++) {
        if (i)
            strcat(load, ":");
        strcat(load, job->load.v[i]);
    }
    if (!theirs)
        theirs = "";
    if (*theirs) {
        if (asprintf(&preload, "%s:%s", job->shim, theirs) < 0)
            return -1;
    } else {
        preload = (char *)job->shim;
    }
    if (setenv("PLEDGEPY_SHIM", "1", 1) || setenv("PLEDGEPY_SHIM_PRELOAD", theirs, 1)
        || setenv("PLEDGEPY_SHIM_LOAD", load, 1) || setenv("LD_PRELOAD", preload, 1))
        return -1;
    return 0;
}

static __attribute__((noreturn)) void child(const struct pl_job *job, int go, int told)
{
    char err[512] = "";
    struct pl_ids ids;
    struct sock_filter *code = NULL;
    size_t n = 0;
    if (job->dynamic && shim_env(job) != 0)
        child_fail(EXIT_SANDBOX, "setting up %s: %s", job->prog, strerror(errno));
    /* pl_confine ends with what supervise.confine does before the filter (the shim's
     * check, the parent-death signal, the nested domain). Its PL_FALLBACK comes before
     * anything is said or changed outside this process: the parent falls back. */
    int rc = pl_confine(job, err, sizeof err);
    if (rc == PL_FALLBACK) {
        if (write(told, "F", 1) != 1)
            child_fail(EXIT_SANDBOX, "confining %s: %s", job->prog, strerror(errno));
        _exit(0);
    }
    if (rc != PL_OK) {
        /* run._unveil's SetupError for a -v path is a usage error; the rest the sandbox's */
        if (err[0])
            child_fail(strncmp(err, "-v ", 3) ? EXIT_SANDBOX : EXIT_USAGE, "%s", err);
        child_fail(EXIT_SANDBOX, "setting up %s: %s", job->prog, strerror(errno));
    }
    /* the ids the filter's rules are made for: the parent reads the same from /proc */
    memset(&ids, 0, sizeof ids);
    ids.pid = getpid();
    ids.uid = getuid();
    {
        gid_t g[PL_MAX_GIDS];
        int ng = getgroups(PL_MAX_GIDS, g);
        if (ng < 0)
            child_fail(EXIT_SANDBOX, "confining %s: %s", job->prog, strerror(errno));
        ids.gids[ids.ngids++] = getgid();
        for (int i = 0; i < ng; i++) {
            size_t j = 0;
            while (j < ids.ngids && ids.gids[j] != g[i])
                j++;
            if (j == ids.ngids) {
                if (ids.ngids == PL_MAX_GIDS)
                    child_fail(EXIT_SANDBOX, "confining %s: too many groups", job->prog);
                ids.gids[ids.ngids++] = g[i];
            }
        }
        for (size_t a = 1; a < ids.ngids; a++) /* sorted */
            for (size_t b = a; b > 0 && ids.gids[b - 1] > ids.gids[b]; b--) {
                uint32_t x = ids.gids[b];
                ids.gids[b] = ids.gids[b - 1];
                ids.gids[b - 1] = x;
            }
    }
    if (pl_opening_filter(job, &ids, &code, &n) != PL_OK || n == 0 || n > BPF_MAXINSNS)
        child_fail(EXIT_SANDBOX, "confining %s: %s", job->prog,
                   errno ? strerror(errno) : "no filter");
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = code };
    /* kernel.install(listener=True): a listener, no TSYNC (single-threaded here) */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        child_fail(EXIT_SANDBOX, "confining %s: seccomp filter not installed: %s", job->prog,
                   strerror(errno));
    /* kernel.install(killable=True): callers wait killably once read (5.19; EINVAL
     * before), where no filter is in force yet (one might kill for a flag it does not know) */
    unsigned long killable = g_killable ? PL_WAIT_KILLABLE_RECV : 0;
    long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                            SECCOMP_FILTER_FLAG_NEW_LISTENER | killable, &prog);
    if (listener < 0)
        child_fail(EXIT_SANDBOX, "confining %s: seccomp filter not installed: %s", job->prog,
                   strerror(errno));
    char said[24];
    int len = snprintf(said, sizeof said, "%ld", listener);
    if (write(told, said, (size_t)len) != len)
        child_fail(EXIT_SANDBOX, "confining %s: %s", job->prog, strerror(errno));
    /* the listener closes at exec: run only once the parent holds it */
    char byte = 0;
    ssize_t got;
    do
        got = read(go, &byte, 1);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        child_fail(EXIT_SANDBOX, "confining %s: %s", job->prog, strerror(errno));
    if (got != 1 || byte != 'x')
        child_fail(EXIT_SANDBOX, NULL);
    sigaction(SIGCHLD, &g_chld_was, NULL);
    execv(job->path, job->argv);
    child_fail(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN, "%s: %s", job->prog,
               strerror(errno));
}

/* ---- the parent ---- */

/* outlet.reopen(2): a description of our own for a terminal or pipe, else a copy */
static int outlet_reopen(void)
{
    struct stat st;
    if (fstat(2, &st) == 0 && (S_ISFIFO(st.st_mode) || isatty(2))) {
        int fd = open("/proc/self/fd/2", O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
            return fd;
    }
    return fcntl(2, F_DUPFD_CLOEXEC, 3);
}

/* supervise.told_listener: the child's listener number, checked; -1 if none, -2 when
 * the child found the job off the common path before doing anything */
static int told_listener(pid_t pid, int told)
{
    struct pollfd p = { .fd = told, .events = POLLIN, .revents = 0 };
    char said[17], path[64], link[64];
    int got;
    do
        got = poll(&p, 1, 10000);
    while (got < 0 && errno == EINTR);
    if (got <= 0)
        return -1;
    ssize_t n = read(told, said, 16);
    if (n <= 0)
        return -1;
    said[n] = 0;
    if (!strcmp(said, "F"))
        return -2;
    char *end;
    long fd = strtol(said, &end, 10);
    if (*end || fd < 0 || fd > INT_MAX)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/fd/%ld", (int)pid, fd);
    ssize_t k = readlink(path, link, sizeof link - 1);
    if (k <= 0)
        return -1;
    link[k] = 0;
    return strcmp(link, "anon_inode:seccomp notify") ? -1 : (int)fd;
}

int main(int argc, char **argv)
{
    static struct pl_job job;
    struct line l;
    struct takeover t;
    g_argc = argc;
    g_argv = argv;
    const char *mode = getenv("PLEDGEPY_LAUNCHER");
    g_native = mode && !strcmp(mode, "native");
    if (mode && !strcmp(mode, "python"))
        fallback("PLEDGEPY_LAUNCHER=python");
    if (argc < 1 || !argv[0])
        fallback("no argv");

    memset(&l, 0, sizeof l);
    read_line(&l, &job);
    job.prog = argv[l.prog];
    job.argv = argv + l.prog;
    job.quiet = l.quiet;
    job.strict = l.strict;

    /* options.promise_text: every -p joined by spaces, else the default */
    char *text;
    if (!l.given_p) {
        text = strdup(DEFAULT_PROMISES);
    } else {
        size_t n = 1;
        for (size_t i = 0; i < l.promises.n; i++)
            n += strlen(l.promises.v[i]) + 1;
        text = malloc(n);
        if (text) {
            text[0] = 0;
            for (size_t i = 0; i < l.promises.n; i++) {
                if (i)
                    strcat(text, " ");
                strcat(text, l.promises.v[i]);
            }
        }
    }
    if (!text)
        fallback("out of memory");
    if (pl_parse_promises(text, &job.asked) != PL_OK)
        fallback("promises \"%s\"", text);
    const char *package = pl_package_dir();
    if (!package)
        fallback("no package directory");
    if (pl_tables_check(package) != PL_OK)
        fallback("the launcher's tables are not the installed policy's");
    char err[512] = "";
    int rc = pl_discover(&job, err, sizeof err);
    if (rc != PL_OK)
        fallback("discover: %s", err[0] ? err : rc == PL_FALLBACK ? "off the common path"
                                                                : strerror(errno));
    if (job.dynamic && job.shim[0] != '/')
        fallback("no start-up shim");
    plan_takeover(&t);
    /* the takeover is a Python interpreter, which needs more descriptors than this
     * process: below this many it may fail once PROG ran (exit 70 after PROG's effects),
     * where the Python command, started now, says so before anything runs */
    struct rlimit nofile, as, data;
    if (getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur < PL_TAKEOVER_FDS)
        fallback("a descriptor limit below %d (the takeover's needs)", PL_TAKEOVER_FDS);
    /* so with a memory limit that would leave the takeover no interpreter (exit 1, a
     * MemoryError, or 70 with the violation unnamed, after PROG ran) */
    if (getrlimit(RLIMIT_AS, &as) != 0 || getrlimit(RLIMIT_DATA, &data) != 0
            || as.rlim_cur < PL_TAKEOVER_MEMORY || data.rlim_cur < PL_TAKEOVER_MEMORY)
        fallback("a memory limit below %lu MB (the takeover's needs)", PL_TAKEOVER_MEMORY >> 20);

    g_killable = killable_supported();

    int go[2], told[2];
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(told, O_CLOEXEC) != 0)
        fallback("pipe: %s", strerror(errno));
    /* from the fork on nothing falls back: PROG may run */
    int errfd = outlet_reopen();
    fflush(stdout);
    fflush(stderr);
    /* a caller's ignored SIGCHLD would reap PROG for the kernel (the supervisor's and the
     * takeover's waits fail): the default here, the caller's again in PROG (as cli.py) */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, &g_chld_was);
    pid_t pid = fork();
    if (pid < 0) /* our descriptors close at its exec: the Python command starts afresh */
        fallback("fork: %s", strerror(errno));
    if (pid == 0) {
        close(go[1]);
        close(told[0]);
        if (errfd >= 0)
            close(errfd);
        child(&job, go[0], told[1]);
    }
    sched_yield();
    /* cli.SUPERVISOR_IGNORES */
    static const int ignores[] = { SIGINT, SIGQUIT, SIGHUP, SIGIO, SIGURG,
                                   SIGPIPE, SIGTTOU, SIGTTIN, SIGXFSZ };
    struct sigaction was[sizeof ignores / sizeof ignores[0]];
    for (size_t i = 0; i < sizeof ignores / sizeof ignores[0]; i++) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigaction(ignores[i], &ign, &was[i]);
    }
    if (errfd >= 0)
        g_errfd = errfd;
    close(go[0]);
    close(told[1]);

    struct pl_ids ids;
    struct pl_opening o;
    memset(&ids, 0, sizeof ids);
    memset(&o, 0, sizeof o);
    o.pid = pid;
    o.job = &job;
    o.killable = g_killable;
    o.ids = &ids;
    o.listener = -1;
    int fd = told_listener(pid, told[0]);
    close(told[0]);
    if (fd == -2) {
        /* as if the fork had not been: nothing of PROG's ran, nothing was said */
        close(go[1]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        for (size_t i = 0; i < sizeof ignores / sizeof ignores[0]; i++)
            sigaction(ignores[i], &was[i], NULL);
        sigaction(SIGCHLD, &g_chld_was, NULL);
        if (errfd >= 0)
            close(errfd);
        g_errfd = 2;
        fallback("confine: off the common path");
    }
    if (fd < 0) {
        /* the child ended before confining itself: its status says why (it said so) */
        close(go[1]);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            return 0;
        if (pl_status_ids(getpid(), &ids) != 0)
            supervisor_failed(&job, pid, 1, "OSError: cannot read this process's ids");
        ids.pid = pid;
        o.reaped = 1;
        o.status = status;
        take_over(&t, &job, &o, errfd);
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    long got = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (got < 0) {
        char why[200];
        snprintf(why, sizeof why,
                 "OSError: [Errno %d] cannot take the child's seccomp listener: %s", errno,
                 strerror(errno));
        supervisor_failed(&job, pid, 0, why);
    }
    close(pidfd);
    o.listener = (int)got;
    ioctl(o.listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    if (pl_status_ids(pid, &ids) != 0) {
        char why[200];
        snprintf(why, sizeof why, "OSError: [Errno %d] /proc/%d/status: %s", errno, (int)pid,
                 strerror(errno));
        supervisor_failed(&job, pid, 0, why);
    }
    o.opening = 1;
    o.deadline_ns = job.dynamic ? pl_now_ns() + (int64_t)PL_DEADLINE_MS * 1000000 : INT64_MAX;
    if (write(go[1], "x", 1) != 1) {
        char why[200];
        snprintf(why, sizeof why, "OSError: [Errno %d] %s", errno, strerror(errno));
        supervisor_failed(&job, pid, 0, why);
    }
    close(go[1]);
    switch (pl_supervise(&o)) {
    case PL_END_CLEAN:
        return WEXITSTATUS(o.status);
    case PL_END_TAKEOVER:
        take_over(&t, &job, &o, errfd);
    case PL_END_FAILED:
    default:
        supervisor_failed(&job, pid, o.reaped, o.why);
    }
}
