/* What a hostile or odd program does to the pledge command that runs it (native
 * launcher or Python command: both must answer alike). argv[1] picks the act;
 * the "pre-" ones run from DT_PREINIT_ARRAY, before every library's constructor
 * (the start-up shim's too), while the loader's promises still hold:
 *   pre-fork     fork; the child, after the hand-over, maps executable memory
 *   pre-ready    forge the shim's READY, then map executable memory
 *   pre-failed   report the shim's FAILED (EPERM) in its name
 *   map-exec     map executable memory from main
 *   exec         execve /bin/true from main (argv[2], when given)
 *   violate      socket(AF_INET) from main
 *   thread       socket(AF_INET) from a second thread
 *   race-exit N  a second thread calls socket(AF_INET); main, every signal blocked, exits 0
 *                N ms later (before a supervisor that took longer could punish it)
 *   vfork-thread main waits in vfork (its child sleeps 300 ms) while a second thread calls
 *                socket(AF_INET), then writes "ran after" 40 times, 1 ms apart
 *   eintr        a second thread calls socket(AF_INET); main sends it SIGUSR1, caught
 *                without SA_RESTART, 5 ms later (a call still waiting would return EINTR)
 *   grandchild   fork twice; the grandchild calls socket(AF_INET)
 *   ignabrt      ignore SIGABRT, then socket(AF_INET)
 *   signal N     raise signal N
 *   stop         print the pid, stop itself, say "continued" when continued
 *   pending      threads keep a served open (/etc/localtime) in flight while main exits
 *   fds          print every open descriptor above 2
 *   std          exit with the bits of the standard descriptors open (1: 0, 2: 1, 4: 2)
 *   writes P...  try to open each P for writing; print its errno's name
 *   argc0 P      execve P with no argv at all (argc 0: pkexec's CVE-2021-4034)
 * Prints "reached" when an act it should not survive returns. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COOKIE 0x5053484d45444750ULL

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void map_exec(const char *who)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    dprintf(1, "%s mapped %s\n", who, p == MAP_FAILED ? strerror(errno) : "executable");
}

static void pre(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc < 2)
        return;
    if (!strcmp(argv[1], "pre-fork")) {
        if (fork() == 0) {
            pause_ms(300); /* after the hand-over */
            map_exec("child");
            _exit(0);
        }
    } else if (!strcmp(argv[1], "pre-ready")) {
        syscall(SYS_lookup_dcookie, COOKIE, 1L, 0L, 0L, 0L, 0L);
        map_exec("forger");
    } else if (!strcmp(argv[1], "pre-failed")) {
        syscall(SYS_lookup_dcookie, COOKIE, 3L, (long)EPERM, 0L, 0L, 0L);
    }
}

__attribute__((section(".preinit_array"), used)) static void (*hook)(int, char **, char **) = pre;

static void *violator(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    dprintf(1, "thread socket %d\n", fd);
    return NULL;
}

static volatile pid_t g_violator;

static void caught(int sig) { (void)sig; }

static void *violator_told(void *arg)
{
    (void)arg;
    g_violator = (pid_t)syscall(SYS_gettid);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    dprintf(1, "thread socket %d (%s)\n", fd, fd < 0 ? strerror(errno) : "open");
    return NULL;
}

static void *violator_on(void *arg)
{
    (void)arg;
    pause_ms(20);
    syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    for (int i = 0; i < 40; i++) {
        syscall(SYS_write, 1, "ran after\n", 10);
        pause_ms(1);
    }
    return NULL;
}

