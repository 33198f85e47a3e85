#define _DEFAULT_SOURCE /* explicit_bzero */
#include "lib/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->failed = false;
}

void buf_free(struct buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static int buf_fail(struct buf *b)
{
    buf_free(b);
    b->failed = true;
    return -1;
}

/* Makes room for n more bytes plus a NUL. */
int buf_reserve(struct buf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n > b->max || b->len > b->max - n)
        return buf_fail(b);
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return buf_fail(b);
    b->data = p;
    b->cap = cap;
    b->data[b->len] = '\0'; /* NUL-terminated even before the first append */
    return 0;
}

int buf_append_grow(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return buf_fail(b);
    if ((size_t)n < sizeof small)
        return buf_append(b, small, (size_t)n);
    if (buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* Reads f into b to its end (drain), or until the cap is passed. Returns 0,
 * or -1 with the buffer failed. */
static int read_into(struct buf *b, FILE *f, bool drain)
{
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(b, chunk, n) != 0 && !drain)
            break; /* with drain, past the cap a no-op, and the stream still drained */
    if (ferror(f) && !b->failed)
        buf_fail(b);
    return b->failed ? -1 : 0;
}

int buf_read_stream(struct buf *b, FILE *f)
{
    return read_into(b, f, true);
}

int buf_read_file(struct buf *b, const char *path)
{
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        buf_fail(b);
        errno = e;
        return -1;
    }
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    if (e == 0 && (st.st_size < 0 || (uintmax_t)st.st_size > b->max))
        e = EFBIG;
    FILE *f = e == 0 ? fdopen(fd, "r") : NULL;
    if (f == NULL) {
        e = e ? e : errno;
        close(fd);
        buf_fail(b);
        errno = e;
        return -1;
    }
    errno = 0;
    int rc = read_into(b, f, false);
    e = rc == 0 ? 0 : ferror(f) ? (errno ? errno : EIO) : EFBIG;
    fclose(f);
    errno = e;
    return rc;
}

char *buf_read_token(const char *path, size_t max)
{
    struct buf b;
    buf_init(&b, max);
    /* All of it allocated at once: growing would leave copies of the token in
     * freed memory. */
    if (buf_reserve(&b, max) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    if (buf_read_file(&b, path) != 0)
        return NULL; /* failed: the buffer is freed, errno set */
    size_t line = strcspn(b.data, "\r\n");
    explicit_bzero(b.data + line, b.len - line);
    if (line == 0) {
        buf_free(&b);
        errno = ENODATA;
        return NULL;
    }
    b.len = line;
    return buf_steal(&b, NULL);
}

char *buf_steal(struct buf *b, size_t *len)
{
    if (b->failed)
        return NULL;
    if (b->data == NULL && buf_reserve(b, 0) != 0)
        return NULL;
    char *p = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
