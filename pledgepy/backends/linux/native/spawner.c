
/* ---- the spawner (exec/spawner.py): exec'd programs under execpromises alone ----
 *
 * pp_spawner_start() clones the pledging process, before its first filter, into
 * a process that runs only this code (never Python again): exit signal 0, so the
 * caller's wait() never sees it. It reads fixed-layout requests from one
 * SOCK_SEQPACKET socket and creates each child with CLONE_PARENT (the caller is
 * the child's parent) and CLONE_VM (its own stack here: cost flat in the
 * caller's size). The child, outside the caller's filters and Landlock domain,
 * takes the descriptors the request names from the caller (pidfd_getfd), sets
 * up what subprocess/posix_spawn ask, enters the Landlock rulesets and the
 * seccomp layers the spawner holds, hands its listener over, and execs once.
 *
 * What a request can choose: the program, argv, env, cwd, descriptors of the
 * caller's, session, process group, umask, signals (no other ids: refused).
 * What it cannot: the promises and the unveil rules. The first seccomp layer
 * arrives before the caller's first filter (trusted); later layers and every
 * ruleset are stacked under it, and stacking only narrows.
 */

#include <stdlib.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>

#ifndef CLONE_VM
#define CLONE_VM 0x00000100
#endif
#ifndef CLONE_PARENT
#define CLONE_PARENT 0x00008000
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif

extern int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);

#define SP_MAGIC 0x31535050u      /* "PPS1": a message on the socket */
#define SP_JOB_MAGIC 0x52535050u  /* "PPSR": a spawn request in the caller's memory */
#define SP_MAX_LAYERS 8
#define SP_MAX_RULESETS 16
#define SP_MAX_LISTENERS 256
#define SP_MAX_FDS 256
#define SP_MAX_STRINGS 65536
#define SP_MAX_REQUEST (16u << 20)
#define SP_MAX_INSNS 4096

enum { SP_FILTER = 1, SP_RULESET = 2, SP_SPAWN = 3, SP_SEAL = 4 };
enum { SPF_SETSID = 1, SPF_RESTORE = 2, SPF_INHERIT = 4, SPF_SETPGID = 8, SPF_RESETIDS = 16,
       SPF_SIGMASK = 32 };
/* where a child failed: what subprocess's error pipe says */
enum { SP_OK = 0, SP_REFUSED = 1, SP_SETUP = 2, SP_CHDIR = 3, SP_EXEC = 4 };

struct sp_layer { struct sock_filter code[SP_MAX_INSNS]; unsigned short len; };
struct sp_listener { int fd; int pid; int exec_left; };

/* One child being made: shared with it (CLONE_VM) until it execs. */
struct sp_job {
    uint32_t flags;
    int32_t pgid, umask, uid, gid, ngroups, nfds, ncand;
    uint64_t sigmask, sigdef, sigign;
    int caller_umask;
    gid_t groups[64];
    int target[SP_MAX_FDS], local[SP_MAX_FDS];
    int cwd_fd;
    char *cwd;
    char **cand, **argv, **envp;
    struct rlimit limits[RLIM_NLIMITS];
    int spawner, wake;
    volatile int listener, err, stage;
};

static struct sp_layer sp_layers[SP_MAX_LAYERS];
static int sp_nlayers, sp_error_mode, sp_wake = 1, sp_exec_ok = 1;
static int sp_sealed;  /* the caller dropped exec: no child, ever again */
static uint64_t sp_held;
static int sp_rulesets[SP_MAX_RULESETS], sp_nrulesets;
static struct sp_listener sp_ls[SP_MAX_LISTENERS];
static int sp_nls;
static int sp_sock = -1, sp_err = -1, sp_caller, sp_caller_fd = -1, sp_self;
static char sp_stack[256 * 1024] __attribute__((aligned(64)));

static void sp_exit(int code) { syscall(SYS_exit_group, code); for (;;) {} }

/* ---- in the child (shares the spawner's memory: no malloc, no stdio) ---- */

#define SP_FAIL(j, where) do { (j)->err = errno ? errno : EINVAL; (j)->stage = (where); \
    sp_exit(127); } while (0)

/* The layers name "this process" by a placeholder pid (spawner.py CHILD_PID, above any
 * pid the kernel gives): a child learns its pid only once made, so it installs a copy
 * with its own pid in every comparison with the placeholder (BPF_JMP|BPF_K). */
#define SP_CHILD_PID 0x7FEDCBA9u
static void sp_patch_self(struct sock_filter *code, unsigned short len, uint32_t pid)
{
    for (unsigned short k = 0; k < len; k++)
        if (BPF_CLASS(code[k].code) == BPF_JMP && BPF_SRC(code[k].code) == BPF_K
            && code[k].k == SP_CHILD_PID)
            code[k].k = pid;
}

