/* The restart benchmark's child: appends "S <ns>" (CLOCK_REALTIME) to LOG when it
 * starts, sleeps MS milliseconds, appends "E <ns>" and exits 1.
 *
 *   crasher LOG MS
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void stamp(int fd, char kind) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[64];
    int n = snprintf(line, sizeof line, "%c %lld\n", kind, ts.tv_sec * 1000000000LL + ts.tv_nsec);
    if (write(fd, line, (size_t)n) != n) _exit(3);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd < 0) return 4;
    stamp(fd, 'S');
    struct timespec pause = {0, atol(argv[2]) * 1000000L};
    nanosleep(&pause, NULL);
    stamp(fd, 'E');
    return 1;
}
