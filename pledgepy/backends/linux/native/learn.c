/* ---- learn mode's receiving loop (appended to sigsys.c by build.py) ----
 *
 * pp_learn_loop runs in a thread of its own (the GIL released): it receives
 * each call, reads and resolves its paths while the caller waits, and answers
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE, so the call runs exactly as it would
 * without the filter. The verdict never depends on the target's memory; the
 * paths are read only to be written down. A call like one seen before (same
 * syscall, the same arguments the rules read, the same resolved paths) is
 * only counted; a new one is queued for Python (pp_learn_take), which records
 * it while the program runs on.
 *
 * Keys are two independent 64-bit hashes; a collision would only leave a call
 * unrecorded (a narrower policy, never a wider one). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Per-syscall configuration, PP_CFG int16 values per number (from record.py). */
#define PP_CFG 7
#define CFG_VALUE(i) (1 << (i))        /* argument i's low 32 bits are in the key */
#define CFG_NULL(i) (1 << (6 + (i)))   /* whether argument i is NULL is in the key */
#define CFG_PID (1 << 12)              /* the caller's pid is in the key */
#define CFG_ALWAYS (1 << 13)           /* never merged: every call is a row */
#define CFG_FACTS (1 << 14)            /* whether its paths exist is in the key */
#define CFG_FORGET (1 << 15)           /* after it, no cached working directory holds */
#define CFG_UNKEYED 8                  /* added to a path index: read, not in the key */
/* cfg[6]: the flags argument whose AT_EMPTY_PATH makes an unkeyed path's "" part of the
 * key (fstat spelled as newfstatat/statx needs stdio, a named stat rpath), -1: none. An
 * unkeyed path is otherwise read only for a call not seen before: its key is the same
 * whatever the path, and tar's fstatat of each file would read and resolve one each. */
#define ROW 13
#define PP_PIDS 1024
/* The pledge command's start-up shim reports with lookup_dcookie(PP_COOKIE, phase, ...)
 * (native/shim.c); READY says its program's loader is done and main comes next. */
#define PP_COOKIE 0x5053484d45444750ULL
#define PP_READY 1

/* 0 until a READY came (the loader's phase), 1 after: part of every key, so a call of
 * the program's own run is never counted as one its loader made. */
static uint32_t g_phase;

static struct { int pid; int fd; int fds; int cwd_len; char *cwd; } g_mem[PP_PIDS];

/* pending: an open's facts (path_facts) are still to be read, by the consumer */
struct qrec { struct qrec *next; uint64_t row[ROW]; uint16_t len[3]; int pending; char data[]; };
static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct qrec *head, *tail;
    long queued;
    int done, waiting;
    long error;
} g_q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0 };
/* The consumer is woken for a full batch, or finds what came within PP_LINGER_NS:
 * waking it for every call would cost a futex round trip each. */
#define PP_WAKE 256
#define PP_LINGER_NS 2000000L

struct pp_slot { uint64_t h1, h2; uint64_t id; };
static struct pp_slot *g_table;
static uint64_t g_table_size, g_table_used;
static uint64_t *g_counts;
static uint64_t g_ids, g_counts_size;

static void hash2(const void *data, size_t n, uint64_t *h1, uint64_t *h2)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        *h1 = (*h1 ^ p[i]) * 0x100000001b3ULL;          /* FNV-1a */
        *h2 = (*h2 + p[i] + 1) * 0x9e3779b97f4a7c15ULL;  /* a multiplicative hash */
        *h2 ^= *h2 >> 29;
    }
}

/* Make *pid*'s slot its own, closing what another pid left there. */
static unsigned slot_of(int pid)
{
    unsigned i = (unsigned)pid % PP_PIDS;
    if (g_mem[i].pid != pid) {
        if (g_mem[i].fd >= 0)
            close(g_mem[i].fd);
        if (g_mem[i].fds >= 0)
            close(g_mem[i].fds);
        g_mem[i].fd = g_mem[i].fds = -1;
        g_mem[i].pid = pid;
        g_mem[i].cwd_len = -1;
    }
    return i;
}

static int mem_fd(int pid)
{
    unsigned i = slot_of(pid);
    if (g_mem[i].fd >= 0)
        return g_mem[i].fd;
    struct buf b;
    b.len = 0;
    put(&b, "/proc/");
    put_u(&b, (uint64_t)pid, 10);
    put(&b, "/mem");
    b.data[b.len] = 0;
    g_mem[i].cwd_len = -1;  /* (as when it was first opened: nothing cached holds) */
    g_mem[i].fd = open(b.data, O_RDONLY | O_CLOEXEC);
    return g_mem[i].fd;
}

