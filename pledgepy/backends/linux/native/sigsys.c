/*
 * pledgepy's SIGSYS handler and filter installer.
 *
 * A seccomp filter answers a violation with SECCOMP_RET_TRAP; the kernel
 * skips the syscall and sends SIGSYS to the offending thread. This handler
 * (async-signal-safe: no malloc, no stdio, only raw syscalls and reads of
 * tables Python built before the filter went in):
 *   1. emulates the few calls BPF cannot tell from path lookups because it
 *      cannot read the string (see emulate(): fstat spelled newfstatat(fd, "",
 *      buf, AT_EMPTY_PATH), stat of /etc/localtime, CPython's /proc/self/stat;
 *      posix_spawn's rt_sigaction(SIGSYS, SIG_DFL) in its child);
 *   2. writes one line naming program, pid, syscall, key argument and the
 *      promises that would allow it;
 *   3. under the "error" promise makes the syscall return -ENOSYS; otherwise
 *      raises SIGABRT so faulthandler prints the Python traceback, and makes
 *      sure the process dies.
 * The penalty follows the promises Python recorded (pp_set_held), never the
 * trap's SECCOMP_RET_DATA: a filter the program stacks itself can return
 * SECCOMP_RET_TRAP with any data, and for equal actions the newest filter's
 * data wins. Data pledgepy's filters do not return now marks such a filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#define PP_MAX_REPORTED 1024

struct pp_cond { uint64_t mask; uint32_t arg; uint32_t wide; uint32_t negate; uint32_t nvals; uint32_t first_val; uint32_t special; int32_t role; };
struct pp_rule { uint64_t needs; uint32_t first_cond; uint32_t nconds; int32_t hint; };
struct pp_flag { uint64_t mask; uint64_t value; uint32_t name; };
struct pp_allow { uint32_t path; uint32_t promise; uint32_t letters; };
struct pp_sys { int32_t name; int32_t keyarg; uint32_t keyfmt; uint32_t first_rule; uint32_t nrules; uint32_t first_flag; uint32_t nflags; int32_t dirfd1; int32_t path1; int32_t dirfd2; int32_t path2; };

enum { KEY_NONE = 0, KEY_FLAGS = 1, KEY_ENUM = 2, KEY_INT = 3, KEY_OCTAL = 4, KEY_MKNOD = 5,
       KEY_CLONE = 6, KEY_SOCKET = 7, KEY_SOCKOPT = 8, KEY_SIGNAL = 9 };
enum { PLACEHOLDER_SELF = 1, PLACEHOLDER_ANY = 2 };

/* The tables (T_SYS, T_RULES, ...) are generated from policy.py at build time. */
#include "pp_tables.h"

static volatile uint64_t g_held;
static volatile uint32_t g_trap_data; /* bit d: pledgepy's filters in force may return TRAP|d */
static volatile int g_quiet;
static char g_prog[128];
/* The module the import system is finding (pp_set_importing, from the finder pledge()
 * puts first on sys.meta_path without rpath): named in this process's import hint. One
 * buffer for all threads: a message may name another thread's import (an explanation,
 * never a decision). Never read for another process (pp_describe). */
static char g_importing[128];
static unsigned char g_reported[PP_MAX_REPORTED / 8];
static volatile int g_localtime_fd = -1; /* /etc/localtime, opened O_PATH before the filter */
static volatile int g_localtime_lfd = -1; /* the same O_NOFOLLOW: the link itself, for lstat */
static volatile int g_devnull_fd = -1; /* /dev/null, opened O_RDWR before the filter */
/* Describing another program (a spawned child, not Python): hints that speak to
 * Python programs are replaced (pp_set_foreign). Set only in helper processes. */
static int g_foreign;
/* Describing another process from outside every filter (a supervisor, the explainer:
 * pp_set_resolve): a relative path is also shown resolved, against the caller's working
 * directory or its dirfd as /proc shows them while the call waits. Only an explanation,
 * never a decision (another thread may chdir meanwhile). Off in the handler: a pledged
 * process may not hold the readlink it takes. */
static int g_resolve;
static volatile int g_paths; /* the Landlock layer of the path allowances is in force */
static volatile int g_root_fd = -1; /* "/", opened O_PATH before the filter (glibc stats it) */
static char g_path_dirs[1024]; /* allowance paths held: "dir/\0file\0...\0" */
/* Why the allowances' layer is not in force ("" while it is, or nothing was pledged):
 * a violation on a path a held promise's allowance covers says so, since OpenBSD
 * would have allowed it and "needs rpath" alone sends the reader the wrong way. */
static char g_paths_off[256];

/* ---- a tiny async-signal-safe string builder ---- */
struct buf { char data[1024]; size_t len; };

static void put(struct buf *b, const char *s)
{
    while (*s && b->len < sizeof b->data - 2)
        b->data[b->len++] = *s++;
}

static void put_u(struct buf *b, uint64_t v, int base)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v && i < 23);
    while (i)
        b->data[b->len < sizeof b->data - 2 ? b->len++ : b->len] = tmp[--i];
}

static void put_hex(struct buf *b, uint64_t v)
{
    put(b, "0x");
    put_u(b, v, 16);
}

static long raw(long nr, long a, long b, long c, long d, long e)
{
    return syscall(nr, a, b, c, d, e);
}

/* The handler's one call site for the path allowances' calls: the filter lets them
 * through only when they return to pp_blessed_return (policy.PATHS_RULES), and the
 * allowances' Landlock layer decides which paths succeed. */
long pp_blessed_call(long nr, long a, long b, long c, long d);
extern char pp_blessed_return[];
#if defined(__x86_64__)
__asm__(".text\n.globl pp_blessed_call\n.hidden pp_blessed_call\n"
        ".type pp_blessed_call,@function\npp_blessed_call:\n"
        "    mov %rdi, %rax\n    mov %rsi, %rdi\n    mov %rdx, %rsi\n"
        "    mov %rcx, %rdx\n    mov %r8, %r10\n    syscall\n"
        ".globl pp_blessed_return\n.hidden pp_blessed_return\npp_blessed_return:\n"
        "    ret\n.size pp_blessed_call, .-pp_blessed_call\n");
#elif defined(__aarch64__)
__asm__(".text\n.globl pp_blessed_call\n.hidden pp_blessed_call\n"
        ".type pp_blessed_call,%function\npp_blessed_call:\n"
        "    mov x8, x0\n    mov x0, x1\n    mov x1, x2\n    mov x2, x3\n"
        "    mov x3, x4\n    svc #0\n"
        ".globl pp_blessed_return\n.hidden pp_blessed_return\npp_blessed_return:\n"
        "    ret\n.size pp_blessed_call, .-pp_blessed_call\n");
#endif

/* ---- reading the trapped syscall ---- */
static void get_args(ucontext_t *uc, uint64_t a[6])
{
#if defined(__x86_64__)
    greg_t *r = uc->uc_mcontext.gregs;
    a[0] = r[REG_RDI]; a[1] = r[REG_RSI]; a[2] = r[REG_RDX];
    a[3] = r[REG_R10]; a[4] = r[REG_R8]; a[5] = r[REG_R9];
#elif defined(__aarch64__)
    for (int i = 0; i < 6; i++)
        a[i] = uc->uc_mcontext.regs[i];
#else
#error "pledgepy's SIGSYS handler supports x86_64 and aarch64"
#endif
}

static void set_return(ucontext_t *uc, long value)
{
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RAX] = value;
#elif defined(__aarch64__)
    uc->uc_mcontext.regs[0] = value;
#endif
}

static int cond_holds(const struct pp_cond *c, const uint64_t a[6])
{
    uint64_t v = a[c->arg];
    if (!c->wide)
        v &= 0xffffffffu;
    v &= c->mask;
    int found = (c->special & PLACEHOLDER_ANY) != 0;
    if ((c->special & PLACEHOLDER_SELF) && v == (uint64_t)raw(SYS_getpid, 0, 0, 0, 0, 0))
        found = 1;
    for (uint32_t i = 0; i < c->nvals; i++)
        if (v == T_VALS[c->first_val + i])
            found = 1;
    return c->negate ? !found : found;
}

static void put_ch(struct buf *b, char c)
{
    if (b->len < sizeof b->data - 2)
        b->data[b->len++] = c;
}

