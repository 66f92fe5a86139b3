/* A program whose code before the start-up shim (DT_PREINIT_ARRAY) forks under "proc":
 * the child, or with argv[1] "double" an orphaned grandchild, is not in the process the
 * shim narrows, keeps the loader's promises, and after the hand-over (the opening
 * listener closed) would have its violations answered ENOSYS, unpunished. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t kid;

static void pre(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc < 2)
        return;
    kid = fork();
    if (kid == 0) {
        if (!strcmp(argv[1], "double") && fork() > 0)
            _exit(0);
        struct timespec s = {0, 300000000}; /* after the hand-over */
        nanosleep(&s, NULL);
        errno = 0;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        dprintf(1, "child socket %d %s\n", fd, strerror(errno));
        _exit(0);
    }
}

__attribute__((section(".preinit_array"), used)) static void (*p)(int, char **, char **) = pre;

int main(void)
{
    int st = 0;
    if (kid > 0)
        waitpid(kid, &st, 0);
    struct timespec s = {0, 600000000};
    nanosleep(&s, NULL);
    printf("main done\n");
    return 0;
}
