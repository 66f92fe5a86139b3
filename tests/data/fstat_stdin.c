/* fstat(0) as glibc spells it, newfstatat(0, "", buf, AT_EMPTY_PATH): a "stdio" call that
 * BPF cannot tell from a path's stat (tests/test_review_r11_cmdattack.py). Built without
 * libc (-nostdlib -static): static glibc reads /proc/self/exe at start, which "stdio"
 * alone refuses. x86_64 only. Prints "fifo" for a pipe on stdin, exits 0. */
static long sys(long nr, long a, long b, long c, long d)
{
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

void _start(void)
{
    unsigned char st[144];  /* the kernel's struct stat on x86_64 */
    long rc = sys(262, 0, (long)"", (long)st, 0x1000);  /* newfstatat, AT_EMPTY_PATH */
    unsigned int mode = *(unsigned int *)(st + 24);  /* st_mode */
    int fifo = rc == 0 && (mode & 0170000) == 0010000;
    sys(1, 1, (long)(fifo ? "fifo\n" : "other\n"), fifo ? 5 : 6, 0);
    sys(231, rc == 0 ? 0 : 1, 0, 0, 0);  /* exit_group */
    for (;;) {
    }
}
