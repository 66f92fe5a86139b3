/* Reads the file named by argv[1] to stdout: built static, it runs no loader. */
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char buf[256];
    ssize_t n;
    int fd = argc > 1 ? open(argv[1], O_RDONLY) : -1;
    if (fd < 0)
        return 2;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (write(1, buf, (size_t)n) != n)
            return 3;
    return 0;
}
