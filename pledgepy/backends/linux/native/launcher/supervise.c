/* The opening phase in the parent: exec/shim.py _Opening served as exec/supervise.py
 * serve() would, for as long as its answers need no Python. Whatever else comes (a
 * violation, an open to serve, the shim's FAILED, the deadline, an unclean end) stops
 * here with the state as it is, for the takeover (PROTOCOL.md). */
#define _GNU_SOURCE
#include "supervise.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif

/* shim.MAGIC and COOKIE, READY and FAILED (shim.c sends them) */
#define PL_MAGIC SYS_lookup_dcookie
#define PL_COOKIE 0x5053484D45444750ULL
#define PL_READY 1
#define PL_EXEC_BIT (UINT64_C(1) << 19) /* promises.VOCABULARY.index("exec") */

int64_t pl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void add_gid(struct pl_ids *ids, unsigned long g, int *over)
{
    for (size_t i = 0; i < ids->ngids; i++)
        if (ids->gids[i] == g)
            return;
    if (ids->ngids == PL_MAX_GIDS) {
        *over = 1;
        return;
    }
    ids->gids[ids->ngids++] = (uint32_t)g;
}

int pl_status_ids(pid_t pid, struct pl_ids *ids)
{
    char path[64], line[8192];
    int over = 0, uid_seen = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    ids->pid = pid;
    ids->ngids = 0;
    ids->ip = 0;
    while (fgets(line, sizeof line, f)) {
        char *end;
        if (!strncmp(line, "Uid:", 4)) {
            ids->uid = (uint32_t)strtoul(line + 4, &end, 10);
            uid_seen = 1;
        } else if (!strncmp(line, "Gid:", 4)) {
            add_gid(ids, strtoul(line + 4, &end, 10), &over);
        } else if (!strncmp(line, "Groups:", 7)) {
            char *p = line + 7;
            for (;;) {
                unsigned long g = strtoul(p, &end, 10);
                if (end == p)
                    break;
                add_gid(ids, g, &over);
                p = end;
            }
        }
    }
    fclose(f);
    if (!uid_seen || over) {
        errno = over ? E2BIG : EINVAL;
        return -1;
    }
    qsort(ids->gids, ids->ngids, sizeof ids->gids[0], cmp_u32);
    return 0;
}

static long notif_send(int fd, uint64_t id, int32_t error, uint32_t flags)
{
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = id;
    resp.error = error;
    resp.flags = flags;
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0 ? 0 : -errno;
}

static int prog_ended(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD; /* as os.waitid raising: treated as gone (no PROG to wait for) */
    return si.si_pid != 0;
}

static int exec_done(pid_t pid)
{
    char path[64];
    struct stat self, prog;
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    if (stat(path, &prog) != 0 || stat("/proc/self/exe", &self) != 0)
        return 0;
    return prog.st_dev != self.st_dev || prog.st_ino != self.st_ino;
}

/* shim._is_library: a name ending in ".so" or in ".so." and a version (digits, dots);
 * not the loader, not /etc/ld.so.cache (mapped before the shim under LD_AUDIT) */
static int is_library(const char *path)
{
    const char *name = strrchr(path, '/');
    if (path[0] != '/' || !name)
        return 0;
    name++;
    if (strncmp(name, "ld-", 3) == 0)
        return 0;
    for (const char *at = strstr(name, ".so"); at != NULL; at = strstr(at + 1, ".so")) {
        if (at == name)
            continue;
        const char *rest = at + 3;
        if (*rest == 0 || (rest[0] == '.' && rest[1] != 0 && rest[strspn(rest, "0123456789.")] == 0))
            return 1;
    }
    return 0;
}

