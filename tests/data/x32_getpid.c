/* Makes one x32 syscall (getpid, numbered with __X32_SYSCALL_BIT): a foreign ABI
 * every pledge filter kills, so no supervisor can say which promise it broke. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    long rc = syscall(SYS_getpid | 0x40000000L);
    printf("survived: %ld\n", rc);  /* only without the filter */
    return 0;
}
