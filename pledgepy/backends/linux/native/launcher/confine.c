/* The child's set-up, as the Python command's child makes it (confine.h). */
#define _GNU_SOURCE
#include "confine.h"
#include "policy_tables.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* landlock/abi.py (the uapi values: system headers may be older than the kernel) */
#define LL_EXECUTE (1ULL << 0)
#define LL_WRITE_FILE (1ULL << 1)
#define LL_READ_FILE (1ULL << 2)
#define LL_READ_DIR (1ULL << 3)
#define LL_REMOVE_DIR (1ULL << 4)
#define LL_REMOVE_FILE (1ULL << 5)
#define LL_MAKE_ALL (0x7fULL << 6) /* CHAR DIR REG SOCK FIFO BLOCK SYM */
#define LL_REFER (1ULL << 13)
#define LL_TRUNCATE (1ULL << 14)
#define LL_IOCTL_DEV (1ULL << 15)
#define LL_FS1 ((1ULL << 13) - 1)
#define LL_FILE (LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV)
#define LL_SCOPE_ABSTRACT 1ULL
#define LL_SCOPE_SIGNAL 2ULL
#define LL_TSYNC (1U << 3)
#define LL_VERSION 1U
#define NR_CREATE 444
#define NR_ADD 445
#define NR_RESTRICT 446

/* landlock/unveil.py LETTERS */
#define R_ACCESS (LL_READ_FILE | LL_READ_DIR | LL_IOCTL_DEV)
#define W_ACCESS (LL_WRITE_FILE | LL_TRUNCATE | LL_IOCTL_DEV)
#define X_ACCESS LL_EXECUTE
#define C_ACCESS (LL_MAKE_ALL | LL_REMOVE_FILE | LL_REMOVE_DIR | LL_REFER)

/* promises.VOCABULARY indices of the promises whose gaps the command would say */
#define P_FATTR (1ULL << 8)
#define P_CHOWN (1ULL << 9)
#define P_UNIX (1ULL << 11)

/* command/limits.py */
#define CAP_V3 0x20080522U
#define SECUREBITS (0x01 | 0x02 | 0x04 | 0x08 | 0x20)
#define CAP_SETPCAP_BIT 8
#define NR_CLOSE_RANGE 436
#define CLOSE_RANGE_CLOEXEC_FLAG 4U

/* generated from policy.PATHS["stdio"] (plan_tables.py), so a build cannot disagree */
const struct pl_allowance pl_stdio_paths[] = PLT_STDIO_PATHS;
const size_t pl_stdio_npaths = sizeof pl_stdio_paths / sizeof pl_stdio_paths[0];

/* abi.py ABIS: ABI 9 and 10 repeat 8's rights; a newer kernel gets the newest row */
struct pl_landlock_row pl_landlock_row_of(int abi)
{
    struct pl_landlock_row r = {0, 0, 0};
    if (abi >= 1)
        r.fs = LL_FS1;
    if (abi >= 2)
        r.fs |= LL_REFER;
    if (abi >= 3)
        r.fs |= LL_TRUNCATE;
    if (abi >= 5)
        r.fs |= LL_IOCTL_DEV;
    if (abi >= 6)
        r.scopes = LL_SCOPE_ABSTRACT | LL_SCOPE_SIGNAL;
    if (abi >= 7)
        r.restrict_flags = 7;
    if (abi >= 8)
        r.restrict_flags |= LL_TSYNC;
    return r;
}

int pl_landlock_abi(void)
{
    long v = syscall(NR_CREATE, NULL, 0, LL_VERSION);
    return v > 0 ? (int)v : 0;
}

static int letters_of(const char *perms, unsigned *out)
{
    unsigned set = 0;
    for (const char *c = perms; *c; c++) {
        const char *at = strchr("rwxc", *c);
        if (at == NULL)
            return -1;
        set |= 1U << (at - "rwxc");
    }
    *out = set;
    return 0;
}

static uint64_t access_of(unsigned letters, const struct pl_landlock_row *row)
{
    uint64_t a = 0;
    if (letters & 1)
        a |= R_ACCESS;
    if (letters & 2)
        a |= W_ACCESS;
    if (letters & 4)
        a |= X_ACCESS;
    if (letters & 8)
        a |= C_ACCESS;
    return a & row->fs;
}

/* api._check_path's test for a path it takes as it is (anything else it rewrites) */
static int normal(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || p[0] != '/' || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../"))
        return 0;
    if (n == 1)
        return 1;
    if (p[n - 1] == '/')
        return 0;
    if (n >= 2 && strcmp(p + n - 2, "/.") == 0)
        return 0;
    if (n >= 3 && strcmp(p + n - 3, "/..") == 0)
        return 0;
    return 1;
}