static void mem_forget(int pid)
{
    unsigned i = (unsigned)pid % PP_PIDS;
    if (g_mem[i].pid == pid && g_mem[i].fd >= 0) {
        close(g_mem[i].fd);
        g_mem[i].fd = -1;
    }
}

/* The target of descriptor *fd* of *pid* (its /proc/<pid>/fd/<fd> link) into *out*:
 * length or -1. Through an open /proc/<pid>/fd kept per pid (a walk of one name, not
 * four, for each openat relative to a directory); the link itself is read each time
 * (descriptor numbers are reused, and closing one is not seen). The directory stands
 * for the process it was opened in: once that has gone (its pid perhaps another's now)
 * nothing resolves in it, and the second attempt opens the pid's afresh. */
static long fd_link(int pid, uint32_t fd, char *out, size_t size)
{
    unsigned i = slot_of(pid);
    char name[16];
    struct buf b;
    b.len = 0;
    put_u(&b, (uint64_t)fd, 10);
    b.data[b.len] = 0;
    memcpy(name, b.data, (size_t)b.len + 1);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (g_mem[i].fds < 0 || attempt) {
            if (g_mem[i].fds >= 0)
                close(g_mem[i].fds);
            b.len = 0;
            put(&b, "/proc/");
            put_u(&b, (uint64_t)pid, 10);
            put(&b, "/fd");
            b.data[b.len] = 0;
            g_mem[i].fds = open(b.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (g_mem[i].fds < 0)
                return -1;
        }
        ssize_t k = readlinkat(g_mem[i].fds, name, out, size - 1);
        if (k > 0)
            return k;
    }
    return -1;
}

/* The NUL-terminated string at *addr* in *pid*; its length, or -1. */
static long read_path_once(int pid, uint64_t addr, char *out, size_t size)
{
    int fd = mem_fd(pid);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < size) {
        size_t room = 4096 - ((addr + got) % 4096);
        if (room > size - got)
            room = size - got;
        ssize_t n = pread(fd, out + got, room, (off_t)(addr + got));
        if (n <= 0) {
            mem_forget(pid);  /* gone, or exec'd: the next call opens it again */
            return -1;
        }
        for (ssize_t i = 0; i < n; i++)
            if (out[got + i] == 0)
                return (long)(got + i);
        got += (size_t)n;
    }
    return -1;
}

/* Whether *a* is posix_spawn's rt_sigaction(SIGSYS, {SIG_DFL}, NULL), which every
 * supervisor answers as done (exec/answer.py: sigsys_default_for): the action's handler
 * read while the caller waits. 0 for anything else or unreadable. */
static int sigsys_default_of(int pid, const uint64_t *a)
{
    if ((uint32_t)a[0] != SIGSYS || !a[1] || a[2] || a[1] > (uint64_t)INT64_MAX - 8)
        return 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = mem_fd(pid);
        uint64_t handler = 1;
        if (fd >= 0 && pread(fd, &handler, sizeof handler, (off_t)a[1]) == (ssize_t)sizeof handler)
            return handler == (uint64_t)(uintptr_t)SIG_DFL;
        mem_forget(pid);  /* exec'd meanwhile: once more with a fresh descriptor */
    }
    return 0;
}

/* The same, once more with a fresh descriptor if the first read fails. */
static long read_path(int pid, uint64_t addr, char *out, size_t size)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        long n = read_path_once(pid, addr, out, size);
        if (n >= 0)
            return n;  /* (the failed read closed a descriptor from before an exec) */
    }
    return -1;
}

/* Forget every cached working directory (after a chdir, a fork, ...). */
static void cwd_forget_all(void)
{
    for (int i = 0; i < PP_PIDS; i++)
        g_mem[i].cwd_len = -1;
}

/* Callers of a call that may change a working directory, continued but maybe
 * not yet done: while any is pending nothing is cached (another thread could
 * read the old directory meanwhile). A pending caller's next call means its
 * own has returned. */
#define PP_PENDING 16
static int g_pending[PP_PENDING], g_npending, g_cwd_off;

