/* A client for forking-server.c: connects to 127.0.0.1:8080, sends "<argv[1]>?", reads the
 * reply until end-of-file, and closes. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *me = argc > 1 ? argv[1] : "a";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(8080);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("client");
        return 1;
    }
    char req[2] = {me[0], '?'};
    send(fd, req, 2, 0);
    char buf[100];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        printf("%s got %.*s\n", me, (int)n, buf);
    close(fd);
    return 0;
}