static int sp_child(void *arg)
{
    struct sp_job *j = arg;
    int i;
    errno = 0;
    /* Yama: the spawner is no ancestor of ours, and must take our listener */
    prctl(PR_SET_PTRACER, j->spawner, 0, 0, 0);
    uint64_t mask = (j->flags & SPF_SIGMASK) ? j->sigmask : 0;
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, 0, 8) != 0)
        SP_FAIL(j, SP_SETUP);
    /* the spawner's dispositions are the defaults (SIGPIPE ignored): set what differs */
    for (i = 1; i < 65; i++) {
        int ignore = (j->sigign >> (i - 1)) & 1;
        if ((j->flags & SPF_RESTORE) && (i == SIGPIPE || i == SIGXFSZ))
            ignore = 0;
        if ((j->sigdef >> (i - 1)) & 1)
            ignore = 0;
        if (ignore || i == SIGPIPE)
            signal(i, ignore ? SIG_IGN : SIG_DFL);
    }
    if ((j->flags & SPF_SETSID) && setsid() < 0)
        SP_FAIL(j, SP_SETUP);
    if ((j->flags & SPF_SETPGID) && setpgid(0, j->pgid) != 0)
        SP_FAIL(j, SP_SETUP);
    umask(j->umask >= 0 ? j->umask : j->caller_umask);
    for (i = 0; i < RLIM_NLIMITS; i++)
        if (j->limits[i].rlim_cur != (rlim_t)-2 && prlimit(0, i, &j->limits[i], 0) != 0)
            SP_FAIL(j, SP_SETUP);
    if (fchdir(j->cwd_fd) != 0)
        SP_FAIL(j, SP_SETUP);
    if (j->cwd && chdir(j->cwd) != 0)
        SP_FAIL(j, SP_CHDIR);
    if ((j->flags & SPF_RESETIDS) && (setegid(getgid()) != 0 || seteuid(getuid()) != 0))
        SP_FAIL(j, SP_SETUP);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        SP_FAIL(j, SP_SETUP);
    /* the unveil rules in force, and the domain that keeps the caller out of reach */
    for (i = 0; i < sp_nrulesets; i++)
        if (syscall(446 /* landlock_restrict_self */, sp_rulesets[i], 0) != 0)
            SP_FAIL(j, SP_SETUP);
    /* descriptors: above every target first, so no dup2 overwrites a source */
    int high = 3, moved[SP_MAX_FDS];  /* this child's numbers, not the spawner's */
    for (i = 0; i < j->nfds; i++)
        if (j->target[i] >= high)
            high = j->target[i] + 1;
    for (i = 0; i < j->nfds; i++)
        if ((moved[i] = j->local[i]) >= 0 && (moved[i] = fcntl(j->local[i], F_DUPFD_CLOEXEC,
                                                               high)) < 0)
            SP_FAIL(j, SP_SETUP);
    for (int fd = 0; fd < 3; fd++) {  /* the spawner's /dev/null: closed unless asked for */
        int asked = 0;
        for (i = 0; i < j->nfds; i++)
            asked |= j->target[i] == fd;
        if (!asked)
            close(fd);
    }
    for (i = 0; i < j->nfds; i++) {
        if (moved[i] < 0)
            close(j->target[i]);
        else if (dup2(moved[i], j->target[i]) < 0)
            SP_FAIL(j, SP_SETUP);
    }
    /* the program: the first candidate that exists, as execvp would look */
    const char *path = 0;
    int first_err = 0;
    for (i = 0; i < j->ncand && !path; i++) {
        struct stat st;
        if (stat(j->cand[i], &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                if (!first_err)
                    first_err = EACCES;
            } else if (access(j->cand[i], X_OK) == 0) {
                path = j->cand[i];
            } else if (!first_err) {
                first_err = errno;
            }
        } else if (errno != ENOENT && errno != ENOTDIR && !first_err) {
            first_err = errno;
        }
    }
    if (!path) {
        errno = first_err ? first_err : ENOENT;
        SP_FAIL(j, SP_EXEC);
    }
    /* the seccomp layers: later (narrower) ones first, the first one last, with
     * the listener (only one per stack): its violations are explained */
    struct sock_filter code[SP_MAX_INSNS];  /* this child's copy (the layers are shared) */
    uint32_t me = (uint32_t)syscall(SYS_getpid);
    for (i = sp_nlayers - 1; i >= 0; i--) {
        memcpy(code, sp_layers[i].code, sp_layers[i].len * sizeof code[0]);
        sp_patch_self(code, sp_layers[i].len, me);
        struct sock_fprog prog = { .len = sp_layers[i].len, .filter = code };
        long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                          i == 0 ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
        if (rc < 0)
            SP_FAIL(j, SP_SETUP);
        if (i == 0) {
            /* the first layer sends every execve to the listener: ours waits there until
             * the spawner has taken the listener and let it through */
            __atomic_store_n(&j->listener, (int)rc, __ATOMIC_RELEASE);
            if (sp_wake)  /* every layer allows write: wake the spawner at once */
                write(j->wake, "L", 1);
        }
    }
    syscall(SYS_execve, path, j->argv, j->envp);
    SP_FAIL(j, SP_EXEC);
    return 0;
}

