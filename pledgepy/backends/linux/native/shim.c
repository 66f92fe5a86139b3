/* The pledge command's start-up shim: preloaded (LD_PRELOAD) into a dynamically
 * linked program, its constructor runs once the loader has mapped and relocated
 * every library and before main, and narrows the program from what its loader
 * needed (the asked promises, rpath, prot_exec, exec) to exactly the asked ones.
 *
 * The narrower filter is prepared by the command (pledgepy's own plan and BPF
 * compiler) and handed over in an inherited, sealed memfd whose number is in
 * PLEDGEPY_SHIM_FILTER. The hand-over with the supervisor, which holds the
 * first filter's listener, goes through one syscall number both filters send
 * to their listener (lookup_dcookie, which no promise allows):
 *
 *   1. READY: the supervisor checks the shim is mapped, closes the first
 *      listener without answering (the call fails with ENOSYS), which frees
 *      the filter stack for a new listener (only one may exist);
 *   2. the shim installs the filter with a listener of its own (on every thread);
 *   3. NARROWED: arrives on the new listener; the supervisor takes that
 *      listener out of this process (pidfd_getfd) and answers 0;
 *   4. the shim closes its copy of the listener and returns to the loader.
 *
 * Any failure: FAILED (the supervisor kills) and exit 70. No output but a
 * one-line message on failure. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/filter.h>
#include <locale.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef PP_SHIM_DIGEST
#define PP_SHIM_DIGEST "unbuilt"
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif

/* What the build was made from (shim.c and its Python half): checked by the command. */
__attribute__((used, visibility("default")))
const char pp_shim_digest[] = "PLEDGEPY-SHIM-DIGEST:" PP_SHIM_DIGEST ";";

#define ENV_FILTER "PLEDGEPY_SHIM_FILTER"
#define ENV_PRELOAD "PLEDGEPY_SHIM_PRELOAD" /* LD_PRELOAD to give back; unset when empty */
#define ENV_LOAD "PLEDGEPY_SHIM_LOAD"       /* libraries to load first (NSS modules), ':' */
#define COOKIE 0x5053484d45444750ULL        /* "PGDEMHSP": not an address anyone passes */
enum { READY = 1, NARROWED = 2, FAILED = 3 };
#define MAX_BYTES (4096 * 8) /* BPF_MAXINSNS sock_filters */
#define EXIT_SANDBOX 70

static struct sock_filter code[4096];

static long tell(long phase, long value)
{
    return syscall(SYS_lookup_dcookie, COOKIE, phase, value, 0, 0, 0);
}

static void fail(const char *what, int err)
{
    static const char head[] = "pledge: the start-up shim could not narrow the program: ";
    tell(FAILED, err);
    (void)!write(2, head, sizeof head - 1);
    (void)!write(2, what, strlen(what));
    (void)!write(2, ": ", 2);
    (void)!write(2, strerror(err), strlen(strerror(err)));
    (void)!write(2, "\n", 1);
    syscall(SYS_exit_group, EXIT_SANDBOX);
}

static int parse_fd(const char *text)
{
    long fd = 0;
    if (!*text)
        return -1;
    for (; *text; text++) {
        if (*text < '0' || *text > '9' || fd > 65535)
            return -1;
        fd = fd * 10 + (*text - '0');
    }
    return (int)fd;
}

static size_t load(int fd)
{
    struct stat st;
    size_t got = 0;
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size > MAX_BYTES || st.st_size % 8)
        fail("the filter descriptor is not a filter", EINVAL);
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, (char *)code + got, (size_t)st.st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail("cannot read the filter", n < 0 ? errno : EIO);
        got += (size_t)n;
    }
    close(fd);
    return got / 8;
}

/* Load what glibc would dlopen after main (NSS modules), while mapping code is
 * allowed: its later dlopen finds them loaded. A library that fails is skipped
 * (glibc skips a module it cannot load as well). */
static void preload(void)
{
    static char list[8192];
    const char *text = getenv(ENV_LOAD);
    if (!text || strlen(text) >= sizeof list)
        return;
    strcpy(list, text);
    for (char *name = strtok(list, ":"); name; name = strtok(NULL, ":"))
        dlopen(name, RTLD_LAZY | RTLD_LOCAL);
}

/* Load the locale the environment names (what setlocale(LC_ALL, "") in main reads),
 * then go back to "C", where every program starts: glibc keeps a loaded locale's
 * data, so main's setlocale finds it without opening files "stdio" cannot open. */
static void preload_locale(void)
{
    if (setlocale(LC_ALL, ""))
        setlocale(LC_ALL, "C");
}

/* Give descendants the environment the user gave the command. */
static void restore_env(void)
{
    const char *keep = getenv(ENV_PRELOAD);
    if (keep && *keep)
        setenv("LD_PRELOAD", keep, 1);
    else
        unsetenv("LD_PRELOAD");
    unsetenv(ENV_PRELOAD);
    unsetenv(ENV_FILTER);
    unsetenv(ENV_LOAD);
}

__attribute__((constructor)) static void pp_shim(void)
{
    const char *text = getenv(ENV_FILTER);
    if (!text) {
        /* Loaded without its filter: outside the pledge command nobody hears this
         * (the call fails); under it, code that ran first (a preinit function)
         * removed the filter's name, and the supervisor kills the program. */
        tell(FAILED, ENOENT);
        return;
    }
    int fd = parse_fd(text);
    if (fd < 0)
        fail("bad " ENV_FILTER, EINVAL);
    struct sock_fprog prog = {(unsigned short)load(fd), code};
    preload();
    preload_locale();
    restore_env();
    errno = 0;
    if (tell(READY, 0) != -1 || errno != ENOSYS)
        fail("the supervisor did not release its listener", errno ? errno : EPROTO);
    long listener = -1;
    for (int tries = 0; tries < 1000; tries++) { /* release is synchronous: EBUSY is a guard */
        listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                           SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC |
                               SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
                           &prog);
        if (listener >= 0 || errno != EBUSY)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (listener < 0)
        fail("seccomp refused the filter", errno);
    if (tell(NARROWED, listener) != 0)
        fail("the supervisor did not take the new listener", errno);
    close((int)listener);
}
