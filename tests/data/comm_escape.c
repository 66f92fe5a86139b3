/* A program that gives itself a name with a newline and a terminal escape (its comm,
 * which the supervisor's message prints), then breaks a promise. */
#include <sys/prctl.h>
#include <sys/socket.h>

int main(void)
{
    prctl(PR_SET_NAME, "x\npledge: \033[2J", 0, 0, 0);
    return socket(AF_INET, SOCK_STREAM, 0) < 0;
}