/* unveil.check_rule: the path exists, or its parent directory does */
static int check_rule(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 0;
    if (errno != ENOENT)
        return -1;
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = (size_t)(slash - path);
    if (n == 0) {
        strcpy(parent, "/");
    } else {
        if (n >= sizeof parent)
            return -1;
        memcpy(parent, path, n);
        parent[n] = 0;
    }
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;
    return 0;
}

/* The rules once every unveil is recorded (api._state.unveils: a dict, so a later
 * rule for a path replaces its letters where it first stood). */
struct merged {
    size_t n;
    const char **path;
    unsigned *letters;
    char **real; /* resolved (unveil._resolver), for the nesting check */
};

static void merged_free(struct merged *m)
{
    if (m->real)
        for (size_t i = 0; i < m->n; i++)
            free(m->real[i]);
    free(m->path);
    free(m->letters);
    free(m->real);
}

static int merge_one(struct merged *m, const struct pl_rule *r, int *dup)
{
    unsigned letters;
    if (letters_of(r->perms, &letters) != 0 || !normal(r->path))
        return -1;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->path[i], r->path) == 0) {
            m->letters[i] = letters;
            *dup = 1;
            return 0;
        }
    m->path[m->n] = r->path;
    m->letters[m->n++] = letters;
    return 0;
}

/* unveil._resolver's answer for a normal absolute path: each component's symlink
 * resolved as os.path.realpath would; NULL when that cannot be told here (a
 * dangling link: realpath(3) would not say what Python's says). */
static char *resolve(const char *path)
{
    if (strcmp(path, "/") == 0)
        return strdup("/");
    const char *slash = strrchr(path, '/');
    char *parent = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (parent == NULL)
        return NULL;
    char *base = resolve(parent);
    free(parent);
    if (base == NULL)
        return NULL;
    char *cand;
    if (asprintf(&cand, "%s/%s", strcmp(base, "/") == 0 ? "" : base, slash + 1) < 0) {
        free(base);
        return NULL;
    }
    free(base);
    struct stat st;
    if (lstat(cand, &st) == 0 && S_ISLNK(st.st_mode)) {
        char *real = realpath(cand, NULL);
        free(cand);
        return real;
    }
    return cand;
}

/* unveil._nested: a rule at or beneath another's path that grants a letter it lacks */
static int nested(struct merged *m, int *found)
{
    *found = 0;
    m->real = calloc(m->n ? m->n : 1, sizeof *m->real);
    if (m->real == NULL)
        return -1;
    for (size_t i = 0; i < m->n; i++)
        if ((m->real[i] = resolve(m->path[i])) == NULL)
            return -1;
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->n; j++) {
            if (i == j || !(m->letters[j] & ~m->letters[i]))
                continue;
            const char *here = m->real[i], *above = m->real[j];
            size_t k = strlen(above);
            if (strcmp(here, above) == 0 || strcmp(above, "/") == 0 ||
                (strncmp(here, above, k) == 0 && here[k] == '/')) {
                *found = 1;
                return 0;
            }
        }
    return 0;
}

static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    errno = e;
    return PL_ERROR;
}

static long xprctl(int option, unsigned long a2, unsigned long a3)
{
    long rc = prctl(option, a2, a3, 0UL, 0UL);
    return rc < 0 ? -errno : rc;
}

struct cap_header {
    uint32_t version;
    int pid;
};

/* limits._caps: (permitted, bounding), capget then the 64 bounding reads */
static int caps(uint64_t *permitted, uint64_t *bounding)
{
    struct cap_header h = {CAP_V3, 0};
    uint32_t data[6] = {0};
    if (syscall(SYS_capget, &h, data) != 0)
        return -1;
    *permitted = data[1] | (uint64_t)data[4] << 32;
    *bounding = 0;
    for (unsigned cap = 0; cap < 64; cap++)
        if (xprctl(PR_CAPBSET_READ, cap, 0) == 1)
            *bounding |= 1ULL << cap;
    return 0;
}

