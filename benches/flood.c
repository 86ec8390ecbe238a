/* The drain benchmark's child: waits for GO (a path), writes LINES lines of 100 bytes to
 * stdout, one write(2) per line ("line") or in 100 KB writes ("block"), writes its own
 * wall time in ns to TIMES, then waits for RELEASE (a path) before exiting, so the
 * supervisor can be measured while it still holds the child.
 *
 *   flood LINES line|block GO TIMES RELEASE
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void wait_path(const char *path) {
    struct stat st;
    struct timespec pause = {0, 1000000};
    while (stat(path, &st) != 0) nanosleep(&pause, NULL);
}

static void put(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) _exit(3);
        p += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    if (argc != 6) return 2;
    long lines = atol(argv[1]);
    int block = strcmp(argv[2], "block") == 0;
    enum { LINE = 100, PER_BLOCK = 1000 };
    static char buf[LINE * PER_BLOCK];
    wait_path(argv[3]);
    long long start = now_ns();
    long n = 0;
    while (n < lines) {
        long count = block ? (lines - n < PER_BLOCK ? lines - n : PER_BLOCK) : 1;
        for (long i = 0; i < count; i++) {
            char *line = buf + i * LINE;
            int len = snprintf(line, LINE, "line %09ld ", n + i);
            memset(line + len, 'x', LINE - 1 - len);
            line[LINE - 1] = '\n';
        }
        put(buf, (size_t)(count * LINE));
        n += count;
    }
    long long wall = now_ns() - start;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[4]);
    FILE *f = fopen(tmp, "w");
    if (!f) return 4;
    fprintf(f, "%lld\n", wall);
    fclose(f);
    rename(tmp, argv[4]);
    wait_path(argv[5]);
    return 0;
}
