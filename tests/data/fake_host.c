/* A program named like a script host (python3): what the pledge command's discovery
 * does with it. Asked its tree (argv[1] "-I", as the command asks a Python), it tries to
 * leave a mark (FAKE_MARK: a file it creates, with its uid) and answers a JSON list:
 * FAKE_OUTSIDE, FAKE_TREE/uid<its uid>, then FAKE_TREE/peeked when it could open
 * FAKE_PEEK, else FAKE_TREE/blind (what it read, told by which of its files it names).
 * Run as the program, it prints what it can read of each file named in its arguments. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-I") == 0) {
        const char *mark = getenv("FAKE_MARK");
        if (mark != NULL) {
            int fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dprintf(fd, "uid=%d\n", (int)getuid());
                close(fd);
            }
        }
        const char *outside = getenv("FAKE_OUTSIDE");
        const char *tree = getenv("FAKE_TREE");
        const char *peek = getenv("FAKE_PEEK");
        int peeked = peek != NULL && access(peek, R_OK) == 0 && open(peek, O_RDONLY) >= 0;
        printf("[\"%s\", \"%s/uid%d\", \"%s/%s\"]\n", outside ? outside : "/nonexistent",
               tree ? tree : "/nonexistent", (int)getuid(), tree ? tree : "/nonexistent",
               peeked ? "peeked" : "blind");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        char buf[256];
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            printf("%s: %s\n", argv[i], strerror(errno));
            continue;
        }
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        printf("%s: read %.*s\n", argv[i], (int)(n > 0 ? n : 0), buf);
    }
    return 0;
}