/* limits.drop_capabilities */
static int drop_caps(const char *prog, char *err, size_t errlen)
{
    uint64_t permitted, bounding;
    if (caps(&permitted, &bounding) != 0)
        return fail(err, errlen, errno, "setting up %s: cannot read the capability sets",
                    prog);
    if (!permitted)
        return PL_OK;
    if (permitted >> CAP_SETPCAP_BIT & 1) {
        long rc = xprctl(PR_SET_SECUREBITS, SECUREBITS, 0);
        if (rc != 0)
            return fail(err, errlen, (int)-rc, "setting up %s: cannot lock the securebits",
                        prog);
        for (unsigned cap = 0; cap < 64; cap++)
            if (bounding >> cap & 1) {
                rc = xprctl(PR_CAPBSET_DROP, cap, 0);
                if (rc != 0)
                    return fail(err, errlen, (int)-rc,
                                "setting up %s: cannot drop capability %u", prog, cap);
            }
    }
    xprctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0);
    struct cap_header h = {CAP_V3, 0};
    uint32_t zero[6] = {0};
    if (syscall(SYS_capset, &h, zero) != 0)
        return fail(err, errlen, errno, "setting up %s: cannot clear the capability sets",
                    prog);
    if (caps(&permitted, &bounding) != 0)
        return fail(err, errlen, errno, "setting up %s: cannot read the capability sets",
                    prog);
    if (permitted)
        return fail(err, errlen, EPERM, "setting up %s: capabilities are still held", prog);
    return PL_OK;
}

/* limits.close_inherited: close_range, else each descriptor of /proc/self/fd */
static int close_inherited(const char *prog, char *err, size_t errlen)
{
    if (syscall(NR_CLOSE_RANGE, 3U, ~0U, CLOSE_RANGE_CLOEXEC_FLAG) == 0)
        return PL_OK;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return fail(err, errlen, errno, "setting up %s: %s (/proc/self/fd)", prog,
                    strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dirfd(d)) {
            int flags = fcntl(fd, F_GETFD);
            if (flags >= 0 && !(flags & FD_CLOEXEC))
                fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
    closedir(d);
    return PL_OK;
}

static long ll_create(uint64_t handled_fs, uint64_t scoped)
{
    uint64_t attr[3] = {handled_fs, 0, scoped};
    /* older kernels take a bigger struct only if its extra bytes are zero */
    return syscall(NR_CREATE, attr, scoped ? sizeof attr : sizeof attr[0], 0U);
}

static long ll_add(int ruleset, uint64_t access, int parent)
{
    struct __attribute__((packed)) {
        uint64_t allowed_access;
        int32_t parent_fd;
    } attr = {access, parent};
    return syscall(NR_ADD, ruleset, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &attr, 0U);
}

/* Ruleset.restrict_self: no_new_privs each time, as the Python child */
static int ll_restrict(int ruleset, unsigned flags)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0)
        return -1;
    return (int)syscall(NR_RESTRICT, ruleset, flags);
}

/* unveil.build and commit: the rules, then the stdio allowance that exists */
static int commit(const struct merged *m, const struct pl_landlock_row *row, const char *prog,
                  char *err, size_t errlen)
{
    int exists[sizeof pl_stdio_paths / sizeof pl_stdio_paths[0]];
    struct stat st;
    for (size_t i = 0; i < pl_stdio_npaths; i++)
        exists[i] = stat(pl_stdio_paths[i].path, &st) == 0;
    int rs = (int)ll_create(row->fs, row->scopes & LL_SCOPE_ABSTRACT);
    if (rs < 0)
        return fail(err, errlen, errno, "confining %s: %s", prog, strerror(errno));
    size_t total = m->n + pl_stdio_npaths;
    for (size_t i = 0; i < total; i++) {
        const char *path;
        unsigned letters = 0;
        if (i < m->n) {
            path = m->path[i];
            letters = m->letters[i];
        } else {
            size_t k = i - m->n;
            if (!exists[k])
                continue;
            path = pl_stdio_paths[k].path;
            letters_of(pl_stdio_paths[k].perms, &letters);
        }
        uint64_t access = access_of(letters, row);
        if (!access)
            continue;
        int fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EMFILE || e == ENFILE) {
                close(rs);
                return fail(err, errlen, e, "confining %s: %s (%s)", prog, strerror(e), path);
            }
            continue; /* missing or unreachable: the rule grants nothing */
        }
        if (fstat(fd, &st) != 0) {
            close(fd);
            continue;
        }
        access &= row->fs;
        if (!S_ISDIR(st.st_mode))
            access &= LL_FILE;
        long rc = access ? ll_add(rs, access, fd) : 0;
        int e = errno;
        close(fd);
        if (rc < 0) {
            close(rs);
            return fail(err, errlen, e, "confining %s: %s", prog, strerror(e));
        }
    }
    if (ll_restrict(rs, row->restrict_flags & LL_TSYNC) != 0) {
        int e = errno;
        close(rs);
        return fail(err, errlen, e, "confining %s: %s", prog, strerror(e));
    }
    close(rs);
    return PL_OK;
}

/* landlock/domain.py prepare() and enter(): a nested domain that hides no file. It
 * handles REFER (ABI >= 2) and grants it beneath "/": a layer that handles any file
 * access denies REFER unless granted, which would refuse every rename across
 * directories that the unveil layer below allows (EXDEV). */
