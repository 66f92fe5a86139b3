/* stat of the working directory through a NULL path: newfstatat(AT_FDCWD, NULL, buf,
 * AT_EMPTY_PATH) (Linux 6.11+: the call's dirfd, here the working directory). Prints
 * the inode and exits 0 when the call ran; argv[1] "statx" uses statx instead. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long rc;
    unsigned long long ino = 0;
    if (argc > 1 && strcmp(argv[1], "statx") == 0) {
        struct statx sx;
        rc = syscall(SYS_statx, AT_FDCWD, NULL, AT_EMPTY_PATH, STATX_INO, &sx);
        ino = sx.stx_ino;
    } else {
        struct stat st;
        rc = syscall(SYS_newfstatat, AT_FDCWD, NULL, &st, AT_EMPTY_PATH);
        ino = st.st_ino;
    }
    if (rc != 0) {
        perror("stat");
        return 1;
    }
    printf("%llu\n", ino);
    return 0;
}
