/* A hostile program that speaks for the pledge command's start-up shim before it runs
 * (DT_PREINIT_ARRAY runs before every library's constructor), then tries a call its
 * promises do not allow. argv[1] says how it forges the hand-over:
 *   substitute  forge READY, install a filter of its own (everything allowed) with the
 *               listener, report NARROWED on it: the opening filter, its listener
 *               closed, then answers every violation ENOSYS, unpunished;
 *   stack       forge READY, install a filter answering socket() EPERM (its listener
 *               closed at once), then let the real shim narrow: EPERM outranks the
 *               shim's USER_NOTIF, so the violation never reaches the supervisor;
 *   silent      forge READY and install nothing (the real shim finds no filter name);
 *   window      forge READY, then (its violations answered ENOSYS: the opening listener
 *               is closed, the shim's not yet there) try socket() for argv[2] ms before
 *               letting the real shim narrow.
 *   swap        point PLEDGEPY_SHIM_FILTER at a file of its own (argv[2], created:
 *               it needs wpath cpath) carrying the substitute's filter, and let the
 *               real shim do the whole hand-over with it.
 * Prints what socket(AF_INET) gave and exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define COOKIE 0x5053484d45444750ULL
#define FLAGS ((1UL << 3) | 1UL | (1UL << 4)) /* NEW_LISTENER | TSYNC | TSYNC_ESRCH */

static long install(struct sock_filter *code, unsigned short n)
{
    struct sock_fprog prog = {n, code};
    long fd = -1;
    for (int i = 0; i < 1000; i++) {
        fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, FLAGS, &prog);
        if (fd >= 0 || errno != EBUSY)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return fd;
}

static struct sock_filter substitute[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_lookup_dcookie, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
static char swapped[64];

static void forge(int argc, char **argv, char **envp)
{
    if (argc < 2)
        return;
    const char *how = argv[1];
    if (!strcmp(how, "swap")) {
        int fd = open(argc > 2 ? argv[2] : "", O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, substitute, sizeof substitute) != sizeof substitute)
            dprintf(2, "swap: %s\n", strerror(errno));
        for (char **e = envp; *e; e++)
            if (!strncmp(*e, "PLEDGEPY_SHIM_FILTER=", 21)) {
                snprintf(swapped, sizeof swapped, "PLEDGEPY_SHIM_FILTER=%d", fd);
                *e = swapped;
            }
        return;
    }
    if (strcmp(how, "stack") != 0 && strcmp(how, "window") != 0)
        for (char **e = envp; *e; e++)
            if (!strncmp(*e, "PLEDGEPY_SHIM_FILTER=", 21))
                (*e)[0] = 'X'; /* the real shim finds no filter and does nothing */
    syscall(SYS_lookup_dcookie, COOKIE, 1L, 0L, 0, 0, 0); /* READY: ENOSYS once released */
    if (!strcmp(how, "substitute")) {
        long fd = install(substitute, 6);
        syscall(SYS_lookup_dcookie, COOKIE, 2L, fd, 0, 0, 0); /* NARROWED */
        close((int)fd);
    } else if (!strcmp(how, "window")) {
        long ms = argc > 2 ? atol(argv[2]) : 0;
        struct timespec step = {0, 1000000};
        for (long i = 0; i < ms; i++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd >= 0) {
                dprintf(1, "window socket %d\n", fd);
                close(fd);
                break;
            }
            nanosleep(&step, NULL);
        }
        dprintf(1, "window socket -1 %s\n", strerror(errno));
    } else if (!strcmp(how, "stack")) {
        struct sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        close((int)install(code, 4));
    }
}

__attribute__((section(".preinit_array"), used)) static void (*pre)(int, char **, char **) = forge;

int main(void)
{
    errno = 0;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    printf("socket %d %s\n", s, strerror(errno));
    return 0;
}
