/* Open argv[2] creating (O_CREAT with the access mode argv[1] names: "r" O_RDONLY,
 * "rw" O_RDWR), as mkstemp-like code under tmppath does, and copy what it reads to
 * stdout; "errno N" on stdout when the open or the read fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    int flags = O_CREAT | (strcmp(argv[1], "rw") == 0 ? O_RDWR : O_RDONLY);
    int fd = open(argv[2], flags, 0600);
    if (fd < 0) {
        printf("errno %d\n", errno);
        return 0;
    }
    char buf[4096];
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0) {
        printf("errno %d\n", errno);
        return 0;
    }
    fwrite(buf, 1, (size_t)got, stdout);
    return 0;
}