static void cwd_pending(int pid, int forget)
{
    for (int i = 0; i < g_npending; i++)
        if (g_pending[i] == pid) {
            g_pending[i] = g_pending[--g_npending];
            cwd_forget_all();
            break;
        }
    if (forget) {
        cwd_forget_all();
        if (g_npending < PP_PENDING)
            g_pending[g_npending++] = pid;
        else
            g_cwd_off = 1;  /* too many at once: no more caching in this run */
    }
}

/* The working directory of *pid* into *out* (cached while *cache*): length or -1. */
static long cwd_of(int pid, char *out, size_t size, int cache)
{
    unsigned i = (unsigned)pid % PP_PIDS;
    if (cache && g_mem[i].pid == pid && g_mem[i].cwd_len >= 0
            && (size_t)g_mem[i].cwd_len < size) {
        memcpy(out, g_mem[i].cwd, (size_t)g_mem[i].cwd_len);
        return g_mem[i].cwd_len;
    }
    struct buf b;
    b.len = 0;
    put(&b, "/proc/");
    put_u(&b, (uint64_t)pid, 10);
    put(&b, "/cwd");
    b.data[b.len] = 0;
    ssize_t k = readlink(b.data, out, size - 1);
    if (k <= 0)
        return -1;
    if (cache && g_mem[i].pid == pid) {
        char *copy = realloc(g_mem[i].cwd, (size_t)k);
        if (copy) {
            memcpy(copy, out, (size_t)k);
            g_mem[i].cwd = copy;
            g_mem[i].cwd_len = (int)k;
        }
    }
    return k;
}

/* The absolute (not normalised) path argument *path_idx* of a call, resolved
 * against its dirfd (*dirfd_idx*, -1: the working directory). Length or -1;
 * *empty* set when the argument was a readable "" (fstat spelled as a path call). */
/* The controlling terminal (tty_nr, field 7 of /proc/PID/stat) of *pid* (0: "self"),
 * or -1 when it cannot be read. */
static long tty_nr_of(int pid)
{
    struct buf b;
    b.len = 0;
    put(&b, "/proc/");
    if (pid)
        put_u(&b, (uint64_t)pid, 10);
    else
        put(&b, "self");
    put(&b, "/stat");
    b.data[b.len] = 0;
    int fd = open(b.data, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char st[1024];
    ssize_t n = read(fd, st, sizeof st - 1);
    close(fd);
    if (n <= 0)
        return -1;
    st[n] = 0;
    char *end = strrchr(st, ')');
    int tty;
    if (!end || sscanf(end + 1, " %*c %*d %*d %*d %d", &tty) != 1)
        return -1;
    return tty;
}

/* Whether the command would answer *pid*'s open of "/dev/tty" under tty (exec/ttyopen.py):
 * it has no controlling terminal (ENXIO) or the supervisor's, which is ours. Read while
 * the call waits, so the answer is the one for this call. */
static int tty_answered(int pid)
{
    static long ours = -2;
    if (ours == -2)
        ours = tty_nr_of(0);
    long theirs = tty_nr_of(pid);
    return theirs == 0 || (theirs > 0 && theirs == ours);
}

/* Whether *raw* (*n* bytes) is spelled as the command's allowance answers take a path
 * (exec/allowed.py: _plain): absolute, with no empty, "." or ".." component; "/" alone
 * too (NSS's stat of it, compared as bytes there). resolve_path joins a relative path to
 * its directory and the report normalises "//": the same file, but the command refuses
 * such a spelling its allowance (getpw, dns, stdio's files, tmppath's creates). */
static int plain_spelling(const char *raw, long n)
{
    if (n < 1 || raw[0] != '/')
        return 0;
    if (n == 1)
        return 1;
    long start = 1;
    for (long i = 1; i <= n; i++) {
        if (i < n && raw[i] != '/')
            continue;
        long len = i - start;
        if (len == 0 || (len == 1 && raw[start] == '.')
                || (len == 2 && raw[start] == '.' && raw[start + 1] == '.'))
            return 0;
        start = i + 1;
    }
    return 1;
}

static long resolve_path(int pid, int dirfd_idx, int path_idx, const uint64_t a[6],
                         char *out, size_t size, int cache_cwd, int *empty, int *plain)
{
    char raw[4096];
    *plain = 0;
    long n = a[path_idx] ? read_path(pid, a[path_idx], raw, sizeof raw) : 0;
    if (n < 0)
        return -1;
    raw[n] = 0;
    *empty = a[path_idx] && n == 0;
    *plain = plain_spelling(raw, n);
    /* 2: spelled exactly "/dev/tty", the one spelling the command answers under tty
     * (exec/ttyopen.py compares the bytes), by a process it would answer (its
     * controlling terminal none or ours): "tty" from /dev or "//dev/tty" resolve to
     * the same path but stay rpath's and wpath's, as does a program on a terminal of
     * its own (setsid, a pty: script, expect) */
    if (n == 8 && !memcmp(raw, "/dev/tty", 8) && tty_answered(pid))
        *empty = 2;
    if (raw[0] == '/') {
        if ((size_t)n >= size)
            return -1;
        memcpy(out, raw, (size_t)n + 1);
        return n;
    }
    ssize_t k;
    if (dirfd_idx < 0 || (int32_t)a[dirfd_idx] == -100) {
        k = cwd_of(pid, out, size, cache_cwd);
    } else {
        k = fd_link(pid, (uint32_t)a[dirfd_idx], out, size);
    }
    if (k <= 0 || (size_t)k + (size_t)n + 2 >= size)
        return -1;
    if (n) {
        out[k++] = '/';
        memcpy(out + k, raw, (size_t)n);
        k += n;
    }
    out[k] = 0;
    return k;
}

/* Whether a stat of *path* (absolute, as resolve_path joins it) may be one the command
 * answers as an allowance: "/" (NSS's), a file under /etc (passwd, hosts, localtime,
 * ...), or one of stdio's elsewhere (policy.PATHS: the time zone trees, the CPU-count
 * and overcommit files; record.py ANSWERED_ROOTS, which must cover no more) */
static int allowance_like(const char *path)
{
    static const char *const roots[] = {
        "/etc/", "/usr/share/zoneinfo/", "/usr/lib/zoneinfo/", "/usr/share/lib/zoneinfo/",
        "/sys/devices/system/cpu/", "/proc/sys/vm/",
    };
    if (!strcmp(path, "/"))
        return 1;
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        if (!strncmp(path, roots[i], strlen(roots[i])))
            return 1;
    return 0;
}

/* Whether *path* exists (bit 0) and is a directory (bit 1), now. */
static uint64_t path_fact(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode) || (S_ISLNK(st.st_mode) && stat(path, &st) == 0
            && S_ISDIR(st.st_mode)))
        return 3;
    return 1;
}