static void put_octal(struct buf *b, uint64_t v)
{
    put(b, "0");
    if (v)
        put_u(b, v, 8);
}

/* The name the table gives value *v* under *mask* (exact match), or 0. */
static const char *name_of(const struct pp_sys *s, uint64_t mask, uint64_t v)
{
    for (uint32_t i = 0; i < s->nflags; i++) {
        const struct pp_flag *f = &T_FLAGS[s->first_flag + i];
        if (f->mask == mask && f->value == v)
            return T_STRINGS + f->name;
    }
    return 0;
}

static void put_name(struct buf *b, const struct pp_sys *s, uint64_t mask, uint64_t v)
{
    const char *n = name_of(s, mask, v);
    if (n)
        put(b, n);
    else
        put_u(b, v, 10);
}

#define PP_CLONE_VM 0x100ull
#define PP_CLONE_VFORK 0x4000ull
#define PP_CLONE_THREAD 0x10000ull

static void put_key(struct buf *b, const struct pp_sys *s, const uint64_t a[6])
{
    uint64_t v = a[s->keyarg];
    switch (s->keyfmt) {
    case KEY_INT: {
        int64_t i = (int32_t)v;
        if (i < 0) { put(b, "-"); i = -i; }
        put_u(b, (uint64_t)i, 10);
        return;
    }
    case KEY_OCTAL:
        put_octal(b, v & 07777);
        return;
    case KEY_SIGNAL:  /* tables.py's SIGNAL_NAMES, else the number */
        put_name(b, s, 0xffffffffull, (uint32_t)v);
        return;
    case KEY_MKNOD: {
        const char *type = name_of(s, 0170000, v & 0170000);
        if (type) put(b, type); else put_octal(b, v & 0170000);
        put(b, "|");
        put_octal(b, v & 07777);
        return;
    }
    case KEY_SOCKET:
        put_name(b, s, 0xffffffffull, (uint32_t)a[0]);
        put(b, ", ");
        put_name(b, s, 0xfull, a[1] & 0xf);
        return;
    case KEY_SOCKOPT: {
        uint32_t level = (uint32_t)a[1], opt = (uint32_t)a[2];
        put_name(b, s, ~0ull, level);
        put(b, ", ");
        const char *n = name_of(s, level, opt);
        if (n) put(b, n); else put_u(b, opt, 10);
        return;
    }
    case KEY_CLONE:
        put(b, (v & PP_CLONE_THREAD) ? "thread" : (v & PP_CLONE_VFORK) ? "vfork" : "fork");
        break; /* then its other flags, below */
    default:
        break;
    }
    int any = s->keyfmt == KEY_CLONE;
    for (uint32_t i = 0; i < s->nflags; i++) {
        const struct pp_flag *f = &T_FLAGS[s->first_flag + i];
        if ((v & f->mask) == f->value) {
            if (any) put(b, "|");
            put(b, T_STRINGS + f->name);
            any = 1;
            if (s->keyfmt == KEY_ENUM) break;
        }
    }
    if (!any)
        put_hex(b, v);
}

/* ---- a path argument, read without trusting the pointer ---- */
#define PP_SHOWN 200
struct str { char s[PP_SHOWN + 1]; long n; int term; }; /* n -1: unreadable */

/* True when the aligned 8 bytes around *addr* can be read: the kernel copies them as
 * a signal set (rt_sigprocmask is allowed under every pledge) and fails with EFAULT
 * instead of faulting. The mask is put back at once; inside the handler every signal
 * but SIGABRT is blocked anyway. Mappings are page-granular, so one probe a page. */
static int self_readable(uint64_t addr)
{
    uint64_t old = 0;
    if (raw(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&old, 8, 0) != 0)
        return 0;
    long rc = raw(SYS_rt_sigprocmask, SIG_BLOCK, (long)(addr & ~7ull), 0, 8, 0);
    raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8, 0);
    return rc == 0;
}

static void scan(struct str *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n && out->n < PP_SHOWN; i++) {
        if (!p[i]) { out->term = 1; return; }
        out->s[out->n++] = p[i];
    }
}

static void read_str(long pid, uint64_t addr, struct str *out)
{
    out->n = 0;
    out->term = 0;
    int self = pid == raw(SYS_getpid, 0, 0, 0, 0, 0), mem = -1;
    while (!out->term && out->n < PP_SHOWN) {
        uint64_t at = addr + (uint64_t)out->n;
        size_t room = 4096 - (size_t)(at % 4096);
        if (room > (size_t)(PP_SHOWN - out->n))
            room = (size_t)(PP_SHOWN - out->n);
        long before = out->n;
        if (self) {
            if (!self_readable(at))
                break;
            scan(out, (const char *)(uintptr_t)at, room);
        } else {
            char tmp[PP_SHOWN];
            struct iovec l = { tmp, room }, r = { (void *)(uintptr_t)at, room };
            long got = syscall(SYS_process_vm_readv, pid, &l, 1L, &r, 1L, 0L);
            if (got <= 0) {  /* no ptrace access for that call: its /proc/pid/mem */
                if (mem < 0) {
                    struct buf pb = { .len = 0 };
                    put(&pb, "/proc/");
                    put_u(&pb, (uint64_t)pid, 10);
                    put(&pb, "/mem");
                    pb.data[pb.len] = 0;
                    mem = open(pb.data, O_RDONLY | O_CLOEXEC);
                }
                got = mem < 0 ? -1 : pread(mem, tmp, room, (off_t)at);
            }
            if (got <= 0)
                break;
            scan(out, tmp, (size_t)got);
        }
        if (out->n == before && !out->term)
            break;
    }
    if (mem >= 0)
        close(mem);
    if (out->n == 0 && !out->term)
        out->n = -1;
}

static void put_quoted(struct buf *b, const char *s, long n, int term)
{
    put_ch(b, '"');
    for (long i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            put_ch(b, '\\');
            put_ch(b, (char)c);
        } else if (c < 0x20 || c >= 0x7f) {  /* nothing reaches the terminal raw */
            put(b, "\\x");
            put_ch(b, "0123456789abcdef"[c >> 4]);
            put_ch(b, "0123456789abcdef"[c & 15]);
        } else {
            put_ch(b, (char)c);
        }
    }
    put_ch(b, '"');
    if (!term)
        put(b, "...");
}

static void put_str(struct buf *b, const struct str *p)
{
    if (p->n < 0) {
        put(b, "<unreadable>");
        return;
    }
    put_quoted(b, p->s, p->n, p->term);
}

/* Path argument *idx* (dirfd *dirfd*, -1: none) of the call, shown as given: a relative
 * path that is not AT_FDCWD-relative is preceded by its descriptor. */
static void put_path(struct buf *b, long pid, int dirfd, int idx, const uint64_t a[6],
                     struct str *p)
{
    if (!a[idx]) {
        p->n = -1;
        put(b, "NULL");
        return;
    }
    read_str(pid, a[idx], p);
    if (dirfd >= 0 && (int)a[dirfd] != AT_FDCWD && (p->n <= 0 || p->s[0] != '/')) {
        put(b, "dirfd ");
        put_u(b, (uint64_t)(uint32_t)a[dirfd], 10);
        put(b, ", ");
    }
    put_str(b, p);
}

/* With g_resolve, for a relative path *p* (dirfd argument *dirfd*) of process *pid*'s
 * call: *lead*, then '"p" is "/its/dir/p"', the directory read from /proc/PID/cwd (or
 * /proc/PID/fd/DIRFD) now; 1 if said, 0 (nothing) when that is no directory (a dirfd on
 * a file), no directory path or cannot be read. */
