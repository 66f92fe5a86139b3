/* An ELF interpreter that ignores LD_PRELOAD: it maps a library (as a loader would,
 * but without the preloaded shim) and waits. tests/test_shim.py gives it to a program
 * as PT_INTERP; the pledge command's supervisor must kill that program. No libc (a
 * static libc's start-up would read the program's auxiliary vector as its own). */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static long call(long nr, long a, long b, long c, long d, long e, long f)
{
    long ret;
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10),
                     "r"(r8), "r"(r9) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr, x0 __asm__("x0") = a, x1 __asm__("x1") = b,
        x2 __asm__("x2") = c, x3 __asm__("x3") = d, x4 __asm__("x4") = e, x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    ret = x0;
#endif
    return ret;
}

void _start(void)
{
    static const long wait[2] = {20, 0};
    long fd = call(SYS_openat, AT_FDCWD, (long)LIBRARY, O_RDONLY | O_CLOEXEC, 0, 0, 0);
    if (fd < 0 || call(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, fd, 0) < 0)
        call(SYS_exit_group, 2, 0, 0, 0, 0, 0);
    call(SYS_nanosleep, (long)wait, 0, 0, 0, 0, 0);
    call(SYS_exit_group, 0, 0, 0, 0, 0, 0);
}
