/* A dynamically linked program that, after main, does what only the loader needed:
 * tests/test_shim.py runs it under the pledge command. Its preinit function runs
 * before any constructor (the shim's too) and can play a hostile program. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* (libc is not initialised yet: getenv and unsetenv do not work here; envp does) */
static void before_constructors(int argc, char **argv, char **envp)
{
    int hide = 0;
    for (char **e = envp; *e; e++)
        hide |= !strncmp(*e, "AFTER_MAIN_HIDE_FILTER=", 23);
    for (char **e = envp; hide && *e; e++)
        if (!strncmp(*e, "PLEDGEPY_SHIM=", 14))
            **e = 'X';
}
__attribute__((section(".preinit_array"), used))
static void (*preinit)(int, char **, char **) = before_constructors;

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "map-exec")) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("mapped %s\n", p == MAP_FAILED ? "no" : "yes");
    } else if (!strcmp(what, "read") && argc > 2) {
        char buf[256];
        int fd = open(argv[2], O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
        if (n < 0) {
            perror(argv[2]);
            return 1;
        }
        fwrite(buf, 1, (size_t)n, stdout);
    } else if (!strcmp(what, "exec")) {
        execl("/bin/true", "true", (char *)NULL);
        perror("execl");
        return 3;
    } else if (!strcmp(what, "env")) {
        const char *pre = getenv("LD_PRELOAD"), *filter = getenv("PLEDGEPY_SHIM");
        printf("[%s][%s]\n", pre ? pre : "", filter ? filter : "");
    } else {
        puts("ran");
    }
    return 0;
}