static int enter_domain(const struct pl_landlock_row *row, const char *prog, char *err,
                        size_t errlen)
{
    int rs, root = -1;
    struct stat st, again;
    uint64_t granted = (row->scopes == 0 ? LL_EXECUTE : 0) | (row->fs & LL_REFER);
    if (granted) { /* ABI < 6: EXECUTE too */
        root = open("/", O_PATH | O_CLOEXEC);
        if (root < 0)
            return fail(err, errlen, errno, "confining %s: %s (/)", prog, strerror(errno));
        if (fstat(root, &st) != 0)
            return fail(err, errlen, errno, "confining %s: %s", prog, strerror(errno));
        /* _root_fd(): still "/" (the same lookup Python makes before the ruleset) */
        if (fstat(root, &again) != 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino)
            return fail(err, errlen, EBADF, "confining %s: no descriptor of / for a Landlock "
                        "domain (ABI < 6): not prepared, or closed since", prog);
    }
    granted &= row->fs;
    rs = (int)ll_create(granted, LL_SCOPE_ABSTRACT & row->scopes);
    if (rs < 0)
        return fail(err, errlen, errno, "confining %s: %s", prog, strerror(errno));
    if (root >= 0 && granted && ll_add(rs, granted, root) < 0) {
        int e = errno;
        close(rs);
        return fail(err, errlen, e, "confining %s: %s", prog, strerror(e));
    }
    if (ll_restrict(rs, 0) != 0) {
        int e = errno;
        close(rs);
        return fail(err, errlen, e, "confining %s: %s", prog, strerror(e));
    }
    close(rs);
    return PL_OK; /* "/" stays open (close-on-exec), as domain._root */
}

int pl_confine(const struct pl_job *job, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    int abi = pl_landlock_abi();
    if (abi <= 0)
        return PL_FALLBACK; /* gaps.py says "Landlock is unavailable" */
    struct pl_landlock_row row = pl_landlock_row_of(abi);
    const char *prog = job->prog;

    /* ---- everything that can be told before anything changes ---- */
    size_t cap = job->rules.n + job->unveils.n;
    struct merged m = {0, calloc(cap ? cap : 1, sizeof(char *)),
                       calloc(cap ? cap : 1, sizeof(unsigned)), NULL};
    if (m.path == NULL || m.letters == NULL) {
        merged_free(&m);
        return PL_FALLBACK;
    }
    int dup = 0, rc = PL_FALLBACK;
    for (size_t i = 0; i < job->rules.n; i++)
        if (merge_one(&m, &job->rules.v[i], &dup) != 0 || check_rule(job->rules.v[i].path))
            goto out; /* unveil_many's refusal: said by the Python command */
    for (size_t i = 0; i < job->unveils.n; i++)
        if (merge_one(&m, &job->unveils.v[i], &dup) != 0 ||
            check_rule(job->unveils.v[i].path))
            goto out; /* "-v PATH: ..." */
    if (job->strict && dup)
        goto out; /* each unveil's strict judgement saw rules the last one replaced */
    if ((job->strict || !job->quiet) && m.n) {
        /* unveil.gaps's not_enforced: said as a note (or refused under --strict) */
        int found;
        if (abi < 6 || job->promises & (P_FATTR | P_CHOWN | P_UNIX))
            goto out;
        if (nested(&m, &found) != 0 || found)
            goto out;
    }

    /* ---- run._prepare ---- */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXFSZ, SIG_DFL);
    rc = drop_caps(prog, err, errlen);
    if (rc != PL_OK)
        goto out;
    if ((rc = close_inherited(prog, err, errlen)) != PL_OK)
        goto out;

    /* ---- run.child: lock_unveil_for, the shim's check, supervise.confine ---- */
    if (m.n && (rc = commit(&m, &row, prog, err, errlen)) != PL_OK)
        goto out;
    if (job->shim[0]) {
        int fd = open(job->shim, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EMFILE || e == ENOMEM)
                rc = fail(err, errlen, e, "confining %s: %s (%s)", prog, strerror(e),
                          job->shim);
            else
                rc = fail(err, errlen, e, "the start-up shim %s: %s (as %s will run)",
                          job->shim, strerror(e), prog);
            goto out;
        }
        close(fd);
    }
    /* kernel.prepare: the in-process handlers Python installs end at exec as SIG_DFL */
    static const int handled[] = {SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSEGV, SIGSYS};
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        signal(handled[i], SIG_DFL);
    if (prctl(PR_SET_PDEATHSIG, (unsigned long)SIGKILL, 0UL, 0UL, 0UL) != 0) {
        rc = fail(err, errlen, errno, "confining %s: cannot set the parent-death signal", prog);
        goto out;
    }
    rc = enter_domain(&row, prog, err, errlen);
out:
    merged_free(&m);
    return rc;
}