/* ---- in the spawner ---- */

static void sp_write_err(const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(sp_err, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static int sp_read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (int)got;
}

/* The value after "Key:" in a /proc status text (NULL: none). */
static const char *sp_field(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : 0)
        if (strncmp(p, key, n) == 0 && p[n] == ':')
            return p + n + 1;
    return 0;
}

static int sp_same_line(const char *a, const char *b, const char *key)
{
    const char *x = sp_field(a, key), *y = sp_field(b, key);
    if (!x || !y)
        return x == y;
    size_t nx = strcspn(x, "\n"), ny = strcspn(y, "\n");
    return nx == ny && memcmp(x, y, nx) == 0;
}

/* The caller's identity is ours (it may have dropped ids or capabilities since the
 * spawner was made: then a child made here would hold more, so none is made). */
static int sp_same_creds(const char *caller, const char *self)
{
    static const char *keys[] = { "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff",
                                  "CapBnd", "CapAmb" };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!sp_same_line(caller, self, keys[i]))
            return 0;
    return 1;
}

static long sp_pidfd_getfd(int pidfd, int fd)
{
    return syscall(438, pidfd, fd, 0);
}

static void sp_reply(int32_t a, int32_t b, int32_t c)
{
    int32_t out[4] = { (int32_t)SP_MAGIC, a, b, c };
    send(sp_sock, out, sizeof out, MSG_NOSIGNAL | MSG_DONTWAIT);  /* never waits on the caller */
}

static int sp_add_listener(int fd, int pid, int exec_left)
{
    if (sp_nls == SP_MAX_LISTENERS) {
        close(fd);  /* the child still holds its own copy: its execve would wait forever */
        return -EAGAIN;
    }
    sp_ls[sp_nls].fd = fd;
    sp_ls[sp_nls].pid = pid;
    sp_ls[sp_nls].exec_left = exec_left;
    sp_nls++;
    return 0;
}

/* OpenBSD's penalty for the process of thread *tid*: SIGABRT, or SIGKILL when it
 * catches or ignores SIGABRT (it would not die of it). */
static void sp_punish(int listener, uint64_t id, int tid)
{
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/status", tid);
    int sig = SIGKILL;
    long tgid = tid;
    if (sp_read_file(path, text, sizeof text) > 0) {
        const char *t = sp_field(text, "Tgid");
        const char *ign = sp_field(text, "SigIgn"), *cgt = sp_field(text, "SigCgt");
        if (t)
            tgid = strtol(t, 0, 10);
        uint64_t dodge = (ign ? strtoull(ign, 0, 16) : ~0ull) | (cgt ? strtoull(cgt, 0, 16) : ~0ull);
        if (!((dodge >> (SIGABRT - 1)) & 1))
            sig = SIGABRT;
    }
    int pidfd = (int)syscall(434 /* pidfd_open */, tgid, 0);
    if (pidfd < 0)
        return;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0)  /* still that process */
        syscall(424 /* pidfd_send_signal */, pidfd, sig, 0, 0);
    close(pidfd);
}

#ifndef SECCOMP_IOCTL_NOTIF_ADDFD
struct seccomp_notif_addfd { uint64_t id; uint32_t flags, srcfd, newfd, newfd_flags; };
#define SECCOMP_IOCTL_NOTIF_ADDFD 0x40182103
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND 2
#endif

/* OpenBSD lets every pledged process open /dev/null (pledge_namei), as pledgepy's
 * handler and the pledge command's supervisor do: an open of exactly "/dev/null", its
 * path read once from the child's memory, is answered with the spawner's own /dev/null
 * (ADDFD with SEND: the descriptor is the call's result). The child's call never runs,
 * so rewriting the path afterwards gains it nothing. 1 when answered. */
