/* Timing loops for benchmarks/bench_syscalls.py.
 *
 * Built at benchmark time (gcc -O2 -shared -fPIC) into a temporary directory
 * and loaded with ctypes.  Every loop runs n iterations of one syscall kind
 * and returns nanoseconds per iteration, timed with CLOCK_MONOTONIC around the
 * loop (the clock is read through the vDSO: no syscall, so no filter cost).
 * A loop returns a negative value (-errno) if the syscall failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC 1
#endif

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define PER_ITER(t0, n) ((double)(now_ns() - (t0)) / (double)(n))

double loop_getppid(long n)
{
    long long t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (getppid() <= 0)   /* glibc does not cache getppid: a real syscall each time */
            return -1.0;
    return PER_ITER(t0, n);
}

/* read(2) of 1 byte from fd (opened on /dev/zero by the caller). */
double loop_read(int fd, long n)
{
    char c;
    long long t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (read(fd, &c, 1) != 1)
            return -(double)errno;
    return PER_ITER(t0, n);
}

/* glibc fstat(): since glibc 2.33 this is newfstatat(fd, "", buf, AT_EMPTY_PATH). */
double loop_fstat(int fd, long n)
{
    struct stat st;
    long long t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (fstat(fd, &st) != 0)
            return -(double)errno;
    return PER_ITER(t0, n);
}

/* open(path, O_RDONLY) + close(): openat(AT_FDCWD, path, O_RDONLY) and close. */
double loop_open_close(const char *path, long n)
{
    long long t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            return -(double)errno;
        close(fd);
    }
    return PER_ITER(t0, n);
}

/* mmap (anonymous, 4096 bytes, PROT_READ|PROT_WRITE, never touched) + munmap. */
double loop_mmap_munmap(long n)
{
    long long t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return -(double)errno;
        munmap(p, 4096);
    }
    return PER_ITER(t0, n);
}

/* The floor every seccomp sandbox pays: a one-instruction filter, RET ALLOW,
 * installed on every thread like pledgepy does.  Returns 0 or -errno. */
int install_allow_all(void)
{
    struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {.len = 1, .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
        return -errno;
    return 0;
}
