/* Makes itself non-dumpable (prctl(PR_SET_DUMPABLE, 0): a stdio call, as GNU timeout
 * and ssh-agent make it), then opens /etc/localtime, which OpenBSD's stdio allows. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/prctl.h>

int main(void)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    int fd = open("/etc/localtime", O_RDONLY);
    printf("fd %d\n", fd);
    return 0;
}