/* shim._mappings: 1 the shim is mapped, -1 a library is mapped without it, 0 neither */
static int look_at_maps(pid_t pid, const char *shim)
{
    char path[64], *line = NULL;
    size_t cap = 0;
    int shim_seen = 0, library = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (getline(&line, &cap, f) > 0) {
        char *p = line;
        int fields = 0;
        /* the sixth whitespace-separated field, to the end of the line, stripped */
        while (fields < 5) {
            while (*p == ' ' || *p == '\t')
                p++;
            if (!*p || *p == '\n')
                break;
            while (*p && *p != ' ' && *p != '\t' && *p != '\n')
                p++;
            fields++;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (fields < 5 || !*p || *p == '\n')
            continue;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = 0;
        if (!strcmp(p, shim))
            shim_seen = 1;
        else if (is_library(p))
            library = 1;
    }
    free(line);
    fclose(f);
    return shim_seen ? 1 : library ? -1 : 0;
}

/* Stop the process of thread *tid*, which waits killably on a notification read here.
 * SIGSTOP to the process would reach one thread, maybe that one, which a stop signal does
 * not wake: the others would run on (and could exit_group) until it woke. Sent to every
 * thread, a running or interruptible one takes it and the whole group stops. */
static void stop_process(pid_t tid)
{
    char path[64];
    pid_t tgid = tid;
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (f != NULL) {
        char line[128];
        while (fgets(line, sizeof line, f) != NULL)
            if (strncmp(line, "Tgid:", 5) == 0) {
                tgid = (pid_t)atoi(line + 5);
                break;
            }
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/task", (int)tgid);
    DIR *d = opendir(path);
    int sent = 0;
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
                sent |= syscall(SYS_tgkill, tgid, atoi(e->d_name), SIGSTOP) == 0;
        closedir(d);
    }
    if (!sent)
        kill(tid, SIGSTOP);
}

/* _Opening.tick: the next timeout in ms, -1 for none, -2 when Python must go on */
static int tick(struct pl_opening *o)
{
    if (!o->opening || !o->job->dynamic)
        return -1;
    if (pl_now_ns() > o->deadline_ns)
        return -2; /* the takeover's own tick says it and kills */
    if (prog_ended(o->pid)) {
        o->opening = 0;
        return -1;
    }
    if (!o->seen && exec_done(o->pid)) {
        int maps = look_at_maps(o->pid, o->job->shim);
        if (maps > 0)
            o->seen = 1;
        else if (maps < 0)
            return -2; /* mapped without the shim: the takeover's tick finds it too */
    }
    return PL_TICK_MS;
}

/* _Opening.intercept: 1 answered here, 0 for the takeover */
static int intercept(struct pl_opening *o, const struct pl_notif *n)
{
    int answer;
    if (n->nr == PL_MAGIC && n->args[0] == PL_COOKIE) {
        if (n->args[1] == PL_READY) {
            o->opening = 0;
            notif_send(o->listener, n->id, 0, 0);
            return 1;
        }
        return 0; /* FAILED is said by the takeover; anything else is a violation */
    }
    if (!o->opening || pl_now_ns() > o->deadline_ns)
        return 0;
    if ((pid_t)n->tid != o->pid && prog_ended(o->pid)) {
        o->opening = 0;
        return 0;
    }
    if (n->nr == SYS_execve || n->nr == SYS_execveat) {
        if (o->execed || (pid_t)n->tid != o->pid || exec_done(o->pid))
            return 0;
        o->execed = 1;
        o->opening = o->job->dynamic;
        answer = 0;
    } else if (!o->job->dynamic) {
        return 0;
    } else {
        answer = pl_loader_verdict(o->job->promises & ~PL_EXEC_BIT, o->ids, n->nr, n->args);
        if (answer < 0)
            return 0;
    }
    /* -ENOENT (the caller went away) needs no answer */
    if (answer)
        notif_send(o->listener, n->id, -answer, 0);
    else
        notif_send(o->listener, n->id, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
    return 1;
}

static void reap(struct pl_opening *o)
{
    struct rusage ru;
    int status = 0;
    pid_t got;
    memset(&ru, 0, sizeof ru);
    do
        got = wait4(o->pid, &status, 0, &ru);
    while (got < 0 && errno == EINTR);
    o->reaped = got == o->pid;
    o->status = status;
    o->cpu_us = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000
        + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

enum pl_end pl_supervise(struct pl_opening *o)
{
    struct pollfd p = { .fd = o->listener, .events = POLLIN, .revents = 0 };
    int timeout = tick(o);
    if (timeout == -2)
        return PL_END_TAKEOVER;
    for (;;) {
        int got = poll(&p, 1, timeout);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            snprintf(o->why, sizeof o->why, "OSError: [Errno %d] %s", errno, strerror(errno));
            return PL_END_FAILED;
        }
        if (got == 0) {
            timeout = tick(o);
            if (timeout == -2)
                return PL_END_TAKEOVER;
            continue;
        }
        if ((p.revents & (POLLHUP | POLLERR)) && !(p.revents & POLLIN)) {
            /* nobody is left under the filter: PROG's end is all there is to say */
            reap(o);
            if (!o->reaped) {
                snprintf(o->why, sizeof o->why, "ChildProcessError: [Errno %d] %s", errno,
                         strerror(errno));
                return PL_END_FAILED;
            }
            /* any note cli._explain_end may say (a signal, a failing status) is Python's */
            if (WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0)
                return PL_END_CLEAN;
            return PL_END_TAKEOVER;
        }
        struct seccomp_notif req;
        memset(&req, 0, sizeof req);
        if (ioctl(o->listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
            if (errno == ENOENT || errno == EINTR)
                continue;
            snprintf(o->why, sizeof o->why, "OSError: [Errno %d] reading a violation: %s",
                     errno, strerror(errno));
            return PL_END_FAILED;
        }
        struct pl_notif n = { .id = req.id, .tid = req.pid, .nr = req.data.nr, .args = { 0 } };
        memcpy(n.args, req.data.args, sizeof n.args);
        if (intercept(o, &n)) {
            /* serve() goes back to poll with the last timeout; tick runs when it passes */
            if (!o->opening)
                timeout = -1;
            continue;
        }
        /* The takeover answers it only once Python has started (~30 ms): until then the
         * caller's process is stopped, so another of its threads cannot end it (exit_group)
         * with its own status before the penalty. Its caller waits killably (the filter's
         * WAIT_KILLABLE_RECV): no signal of its own makes the call return meanwhile. The
         * takeover continues it (SIGCONT) as it takes the notification up. */
        if (o->killable)
            stop_process((pid_t)n.tid);
        o->has_notif = 1;
        o->notif = n;
        return PL_END_TAKEOVER;
    }
}
