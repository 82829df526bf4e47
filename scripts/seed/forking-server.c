/* The textbook's concurrent server: a child per client.  The parent accepts a connection,
 * forks a child to serve it and closes its own copy of the connected socket; the child
 * closes its copy of the listener, reads the request, answers and closes the connection.
 * Written for tcpsim trace (scripts/record_trace_samples.py, tests/test_trace_programs.py):
 * it serves `argv[1]` clients (3 if not given), then closes the listener. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int clients = argc > 1 ? atoi(argv[1]) : 3;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = INADDR_ANY;
    addr.sin_port = htons(8080);
    if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 3) < 0) {
        perror("server");
        return 1;
    }
    for (int i = 0; i < clients; i++) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            perror("accept");
            return 1;
        }
        if (fork() == 0) {
            char buf[100];
            close(s);
            ssize_t n = recv(c, buf, sizeof buf, 0);
            if (n > 0) {
                char reply[2] = {buf[0], '!'};  /* the request's first byte names the client */
                send(c, reply, 2, 0);
            }
            close(c);
            exit(0);
        }
        close(c);
    }
    while (wait(NULL) > 0)
        ;
    close(s);
    return 0;
}
