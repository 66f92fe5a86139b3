/* Fills its descriptor table, then opens /dev/null and /etc/localtime once more: each
 * open must fail with EMFILE, as without the pledge command (tests/test_review_r11_*). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    int n = 0;
    while (open("/dev/null", O_RDONLY) >= 0)
        n++;
    int null_errno = errno;
    int fd = open("/etc/localtime", O_RDONLY);
    printf("%s %s\n", strerror(null_errno), fd < 0 ? strerror(errno) : "opened");
    return n > 0 ? 0 : 1;
}
