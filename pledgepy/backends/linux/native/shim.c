/* The pledge command's start-up shim: preloaded (LD_PRELOAD) into a dynamically
 * linked program, its constructor runs once the loader has mapped and relocated
 * every library and before main, and ends the loader's promises (rpath,
 * prot_exec, exec beyond the asked ones).
 *
 * The program's only filter (the command's opening filter) allows exactly the
 * asked promises; every other call goes to the supervisor (SECCOMP_RET_USER_NOTIF),
 * which lets the loader's through (SECCOMP_USER_NOTIF_FLAG_CONTINUE) until this
 * shim reports READY, and treats them as violations from then on. The report is
 * a call no promise allows (lookup_dcookie with a cookie), answered 0 by the
 * supervisor. Nothing is handed over: code that runs before the shim and forges
 * READY only ends its own loader's promises sooner; code that keeps the shim
 * from reporting is killed at the supervisor's deadline.
 *
 * Before READY the shim loads what glibc would dlopen or open after main (NSS
 * modules, the locale), while the loader's promises still hold.
 *
 * Any failure: FAILED (the supervisor kills) and exit 70. No output but a
 * one-line message on failure. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PP_SHIM_DIGEST
#define PP_SHIM_DIGEST "unbuilt"
#endif

/* What the build was made from (shim.c and its Python half): checked by the command. */
__attribute__((used, visibility("default")))
const char pp_shim_digest[] = "PLEDGEPY-SHIM-DIGEST:" PP_SHIM_DIGEST ";";

#define ENV_MARK "PLEDGEPY_SHIM"       /* set by the command: the supervisor listens */
#define ENV_PRELOAD "PLEDGEPY_SHIM_PRELOAD" /* LD_PRELOAD to give back; unset when empty */
#define ENV_LOAD "PLEDGEPY_SHIM_LOAD"       /* libraries to load first (NSS modules), ':' */
#define COOKIE 0x5053484d45444750ULL        /* "PGDEMHSP": not an address anyone passes */
enum { READY = 1, FAILED = 3 };
#define EXIT_SANDBOX 70

/* The report, made inline: libc's syscall() is a symbol PROG's executable (first in
 * lookup) could define, and swallow READY to keep the loader's promises into main. */
static long tell(long phase, long value)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    register long r9 __asm__("r9") = 0;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"((long)SYS_lookup_dcookie), "D"((long)COOKIE), "S"(phase), "d"(value),
                       "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    if (ret < 0 && ret > -4096) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
#else
    return syscall(SYS_lookup_dcookie, COOKIE, phase, value, 0, 0, 0);
#endif
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
    unsetenv(ENV_MARK);
    unsetenv(ENV_LOAD);
}

__attribute__((constructor)) static void pp_shim(void)
{
    if (!getenv(ENV_MARK)) {
        /* Loaded without its mark: outside the pledge command nobody hears this
         * (the call fails); under it, code that ran first (a preinit function)
         * removed the mark, and the supervisor kills the program. */
        tell(FAILED, ENOENT);
        return;
    }
    preload();
    preload_locale();
    restore_env();
    errno = 0;
    if (tell(READY, 0) != 0)
        fail("the supervisor did not hear its report", errno ? errno : EPROTO);
}
