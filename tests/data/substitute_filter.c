/* A hostile program that, before the pledge command's start-up shim runs (its
 * DT_PREINIT_ARRAY runs before every library's constructor), puts a permissive filter
 * of its own in the shim's place, then in main reads argv[2], a file it may see (-v)
 * but not read without "rpath". argv[1] says how:
 *   substitute  forge the shim's READY, install its filter with the shim's flags (a
 *               listener) and report NARROWED on it, as the shim did, and hide the
 *               shim's mark so the real shim does nothing (the hand-over an
 *               unprivileged supervisor could not tell from the shim's);
 *   prctl       the same through prctl(PR_SET_SECCOMP) instead of seccomp();
 *   stack       install its filter without a word and let the real shim report.
 * Each step that fails is skipped, as an attacker would. Prints the file's first line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define COOKIE 0x5053484d45444750ULL
#define SHIM_FLAGS ((1UL << 3) | 1UL | (1UL << 4)) /* NEW_LISTENER | TSYNC | TSYNC_ESRCH */

static struct sock_filter everything[] = {
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static void hide(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; *e; e++)
        if (!strncmp(*e, name, n))
            (*e)[0] = 'X';
}

static void substitute(int argc, char **argv, char **envp)
{
    if (argc < 2)
        return;
    struct sock_fprog prog = {1, everything};
    const char *how = argv[1];
    long fd = -1;
    if (strcmp(how, "stack") != 0) {
        syscall(SYS_lookup_dcookie, COOKIE, 1L, 0L, 0, 0, 0); /* READY */
        hide(envp, "PLEDGEPY_SHIM=");
        hide(envp, "PLEDGEPY_SHIM_FILTER=");
    }
    if (!strcmp(how, "prctl"))
        fd = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
    else
        fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                     strcmp(how, "stack") ? SHIM_FLAGS : 0UL, &prog);
    dprintf(2, "substitute: %s: %ld %s\n", how, fd, fd < 0 ? strerror(errno) : "installed");
    if (fd > 0 && !strcmp(how, "substitute")) {
        syscall(SYS_lookup_dcookie, COOKIE, 2L, fd, 0, 0, 0); /* NARROWED */
        close((int)fd);
    }
}

__attribute__((section(".preinit_array"), used)) static void (*pre)(int, char **,
                                                                    char **) = substitute;

int main(int argc, char **argv)
{
    char line[256] = "";
    FILE *f = argc > 2 ? fopen(argv[2], "r") : NULL;
    if (!f) {
        perror(argc > 2 ? argv[2] : "no file given");
        return 1;
    }
    if (fgets(line, sizeof line, f))
        fputs(line, stdout);
    return 0;
}
