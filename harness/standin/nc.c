/*
 * nc for reachlab's offline stand-in image: the netcat the lab's alpine has, where Debian's static busybox
 * lacks it. busybox-static's nc has no -u (no NC_EXTRA), yet the handout's Test2 types
 *     on alpine1:  nc -u -l -p 2020          (listen for UDP datagrams, print them)
 *     on server2:  nc 192.168.56.3 2020 -u   (send standard input as UDP datagrams)
 * This tool does UDP itself and hands everything else to busybox's nc unchanged. Options may come before or
 * after the host and port, as with alpine's nc. Addresses are numeric (the image has no resolver).
 * Built static by build.rs, so it runs in a root filesystem without a C library.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int usage(void) {
    fprintf(stderr, "usage: nc -u -l -p PORT | nc -u HOST PORT (other modes: busybox nc)\n");
    return 1;
}

static int port_of(const char *s) {
    char *end;
    long p = strtol(s, &end, 10);
    return (*s && !*end && p > 0 && p < 65536) ? (int)p : -1;
}

static int listen_udp(int port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("nc: bind");
        return 1;
    }
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            perror("nc: recv");
            return 1;
        }
        if (write(STDOUT_FILENO, buf, (size_t)n) < 0) return 1;
    }
}

static int send_udp(const char *host, int port, int local_port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
        fprintf(stderr, "nc: %s is not an IPv4 address\n", host);
        return 1;
    }
    if (local_port > 0) {
        struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(local_port)};
        if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
            perror("nc: bind");
            return 1;
        }
    }
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        perror("nc: connect");
        return 1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0) {
        if (send(fd, buf, (size_t)n, 0) < 0) {
            perror("nc: send");
            return 1;
        }
    }
    return 0;
}

/* Whether -u is among the option letters (up to the first that takes a value: its value is not options). */
static int wants_udp(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1] || a[1] == '-') continue;
        for (const char *f = a + 1; *f; f++) {
            if (*f == 'u') return 1;
            if (strchr("pwiqef", *f)) break;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (!wants_udp(argc, argv)) {
        argv[0] = "nc";
        execv("/bin/busybox", argv);
        perror("nc: busybox");
        return 127;
    }
    int listen = 0, port = -1;
    const char *positional[2] = {0, 0};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            for (const char *f = a + 1; *f; f++) {
                if (*f == 'u') {
                    continue;
                } else if (*f == 'l') {
                    listen = 1;
                } else if (*f == 'p') {
                    const char *v = f[1] ? f + 1 : (i + 1 < argc ? argv[++i] : NULL);
                    if (!v || (port = port_of(v)) < 0) return usage();
                    break;
                } else if (strchr("wiq", *f)) {
                    /* Timeouts and delays: accepted, ignored for UDP. */
                    if (!f[1] && i + 1 < argc) i++;
                    break;
                } else {
                    return usage();
                }
            }
        } else if (npos < 2) {
            positional[npos++] = a;
        } else {
            return usage();
        }
    }
    if (listen) {
        if (port < 0 && npos == 1) port = port_of(positional[0]);
        return port > 0 ? listen_udp(port) : usage();
    }
    if (npos != 2 || port_of(positional[1]) < 0) return usage();
    return send_udp(positional[0], port_of(positional[1]), port);
}