static int put_resolved(struct buf *b, long pid, int dirfd, const uint64_t a[6],
                        const struct str *p, const char *lead)
{
    if (!g_resolve || p->n <= 0 || p->s[0] == '/' || pid == raw(SYS_getpid, 0, 0, 0, 0, 0))
        return 0;
    struct buf link = { .len = 0 };
    put(&link, "/proc/");
    put_u(&link, (uint64_t)pid, 10);
    if (dirfd >= 0 && (int)a[dirfd] != AT_FDCWD) {
        put(&link, "/fd/");
        put_u(&link, (uint64_t)(uint32_t)a[dirfd], 10);
    } else {
        put(&link, "/cwd");
    }
    link.data[link.len] = '\0';
    struct stat st;  /* a dirfd on a file ("/etc/hostname/x") or gone: nothing to say */
    if (stat(link.data, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    char dir[4096 + PP_SHOWN + 2];
    ssize_t n = readlink(link.data, dir, 4096);
    static const char gone[] = " (deleted)";
    long tail = (long)sizeof gone - 1;
    if (n <= 0 || n >= 4096 || dir[0] != '/'
            || (n >= tail && memcmp(dir + n - tail, gone, (size_t)tail) == 0))
        return 0;  /* a pipe's or socket's "name", or a removed directory: no path */
    if (n > 1)
        dir[n++] = '/';
    memcpy(dir + n, p->s, (size_t)p->n);
    n += p->n;
    long from = n > 2 * PP_SHOWN ? n - 2 * PP_SHOWN : 0;  /* the end says most */
    put(b, lead);
    put_str(b, p);
    put(b, " is ");
    if (from)
        put(b, "...");
    put_quoted(b, dir + from, n - from, p->term);
    return 1;
}

/* sys.path's absolute directories, "dir\0dir\0...\0"; "." when it has a relative entry */
static char g_import_dirs[4096];
/* OpenSSL's certificate directories, "dir\0dir\0" (pp_set_cert_dirs) */
static char g_cert_dirs[1024];

static int ends_with(const struct str *p, const char *suffix)
{
    long n = (long)strlen(suffix);
    return p->n >= n && memcmp(p->s + p->n - n, suffix, (size_t)n) == 0;
}

static int starts_with(const struct str *p, const char *prefix)
{
    long n = (long)strlen(prefix);
    return p->n >= n && memcmp(p->s, prefix, (size_t)n) == 0;
}

/* True when *p* may be the import system's: a .py or .pyc file; or, under a sys.path
 * directory, an extension module (.so) or, while a module is being found (*importing*:
 * the finder's stat of each package and path directory), a directory (a name without a
 * dot). A directory otherwise is the program's own stat: unveil()'s, os.path.isdir().
 * Another process's describer (pp_describe: NULL importing) cannot tell: any directory. */
static int plausible_import(long nr, const struct str *p, int importing)
{
    if (p->n < 0) {  /* no path (getcwd): the import system asks it for sys.path's "" */
        /* a call on a descriptor (getdents64, fstatfs) is never the import system's:
         * it lists a directory it has just opened, and that open traps first; its
         * getcwd() comes while a module is being found (the program's own does not) */
        if (nr != SYS_getcwd || !importing)
            return 0;
        for (const char *e = g_import_dirs; *e; e += strlen(e) + 1)
            if (e[0] == '.' && e[1] == '\0')
                return 1;
        return 0;
    }
    if (p->n == 0 || !p->term)
        return 0;
    if (ends_with(p, ".py") || ends_with(p, ".pyc"))
        return 1;
    int under = 0;
    for (const char *e = g_import_dirs; *e && !under; e += strlen(e) + 1) {
        long n = (long)strlen(e);
        under = p->n >= n && memcmp(p->s, e, (size_t)n) == 0
                && (p->n == n || p->s[n] == '/');
    }
    if (!under)
        return 0;
    if (ends_with(p, ".so"))
        return 1;
    long i = p->n;
    while (i > 0 && p->s[i - 1] != '/')
        i--;
    return importing && memchr(p->s + i, '.', (size_t)(p->n - i)) == 0;
}

/* The message for syscall *nr* with arguments *a* under promises *held*, in *b*;
 * path arguments are read from process *pid* (this one: without trusting the pointer). */
/* The promises whose path allowance (OpenBSD's pledge_namei; policy.PATHS) would let this
 * open of *path* through: an absolute path equal to an allowance path or beneath it, with
 * flags the allowance's letters cover (reading: r; writing or truncating: w; O_CREAT: w
 * or c). Only a message's alternatives: the filter and the handler decide. */
static uint64_t allowances_for(int nr, const uint64_t a[6], const struct str *path)
{
    uint64_t flags;
    if (nr == SYS_openat && ((int)a[0] == AT_FDCWD || (path->n > 0 && path->s[0] == '/')))
        flags = a[2];
#ifdef SYS_open
    else if (nr == SYS_open)
        flags = a[1];
#endif
#ifdef SYS_creat
    else if (nr == SYS_creat)
        flags = O_CREAT | O_WRONLY | O_TRUNC;
#endif
#ifdef SYS_newfstatat
    /* stat() of an allowance path is answered as reading it would be (path_call) */
    else if (nr == SYS_newfstatat)
        flags = (a[3] & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) ? O_PATH : O_RDONLY;
#endif
    else if (nr == SYS_statx)
        flags = (a[2] & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) ? O_PATH : O_RDONLY;
    else
        return 0;
    if (path->n <= 0 || !path->term || path->s[0] != '/'
        || (flags & (O_PATH | O_DIRECTORY | 020000000 /* O_TMPFILE's own bit */)))
        return 0;
    uint32_t acc = (uint32_t)(flags & O_ACCMODE);
    uint32_t need = (acc == O_RDONLY ? 1u : acc == O_WRONLY ? 2u : 3u)
                    | ((flags & O_TRUNC) ? 2u : 0u);
    uint64_t out = 0;
    for (uint32_t i = 0; i < T_NALLOW; i++) {
        const char *want = T_STRINGS + T_ALLOW[i].path;
        size_t n = strlen(want);
        if ((size_t)path->n < n || memcmp(path->s, want, n) != 0
            || ((size_t)path->n > n && path->s[n] != '/'))
            continue;
        uint32_t letters = T_ALLOW[i].letters;
        if ((need & letters) != need || ((flags & O_CREAT) && !(letters & 6u)))
            continue;
        out |= 1ull << T_ALLOW[i].promise;
    }
    return out;
}

static void describe(struct buf *bp, int nr, const uint64_t a[6], uint64_t held, int error_mode,
                     long pid, const char *prog, const char *importing)
{
#define b (*bp)
    put(&b, "pledge: ");
    put(&b, prog);
    put(&b, "[");
    put_u(&b, (uint64_t)pid, 10);
    put(&b, "]: ");
    const struct pp_sys *s = (nr >= 0 && (uint32_t)nr < T_NSYS) ? &T_SYS[nr] : 0;
    if (s && s->name >= 0)
        put(&b, T_STRINGS + s->name);
    else {
        put(&b, "syscall ");
        put_u(&b, (uint64_t)(uint32_t)nr, 10);
    }
    struct str path = { .n = -1, .term = 0 }, path2 = { .n = -1, .term = 0 };
    if (s && (s->path1 >= 0 || s->keyfmt != KEY_NONE)) {
        put(&b, "(");
        if (s->path1 >= 0)
            put_path(&b, pid, s->dirfd1, s->path1, a, &path);
        if (s->path2 >= 0) {
            put(&b, ", ");
            put_path(&b, pid, s->dirfd2, s->path2, a, &path2);
        }
        if (s->keyfmt != KEY_NONE) {
            if (s->path1 >= 0)
                put(&b, ", ");
            put_key(&b, s, a);
        }
        put(&b, ")");
    }
    const struct pp_rule *first = 0;
    uint64_t printed[4];
    int shown = 0;
    for (uint32_t i = 0; s && i < s->nrules && shown < 4; i++) {
        const struct pp_rule *r = &T_RULES[s->first_rule + i];
        uint64_t missing = r->needs & ~held;
        if (!missing)
            continue;
        int ok = 1;
        for (uint32_t j = 0; j < r->nconds && ok; j++)
            ok = cond_holds(&T_CONDS[r->first_cond + j], a);
        if (!ok)
            continue;
        /* an alternative already given, or one that asks for more than one given */
        int again = 0;
        for (int k = 0; k < shown && !again; k++)
            again = (missing & printed[k]) == printed[k];
        if (again)
            continue;
        put(&b, shown ? " or \"" : " needs \"");
        int sep = 0;
        for (int bit = 0; bit < 64; bit++) {
            if (!(missing & (1ull << bit)))
                continue;
            if (sep) put(&b, " ");
            put(&b, T_STRINGS + T_PROMISE_NAMES[bit]);
            sep = 1;
        }
        put(&b, "\"");
        if (!first)
            first = r;
        printed[shown++] = missing;
    }
    uint64_t extra = first ? allowances_for(nr, a, &path) & ~held : 0;
    for (int bit = 0; bit < 64 && extra; bit++) {
        if (!(extra & (1ull << bit)))
            continue;
        int again = 0;
        for (int k = 0; k < shown && !again; k++)
            again = printed[k] == (1ull << bit);
        if (!again) {
            put(&b, " or \"");
            put(&b, T_STRINGS + T_PROMISE_NAMES[bit]);
            put(&b, "\"");
        }
    }
    if (!first) {
        put(&b, " is not allowed by any promise");
        /* the first argument no rule accepts, given the ones before it: "(its type is
         * refused)" for socket(AF_INET6, SOCK_RAW), its family for AF_PACKET */
        unsigned char dead[256];
        uint32_t n = s && s->nrules < sizeof dead ? s->nrules : 0;
        memset(dead, 0, sizeof dead);
        for (uint32_t arg = 0; arg < 6; arg++) {
            int asked = 0, held_one = 0;
            int32_t role = -1;
            for (uint32_t i = 0; i < n; i++) {
                /* a live rule accepts the argument when all its conditions on it hold
                 * (mknod: the file type and the setid bits are two) */
                const struct pp_rule *r = &T_RULES[s->first_rule + i];
                int here = 0, all = 1;
                if (!r->needs)
                    continue;  /* a refusal's hint (below), no allowance */
                for (uint32_t j = 0; j < r->nconds && !dead[i]; j++) {
                    const struct pp_cond *c = &T_CONDS[r->first_cond + j];
                    if (c->arg != arg)
                        continue;
                    here = asked = 1;
                    if (c->role >= 0)
                        role = c->role;
                    if (!cond_holds(c, a))
                        all = 0;
                }
                if (here && all)
                    held_one = 1;
            }
            if (asked && !held_one) {
                if (role >= 0) {
                    put(&b, " (its ");
                    put(&b, T_STRINGS + role);
                    put(&b, " is refused)");
                }
                break;
            }
            for (uint32_t i = 0; i < n; i++) {  /* rules refusing this argument are out */
                const struct pp_rule *r = &T_RULES[s->first_rule + i];
                for (uint32_t j = 0; j < r->nconds; j++)
                    if (T_CONDS[r->first_cond + j].arg == arg
                            && !cond_holds(&T_CONDS[r->first_cond + j], a))
                        dead[i] = 1;
            }
        }
    } else {
        int32_t hint = first->hint;
        /* a row that needs nothing is a quiet refusal's hint (tables.py): the call has
         * the refusal's exact shape, which says what the program was doing (glibc's nscd
         * probe before a lookup) better than the rule that would allow it */
        for (uint32_t i = 0; i < s->nrules; i++) {
            const struct pp_rule *r = &T_RULES[s->first_rule + i];
            int ok = !r->needs && r->hint >= 0;
            for (uint32_t j = 0; j < r->nconds && ok; j++)
                ok = cond_holds(&T_CONDS[r->first_cond + j], a);
            if (ok) {
                hint = r->hint;
                break;
            }
        }
        if (starts_with(&path, "/sys/devices/system/cpu/") && path.term)
            hint = T_CPU_HINT;
        else if (starts_with(&path, "/run/systemd/userdb") && path.term)
            hint = T_USERDB_HINT;
        else if (hint == T_IMPORT_HINT && (g_foreign || !plausible_import(nr, &path, !importing || importing[0])))
            hint = -1;
        else if (hint == T_EXTENSION_HINT && g_foreign)
            hint = T_LOADER_HINT;
        if (hint >= 0) {
            put(&b, " (");
            if (hint == T_IMPORT_HINT && importing && importing[0]) {
                put(&b, importing);
                put(&b, ": ");
            }
            put(&b, T_STRINGS + hint);
            put(&b, ")");
        }
    }
    /* trapped although a held promise's allowance covers it: the allowances' layer is
     * not in force in this process (g_paths_off says why; never for another program,
     * which gets no allowances at all) */
    uint64_t granted = !g_foreign && !g_paths && g_paths_off[0]
        ? allowances_for(nr, a, &path) & held : 0;
    if (granted) {
        put(&b, " (OpenBSD's ");
        int sep = 0;
        for (int bit = 0; bit < 64; bit++) {
            if (!(granted & (1ull << bit)))
                continue;
            put(&b, sep ? " and \"" : "\"");
            put(&b, T_STRINGS + T_PROMISE_NAMES[bit]);
            put(&b, "\"");
            sep = 1;
        }
        put(&b, " allowance for this file is not granted here: ");
        put(&b, g_paths_off);
        put(&b, ")");
    }
    int resolved = s && s->path1 >= 0 && put_resolved(&b, pid, s->dirfd1, a, &path, " (");
    if (s && s->path2 >= 0)
        resolved |= put_resolved(&b, pid, s->dirfd2, a, &path2, resolved ? ", " : " (");
    if (resolved)
        put(&b, ")");
    if (error_mode)
        put(&b, "; returning ENOSYS (\"error\" promise)");
    b.data[b.len++] = '\n';
#undef b
}

static void report(int nr, const uint64_t a[6], int error_mode, int foreign, const char *note)
{
    if (g_quiet)
        return;
    if (error_mode && nr >= 0 && nr < PP_MAX_REPORTED) {
        unsigned char bit = 1u << (nr & 7);
        if (__atomic_fetch_or(&g_reported[nr >> 3], bit, __ATOMIC_RELAXED) & bit)
            return;
    }
    struct buf b = { .len = 0 };
    describe(&b, nr, a, g_held, error_mode, raw(SYS_getpid, 0, 0, 0, 0, 0), g_prog,
             g_importing);
    if (foreign || note) {
        b.len--; /* before the newline */
        put(&b, note ? note : " (trapped by a seccomp filter pledgepy did not install)");
        b.data[b.len++] = '\n';
    }
    raw(SYS_write, 2, (long)b.data, (long)b.len, 0, 0);
}

static int same_path(const char *path, const char *want)
{
    for (size_t i = 0;; i++) {
        if (path[i] != want[i])
            return 0;
        if (want[i] == '\0')
            return 1;
    }
}

/* Under stdio, calls BPF cannot tell apart from path lookups:
 *  - fstat(fd) spelled newfstatat(fd, "", buf, AT_EMPTY_PATH) or statx(fd, "", ...);
 *  - stat("/etc/localtime"), which glibc's tzset() repeats on every mktime() to see
 *    whether the zone changed (OpenBSD keeps that file reachable under stdio). It is
 *    answered from a descriptor opened before the filter: same inode, no new lookup;
 *  - fopen("/proc/self/stat", "r"), with which CPython 3.12+ counts the process's
 *    threads after every os.fork() and os.forkpty() (to warn about forking threads).
 *    It fails with ENOENT, as on a system without /proc (OpenBSD): CPython then counts
 *    its own threads. Nothing is opened. Only that exact C-level call: Python's open()
 *    and os.open() always add O_CLOEXEC, so reading the file from Python stays a
 *    violation. */
/* True when *path* names an allowance path held, lexically: an entry "dir/" covers the
 * directory and everything beneath it, another entry that file. No ".." is accepted. */
static int allowance_path(const char *path)
{
    if (!path || path[0] != '/')
        return 0;
    for (const char *p = path; *p; p++)
        if (p[0] == '.' && p[1] == '.' && p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
            return 0;
    size_t len = strlen(path);
    for (const char *e = g_path_dirs; *e; e += strlen(e) + 1) {
        size_t n = strlen(e);
        if (e[n - 1] == '/') {
            if (strncmp(path, e, n) == 0 || (len == n - 1 && strncmp(path, e, n - 1) == 0))
                return 1;
        } else if (strcmp(path, e) == 0) {
            return 1;
        }
    }
    return 0;
}

#ifndef AT_SYMLINK_NOFOLLOW
#define AT_SYMLINK_NOFOLLOW 0x100
#endif

/* What the handler's retry returns when a filter older than the one that trapped the
 * call traps it too (an earlier pledge without the allowance): no errno is 4095. */
#define PP_RETRY_TRAPPED (-4095L)

static long ip_of(const ucontext_t *uc)
{
#if defined(__x86_64__)
    return (long)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (long)uc->uc_mcontext.pc;
#endif
}

/* The retry, with SIGSYS unblocked for its duration only: an older filter that traps it
 * re-enters the handler (on_sigsys sees the call site) instead of the kernel killing the
 * process silently, as it does for a SIGSYS that is blocked. */
static long retry(long nr, long a, long b, long c, long d)
{
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    raw(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&sys, 0, 8, 0);
    long rc = pp_blessed_call(nr, a, b, c, d);
    raw(SYS_rt_sigprocmask, SIG_BLOCK, (long)&sys, 0, 8, 0);
    return rc;
}

/* The outcome of an allowance call made again from the handler's call site: done (1)
 * when it succeeded, or failed on a path that is lexically an allowance (ENOENT, a
 * file the user may not read, a device the kernel refuses with EPERM); otherwise (the
 * filter's T_RETRY_REFUSED for another shape, the layer's EACCES for another path) it
 * stays a violation (0). */
static int answer(ucontext_t *uc, const char *path, long rc)
{
    if (rc == PP_RETRY_TRAPPED)
        return 2;
    if (rc >= 0 || (rc != -T_RETRY_REFUSED && allowance_path(path))) {
        set_return(uc, rc);
        return 1;
    }
    return 0;
}

#define PP_O_TMPFILE_BIT 020000000

/* O_TMPFILE on an allowance path that may create (tmppath's /tmp) is answered
 * EOPNOTSUPP, as by a filesystem without it (tempfile falls back to a named file),
 * and is never made again: Landlock checks no creation right for O_TMPFILE, so the
 * layer would let it make a file in any directory a symlink beneath /tmp names.
 * On another allowance path it is the violation it is to OpenBSD (writing there). */
static int tmpfile_open(ucontext_t *uc, const char *path)
{
    size_t len = strlen(path);
    for (uint32_t i = 0; i < T_NALLOW; i++) {
        const char *want = T_STRINGS + T_ALLOW[i].path;
        size_t n = strlen(want);
        if (!(T_ALLOW[i].letters & 4u) || !(g_held & (1ull << T_ALLOW[i].promise))
            || len < n || memcmp(path, want, n) != 0 || (len > n && path[n] != '/'))
            continue;
        set_return(uc, -EOPNOTSUPP);
        return 1;
    }
    return 0;
}

/* While the path allowances' Landlock layer is in force (landlock/allowances.py), the
 * calls they need trap like any other; they are made again from the handler's call
 * site, which the filter lets through for the allowances' shapes, and the layer lets
 * succeed only on the allowance paths. stat() of a path is answered the same way, by
 * a read-only open and an fstat of it, so it succeeds exactly where reading would;
 * and stat("/"), which glibc's NSS makes before each lookup, from a descriptor opened
 * before the filter (metadata of "/" only). */
static int path_call(int nr, const uint64_t a[6], ucontext_t *uc)
{
    if (!g_paths)
        return 0;
    const char *path;
    switch (nr) {
    case SYS_openat:
        path = (const char *)a[1];
        if (!allowance_path(path))
            return 0;
        if (a[2] & PP_O_TMPFILE_BIT)
            return tmpfile_open(uc, path);
        return answer(uc, path, retry(nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3]));
    case SYS_unlinkat:
        path = (const char *)a[1];
        if (!allowance_path(path))
            return 0;
        return answer(uc, path, retry(nr, (long)a[0], (long)a[1], (long)a[2], 0));
#ifdef SYS_open
    case SYS_open:
        path = (const char *)a[0];
        if (!allowance_path(path))
            return 0;
        if (a[1] & PP_O_TMPFILE_BIT)
            return tmpfile_open(uc, path);
        return answer(uc, path, retry(nr, (long)a[0], (long)a[1], (long)a[2], 0));
    case SYS_unlink:
        path = (const char *)a[0];
        if (!allowance_path(path))
            return 0;
        return answer(uc, path, retry(nr, (long)a[0], 0, 0, 0));
#endif
#ifdef SYS_creat
    case SYS_creat: /* open(O_CREAT|O_WRONLY|O_TRUNC): made again as that openat */
        path = (const char *)a[0];
        if (!allowance_path(path))
            return 0;
        return answer(uc, path, retry(SYS_openat, AT_FDCWD, (long)a[0],
                                      O_CREAT | O_WRONLY | O_TRUNC, (long)a[1]));
#endif
    default:
        break;
    }
    path = (const char *)a[1];
    uint64_t flags;
#ifdef SYS_newfstatat
    if (nr == SYS_newfstatat)
        flags = a[3];
    else
#endif
    if (nr == SYS_statx)
        flags = a[2];
    else
        return 0;
    if (!path || !path[0] || (flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)))
        return 0;
    int is_root = path[0] == '/' && path[1] == '\0' && g_root_fd >= 0;
    /* only what may be an allowance is retried: anything else is a violation with its
     * message, never a retry an older stacked filter could trap (a silent death) */
    if (!is_root && !allowance_path(path))
        return 0;
    long fd = is_root ? raw(SYS_dup, g_root_fd, 0, 0, 0, 0)
        : retry(SYS_openat, (long)(int)a[0], (long)path,
                          O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return answer(uc, path, fd);
    long rc;
#ifdef SYS_newfstatat
    if (nr == SYS_newfstatat)
        rc = raw(SYS_fstat, fd, (long)a[2], 0, 0, 0);
    else
#endif
        rc = raw(SYS_statx, fd, 0, (long)(flags | AT_EMPTY_PATH), (long)a[3], (long)a[4]);
    raw(SYS_close, fd, 0, 0, 0, 0);
    set_return(uc, rc);
    return 1;
}

#ifndef O_PATH
#define O_PATH 010000000
#endif

/* Under stdio, open("/dev/null") (OpenBSD's allowance, read and write) is answered with
 * a copy of a descriptor opened before the filter: no lookup, no Landlock layer, so it
 * costs programs that never open it nothing. Its offset and status flags are shared with
 * the copies, which /dev/null does not care about. */
static int devnull_open(int nr, const uint64_t a[6], ucontext_t *uc)
{
    const char *path;
    uint64_t flags;
    if (nr == SYS_openat && (int)a[0] == AT_FDCWD) {
        path = (const char *)a[1];
        flags = a[2];
#ifdef SYS_open
    } else if (nr == SYS_open) {
        path = (const char *)a[0];
        flags = a[1];
#endif
#ifdef SYS_creat
    } else if (nr == SYS_creat) { /* open's O_CREAT|O_WRONLY|O_TRUNC (GNU tar -f /dev/null) */
        path = (const char *)a[0];
        flags = O_CREAT | O_WRONLY | O_TRUNC;
#endif
    } else {
        return 0;
    }
    static const char want[] = "/dev/null";
    if (g_devnull_fd < 0 || !path || memcmp(path, want, sizeof want) != 0
        || (flags & (O_PATH | O_DIRECTORY | PP_O_TMPFILE_BIT)))
        return 0;
    if ((flags & O_CREAT) && (flags & O_EXCL)) {
        set_return(uc, -EEXIST);
        return 1;
    }
    set_return(uc, raw(SYS_fcntl, g_devnull_fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD,
                       0, 0, 0));
    return 1;
}

/* Under stdio, stat() and lstat() of exactly "/dev/null" are answered from the same
 * descriptor: what its open and an fstat (a stdio call) would show, so the allowance
 * promises it. The allowance retry cannot answer them: the layer holds no rule for a
 * DUPED path (its stat failed with EACCES), and it never retries lstat (a violation).
 * /dev/null is the device node on Linux, no symlink, so lstat's answer is the node's
 * too. statx's path is NULL as the stdio rule for its AT_EMPTY_PATH form requires. */
static int devnull_stat(int nr, const uint64_t a[6], ucontext_t *uc)
{
    static const char want[] = "/dev/null";
#ifdef SYS_newfstatat
    int old = nr == SYS_newfstatat;
#else
    int old = 0;
#endif
    const char *path = (const char *)a[1];  /* the handler's copy: read only for these */
    if ((!old && nr != SYS_statx) || g_devnull_fd < 0 || !path
            || memcmp(path, want, sizeof want) != 0)
        return 0;
    set_return(uc, old ? raw(SYS_fstat, g_devnull_fd, (long)a[2], 0, 0, 0)
                       : raw(SYS_statx, g_devnull_fd, 0, (long)(a[2] | AT_EMPTY_PATH),
                             (long)a[3], (long)a[4]));
    return 1;
}

/* rt_sigaction(SIGSYS, {SIG_DFL}, NULL): glibc's and musl's posix_spawn (under popen()
 * and system()) set signals to their default in the child before its exec, SIGSYS
 * among them. Done as asked but for this handler, which stays: a violation still
 * aborts with its message, and the exec resets it anyway. The action is read once and
 * nothing is run on it, so another thread changing it meanwhile changes nothing.
 * A handler of the program's, SIG_IGN, or a call asking the old action too stays a
 * violation (OpenBSD's penalty cannot be caught; ours must not be either). */
static int sigsys_default(int nr, const uint64_t a[6], ucontext_t *uc)
{
    if (nr != SYS_rt_sigaction || (int)a[0] != SIGSYS || !a[1] || a[2] || (a[1] & 7)
            || !self_readable(a[1]))
        return 0;
    if (*(const volatile uint64_t *)(uintptr_t)a[1] != (uint64_t)(uintptr_t)SIG_DFL)
        return 0;
    set_return(uc, 0);
    return 1;
}

/* 1 when *path* is "dir/HHHHHHHH.N" (or ".rN") under one of g_cert_dirs: the name
 * OpenSSL's directory lookup stats for a certificate's issuer (or its CRL); 2 when it
 * is one of those directories, which OpenSSL 3's store lookup stats and lists first. */
static int cert_lookup(const char *path)
{
    for (const char *d = g_cert_dirs; *d; d += strlen(d) + 1) {
        size_t n = strlen(d);
        if (strncmp(path, d, n) != 0)
            continue;
        if (path[n] == '\0')
            return 2;
        if (path[n] != '/')
            continue;
        const char *p = path + n + 1;
        int i = 0;
        for (; i < 8; i++)
            if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
                break;
        if (i != 8 || p[8] != '.')
            continue;
        p += 9;
        if (*p == 'r')
            p++;
        if (*p < '0' || *p > '9')
            continue;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == '\0')
            return 1;
    }
    return 0;
}

static int emulate(int nr, const uint64_t a[6], ucontext_t *uc)
{
    if ((g_held & T_STDIO_BIT) && devnull_open(nr, a, uc))
        return 1;
    /* before path_call(), whose retry would find no layer rule for it */
    if ((g_held & T_STDIO_BIT) && devnull_stat(nr, a, uc))
        return 1;
    if ((g_held & T_STDIO_BIT) && sigsys_default(nr, a, uc))
        return 1;
    const char *path = (const char *)a[1];
    /* lstat (AT_SYMLINK_NOFOLLOW) is answered from the descriptor of the link itself:
     * from the followed one a symlinked /etc/localtime read as a regular file */
    int fd = (nr == SYS_statx ? a[2] : a[3]) & AT_SYMLINK_NOFOLLOW ? g_localtime_lfd
                                                                 : g_localtime_fd;
    /* stat("/etc/localtime") first: answered without a retry an older filter could trap */
#ifdef SYS_newfstatat
    if ((g_held & T_STDIO_BIT) && nr == SYS_newfstatat && (int)a[0] == AT_FDCWD && fd >= 0
        && path && same_path(path, "/etc/localtime")) {
        set_return(uc, raw(SYS_fstat, fd, (long)a[2], 0, 0, 0));
        return 1;
    }
#endif
    int done = path_call(nr, a, uc);
    if (done)
        return done;
    if (!(g_held & T_STDIO_BIT))
        return 0;
    if (nr == SYS_openat && (int)a[0] == AT_FDCWD && path && a[2] == O_RDONLY
        && same_path(path, "/proc/self/stat")) {
        set_return(uc, -ENOENT);
        return 1;
    }
    /* glibc's malloc reads it once, before it first shrinks a thread's heap: where the
     * allowance is not in force (other threads ran at the pledge on Landlock ABI < 8, no
     * Landlock) that open would kill a threaded program that frees memory. It fails as
     * on a system without /proc instead, which malloc takes in its stride (it shrinks
     * heaps as under any overcommit mode but 2): the program is given nothing. */
    if (nr == SYS_openat && (int)a[0] == AT_FDCWD && path
        && (a[2] & ~(uint64_t)O_CLOEXEC) == O_RDONLY
        && same_path(path, "/proc/sys/vm/overcommit_memory")) {
        set_return(uc, -ENOENT);
        return 1;
    }
    /* OpenSSL's lookup of an issuer (or CRL) in its certificate directory, by hash
     * name: stat() first, the file read only if that succeeds. A pledge that allows no
     * stat (no rpath/wpath/cpath/dpath) died of it when a peer's chain named an issuer
     * not loaded before the pledge (a self-signed or unknown CA: any server could end
     * an HTTPS client under "stdio inet dns"). It fails as for a missing file, so the
     * handshake fails with the verification error it would give there (OpenBSD's
     * LibreSSL reads only the bundle loaded before the pledge): nothing is given. */
#ifdef SYS_newfstatat
    if (nr == SYS_newfstatat && (int)a[0] == AT_FDCWD && path && a[3] == 0
        && cert_lookup(path)) {
        set_return(uc, -ENOENT);
        return 1;
    }
#endif
    if (nr == SYS_openat && (int)a[0] == AT_FDCWD && path && (a[2] & O_DIRECTORY)
        && (a[2] & O_ACCMODE) == O_RDONLY && !(a[2] & O_CREAT) && cert_lookup(path) == 2) {
        set_return(uc, -ENOENT);
        return 1;
    }
    /* The same for glibc's CPU count (sysconf, os.cpu_count(), an executor's default
     * size): without the allowance in force, the sysfs files and its fallback /proc/stat
     * fail as on a system without them, and glibc counts the CPUs this process may run
     * on (sched_getaffinity, a stdio call). Only then: with the layer in force the files
     * are read, and /proc/stat stays the violation it is. */
    if (!g_paths && nr == SYS_openat && (int)a[0] == AT_FDCWD && path
        && (a[2] & ~(uint64_t)O_CLOEXEC) == O_RDONLY
        && (same_path(path, "/sys/devices/system/cpu/online")
            || same_path(path, "/sys/devices/system/cpu/possible")
            || same_path(path, "/sys/devices/system/cpu/present")
            || same_path(path, "/proc/stat"))) {
        set_return(uc, -ENOENT);
        return 1;
    }
#ifdef SYS_newfstatat
    if (nr == SYS_newfstatat && (int)a[0] == AT_FDCWD && fd >= 0 && path && same_path(path, "/etc/localtime")) {
        set_return(uc, raw(SYS_fstat, fd, (long)a[2], 0, 0, 0));
        return 1;
    }
#endif
    if (nr == SYS_statx && (int)a[0] == AT_FDCWD && fd >= 0 && path && same_path(path, "/etc/localtime")) {
        set_return(uc, raw(SYS_statx, fd, 0, (long)(a[2] | AT_EMPTY_PATH), (long)a[3], (long)a[4]));
        return 1;
    }
#ifdef SYS_newfstatat
    if (nr == SYS_newfstatat && (a[3] & AT_EMPTY_PATH) && path && path[0] == '\0'
        && (int)a[0] >= 0) {
        set_return(uc, raw(SYS_fstat, (long)(int)a[0], (long)a[2], 0, 0, 0));
        return 1;
    }
#endif
    if (nr == SYS_statx && (a[2] & AT_EMPTY_PATH) && path && path[0] == '\0'
        && (int)a[0] >= 0) {
        set_return(uc, raw(SYS_statx, (long)(int)a[0], 0, (long)a[2], (long)a[3], (long)a[4]));
        return 1;
    }
    return 0;
}

static void die(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGABRT);
    long pid = raw(SYS_getpid, 0, 0, 0, 0, 0), tid = raw(SYS_gettid, 0, 0, 0, 0, 0);
    raw(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&set, 0, sizeof(uint64_t), 0);
    /* faulthandler (enabled by pledge()) prints the traceback, then re-raises. */
    raw(SYS_tgkill, pid, tid, SIGABRT, 0, 0);
    /* Still here: a handler caught SIGABRT and returned. Die anyway. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGABRT, &dfl, 0);
    raw(SYS_tgkill, pid, tid, SIGABRT, 0, 0);
    raw(SYS_exit_group, 128 + SIGABRT, 0, 0, 0, 0);
    /* Still here: a filter the program stacked refuses even exit_group. A fault
     * needs no syscall, and the kernel kills with a fault signal that is blocked,
     * as every signal but SIGABRT is inside this handler. */
    for (;;)
        __builtin_trap();
}