/* Whether each resolved path exists (bit 2i) and is a directory (bit 2i+1), now,
 * before the call runs. */
static uint64_t path_facts(char paths[2][4096], const long len[2])
{
    uint64_t facts = 0;
    for (int i = 0; i < 2; i++)
        if (len[i] >= 0)
            facts |= path_fact(paths[i]) << (2 * i);
    return facts;
}

/* The id of the key (h1, h2), inserting it as a new id when *fresh*; ~0 if none. */
static uint64_t table_find(uint64_t h1, uint64_t h2, int *fresh)
{
    if (g_table_used * 4 >= g_table_size * 3) {
        uint64_t size = g_table_size ? g_table_size * 2 : 65536;
        struct pp_slot *t = calloc(size, sizeof *t), *old = g_table;
        if (!t)
            return ~0ULL;
        for (uint64_t i = 0; i < g_table_size; i++) {
            if (!old[i].h1 && !old[i].h2)
                continue;
            uint64_t at = old[i].h1 % size;
            while (t[at].h1 || t[at].h2)
                at = (at + 1) % size;
            t[at] = old[i];
        }
        free(old);
        g_table = t;
        g_table_size = size;
    }
    if (!h1 && !h2)
        h2 = 1;  /* (0, 0) marks an empty slot */
    uint64_t at = h1 % g_table_size;
    while (g_table[at].h1 || g_table[at].h2) {
        if (g_table[at].h1 == h1 && g_table[at].h2 == h2) {
            *fresh = 0;
            return g_table[at].id;
        }
        at = (at + 1) % g_table_size;
    }
    if (g_ids >= g_counts_size) {
        uint64_t size = g_counts_size ? g_counts_size * 2 : 65536;
        uint64_t *c = realloc(g_counts, size * sizeof *c);
        if (!c)
            return ~0ULL;
        memset(c + g_counts_size, 0, (size - g_counts_size) * sizeof *c);
        g_counts = c;
        g_counts_size = size;
    }
    g_table[at].h1 = h1;
    g_table[at].h2 = h2;
    g_table[at].id = g_ids;
    g_table_used++;
    *fresh = 1;
    return g_ids++;
}

