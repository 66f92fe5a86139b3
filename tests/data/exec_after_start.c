/* Built static by tests/test_loader_phase.py: with an argument, execs that program after
 * main (a static program runs no loader: the command's own execve is its only exec). */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 1) {
        execl(argv[1], argv[1], (char *)NULL);
        perror("execl");
        return 3;
    }
    puts("ran");
    return 0;
}