static void on_sigsys(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    int saved = errno;
    ucontext_t *uc = context;
    uint64_t a[6];
    get_args(uc, a);
    int nr = info->si_syscall;
    uint32_t data = (uint32_t)info->si_errno & SECCOMP_RET_DATA;
    int foreign = data >= 32 || !(g_trap_data & (1u << data));
    int error_mode = (g_held & T_ERROR_BIT) != 0;
    if (ip_of(uc) == (long)(uintptr_t)pp_blessed_return) {
        /* the handler's retry, trapped by an older filter: the outer handler reports the
         * call the program made (program code calling the call site directly only gets
         * this marker instead of the penalty, for a call that never ran) */
        set_return(uc, PP_RETRY_TRAPPED);
        errno = saved;
        return;
    }
    /* emulate() judges the path lexically: on a copy read without trusting the pointer
     * (a bad one is a violation, not a fault in here), and the calls it makes again read
     * that copy, so another thread cannot change the string between check and call */
    uint64_t e[6];
    memcpy(e, a, sizeof e);
    struct str copy;
    const struct pp_sys *s = (nr >= 0 && (uint32_t)nr < T_NSYS) ? &T_SYS[nr] : 0;
    int safe = 1;
    if (s && s->path1 >= 0 && a[s->path1]) {
        read_str(raw(SYS_getpid, 0, 0, 0, 0, 0), a[s->path1], &copy);
        safe = copy.n >= 0 && copy.term;
        if (safe) {
            copy.s[copy.n] = '\0';
            e[s->path1] = (uint64_t)(uintptr_t)copy.s;
        }
    }
    int done = safe ? emulate(nr, e, uc) : 0;
    if (done == 1) {
        errno = saved;
        return;
    }
    report(nr, a, error_mode, foreign, done == 2 ? " (OpenBSD lets this path through, but an "
           "earlier pledge() without the allowance refuses it: its filter stays in force)" : 0);
    if (!error_mode)
        die();
    set_return(uc, -ENOSYS);
    errno = saved;
}

