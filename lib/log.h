/*
 * log: structured log lines on stderr, logfmt (default) or JSON, one line per
 * event with time, level, caller (file:line), module and message, then
 * key/value pairs. Identical warnings and errors repeated within a window are
 * suppressed and counted; the next one that gets through says how many were
 * dropped ("repeated=N"). Security events (log_security) are never suppressed:
 * an account that departs twice is two lines, however close together.
 * Thread-safe.
 *
 * Values are logged as given: callers never pass secrets (keys, tokens).
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_LOGFMT, LOG_JSON };

/* Sets the threshold, format and repetition window (seconds; 0 disables). */
void log_setup(enum log_level level, enum log_format format, double repeat_window);

/* Parses "debug|info|warn|error" / "logfmt|json"; returns 0 or -1. */
int log_parse_level(const char *s, enum log_level *out);
int log_parse_format(const char *s, enum log_format *out);

bool log_enabled(enum log_level level);

/*
 * Writes one line. The variadic part is key, value, key, value, ..., NULL:
 * all strings; a NULL value is written as an empty string.
 */
void log_write(enum log_level level, const char *file, int line, const char *module,
               const char *msg, ...);

/* Like log_write, at warn level, and never suppressed as a repeat (nor does it
 * take a repeat slot from other lines): for the events a security team must
 * see each time (a departure, a leave attempt, a guardrail weakened). */
void log_write_security(const char *file, int line, const char *module, const char *msg, ...);

#define log_debug(mod, ...) log_write(LOG_DEBUG, __FILE__, __LINE__, mod, __VA_ARGS__, (char *)0)
#define log_info(mod, ...) log_write(LOG_INFO, __FILE__, __LINE__, mod, __VA_ARGS__, (char *)0)
#define log_warn(mod, ...) log_write(LOG_WARN, __FILE__, __LINE__, mod, __VA_ARGS__, (char *)0)
#define log_error(mod, ...) log_write(LOG_ERROR, __FILE__, __LINE__, mod, __VA_ARGS__, (char *)0)
#define log_security(mod, ...) log_write_security(__FILE__, __LINE__, mod, __VA_ARGS__, (char *)0)

#endif
