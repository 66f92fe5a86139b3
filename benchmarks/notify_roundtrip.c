/* The floor of learn mode's per-call cost: a USER_NOTIF round trip with a supervisor
 * that does nothing but receive each call and continue it.
 *
 *     gcc -O2 -o notify_roundtrip benchmarks/notify_roundtrip.c
 *     ./notify_roundtrip [CALLS [SYNC [POLL]]]     (defaults: 20000 1 1)
 *
 * A child installs a filter that notifies getppid (and allows the rest), hands the
 * listener to its parent over a socket pair and makes CALLS getppid calls; the parent
 * answers each with SECCOMP_USER_NOTIF_FLAG_CONTINUE, as pp_learn_loop does, with
 * synchronous wake-ups when SYNC (Linux 6.6+) and a poll before each receive when POLL.
 * Prints the child's microseconds per call: what each recorded call costs the program
 * before the recorder reads or decides anything.
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int pass_fd(int sock, int fd)
{
    char ctl[CMSG_SPACE(sizeof fd)];
    char byte = 'x';
    struct iovec iov = { &byte, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof ctl };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fd);
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int take_fd(int sock)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    char byte;
    struct iovec iov = { &byte, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof ctl };
    if (recvmsg(sock, &m, 0) != 1 || !CMSG_FIRSTHDR(&m))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
    return fd;
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 20000;
    int sync = argc > 2 ? atoi(argv[2]) : 1, use_poll = argc > 3 ? atoi(argv[3]) : 1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return perror("socketpair"), 1;
    pid_t pid = fork();
    if (pid == 0) {
        struct sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { sizeof code / sizeof code[0], code };
        char go;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            _exit(2);
        int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                              SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (fd < 0 || pass_fd(sv[0], fd) != 0 || read(sv[0], &go, 1) != 1)
            _exit(2);
        close(fd);
        double start = now();
        for (long i = 0; i < calls; i++)
            syscall(SYS_getppid);
        printf("%.2f us per notified call (%ld calls, sync %d, poll %d)\n",
               (now() - start) / (double)calls * 1e6, calls, sync, use_poll);
        fflush(stdout);
        _exit(0);
    }
    int fd = take_fd(sv[1]);
    if (fd < 0)
        return perror("listener"), 1;
    if (sync && ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                      (unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) != 0)
        perror("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (continuing without)");
    if (write(sv[1], "g", 1) != 1)
        return perror("go"), 1;
    for (;;) {
        if (use_poll) {
            struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
            if (poll(&p, 1, -1) < 0 || !(p.revents & POLLIN))
                break;  /* POLLHUP: the child has gone */
        }
        struct seccomp_notif req;
        memset(&req, 0, sizeof req);
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
            if (use_poll)
                continue;  /* ENOENT: the caller died meanwhile */
            break;  /* without poll: Linux 6.6+ returns once nobody is left */
        }
        struct seccomp_notif_resp resp;
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
