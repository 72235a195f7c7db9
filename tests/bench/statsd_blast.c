/* statsd_blast.c — sends statsd lines over UDP on loopback, paced or flat out, for
 * tests/bench/adapter_metrics.sh.
 *
 * Usage: statsd_blast PORT PACKETS LINES_PER_PACKET PPS SERIES
 *   PORT              on 127.0.0.1
 *   PACKETS           datagrams to send
 *   LINES_PER_PACKET  statsd lines in each ("bench.c,id=N:1|c"), packed up to 1432 bytes
 *   PPS               datagrams per second (paced in 1 ms slices), 0 for flat out
 *   SERIES            distinct id values, cycled
 * Prints "sent LINES lines in PACKETS datagrams, SECONDS s". Exits 1 on a send error other
 * than ENOBUFS/EAGAIN, which are retried. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct sockaddr_in to = {.sin_family = AF_INET};
    long packets, lines, pps, series, id = 0, sent_lines = 0;
    char buf[1500];
    double t0, t;
    int fd;

    if (argc != 6) {
        fprintf(stderr, "usage: statsd_blast PORT PACKETS LINES_PER_PACKET PPS SERIES\n");
        return 2;
    }
    to.sin_port = htons((unsigned short)atoi(argv[1]));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    packets = atol(argv[2]);
    lines = atol(argv[3]);
    pps = atol(argv[4]);
    series = atol(argv[5]) > 0 ? atol(argv[5]) : 1;
    if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
        perror("statsd_blast: socket");
        return 1;
    }
    t0 = now_s();
    for (long p = 0; p < packets; p++) {
        size_t len = 0;
        for (long l = 0; l < lines && len < 1432 - 40; l++) {
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%sbench.c,id=%ld:1|c",
                                    l == 0 ? "" : "\n", id);
            id = (id + 1) % series;
            sent_lines++;
        }
        while (send(fd, buf, len, 0) < 0) {
            if (errno != ENOBUFS && errno != EAGAIN) {
                perror("statsd_blast: send");
                return 1;
            }
            usleep(50);
        }
        if (pps > 0 && p % (pps / 1000 > 0 ? pps / 1000 : 1) == 0) {
            /* Stay on schedule: packet p is due at t0 + p / pps. */
            while ((t = now_s() - t0) < (double)p / (double)pps) {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
        }
    }
    printf("sent %ld lines in %ld datagrams, %.3f s\n", sent_lines, packets, now_s() - t0);
    close(fd);
    return 0;
}
