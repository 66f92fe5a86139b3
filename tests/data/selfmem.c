/* Rewrite a byte of this program's own code through /proc/self/mem: new code without
 * prot_exec (for tests/test_review_r6_attack.py). Prints what happened. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int target(void) { return 1; }

int main(void)
{
    int fd = open("/proc/self/mem", O_RDWR);
    if (fd < 0) {
        perror("open");
        return 2;
    }
    /* mov $2, %eax; ret */
    unsigned char code[] = { 0xb8, 0x02, 0x00, 0x00, 0x00, 0xc3 };
    int (*volatile fn)(void) = target;
    if (pwrite(fd, code, sizeof code, (off_t)(unsigned long)fn) != (ssize_t)sizeof code) {
        perror("pwrite");
        return 3;
    }
    printf("rewritten %d\n", fn());
    return 0;
}