/* ---- called from Python (before any filter is installed) ---- */

/* The violation message the handler would print, for tests. Returns its length. */
size_t pp_describe(int nr, const uint64_t *args, uint64_t held, int error_mode,
                   long pid, const char *prog, char *out, size_t size)
{
    struct buf b = { .len = 0 };
    describe(&b, nr, args, held, error_mode, pid, prog, NULL);
    size_t n = b.len < size ? b.len : size;
    memcpy(out, b.data, n);
    return b.len;
}

void pp_set_program(const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof g_prog)
        n = sizeof g_prog - 1;
    memcpy(g_prog, name, n);
    g_prog[n] = '\0';
}

void pp_set_held(uint64_t held) { g_held = held; }

void pp_set_importing(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n >= sizeof g_importing)
        n = sizeof g_importing - 1;
    g_importing[0] = '\0';  /* never a half-written name followed by an old tail */
    if (n) {
        memcpy(g_importing + 1, name + 1, n - 1);
        g_importing[n] = '\0';
        __atomic_store_n(&g_importing[0], name[0], __ATOMIC_RELEASE);
    }
}

/* sys.path's absolute directories, "dir\0dir\0" (*len* bytes; what does not fit is
 * left out): only paths under them get the import hint for .so files and directories. */
void pp_set_import_dirs(const char *dirs, size_t len)
{
    memset(g_import_dirs, 0, sizeof g_import_dirs);
    if (len > sizeof g_import_dirs - 2)
        len = sizeof g_import_dirs - 2;
    while (len && dirs[len - 1] != '\0')
        len--;  /* whole entries only */
    memcpy(g_import_dirs, dirs, len);
}
/* OpenSSL's certificate directories, "dir\0dir\0" (*len* bytes, whole entries only):
 * see cert_lookup(). */
