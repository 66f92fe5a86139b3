/* PROG forks N descendants and exits 0. Each descendant waits until PROG has ended,
 * then has a thread break a promise (socket(AF_INET) under stdio) while its main
 * thread ends the process a few microseconds later: the supervisor may read the call
 * and find its thread gone. PROG broke no promise: the command must exit 0. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void *violate(void *arg) { (void)arg; socket(AF_INET, SOCK_STREAM, 0); return 0; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    pid_t prog = getpid();
    for (int i = 0; i < n; i++) {
        if (fork() == 0) {
            struct timespec tick = {0, 200000};
            while (getppid() == prog)  /* reparented: PROG has ended */
                nanosleep(&tick, 0);
            pthread_t t;
            pthread_create(&t, 0, violate, 0);
            struct timespec d = {0, (i % 50) * 2000};  /* 0..100 us */
            nanosleep(&d, 0);
            syscall(SYS_exit_group, 0);
        }
    }
    return 0;
}
