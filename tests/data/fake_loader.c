/* An ELF interpreter that ignores LD_PRELOAD: it maps a library (as a loader would,
 * but without the preloaded shim) and waits. tests/test_shim.py gives it to a program
 * as PT_INTERP; the pledge command's supervisor must kill that program. */
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int fd = open(LIBRARY, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
        return 2;
    struct timespec wait = {20, 0};
    nanosleep(&wait, NULL);
    (void)!write(1, "ran without the shim\n", 21);
    return 0;
}