static uint64_t new_id(void)
{
    int fresh;
    /* a key no call can have: the id counter itself, hashed */
    uint64_t h1 = 0x9e3779b97f4a7c15ULL ^ (g_ids + 1), h2 = ~h1 ^ 0x5555;
    hash2(&g_ids, sizeof g_ids, &h1, &h2);
    return table_find(h1, h2, &fresh);
}

static void queue(struct qrec *r)
{
    pthread_mutex_lock(&g_q.lock);
    if (g_q.tail)
        g_q.tail->next = r;
    else
        g_q.head = r;
    g_q.tail = r;
    if (++g_q.queued >= PP_WAKE && g_q.waiting)
        pthread_cond_signal(&g_q.ready);
    pthread_mutex_unlock(&g_q.lock);
}

static void finish(long error)
{
    pthread_mutex_lock(&g_q.lock);
    g_q.done = 1;
    g_q.error = error;
    pthread_cond_broadcast(&g_q.ready);
    pthread_mutex_unlock(&g_q.lock);
}

/* The program's name (its executable's basename) into *out*: length or 0. */
static size_t program_of(int pid, char *out, size_t size)
{
    struct buf b;
    b.len = 0;
    put(&b, "/proc/");
    put_u(&b, (uint64_t)pid, 10);
    put(&b, "/exe");
    b.data[b.len] = 0;
    char exe[4096];
    ssize_t k = readlink(b.data, exe, sizeof exe - 1);
    if (k <= 0)
        return 0;
    exe[k] = 0;
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    size_t n = strlen(base);
    if (n >= size)
        return 0;
    memcpy(out, base, n);
    return n;
}

/* Receive calls on *fd* until every process under the filter has gone, as the
 * file's comment says. cfg[PP_CFG*nr..]: (dirfd index, path index) x 2 (-1:
 * none), key bits, flags index (-1: none); calls of *start_pid* are never merged
 * until it calls execve/execveat (*exec_nr*, *execat_nr*); *cache_cwd*: every
 * call that changes a working directory is seen; *magic_nr*: the start-up shim's
 * report (-1: none), answered here (0 for READY, which ends the loader's phase;
 * ENOSYS else: it must not run) and always a row. 0 or -errno. */
/* The call runs (CONTINUE), or fails with *refuse* (an errno) as the command answers it. */
static void go_on(int fd, uint64_t id, int refuse)
{
    if (refuse)
        pp_notif_send(fd, id, -refuse);
    else
        pp_notif_continue(fd, id);
}

/* What the pledge command answers a call with without running it, so the run learned is
 * the run it will see (0: the call runs): glibc's netlink probe EACCES (below), inotify's
 * ENOSYS (exec/answer.py: inotify_for; GNU tail -f then polls, and what polling needs is
 * learned) and the reflink ioctls EOPNOTSUPP (reflink_for: cp then copies). */
static int answered_as_command(int nr, const uint64_t *args)
{
#ifdef SYS_inotify_init
    if (nr == SYS_inotify_init)
        return ENOSYS;
#endif
    if (nr == SYS_inotify_init1)
        return ENOSYS;
    if (nr == SYS_ioctl) {
        uint32_t request = (uint32_t)args[1]; /* FICLONE, FICLONERANGE, FIDEDUPERANGE */
        if (request == 0x40049409U || request == 0x4020940DU || request == 0xC0189436U)
            return EOPNOTSUPP;
    }
    return 0;
}

