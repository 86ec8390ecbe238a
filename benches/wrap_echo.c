/* The wrap benchmark's child: reads newline-delimited JSON-RPC requests on stdin and
 * answers each with a reply of the same length carrying the request's id
 * ({"jsonrpc":"2.0","id":ID,"result":"xxx..."}), one write(2) per reply. As fast as a
 * sidecar can be, so what the benchmark sees is the wrapper's cost.
 *
 *   wrap_echo
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w <= 0) exit(1);
        p += w;
        n -= (size_t)w;
    }
}

/* The reply to `line` (len bytes, without its newline) into out; its length. */
static size_t reply(const char *line, size_t len, char *out) {
    const char *id = memmem(line, len, "\"id\":", 5);
    size_t id_len = 4;
    const char *id_text = "null";
    if (id) {
        id += 5;
        const char *end = id;
        while (end < line + len && *end != ',' && *end != '}') end++;
        id_text = id;
        id_len = (size_t)(end - id);
    }
    size_t n = 0;
    memcpy(out + n, "{\"jsonrpc\":\"2.0\",\"id\":", 22), n += 22;
    memcpy(out + n, id_text, id_len), n += id_len;
    memcpy(out + n, ",\"result\":\"", 11), n += 11;
    size_t want = len > n + 2 ? len - n - 2 : 0;
    memset(out + n, 'x', want), n += want;
    memcpy(out + n, "\"}\n", 3), n += 3;
    return n;
}

int main(void) {
    size_t cap = 1 << 20, have = 0;
    char *buf = malloc(cap), *out = malloc(cap + 64);
    for (;;) {
        if (have == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            out = realloc(out, cap + 64);
        }
        ssize_t r = read(0, buf + have, cap - have);
        if (r <= 0) return 0;
        have += (size_t)r;
        size_t start = 0;
        char *nl;
        while ((nl = memchr(buf + start, '\n', have - start))) {
            size_t len = (size_t)(nl - (buf + start));
            write_all(out, reply(buf + start, len, out));
            start += len + 1;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
    }
}
