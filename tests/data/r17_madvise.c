/* madvise(MADV_HWPOISON) of a page of its own stack, as the first and only call
 * (static, no libc: a program exec'd without "stdio" gets no further). Exits 3 when the
 * call came back (it ran: EINVAL where the kernel lacks CONFIG_MEMORY_FAILURE; there the
 * page alone is lost), so a refusal shows as the kernel's or the explainer's kill. */
#include <sys/syscall.h>

static long sys3(long nr, long a, long b, long c)
{
    long rc;
    __asm__ volatile("syscall" : "=a"(rc) : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return rc;
}

void _start(void)
{
    volatile char here[8192];
    here[0] = 'x';
    long page = ((long)here + 4095) & ~4095L;
    sys3(SYS_madvise, page, 4096, 100 /* MADV_HWPOISON */);
    sys3(SYS_exit_group, 3, 0, 0);
    for (;;)
        ;
}