void pp_set_cert_dirs(const char *dirs, size_t len)
{
    memset(g_cert_dirs, 0, sizeof g_cert_dirs);
    if (len > sizeof g_cert_dirs - 2)
        len = sizeof g_cert_dirs - 2;
    while (len && dirs[len - 1] != '\0')
        len--;
    memcpy(g_cert_dirs, dirs, len);
}
void pp_set_trap_data(uint32_t mask) { g_trap_data = mask; }
void pp_set_quiet(int quiet) { g_quiet = quiet; }
void pp_set_foreign(int foreign) { g_foreign = foreign; }
void pp_set_resolve(int on) { g_resolve = on; }

/* Whether process *pid* runs a Python interpreter (its executable's name): its
 * violations then get the hints written for Python programs. */
int pp_is_python(int pid)
{
    char link[64], exe[4096];
    snprintf(link, sizeof link, "/proc/%d/exe", pid);
    ssize_t n = readlink(link, exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    return strncmp(base, "python", 6) == 0;
}
uint64_t pp_blessed_ip(void) { return (uint64_t)(uintptr_t)pp_blessed_return; }
void pp_set_localtime_fd(int fd, int lfd)
{
    g_localtime_fd = fd;
    g_localtime_lfd = lfd;
}
void pp_set_devnull_fd(int fd) { g_devnull_fd = fd; }

/* Turn path_call() on or off; *root_fd* is "/" (O_PATH) or -1; *dirs* the allowance
 * paths held, "dir/\0file\0" (*len* bytes; too long: none). */
void pp_set_paths_off(const char *why, size_t len)
{
    if (len > sizeof g_paths_off - 1)
        len = sizeof g_paths_off - 1;
    memset(g_paths_off, 0, sizeof g_paths_off);
    memcpy(g_paths_off, why, len);
}

void pp_set_paths(int on, int root_fd, const char *dirs, size_t len)
{
    g_paths = 0;
    g_root_fd = root_fd;
    if (len > sizeof g_path_dirs - 2)
        len = 0;
    memset(g_path_dirs, 0, sizeof g_path_dirs);
    memcpy(g_path_dirs, dirs, len);
    g_paths = on;
}

int pp_install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigfillset(&sa.sa_mask);
    sigdelset(&sa.sa_mask, SIGABRT);
    return sigaction(SIGSYS, &sa, 0) == 0 ? 0 : -errno;
}