static void *opener(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = open("/etc/localtime", O_RDONLY);
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *act = argc > 1 ? argv[1] : "";
    if (!strcmp(act, "pre-fork")) {
        wait(NULL);
        dprintf(1, "main done\n");
        return 0;
    }
    if (!strncmp(act, "pre-", 4)) {
        dprintf(1, "main done\n");
        return 0;
    }
    if (!strcmp(act, "map-exec")) {
        map_exec("main");
    } else if (!strcmp(act, "exec")) {
        char *args[] = {"true", NULL};
        execv(argc > 2 ? argv[2] : "/bin/true", args);
        dprintf(1, "exec %s\n", strerror(errno));
    } else if (!strcmp(act, "violate")) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        dprintf(1, "socket %d\n", fd);
    } else if (!strcmp(act, "thread")) {
        pthread_t t;
        pthread_create(&t, NULL, violator, NULL);
        pthread_join(t, NULL);
    } else if (!strcmp(act, "race-exit")) {
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        pthread_t t;
        pthread_create(&t, NULL, violator_told, NULL);
        pause_ms(argc > 2 ? atoi(argv[2]) : 20);
        syscall(SYS_exit_group, 0);
    } else if (!strcmp(act, "vfork-thread")) {
        pthread_t t;
        pthread_create(&t, NULL, violator_on, NULL);
        pid_t kid = vfork();
        if (kid == 0) {
            pause_ms(300);
            _exit(0);
        }
        pthread_join(t, NULL);
        dprintf(1, "main done\n");
        return 0;
    } else if (!strcmp(act, "eintr")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = caught; /* no SA_RESTART */
        sigaction(SIGUSR1, &sa, NULL);
        pthread_t t;
        pthread_create(&t, NULL, violator_told, NULL);
        while (!g_violator)
            ;
        pause_ms(5);
        syscall(SYS_tgkill, getpid(), g_violator, SIGUSR1);
        pthread_join(t, NULL);
        dprintf(1, "main done\n");
        return 0;
    } else if (!strcmp(act, "grandchild")) {
        pid_t kid = fork();
        if (kid == 0) {
            pid_t grand = fork();
            if (grand == 0) {
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                dprintf(1, "grandchild socket %d\n", fd);
                _exit(0);
            }
            waitpid(grand, NULL, 0);
            _exit(0);
        }
        waitpid(kid, NULL, 0);
        dprintf(1, "main done\n");
        return 0;
    } else if (!strcmp(act, "ignabrt")) {
        signal(SIGABRT, SIG_IGN);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        dprintf(1, "socket %d\n", fd);
    } else if (!strcmp(act, "signal")) {
        raise(argc > 2 ? atoi(argv[2]) : SIGKILL);
    } else if (!strcmp(act, "stop")) {
        dprintf(1, "%d\n", (int)getpid());
        raise(SIGSTOP);
        dprintf(1, "continued\n");
        return 0;
    } else if (!strcmp(act, "pending")) {
        pthread_t t;
        for (int i = 0; i < 16; i++)
            pthread_create(&t, NULL, opener, NULL);
        pause_ms(50);
        dprintf(1, "exiting\n");
        _exit(0);
    } else if (!strcmp(act, "fds")) {
        for (int fd = 3; fd < 1024; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                dprintf(1, "open %d\n", fd);
        dprintf(1, "end\n");
        return 0;
    } else if (!strcmp(act, "argc0") && argc > 2) {
        char *none[] = {NULL};
        extern char **environ;
        execve(argv[2], none, environ);
        dprintf(2, "argc0: %s\n", strerror(errno));
        return 2;
    } else if (!strcmp(act, "std")) {
        int open_ = 0;
        for (int fd = 0; fd < 3; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                open_ |= 1 << fd;
        return open_;
    } else if (!strcmp(act, "writes")) {
        for (int i = 2; i < argc; i++) {
            int fd = open(argv[i], O_WRONLY);
            dprintf(1, "%s %s\n", argv[i], fd >= 0 ? "WRITABLE" : strerrorname_np(errno));
            if (fd >= 0)
                close(fd);
        }
        return 0;
    } else {
        dprintf(2, "lattack: no act %s\n", act);
        return 2;
    }
    dprintf(1, "reached\n");
    return 0;
}
