/* tests/test_launcher_plan.py's driver of launcher/plan.c and package.c.
 *
 *   parse TEXT                 "ok HEX" or "fallback"
 *   batch                      stdin lines, one answer line each:
 *     f AFTER PID UID GIDS       the opening filter's bytes (hex), or "error"/"fallback"
 *     v LOADER PID UID GIDS NR A0..A5   pl_loader_verdict (hex numbers; GIDS a:b:c or -)
 *   check PKGDIR               pl_tables_check's answer
 *   dir                        pl_package_dir()
 *   digest NAME...             pl_digest of the names
 *   enforce AFTER NR:A0:..:A5... installs the opening filter (its own ids), a listener
 *                              served by the parent (each notification: "notif NR", answered
 *                              EPERM), then makes each call: "call NR RET ERRNO"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan.h"

static int parse_gids(const char *s, struct pl_ids *ids)
{
    ids->ngids = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
        if (ids->ngids == PL_MAX_GIDS)
            return -1;
        ids->gids[ids->ngids++] = (uint32_t)strtoul(t, NULL, 16);
    }
    free(copy);
    return 0;
}

static void filter_line(struct pl_job *job, struct pl_ids *ids)
{
    struct sock_filter *f;
    size_t n;
    int rc = pl_opening_filter(job, ids, &f, &n);
    if (rc != PL_OK) {
        puts(rc == PL_FALLBACK ? "fallback" : "error");
        return;
    }
    const unsigned char *p = (const unsigned char *)f;
    for (size_t i = 0; i < n * sizeof *f; i++)
        printf("%02x", p[i]);
    putchar('\n');
    free(f);
}

static int batch(void)
{
    char line[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        char kind, gids[1 << 15];
        unsigned long long after, pid, uid, nr, a[6];
        struct pl_ids ids = {0};
        struct pl_job job;
        memset(&job, 0, sizeof job);
        if (line[0] == 'f' &&
            sscanf(line, "%c %llx %llx %llx %32767s", &kind, &after, &pid, &uid, gids) == 5) {
            ids.pid = (int32_t)pid, ids.uid = (uint32_t)uid;
            if (parse_gids(gids, &ids) != 0)
                return 2;
            job.after = after;
            filter_line(&job, &ids);
        } else if (line[0] == 'v' &&
                   sscanf(line, "%c %llx %llx %llx %32767s %llx %llx %llx %llx %llx %llx %llx",
                          &kind, &after, &pid, &uid, gids, &nr, &a[0], &a[1], &a[2], &a[3],
                          &a[4], &a[5]) == 12) {
            ids.pid = (int32_t)pid, ids.uid = (uint32_t)uid;
            if (parse_gids(gids, &ids) != 0)
                return 2;
            uint64_t args[6];
            for (int i = 0; i < 6; i++)
                args[i] = a[i];
            printf("%d\n", pl_loader_verdict(after, &ids, (int)(long long)nr, args));
        } else {
            fprintf(stderr, "bad line: %s", line);
            return 2;
        }
        fflush(stdout);
    }
    return 0;
}

static int own_ids(struct pl_ids *ids)
{
    memset(ids, 0, sizeof *ids);
    ids->pid = getpid();
    ids->uid = getuid();
    gid_t g[PL_MAX_GIDS];
    int n = getgroups(PL_MAX_GIDS, g);
    if (n < 0)
        return -1;
    g[n++] = getgid(); /* plan.identity(): sorted({getgid(), *getgroups()}) */
    for (int i = 0; i < n; i++) {
        size_t at = 0;
        while (at < ids->ngids && ids->gids[at] < g[i])
            at++;
        if (at < ids->ngids && ids->gids[at] == g[i])
            continue;
        memmove(&ids->gids[at + 1], &ids->gids[at], (ids->ngids - at) * sizeof ids->gids[0]);
        ids->gids[at] = g[i];
        ids->ngids++;
    }
    return 0;
}

