/* Valgrind (3.19) answers seccomp(2) and the Landlock syscalls with ENOSYS, so a pledge()
 * under callgrind would stop at its last step.  Preloaded into the measured interpreter,
 * this syscall(3) answers them as the kernel would on success, without doing anything:
 * callgrind counts user-space instructions only, so the count is that of the real call.
 * Landlock's ABI version comes from VG_SHIM_LANDLOCK_ABI (the machine's, asked by the
 * benchmark before it starts valgrind).  Used only by benchmarks/callgrind_counts.py. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>

long syscall(long nr, ...)
{
    static long (*real)(long, ...);
    long a[6];
    va_list ap;
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    switch (nr) {
    case 317: /* seccomp */
        if (a[0] == 0) { /* SECCOMP_SET_MODE_STRICT with arguments: libseccomp's probe */
            errno = EINVAL;
            return -1;
        }
        if (a[0] == 3) { /* SECCOMP_GET_NOTIF_SIZES */
            uint16_t *sizes = (uint16_t *)a[2];
            sizes[0] = 80, sizes[1] = 24, sizes[2] = 64;
        }
        if (a[0] == 1 && (a[1] & 8)) /* SECCOMP_FILTER_FLAG_NEW_LISTENER: a descriptor */
            return open("/dev/null", O_RDONLY | O_CLOEXEC);
        return 0; /* installing a filter, asking for an action: success */
    case 444: /* landlock_create_ruleset */
        if (a[2] & 1) { /* LANDLOCK_CREATE_RULESET_VERSION */
            const char *abi = getenv("VG_SHIM_LANDLOCK_ABI");
            return abi ? atol(abi) : 1;
        }
        return open("/dev/null", O_RDONLY | O_CLOEXEC);
    case 445: /* landlock_add_rule */
    case 446: /* landlock_restrict_self */
        return 0;
    }
    if (!real)
        real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int prctl(int option, ...)
{
    static int (*real)(int, ...);
    unsigned long a[4];
    va_list ap;
    va_start(ap, option);
    for (int i = 0; i < 4; i++)
        a[i] = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == 22) /* PR_SET_SECCOMP (libseccomp's fallback): success, as above */
        return 0;
    if (!real)
        real = (int (*)(int, ...))dlsym(RTLD_NEXT, "prctl");
    return real(option, a[0], a[1], a[2], a[3]);
}