static int sp_devnull(int listener, uint64_t id, uint32_t tid, int32_t nr, const uint64_t *a)
{
    uint64_t addr, flags;
    if (!(sp_held & T_STDIO_BIT))
        return 0;
    if (nr == SYS_openat && (int)a[0] == AT_FDCWD) {
        addr = a[1];
        flags = a[2];
#ifdef SYS_open
    } else if (nr == SYS_open) {
        addr = a[0];
        flags = a[1];
#endif
    } else {
        return 0;
    }
    /* access mode, NONBLOCK, APPEND, NOCTTY, CLOEXEC, LARGEFILE and NOFOLLOW (their
     * x86_64 and aarch64 values), CREAT, TRUNC, EXCL: never O_PATH, DIRECTORY, TMPFILE */
    const uint64_t plain = O_ACCMODE | O_NONBLOCK | O_APPEND | O_NOCTTY | O_CLOEXEC
                           | 0100000 | 0400000 | O_CREAT | O_TRUNC | O_EXCL;
    static const char want[] = "/dev/null";
    char got[sizeof want];
    struct iovec local = { got, sizeof got }, remote = { (void *)(uintptr_t)addr, sizeof got };
    if ((flags & ~plain)
            || syscall(SYS_process_vm_readv, tid, &local, 1L, &remote, 1L, 0L) != (long)sizeof got
            || memcmp(got, want, sizeof want) != 0)
        return 0;
    if ((flags & O_CREAT) && (flags & O_EXCL)) {
        pp_notif_send(listener, id, -EEXIST);  /* what its own open would say */
        return 1;
    }
    int fd = open(want, (int)(flags & (O_ACCMODE | O_NONBLOCK | O_APPEND)) | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct seccomp_notif_addfd add;
    memset(&add, 0, sizeof add);
    add.id = id;
    add.flags = SECCOMP_ADDFD_FLAG_SEND;
    add.srcfd = (uint32_t)fd;
    add.newfd_flags = (flags & O_CLOEXEC) ? O_CLOEXEC : 0;
    long rc = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
    close(fd);
    return rc >= 0;
}

/* Answer one notification on listener *k*; 0, or -1 once nobody is under its filter. */
static int sp_serve(int k)
{
    struct sp_listener *l = &sp_ls[k];
    int32_t nr;
    uint64_t args[6], id;
    uint32_t pid;
    long rc = pp_notif_recv(l->fd, &nr, args, &id, &pid);
    if (rc == -ENOENT || rc == -EINTR)
        return 0;
    if (rc < 0)
        return -1;
    if ((nr == SYS_execve || nr == SYS_execveat)
            && ((l->exec_left > 0 && (int)pid == l->pid) || sp_exec_ok)) {
        /* the child's own exec (once), or any when every layer holds 'exec' */
        l->exec_left = 0;
        struct seccomp_notif_resp resp;
        memset(&resp, 0, sizeof resp);
        resp.id = id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(l->fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
        return 0;
    }
    if (sp_devnull(l->fd, id, pid, nr, args))
        return 0;
    char path[64], name[64] = "?", out[1024];
    snprintf(path, sizeof path, "/proc/%u/comm", pid);
    int n = sp_read_file(path, name, sizeof name);
    for (int i = 0; i < n; i++)  /* the program chooses its comm: one line, no escapes */
        if (name[i] == '\n')
            name[i] = '\0';
        else if ((unsigned char)name[i] < 32 || (unsigned char)name[i] > 126)
            name[i] = '?';
    pp_set_foreign(!pp_is_python((int)pid));  /* this process describes children only */
    pp_set_resolve(1);  /* from outside every filter: relative paths shown resolved too */
    size_t len = pp_describe(nr, args, sp_held, sp_error_mode, pid, name, out, sizeof out);
    if (!sp_error_mode)
        sp_punish(l->fd, id, (int)pid);
    pp_notif_send(l->fd, id, -ENOSYS);  /* never runs the call */
    sp_write_err(out, len < sizeof out ? len : sizeof out);
    return 0;
}

/* Poll the listeners (and *extra*, if >= 0) once, up to *timeout* ms; 1 when *extra*
 * is readable or hung up. */
static int sp_poll(int extra, int timeout)
{
    struct pollfd fds[SP_MAX_LISTENERS + 2];
    int n = 0, i, hit = 0;
    fds[n].fd = extra >= 0 ? extra : sp_sock;
    fds[n++].events = POLLIN;
    for (i = 0; i < sp_nls; i++) {
        fds[n].fd = sp_ls[i].fd;
        fds[n++].events = POLLIN;
    }
    if (poll(fds, n, timeout) < 0)
        return 0;
    hit = fds[0].revents != 0;
    for (i = sp_nls - 1; i >= 0; i--) {
        short ev = fds[i + 1].revents;
        int gone = 0;
        if (ev & POLLIN)
            gone = sp_serve(i) < 0;
        else if (ev & (POLLHUP | POLLERR | POLLNVAL))
            gone = 1;
        if (gone) {
            close(sp_ls[i].fd);
            sp_ls[i] = sp_ls[--sp_nls];
        }
    }
    return hit;
}

static int sp_take_layer(const unsigned char *msg, size_t n)
{
    if (n < 24 || (n - 24) % sizeof(struct sock_filter) || n - 24 == 0)
        return -EINVAL;
    size_t insns = (n - 24) / sizeof(struct sock_filter);
    if (insns > SP_MAX_INSNS || sp_nlayers == SP_MAX_LAYERS)
        return -E2BIG;
    uint64_t bits;
    uint32_t error, flags;
    memcpy(&bits, msg + 8, 8);
    memcpy(&error, msg + 16, 4);
    memcpy(&flags, msg + 20, 4);
    /* 1: the layer allows write (a speed hint: a child that cannot write dies);
     * 2: it holds exec (execve is let through for every process under it). Both only
     * ever turn off: a later layer cannot give exec back */
    sp_wake = sp_wake && (flags & 1);
    if (sp_nlayers == 0)
        sp_exec_ok = (flags & 2) != 0;
    else
        sp_exec_ok = sp_exec_ok && (flags & 2);
    memcpy(sp_layers[sp_nlayers].code, msg + 24, n - 24);
    sp_layers[sp_nlayers].len = (unsigned short)insns;
    if (sp_nlayers == 0) {
        sp_held = bits;
        sp_error_mode = error != 0;
    } else {
        sp_held &= bits;  /* messages never claim more than the first layer held */
    }
    sp_nlayers++;
    return 0;
}

static int sp_take_ruleset(const unsigned char *msg, size_t n)
{
    if (n != 12 || sp_nrulesets == SP_MAX_RULESETS)
        return -EINVAL;
    int32_t fd;
    memcpy(&fd, msg + 8, 4);
    long got = sp_pidfd_getfd(sp_caller_fd, fd);
    if (got < 0)
        return -errno;
    char path[64], link[64];
    snprintf(path, sizeof path, "/proc/self/fd/%ld", got);
    ssize_t len = readlink(path, link, sizeof link - 1);
    link[len > 0 ? len : 0] = '\0';
    if (strcmp(link, "anon_inode:[landlock-ruleset]") != 0) {
        close((int)got);
        return -EINVAL;  /* only a ruleset, which can only narrow */
    }
    sp_rulesets[sp_nrulesets++] = (int)got;
    return 0;
}

struct sp_reader { const unsigned char *p, *end; int bad; };

static uint32_t sp_u32(struct sp_reader *r)
{
    uint32_t v = 0;
    if (r->end - r->p < 4) {
        r->bad = 1;
        return 0;
    }
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}

static uint64_t sp_u64(struct sp_reader *r)
{
    uint64_t lo = sp_u32(r), hi = sp_u32(r);
    return lo | hi << 32;
}

/* *count* NUL-terminated strings into *out*, NULL-terminated. */
static char **sp_strings(struct sp_reader *r, uint32_t count, char **out)
{
    if (count > SP_MAX_STRINGS) {
        r->bad = 1;
        return 0;
    }
    out[count] = 0;
    for (uint32_t i = 0; i < count && !r->bad; i++) {
        const unsigned char *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
        if (!nul) {
            r->bad = 1;
            break;
        }
        out[i] = (char *)r->p;
        r->p = nul + 1;
    }
    return out;
}

/* Add the caller's descriptors without close-on-exec that no mapping names yet
 * (posix_spawn, os.system, close_fds=False: they are inherited). */
struct sp_dirent { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type;
                  char name[]; };

static int sp_inherit(struct sp_job *j, int *callers)
{
    char path[64], text[256];
    static char dents[32768];
    snprintf(path, sizeof path, "/proc/%d/fd", sp_caller);
    int d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return -1;
    long got;
    while ((got = syscall(SYS_getdents64, d, dents, sizeof dents)) > 0)
    for (long off = 0; off < got; off += ((struct sp_dirent *)(dents + off))->reclen) {
        struct sp_dirent *e = (struct sp_dirent *)(dents + off);
        if (e->name[0] < '0' || e->name[0] > '9')
            continue;
        int fd = atoi(e->name), i, known = 0;
        for (i = 0; i < j->nfds; i++)
            known |= j->target[i] == fd;
        if (known)
            continue;
        snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", sp_caller, fd);
        if (sp_read_file(path, text, sizeof text) <= 0)
            continue;
        const char *flags = sp_field(text, "flags");
        if (!flags || (strtoul(flags, 0, 8) & O_CLOEXEC))
            continue;
        if (j->nfds == SP_MAX_FDS) {
            close(d);
            return -1;
        }
        j->target[j->nfds] = fd;
        callers[j->nfds++] = fd;
    }
    close(d);
    return 0;
}

/* The child *pid* holds every layer: a later layer (the caller's) is installed first
 * and could answer the child's own seccomp() calls with 0 (ERRNO 0: "done", a fake
 * listener at fd 0), so the kernel's count is checked, not the child's word. */
static int sp_all_layers(int pid)
{
    char path[64], text[4096], self[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (sp_read_file(path, text, sizeof text) <= 0
            || sp_read_file("/proc/self/status", self, sizeof self) <= 0)
        return 0;
    const char *c = sp_field(text, "Seccomp_filters"), *s = sp_field(self, "Seccomp_filters");
    return c && s && strtol(c, 0, 10) == strtol(s, 0, 10) + sp_nlayers;
}

static int sp_is_listener(int fd)
{
    char path[64], link[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(path, link, sizeof link - 1);
    link[len > 0 ? len : 0] = '\0';
    return strcmp(link, "anon_inode:seccomp notify") == 0;
}

static void sp_spawn(const unsigned char *msg, size_t n)
{
    static struct sp_job job;
    struct sp_job *j = &job;
    uint64_t addr, len;
    int i;
    if (n != 24 || sp_nlayers == 0 || sp_sealed) {
        sp_reply(0, sp_sealed ? EPERM : EINVAL, SP_REFUSED);
        return;
    }
    memcpy(&addr, msg + 8, 8);
    memcpy(&len, msg + 16, 8);
    if (len < 8 || len > SP_MAX_REQUEST) {
        sp_reply(0, EINVAL, SP_REFUSED);
        return;
    }
    static unsigned char buf[SP_MAX_REQUEST + 1];
    char **cand = 0, **argv = 0, **envp = 0;
    int callers[SP_MAX_FDS];
    int pipefd[2] = { -1, -1 }, pidfd = -1;
    memset(j, 0, sizeof *j);
    for (i = 0; i < SP_MAX_FDS; i++)
        j->local[i] = callers[i] = -1;
    j->cwd_fd = -1;
    int err = EINVAL;
    struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
    if (syscall(SYS_process_vm_readv, sp_caller, &local, 1L, &remote, 1L, 0L) != (long)len) {
        err = errno ? errno : EFAULT;
        goto refuse;
    }
    buf[len] = 0;
    struct sp_reader r = { buf, buf + len, 0 };
    if (sp_u32(&r) != SP_JOB_MAGIC)
        goto refuse;
    j->flags = sp_u32(&r);
    j->pgid = (int32_t)sp_u32(&r);
    j->umask = (int32_t)sp_u32(&r);
    j->uid = (int32_t)sp_u32(&r);
    j->gid = (int32_t)sp_u32(&r);
    j->ngroups = (int32_t)sp_u32(&r);
    j->nfds = (int32_t)sp_u32(&r);
    j->sigmask = sp_u64(&r);
    j->sigdef = sp_u64(&r);
    uint32_t ncand = sp_u32(&r), argc = sp_u32(&r), envc = sp_u32(&r), has_cwd = sp_u32(&r);
    if (r.bad || j->ngroups > 64 || j->nfds < 0 || j->nfds > SP_MAX_FDS || ncand == 0
            || ncand > 64 || has_cwd > 1 || j->umask > 0777)
        goto refuse;
    for (i = 0; i < j->ngroups; i++)
        j->groups[i] = sp_u32(&r);
    for (i = 0; i < j->nfds; i++) {
        j->target[i] = (int32_t)sp_u32(&r);
        callers[i] = (int32_t)sp_u32(&r);
        if (j->target[i] < 0 || j->target[i] > 65535 || callers[i] < -1)
            r.bad = 1;
    }
    static char *s_cand[65], *s_argv[SP_MAX_STRINGS + 1], *s_envp[SP_MAX_STRINGS + 1], *s_cwd[2];
    cand = sp_strings(&r, ncand, s_cand);
    argv = sp_strings(&r, argc, s_argv);
    envp = sp_strings(&r, envc, s_envp);
    char **cwd = has_cwd ? sp_strings(&r, 1, s_cwd) : 0;
    if (r.bad || r.p != r.end || (has_cwd && !cwd))
        goto refuse;
    j->cwd = cwd ? cwd[0] : 0;
    j->cand = cand;
    j->argv = argv;
    j->envp = envp;
    j->ncand = (int)ncand;

    /* what the child takes from the caller: its identity first */
    char path[64], ctext[4096], stext[4096];
    snprintf(path, sizeof path, "/proc/%d/status", sp_caller);
    if (sp_read_file(path, ctext, sizeof ctext) <= 0
            || sp_read_file("/proc/self/status", stext, sizeof stext) <= 0) {
        err = errno;
        goto refuse;
    }
    if (!sp_same_creds(ctext, stext)) {
        err = EPERM;
        goto refuse;
    }
    if (j->uid >= 0 || j->gid >= 0 || j->ngroups >= 0) {
        /* a forked child changes ids under the caller's filter ("id"); here there is
         * none, so the spawner makes no child with other ids (subprocess then forks) */
        err = EPERM;
        goto refuse;
    }
    const char *u = sp_field(ctext, "Umask"), *ign = sp_field(ctext, "SigIgn");
    j->caller_umask = u ? (int)strtol(u, 0, 8) : 022;
    j->sigign = ign ? strtoull(ign, 0, 16) : 0;
    for (i = 0; i < RLIM_NLIMITS; i++)
        if (prlimit(sp_caller, i, 0, &j->limits[i]) != 0)
            j->limits[i].rlim_cur = (rlim_t)-2;  /* unknown: left as ours */
    if ((j->flags & SPF_INHERIT) && sp_inherit(j, callers) != 0) {
        err = EMFILE;
        goto refuse;
    }
    for (i = 0; i < j->nfds; i++) {
        if (callers[i] < 0)
            continue;
        long got = sp_pidfd_getfd(sp_caller_fd, callers[i]);
        if (got < 0 && errno != EBADF) {
            err = errno;
            goto refuse;
        }
        j->local[i] = (int)got;  /* -1 (closed in the caller): closed in the child */
    }
    snprintf(path, sizeof path, "/proc/%d/cwd", sp_caller);
    j->cwd_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (j->cwd_fd < 0) {
        err = errno;
        goto refuse;
    }
    /* the kernel counts a new process against its maker's RLIMIT_NPROC: the caller's
     * (it may have lowered it since this copy of its limits was made) */
    struct rlimit mine;
    if (j->limits[RLIMIT_NPROC].rlim_cur != (rlim_t)-2 && getrlimit(RLIMIT_NPROC, &mine) == 0) {
        rlim_t want = j->limits[RLIMIT_NPROC].rlim_cur;
        mine.rlim_cur = want < mine.rlim_max ? want : mine.rlim_max;
        setrlimit(RLIMIT_NPROC, &mine);
    }
    if (sp_nls == SP_MAX_LISTENERS) {  /* no listener for one more: the caller forks */
        err = EAGAIN;
        goto refuse;
    }
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        err = errno;
        goto refuse;
    }
    j->spawner = sp_self;
    j->wake = pipefd[1];
    j->listener = -1;
    int pid = clone(sp_child, sp_stack + sizeof sp_stack, CLONE_VM | CLONE_PARENT | CLONE_PIDFD,
                    j, &pidfd);
    if (pid < 0) {
        err = errno;
        goto refuse;
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    /* its listener, once its filters are in: until then it may die (setup failed).
     * No spinning here: the child may need this CPU. */
    for (;;) {
        int l = __atomic_load_n(&j->listener, __ATOMIC_ACQUIRE);
        if (l >= 0) {
            long got = sp_all_layers(pid) ? sp_pidfd_getfd(pidfd, l) : -EPERM;
            if (got >= 0 && !sp_is_listener((int)got)) {
                close((int)got);
                got = -EPERM;
            }
            if (got < 0) {  /* nobody would answer it: it must not exec */
                syscall(424 /* pidfd_send_signal */, pidfd, SIGKILL, 0, 0);
                j->err = (int)-got;
                j->stage = SP_SETUP;
            } else if (sp_add_listener((int)got, pid, 1) != 0) {
                syscall(424 /* pidfd_send_signal */, pidfd, SIGKILL, 0, 0);
                j->err = EAGAIN;
                j->stage = SP_SETUP;
            } else {
                pp_notif_sync_wakeup((int)got);  /* hand the CPU over on each answer */
            }
            break;
        }
        /* a byte on the pipe says it is there; without one (a layer refuses write)
         * look again every millisecond */
        struct pollfd p[2] = { { pipefd[0], POLLIN, 0 }, { pidfd, POLLIN, 0 } };
        poll(p, 2, sp_wake ? 100 : 1);
        if (p[1].revents)
            break;  /* it ended before */
    }
    /* until it has exec'd (close-on-exec) or ended, serving its exec and violations */
    for (;;) {
        if (!sp_poll(pipefd[0], -1))
            continue;
        char drain[16];
        if (read(pipefd[0], drain, sizeof drain) <= 0)
            break;  /* EOF: exec'd or ended (the byte was the wake-up) */
    }
    if (j->err) {
        struct pollfd p = { pidfd, POLLIN, 0 };
        poll(&p, 1, 5000);  /* its stack is ours: it must be gone before the next */
    }
    sp_reply(pid, j->err, j->err ? j->stage : SP_OK);
    goto done;
refuse:
    sp_reply(0, err, SP_REFUSED);
done:
    for (i = 0; i < j->nfds; i++)
        if (j->local[i] >= 0)
            close(j->local[i]);
    if (j->cwd_fd >= 0)
        close(j->cwd_fd);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (pidfd >= 0)
        close(pidfd);
    (void)cand;
    (void)argv;
    (void)envp;
}

static void sp_main(int sock, int err)
{
    /* hold nothing of the caller's but the socket and stderr (for messages) */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    sp_sock = fcntl(sock, F_DUPFD_CLOEXEC, 10);
    sp_err = fcntl(err, F_DUPFD_CLOEXEC, 10);
    for (int fd = 0; fd < 3; fd++)
        dup2(null, fd);
    syscall(436 /* close_range */, 3, 9, 0);
    int top = sp_sock > sp_err ? sp_sock : sp_err;
    for (int fd = 10; fd <= top; fd++)
        if (fd != sp_sock && fd != sp_err)
            close(fd);
    syscall(436, top + 1, ~0u, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, 0);
    for (int i = 1; i < 65; i++)
        if (i != SIGKILL && i != SIGSTOP)
            signal(i, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    sp_self = getpid();
    sp_caller = getppid();
    sp_caller_fd = (int)syscall(434, sp_caller, 0);
    prctl(PR_SET_NAME, "pledgepy-spawn", 0, 0, 0);
    char ready = sp_caller_fd >= 0 ? 'R' : 'X';
    send(sp_sock, &ready, 1, MSG_NOSIGNAL);
    if (sp_caller_fd < 0)
        sp_exit(1);
    static unsigned char msg[65536];
    for (;;) {
        if (!sp_poll(-1, -1))
            continue;
        ssize_t n = recv(sp_sock, msg, sizeof msg, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;  /* the caller has gone (and every process it forked) */
        uint32_t magic, kind;
        if (n < 8)
            continue;
        memcpy(&magic, msg, 4);
        memcpy(&kind, msg + 4, 4);
        if (magic != SP_MAGIC)
            continue;
        if (kind == SP_FILTER)
            sp_reply(sp_take_layer(msg, (size_t)n), 0, 0);
        else if (kind == SP_RULESET)
            sp_reply(sp_take_ruleset(msg, (size_t)n), 0, 0);
        else if (kind == SP_SPAWN)
            sp_spawn(msg, (size_t)n);
        else if (kind == SP_SEAL) {
            sp_sealed = 1;
            sp_reply(0, 0, 0);
        }
    }
    /* serve the children still running, then end */
    while (sp_nls)
        sp_poll(-1, -1);
    sp_exit(0);
}

static int sp_entry(void *arg)
{
    int *fds = arg;
    sp_main(fds[0], fds[1]);
    return 0;
}

/* Start the spawner: a copy of this process (no CLONE_VM) with exit signal 0, which
 * runs sp_main() on *sock* and never returns. Its pid, or -errno. */
long pp_spawner_start(int sock, int err)
{
    static int fds[2];
    static char boot[64 * 1024] __attribute__((aligned(64)));
    fds[0] = sock;
    fds[1] = err;
    /* no CLONE_VM: a stack of its own in its copy of this memory */
    int pid = clone(sp_entry, boot + sizeof boot, 0, fds);
    return pid < 0 ? -errno : pid;
}

/* A child of the caller that ends at once with *status* (exec/wrap.py): what the caller
 * waits for in place of a spawned child that failed before its exec. That one had the
 * spawner's exit signal 0, so a plain waitpid() never sees it (multiprocessing's
 * spawnv_passfds reads no error pipe and polls it forever); _posixsubprocess's own
 * failed child ends with 255. vfork: nothing is copied, and the child only exits.
 * Its pid, or -errno. */
long pp_stand_in(int status)
{
    pid_t pid = vfork();
    if (pid == 0)
        _exit(status & 0xff);
    return pid < 0 ? -errno : (long)pid;
}
