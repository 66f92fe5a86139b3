/* The floor under a worker's round trip: one byte there and back over a Unix stream
 * socketpair between two processes, in C, for benchmarks/bench_pingpong.py.
 *
 *     pingpong N PARENT_CPU CHILD_CPU MODE
 *
 * CPU -1 leaves that process where the scheduler puts it; MODE "block" reads with
 * read(2), "spin" polls with recv(MSG_DONTWAIT) and never blocks. Prints microseconds
 * per round trip (CLOCK_MONOTONIC through the vDSO around the loop).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int spin;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        perror("sched_setaffinity");
        exit(2);
    }
}

static void take(int fd)
{
    char b;
    if (spin) {
        while (recv(fd, &b, 1, MSG_DONTWAIT) != 1)
            ;
    } else if (read(fd, &b, 1) != 1) {
        exit(1);
    }
}

static void give(int fd)
{
    if (write(fd, "x", 1) != 1)
        exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: pingpong N PARENT_CPU CHILD_CPU block|spin\n");
        return 2;
    }
    int n = atoi(argv[1]);
    spin = strcmp(argv[4], "spin") == 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    pid_t child = fork();
    if (child == 0) {
        pin(atoi(argv[3]));
        for (int i = 0; i < n; i++) {
            take(sv[1]);
            give(sv[1]);
        }
        _exit(0);
    }
    pin(atoi(argv[2]));
    give(sv[0]);  /* the child is running before the clock starts */
    take(sv[0]);
    double start = now();
    for (int i = 1; i < n; i++) {
        give(sv[0]);
        take(sv[0]);
    }
    double us = (now() - start) / (n - 1) * 1e6;
    waitpid(child, NULL, 0);
    printf("%.2f\n", us);
    return 0;
}