int pp_handler_installed(void)
{
    struct sigaction cur;
    if (sigaction(SIGSYS, 0, &cur) != 0)
        return 0;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigsys;
}

/* ---- supervising an exec'd program (the pledge command) ----
 * A program's own SIGSYS handler does not survive execve, so the pledge
 * command installs the filter with a listener (SECCOMP_RET_USER_NOTIF for
 * violations) and its parent explains each violation from these. */

/* Wait for one violation on *fd*: its syscall, arguments, id and pid. 0 or -errno. */
long pp_notif_recv(int fd, int32_t *nr, uint64_t *args, uint64_t *id, uint32_t *pid)
{
    struct seccomp_notif req;
    memset(&req, 0, sizeof req);
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0)
        return -errno;
    *nr = req.data.nr;
    memcpy(args, req.data.args, sizeof req.data.args);
    *id = req.id;
    *pid = req.pid;
    return 0;
}

/* Answer violation *id*: the syscall fails with *error* (a negative errno). */
long pp_notif_send(int fd, uint64_t id, int32_t error)
{
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = id;
    resp.error = error;
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0 ? 0 : -errno;
}

/* ---- learn mode: a recorder that observes and always continues ----
 * The verdict never depends on the target's memory: every call runs as if no
 * filter were there (SECCOMP_USER_NOTIF_FLAG_CONTINUE); the recorder reads
 * arguments only to write them down. */
