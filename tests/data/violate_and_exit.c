/* A program that breaks a promise in one thread and exits 0 from another before the
 * supervisor's penalty can reach it (the violating thread waits in the kernel). */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void *violate(void *arg)
{
    socket(AF_INET, SOCK_STREAM, 0);
    return arg;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, 0, violate, 0);
    struct timespec s = {0, 200000}; /* the violation is waiting for the supervisor */
    nanosleep(&s, 0);
    syscall(SYS_exit_group, 0);
    return 0;
}
