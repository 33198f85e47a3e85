/*
 * buf: a growable byte buffer with a hard size cap.
 *
 * Every buffer that grows in this project is a struct buf. Appending past the
 * cap, or failing to allocate, frees the contents and leaves the buffer in a
 * sticky failed state: later appends are no-ops and buf_failed() says so, so a
 * writer can append a whole document and check once at the end. A failed
 * buffer never hands out a half-built result.
 */
#ifndef LIB_BUF_H
#define LIB_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct buf {
    char *data;  /* owned; NUL-terminated when len > 0 */
    size_t len;  /* bytes used, excluding the terminating NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* hard cap on len */
    bool failed; /* sticky: set on overflow or allocation failure */
};

/* Initialises an empty buffer that may grow to max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Frees the contents; the buffer may be initialised again. Accepts NULL. */
void buf_free(struct buf *b);

/* Empties the buffer, keeping its allocation; clears the failed state. */
void buf_reset(struct buf *b);

/* The slow path of buf_append: grows the buffer (or fails it) first. */
int buf_append_grow(struct buf *b, const void *p, size_t n);

/*
 * Appends n bytes. Returns 0, or -1 (and fails the buffer) past the cap.
 * Inline: the exposition writer appends a few bytes at a time, 40,000 lines
 * per 10,000 accounts. When n fits (cap never exceeds max + 1, so the cap
 * holds too) it is a copy; otherwise, and for n == 0 (p may then be NULL),
 * buf_append_grow decides.
 */
static inline int buf_append(struct buf *b, const void *p, size_t n)
{
    if (!b->failed && n > 0 && n < b->cap - b->len) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return buf_append_grow(b, p, n);
}

/* Appends a NUL-terminated string. */
static inline int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* Appends one byte. */
static inline int buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

/* Allocates room for n more bytes at once (a hint: a writer that knows the
 * size spares the doublings). Returns 0, or -1 (and fails the buffer) past
 * the cap. */
int buf_reserve(struct buf *b, size_t n);

/* Appends printf-formatted text (C locale is the caller's concern). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends everything f has left to read (the caller opens and closes f).
 * Reads to the end even past the cap, so a pipe's writer is never left
 * blocked. Returns 0, or -1 when reading fails or the cap is passed (the
 * buffer is then failed). */
int buf_read_stream(struct buf *b, FILE *f);

/* Appends the contents of the regular file at path, never reading past the
 * cap: unlike buf_read_stream, it is for files only, whose end need not be
 * reached. It opens without blocking (a FIFO), refuses what is not a regular
 * file (a device such as /dev/zero, a FIFO, a directory: they may never end),
 * fails at once when fstat says the file is larger than the cap, and stops
 * reading one byte past the cap should the file grow meanwhile. Returns 0,
 * or -1 (the buffer failed) with errno set: EINVAL when path is not a regular
 * file, EFBIG past the cap, else open's or read's error (ENOENT: no file). */
int buf_read_file(struct buf *b, const char *path);

/* The bounded token-file reader: the first line of the regular file at path
 * (a web identity token, a container authorization token), read with
 * buf_read_file under a cap of max bytes for the whole file. Returns a new
 * string the caller owns (a secret: wipe it before free), or NULL with errno
 * as buf_read_file sets it, or ENODATA when the first line is empty. What is
 * read past the first line is wiped. */
char *buf_read_token(const char *path, size_t max);

/* True once an append has failed. */
static inline bool buf_failed(const struct buf *b)
{
    return b->failed;
}

/*
 * Hands the contents over to the caller, who then owns them and frees them
 * with free(). Returns NULL (and frees nothing more) when the buffer failed.
 * An empty buffer yields an allocated empty string. The buffer is left empty.
 */
char *buf_steal(struct buf *b, size_t *len);

#endif