long pp_learn_loop(int fd, const int16_t *cfg, int ncfg, int start_pid, int exec_nr,
                   int execat_nr, int cache_cwd, int magic_nr)
{
    int started = 0;
    g_phase = 0;
    for (int i = 0; i < PP_PIDS; i++) {
        g_mem[i].fd = g_mem[i].fds = -1;
        g_mem[i].pid = 0;
        g_mem[i].cwd_len = -1;
    }
    pthread_mutex_lock(&g_q.lock);
    g_q.done = 0;
    g_q.error = 0;
    g_q.queued = 0;
    pthread_mutex_unlock(&g_q.lock);
    free(g_table);
    g_table = 0;
    g_table_size = g_table_used = g_ids = 0;
    g_npending = g_cwd_off = 0;
    char paths[2][4096], program[256];
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
        if (poll(&p, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            finish(-errno);
            return -errno;
        }
        if (!(p.revents & POLLIN))
            break;  /* POLLHUP: every process under the filter is gone */
        struct seccomp_notif req;
        memset(&req, 0, sizeof req);
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
            if (errno == ENOENT || errno == EINTR)
                continue;
            long e = -errno;
            finish(e);
            return e;
        }
        int nr = req.data.nr, pid = (int)req.pid;
        /* glibc's netlink probe for AI_ADDRCONFIG, exactly as it spells it: the command
         * refuses it quietly (EACCES, policy.netlink_probe), so it fails here too rather
         * than run (its recvmsg would look like a need for recvfd); still recorded */
        int probe = nr == SYS_socket && (uint32_t)req.data.args[0] == 16
            && (uint32_t)req.data.args[1] == (3 | 02000000) && (uint32_t)req.data.args[2] == 0
            ? EACCES : answered_as_command(nr, (const uint64_t *)req.data.args);
        const int16_t *c = nr >= 0 && nr < ncfg ? cfg + PP_CFG * nr : 0;
        int bits = c ? (uint16_t)c[4] : CFG_ALWAYS;
        int magic = nr == magic_nr && req.data.args[0] == PP_COOKIE;
        if (magic) {
            int ready = req.data.args[1] == PP_READY;
            pp_notif_send(fd, req.id, ready ? 0 : -ENOSYS);  /* -ENOENT: it died */
            if (ready)
                g_phase = 1;  /* from anyone, as the supervisor takes it */
            bits |= CFG_ALWAYS;
        }
        cwd_pending(pid, bits & CFG_FORGET);
        int cache = cache_cwd && !g_npending && !g_cwd_off;
        int first_sight = g_mem[(unsigned)pid % PP_PIDS].pid != pid;
        long len[2] = { -1, -1 };
        uint64_t facts = 0;
        uint64_t h1 = 0xcbf29ce484222325ULL, h2 = 0x84222325cbf29ce4ULL;
        uint32_t head[3] = { (uint32_t)nr, bits & CFG_PID ? (uint32_t)pid : 0, g_phase };
        hash2(head, sizeof head, &h1, &h2);
        for (int i = 0; i < 6; i++) {
            uint32_t v = (uint32_t)req.data.args[i];
            if (bits & CFG_VALUE(i))
                hash2(&v, sizeof v, &h1, &h2);
            if (bits & CFG_NULL(i)) {
                unsigned char z = req.data.args[i] == 0;
                hash2(&z, 1, &h1, &h2);
            }
        }
        int need_facts = (bits & CFG_FACTS)
            || (c && c[5] >= 0 && ((uint32_t)req.data.args[c[5]] & (0100 | 020000000)));
        uint64_t empty_bits = 0;  /* bit 16+i: path i was "" (facts, for the report); 20+i: spelled
                                   * plainly (plain_spelling); 28+i: "/dev/tty" */
        int lazy = 0;  /* bit i: unkeyed path i, read below only for a new call */
        int empty_keyed = c && c[6] >= 0 && ((uint32_t)req.data.args[c[6]] & AT_EMPTY_PATH);
        /* stat() of a path (newfstatat, flags 0 or AT_NO_AUTOMOUNT): the command answers
         * it under dns or getpw when the path is one of their files (exec/allowed.py), so
         * its path is read for every such call and, when it may be one, keyed */
        int plain_stat = nr == SYS_newfstatat && !((uint32_t)req.data.args[3] & ~0x800u);
        for (int i = 0; c && i < 2; i++) {
            int dirfd_idx = c[2 * i], path_idx = c[2 * i + 1], empty = 0, keyed = 1;
            if (path_idx < 0)
                continue;
            if (path_idx >= CFG_UNKEYED) {
                path_idx -= CFG_UNKEYED;
                keyed = 0;
                if (!empty_keyed && !plain_stat) {
                    unsigned char mark = 0xfe;  /* its key: that it had one, no more */
                    hash2(&mark, 1, &h1, &h2);
                    lazy |= 1 << i;
                    continue;
                }
            }
            int plain = 0;
            len[i] = resolve_path(pid, dirfd_idx, path_idx, (const uint64_t *)req.data.args,
                                  paths[i], sizeof paths[i], cache, &empty, &plain);
            if (empty == 1)
                empty_bits |= 1ULL << (16 + i);
            else if (empty == 2)
                empty_bits |= 1ULL << (28 + i);
            if (plain)
                empty_bits |= 1ULL << (20 + i);
            /* the spelling is part of the key: "/etc/passwd" is getpw's, "passwd" from
             * /etc or "/etc//passwd" rpath's (the command answers only the first) */
            unsigned char mark = len[i] < 0 ? 0xff : (unsigned char)(i + 2 * empty + 8 * plain);
            hash2(&mark, 1, &h1, &h2);
            if (len[i] < 0 || !(keyed || (plain_stat && allowance_like(paths[i]))))
                continue;
            hash2(paths[i], (size_t)len[i], &h1, &h2);
        }
        uint64_t sigdfl = 0;  /* bit 24: posix_spawn's SIG_DFL (part of the key) */
        if (nr == SYS_rt_sigaction && sigsys_default_of(pid, (const uint64_t *)req.data.args)) {
            unsigned char m = 0xd1;
            hash2(&m, 1, &h1, &h2);
            sigdfl = 1ULL << 24;
        }
        if (need_facts) {  /* what it does depends on what exists: part of the key */
            facts = path_facts(paths, len);
            unsigned char f = (unsigned char)facts;
            hash2(&f, 1, &h1, &h2);
        }
        if (pid == start_pid && (nr == exec_nr || nr == execat_nr))
            started = 1;  /* (this call itself is the program's start: a row) */
        int fresh = 1;
        uint64_t id = !started || (bits & CFG_ALWAYS) ? new_id() : table_find(h1, h2, &fresh);
        if (id != ~0ULL)
            g_counts[id]++;
        if (!fresh) {
            go_on(fd, req.id, probe);
            continue;
        }
        for (int i = 0; i < 2; i++) {  /* the first of its kind: its path is the example */
            int empty = 0, plain = 0;
            if (lazy & (1 << i)) {
                len[i] = resolve_path(pid, c[2 * i], c[2 * i + 1] - CFG_UNKEYED,
                                      (const uint64_t *)req.data.args, paths[i],
                                      sizeof paths[i], cache, &empty, &plain);
                if (empty == 1)
                    empty_bits |= 1ULL << (16 + i);
                else if (empty == 2)
                    empty_bits |= 1ULL << (28 + i);
                if (plain)  /* (an unkeyed path: shown, its spelling decides nothing) */
                    empty_bits |= 1ULL << (20 + i);
            }
        }
        size_t plen = first_sight ? program_of(pid, program, sizeof program) : 0;
        int answered = magic, pending = 0;
        if (!need_facts && !answered) {
            /* Only for a new row, and after the call went on: its key does not depend
             * on them. The report reads them only for open and openat (creat and
             * O_CREAT/O_TMPFILE opens looked above, before the call), and an open that
             * creates nothing changes neither whether its path exists nor whether it is
             * a directory; for other calls they are not read. Read by the consumer
             * (pp_learn_take, on another CPU): here the lstat would come between the
             * program's calls, which wait for this thread (with synchronous wake-ups
             * the program and this loop share a CPU). */
            go_on(fd, req.id, probe);
            answered = 1;
            pending = c && c[5] >= 0;
        }
        size_t l0 = len[0] < 0 ? 0 : (size_t)len[0] + 1, l1 = len[1] < 0 ? 0 : (size_t)len[1] + 1;
        struct qrec *r = malloc(sizeof *r + l0 + l1 + plen + 1);
        if (r) {
            r->next = 0;
            r->row[0] = (uint32_t)nr;
            r->row[1] = (uint64_t)pid;
            memcpy(r->row + 2, req.data.args, sizeof req.data.args);
            r->row[8] = r->row[9] = r->row[12] = ~0ULL;
            r->row[10] = facts | empty_bits | sigdfl;
            r->row[11] = id;
            r->len[0] = (uint16_t)l0;
            r->len[1] = (uint16_t)l1;
            r->len[2] = first_sight && plen ? (uint16_t)(plen + 1) : 0;
            r->pending = pending;
            memcpy(r->data, paths[0], l0);
            memcpy(r->data + l0, paths[1], l1);
            memcpy(r->data + l0 + l1, program, plen);
            r->data[l0 + l1 + plen] = 0;
        }
        if (!answered)
            go_on(fd, req.id, probe);  /* -ENOENT: the caller died meanwhile */
        if (r)
            queue(r);
    }
    for (int i = 0; i < PP_PIDS; i++) {
        if (g_mem[i].fd >= 0) {
            close(g_mem[i].fd);
            g_mem[i].fd = -1;
        }
        if (g_mem[i].fds >= 0) {
            close(g_mem[i].fds);
            g_mem[i].fds = -1;
        }
    }
    finish(0);
    return 0;
}