#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, uint64_t)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

/* Let call *id* run unchanged. 0 or -errno (-ENOENT: the caller went away). */
long pp_notif_continue(int fd, uint64_t id)
{
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0 ? 0 : -errno;
}

/* 0 while call *id* still waits (its pid is still the caller's), else -errno. */
long pp_notif_id_valid(int fd, uint64_t id)
{
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 ? 0 : -errno;
}

/* Ask for synchronous wake-ups (Linux 6.6+): the target and the recorder hand
 * the CPU to each other instead of waiting for the scheduler. 0 or -errno. */
long pp_notif_sync_wakeup(int fd)
{
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0
        ? 0 : -errno;
}

/* A copy of descriptor *fd* of the process behind *pidfd*, or -errno. */
long pp_pidfd_getfd(int pidfd, int fd)
{
    long rc = syscall(438 /* pidfd_getfd, same number on x86_64 and aarch64 */, pidfd, fd, 0);
    return rc < 0 ? -errno : rc;
}

/* landlock/ruleset.py's calls (its _Native): -errno on failure. The numbers are the
 * same on every architecture pledgepy builds for (ruleset.py checks). */
long pp_ll_create_ruleset(uint64_t handled_fs, uint64_t scoped, size_t size, uint32_t flags)
{
    uint64_t attr[3] = { handled_fs, 0, scoped };
    long rc;
    if (size > sizeof attr)
        return -EINVAL;
    rc = syscall(444, size ? (void *)attr : NULL, size, flags);
    return rc < 0 ? -errno : rc;
}

long pp_ll_add_path_beneath(int ruleset_fd, uint64_t access, int parent_fd)
{
    struct __attribute__((packed)) { uint64_t allowed_access; int32_t parent_fd; } attr =
        { access, parent_fd };
    long rc = syscall(445, ruleset_fd, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &attr, 0);
    return rc < 0 ? -errno : rc;
}

long pp_ll_restrict_self(int ruleset_fd, uint32_t flags)
{
    long rc = syscall(446, ruleset_fd, flags);
    return rc < 0 ? -errno : rc;
}

long pp_set_no_new_privs(void)
{
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

/* The pledge command's child (command/limits.py, exec/refuse.py): prctl with two integer
 * arguments, the version-3 capability sets (six u32: effective, permitted, inheritable of
 * capabilities 0-31, then of 32-63) and close_range(CLOSE_RANGE_CLOEXEC), so that its
 * start-up does not load ctypes. -errno on failure. */
long pp_prctl(int option, unsigned long arg2, unsigned long arg3)
{
    long rc = prctl(option, arg2, arg3, 0UL, 0UL);
    return rc < 0 ? -errno : rc;
}

struct pp_cap_header { uint32_t version; int pid; };

long pp_capget(uint32_t *data)
{
    struct pp_cap_header h = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
    return syscall(SYS_capget, &h, data) == 0 ? 0 : -errno;
}

long pp_capset(const uint32_t *data)
{
    struct pp_cap_header h = { 0x20080522, 0 };
    return syscall(SYS_capset, &h, data) == 0 ? 0 : -errno;
}

long pp_cloexec_from(unsigned int first)
{
    /* close_range, 436 on every architecture pledgepy builds for; 4: CLOSE_RANGE_CLOEXEC */
    return syscall(436, first, ~0U, 4U) == 0 ? 0 : -errno;
}

/* The supervisor's answers (exec/answer.py): process_vm_readv/writev of one range
 * (*write* 0: read *n* bytes at *remote* in *pid* into *local*; 1: write them there)
 * and the stat calls it makes on a worker's descriptor link, so that loading its
 * answers does not load ctypes (~8 M instructions of the command's start-up). Each
 * returns the call's result, or -errno. */
long pp_vm_copy(int pid, unsigned char *local, uint64_t remote, size_t n, int write)
{
    struct iovec l = { local, n }, r = { (void *)(uintptr_t)remote, n };
    long got = syscall(write ? SYS_process_vm_writev : SYS_process_vm_readv,
                       pid, &l, 1L, &r, 1L, 0L);
    return got < 0 ? -errno : got;
}

/* newfstatat(AT_FDCWD, path, out, flags): the kernel's struct stat of this arch */
long pp_stat_path(const char *path, unsigned char *out, int flags)
{
    return syscall(SYS_newfstatat, AT_FDCWD, path, out, flags) == 0 ? 0 : -errno;
}

/* statx(AT_FDCWD, path, flags, mask, out) */
long pp_statx_path(const char *path, int flags, unsigned int mask, unsigned char *out)
{
    return syscall(SYS_statx, AT_FDCWD, path, flags, mask, out) == 0 ? 0 : -errno;
}

/* landlock/domain.py's probe: how many more Landlock domains this thread may enter.
 * A helper thread (it inherits this thread's domains) enters empty ones until the
 * kernel refuses (E2BIG at the limit); they end with it. pthread_join() returns when
 * the kernel clears the thread's tid, which is before the thread leaves the process's
 * thread list: so we also wait until tgkill(tid, 0) says it is gone. Until then a
 * filter installed next could catch it in its last syscalls, and /proc/self/task
 * would count it (threads.count(): a second thread denies the allowances' layer). */
struct pp_probe { uint64_t attr[3]; size_t size; long max, n, tid; };

static void *pp_probe_thread(void *arg)
{
    struct pp_probe *p = arg;
    long fd, n = 0;
    p->tid = syscall(SYS_gettid);
    /* per thread, as restrict_self needs without CAP_SYS_ADMIN */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return NULL;
    fd = syscall(444 /* landlock_create_ruleset, same number on x86_64 and aarch64 */,
                 p->attr, p->size, 0);
    if (fd < 0)
        return NULL;
    while (n <= p->max && syscall(446 /* landlock_restrict_self */, fd, 0) == 0)
        n++;
    close((int)fd);
    p->n = n;
    return NULL;
}

long pp_landlock_probe(uint64_t handled_fs, uint64_t scoped, size_t size, long max, int pin)
{
    struct pp_probe p = { { handled_fs, 0, scoped }, size, max, 0, 0 };
    pthread_t t;
    pthread_attr_t ta;
    cpu_set_t here;
    int rc, cpu = pin ? sched_getcpu() : -1;
    if (size > sizeof p.attr)
        return -EINVAL;
    if (pthread_attr_init(&ta) != 0)
        return -ENOMEM;
    /* On this CPU, which the join frees at once: on a busy machine another CPU's run
     * queue can keep a new thread waiting for milliseconds. Only with *pin*: no filter
     * in force, since setting the affinity is a syscall stdio does not allow. */
    if (cpu >= 0) {
        CPU_ZERO(&here);
        CPU_SET(cpu, &here);
        pthread_attr_setaffinity_np(&ta, sizeof here, &here);
    }
    rc = pthread_create(&t, &ta, pp_probe_thread, &p);
    if (rc != 0 && cpu >= 0)  /* the CPU left our set meanwhile: anywhere, then */
        rc = pthread_create(&t, NULL, pp_probe_thread, &p);
    pthread_attr_destroy(&ta);
    if (rc != 0)
        return -rc;
    pthread_join(t, NULL);
    /* bounded (about 2 s): a thread that will not go is an error, never a guess */
    pid_t self = getpid();
    for (long i = 0; p.tid > 0; i++) {
        if (syscall(SYS_tgkill, self, p.tid, 0) != 0 && errno == ESRCH)
            return p.n;
        if (i >= 200000)
            return -EBUSY;
        if (i >= 1000) {
            struct timespec ts = { 0, 10000 };
            nanosleep(&ts, NULL);
        } else {
            sched_yield();
        }
    }
    return p.n;
}

/* The digest of the sources the tables were generated from (native/digest.py). */
const char *pp_tables_digest(void) { return T_DIGEST; }

/* Returns 0, -errno, or the positive tid of a thread TSYNC could not move
 * (with SECCOMP_FILTER_FLAG_NEW_LISTENER: the listener descriptor). */
long pp_install_filter(const unsigned char *code, size_t nbytes, unsigned int flags)
{
    struct sock_fprog prog;
    prog.len = (unsigned short)(nbytes / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)code;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    return rc < 0 ? -errno : rc;
}
