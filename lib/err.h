/*
 * err: the one writer of error reasons.
 *
 * A function that can fail for a reason a person must read takes
 * `char *err, size_t errlen` (a caller-owned buffer) and, on failure, writes
 * one line into it with err_set. The reason is cut to fit, never overflows,
 * and nothing is written when err is NULL or errlen is 0.
 */
#ifndef LIB_ERR_H
#define LIB_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* Formats the reason into err (borrowed, errlen bytes), cut to fit. */
void err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like err_set, then replaces every byte outside printable ASCII with '?':
 * for reasons that quote outside input (a parser's "near '...'"), which may
 * hold control characters or UTF-8 cut by the bound, so the reason stays one
 * printable line. */
void err_set_printable(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The va_list form of both: printable says whether to replace the bytes. */
void err_vset(char *err, size_t errlen, int printable, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