/* Up to *max* new calls from pp_learn_loop into *out* (rows of ROW: nr, pid,
 * args[6], arena offsets of path 0 and 1 (~0: none or unreadable), facts (1:
 * path 0 existed, 2: a directory, 4 and 8: path 1), id, arena offset of the
 * program's name when the pid is new (~0: none)), their strings in *arena*.
 * Waits for one; 0 once the loop has ended and every row was taken, or -errno. */
long pp_learn_take(uint64_t *out, long max, char *arena, size_t arena_size)
{
    long n = 0;
    size_t used = 0, room = 0;
    struct qrec *taken = 0, **last = &taken;
    pthread_mutex_lock(&g_q.lock);
    while (g_q.queued < PP_WAKE && !g_q.done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PP_LINGER_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        g_q.waiting = 1;
        int rc = pthread_cond_timedwait(&g_q.ready, &g_q.lock, &until);
        g_q.waiting = 0;
        if (rc == ETIMEDOUT && g_q.head)
            break;
    }
    while (g_q.head && n < max) {  /* taken off the queue; the rest outside the lock */
        struct qrec *r = g_q.head;
        size_t need = (size_t)r->len[0] + r->len[1] + r->len[2];
        if (room + need > arena_size)
            break;
        room += need;
        g_q.head = r->next;
        g_q.queued--;
        if (!g_q.head)
            g_q.tail = 0;
        r->next = 0;
        *last = r;
        last = &r->next;
        n++;
    }
    long error = g_q.error;
    pthread_mutex_unlock(&g_q.lock);
    n = 0;
    while (taken) {
        struct qrec *r = taken;
        taken = r->next;
        if (r->pending) {
            if (r->len[0])
                r->row[10] |= path_fact(r->data);
            if (r->len[1])
                r->row[10] |= path_fact(r->data + r->len[0]) << 2;
        }
        uint64_t *row = out + ROW * n;
        memcpy(row, r->row, sizeof r->row);
        size_t at = 0;
        for (int i = 0; i < 3; i++) {
            if (r->len[i]) {
                memcpy(arena + used, r->data + at, r->len[i]);
                row[i < 2 ? 8 + i : 12] = used;
                used += r->len[i];
                at += r->len[i];
            }
        }
        free(r);
        n++;
    }
    return n ? n : error;
}