static int enforce(int argc, char **argv)
{
    int pipefd[2], go[2];
    if (pipe(pipefd) != 0 || pipe(go) != 0)
        return 2;
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        struct pl_job job;
        struct pl_ids ids;
        memset(&job, 0, sizeof job);
        job.after = strtoull(argv[2], NULL, 16);
        struct sock_filter *f;
        size_t n;
        if (own_ids(&ids) != 0 || pl_opening_filter(&job, &ids, &f, &n) != PL_OK)
            _exit(3);
        struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            _exit(4);
        int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                              SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (fd < 0)
            _exit(5);
        char c;
        if (write(pipefd[1], &fd, sizeof fd) != sizeof fd || read(go[0], &c, 1) != 1)
            _exit(6); /* the parent holds the listener before any call is made */
        for (int i = 3; i < argc; i++) {
            unsigned long long v[7] = {0};
            char *p = argv[i];
            for (int k = 0; k < 7 && *p; k++) {
                v[k] = strtoull(p, &p, 16);
                if (*p == ':')
                    p++;
            }
            errno = 0;
            long ret = syscall((long)v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
            char out[128];
            int len = snprintf(out, sizeof out, "call %llx %ld %d\n", v[0], ret,
                               ret < 0 ? errno : 0);
            if (write(1, out, (size_t)len) != len)
                _exit(7);
        }
        _exit(0);
    }
    close(pipefd[1]);
    close(go[0]);
    int fd;
    if (read(pipefd[0], &fd, sizeof fd) != sizeof fd) {
        int st;
        waitpid(child, &st, 0);
        printf("child failed %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return 1;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    int listener = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (listener < 0) {
        perror("pidfd_getfd");
        kill(child, SIGKILL);
        return 2;
    }
    if (write(go[1], "g", 1) != 1)
        return 2;
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
        return 2;
    struct seccomp_notif *req = calloc(1, sizes.seccomp_notif);
    struct seccomp_notif_resp *resp = calloc(1, sizes.seccomp_notif_resp);
    for (;;) {
        struct pollfd pfd = {.fd = listener, .events = POLLIN};
        int r = poll(&pfd, 1, 200);
        if (r > 0 && (pfd.revents & POLLIN)) {
            memset(req, 0, sizes.seccomp_notif);
            if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) != 0)
                continue;
            printf("notif %x\n", req->data.nr);
            fflush(stdout);
            memset(resp, 0, sizes.seccomp_notif_resp);
            resp->id = req->id;
            resp->error = -EPERM;
            ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
            continue;
        }
        if (r > 0 && (pfd.revents & (POLLHUP | POLLERR)))
            break;
        int st;
        if (waitpid(child, &st, WNOHANG) == child) {
            printf("exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            return 0;
        }
    }
    int st;
    waitpid(child, &st, 0);
    printf("exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "parse") == 0) {
        pl_promises got = 0;
        int rc = pl_parse_promises(argv[2], &got);
        if (rc == PL_OK)
            printf("ok %llx\n", (unsigned long long)got);
        else
            puts(rc == PL_FALLBACK ? "fallback" : "error");
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "batch") == 0)
        return batch();
    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        printf("%d\n", pl_tables_check(argv[2]));
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "dir") == 0) {
        const char *d = pl_package_dir();
        puts(d ? d : "(null)");
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "digest") == 0) {
        size_t len = 0;
        char names[1 << 14];
        for (int i = 2; i < argc; i++) {
            size_t k = strlen(argv[i]) + 1;
            if (len + k > sizeof names)
                return 2;
            memcpy(names + len, argv[i], k);
            len += k;
        }
        char hex[65];
        if (pl_digest(names, len, hex) != PL_OK) {
            printf("error %d\n", errno);
            return 0;
        }
        puts(hex);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "enforce") == 0)
        return enforce(argc, argv);
    fprintf(stderr, "usage: see the comment at the top\n");
    return 2;
}
