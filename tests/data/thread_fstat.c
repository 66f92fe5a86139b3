/* fstat(1) from a second thread, then from main: a "stdio" call wherever it is made
 * (glibc spells it newfstatat(fd, "", AT_EMPTY_PATH), which the supervisor answers). */
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
static void *run(void *a) { struct stat st; int r = fstat(1, &st); printf("thread fstat %d\n", r); return a; }
int main(void) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_join(t, 0); struct stat st; printf("main fstat %d\n", fstat(1, &st)); return 0; }