/* How many calls each of the first *n* ids stood for (0 for one never used). */
void pp_learn_counts(uint64_t *out, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        out[i] = i < g_ids ? g_counts[i] : 0;
}

/* Receive up to *max* calls into *out* (rows of nr, pid, args[6]), continuing
 * each at once unless hold[nr] is set: a held call is stored last and left
 * waiting, its id in *held_id* and *held = 1, so its memory can be read first.
 * Waits for the first call; returns the number stored, 0 once nobody is left
 * under the filter, or -errno. (python -m pledgepy learn: every call waits.) */
long pp_learn_batch(int fd, const unsigned char *hold, int nhold, uint64_t *out, long max,
                    uint64_t *held_id, int *held)
{
    long n = 0;
    *held = 0;
    while (n < max) {
        struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
        int r = poll(&p, 1, n == 0 ? -1 : 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return n ? n : -errno;
        }
        if (r == 0)
            break;
        if (!(p.revents & POLLIN))
            return n;  /* POLLHUP: every process under the filter is gone */
        struct seccomp_notif req;
        memset(&req, 0, sizeof req);
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
            if (errno == ENOENT || errno == EINTR)
                continue;
            return n ? n : -errno;
        }
        uint64_t *row = out + 8 * n;
        row[0] = (uint32_t)req.data.nr;
        row[1] = req.pid;
        memcpy(row + 2, req.data.args, sizeof req.data.args);
        n++;
        if (req.data.nr >= 0 && req.data.nr < nhold && hold[req.data.nr]) {
            *held_id = req.id;
            *held = 1;
            return n;
        }
        pp_notif_continue(fd, req.id);
    }
    return n;
}
