#define _POSIX_C_SOURCE 200809L
#include "lib/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/clock.h"

static enum log_level threshold = LOG_INFO;
static enum log_format format = LOG_LOGFMT;
static double window = 60.0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Recent warn/error lines by hash, for suppressing repetitions. */
#define REPEAT_SLOTS 64
static struct {
    uint64_t hash;
    double first; /* when the slot's line was last written */
    unsigned suppressed;
} repeats[REPEAT_SLOTS];

void log_setup(enum log_level level, enum log_format fmt, double repeat_window)
{
    pthread_mutex_lock(&lock);
    threshold = level;
    format = fmt;
    window = repeat_window;
    memset(repeats, 0, sizeof repeats);
    pthread_mutex_unlock(&lock);
}

int log_parse_level(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_parse_format(const char *s, enum log_format *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = LOG_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_JSON;
    else
        return -1;
    return 0;
}

bool log_enabled(enum log_level level)
{
    return level >= __atomic_load_n(&threshold, __ATOMIC_RELAXED);
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; s != NULL && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL;
}

/* logfmt value: bare when it is safe, else quoted with \" \\ \n \r \t escaped. */
static void logfmt_value(struct buf *b, const char *v)
{
    if (v == NULL)
        v = "";
    bool bare = *v != '\0';
    for (const unsigned char *p = (const unsigned char *)v; *p && bare; p++)
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f)
            bare = false;
    if (bare) {
        buf_puts(b, v);
        return;
    }
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        switch (*p) {
        case '"':
            buf_puts(b, "\\\"");
            break;
        case '\\':
            buf_puts(b, "\\\\");
            break;
        case '\n':
            buf_puts(b, "\\n");
            break;
        case '\r':
            buf_puts(b, "\\r");
            break;
        case '\t':
            buf_puts(b, "\\t");
            break;
        default:
            if (*p < ' ' || *p == 0x7f)
                buf_printf(b, "\\u%04x", *p);
            else
                buf_putc(b, (char)*p);
        }
    }
    buf_putc(b, '"');
}

static void format_time(char *out, size_t n)
{
    struct timespec ts = clock_timespec(clock_wall());
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, n - len, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Returns false to drop the line; sets *repeated to the count dropped before. */
static bool admit(uint64_t h, unsigned *repeated)
{
    *repeated = 0;
    if (window <= 0)
        return true;
    double now = clock_mono();
    unsigned slot = (unsigned)(h % REPEAT_SLOTS);
    if (repeats[slot].hash == h && repeats[slot].first != 0 && now - repeats[slot].first < window) {
        repeats[slot].suppressed++;
        return false;
    }
    if (repeats[slot].hash == h)
        *repeated = repeats[slot].suppressed;
    repeats[slot].hash = h;
    repeats[slot].first = now;
    repeats[slot].suppressed = 0;
    return true;
}

/* Writes one line; args is the key/value list. A filtered warning or error
 * goes through the repeat filter, an unfiltered line never does. */
/* What every line starts with. */
struct line_head {
    const char *ts, *level, *caller, *module, *msg;
};

/* The hash that tells a line's repetitions apart: module, message and every
 * key and value (args: key, value, ..., NULL). */
static uint64_t line_hash(const char *module, const char *msg, va_list args)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a(h, module);
    h = fnv1a(h, msg);
    va_list ap;
    va_copy(ap, args);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        h = fnv1a(h, k);
        h = fnv1a(h, va_arg(ap, const char *));
    }
    va_end(ap);
    return h;
}

/* Appends the line as one JSON object (without the newline). */
static void format_json(struct buf *b, const struct line_head *l, va_list args, unsigned repeated)
{
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(l->ts));
    json_object_set_new(o, "level", json_string(l->level));
    json_object_set_new(o, "caller", json_string(l->caller));
    json_object_set_new(o, "module", json_string(l->module));
    json_object_set_new(o, "msg", json_string(l->msg));
    va_list ap;
    va_copy(ap, args);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        /* Invalid UTF-8 is replaced rather than dropping the line. */
        json_t *s = json_string(v ? v : "");
        json_object_set_new(o, k, s ? s : json_string("\xEF\xBF\xBD"));
    }
    va_end(ap);
    if (repeated > 0)
        json_object_set_new(o, "repeated", json_integer(repeated));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s != NULL) {
        buf_puts(b, s);
        free(s);
    }
    json_decref(o);
}

/* Appends the line as logfmt (without the newline). */
static void format_logfmt(struct buf *b, const struct line_head *l, va_list args, unsigned repeated)
{
    buf_puts(b, "ts=");
    buf_puts(b, l->ts);
    buf_puts(b, " level=");
    buf_puts(b, l->level);
    buf_puts(b, " caller=");
    logfmt_value(b, l->caller);
    buf_puts(b, " module=");
    logfmt_value(b, l->module);
    buf_puts(b, " msg=");
    logfmt_value(b, l->msg);
    va_list ap;
    va_copy(ap, args);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        buf_putc(b, ' ');
        buf_puts(b, k);
        buf_putc(b, '=');
        logfmt_value(b, va_arg(ap, const char *));
    }
    va_end(ap);
    if (repeated > 0)
        buf_printf(b, " repeated=%u", repeated);
}

static void log_vwrite(enum log_level level, bool filtered, const char *file, int line,
                       const char *module, const char *msg, va_list args)
{
    if (!log_enabled(level))
        return;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char ts[40], caller[96];
    format_time(ts, sizeof ts);
    snprintf(caller, sizeof caller, "%s:%d", base, line);
    const struct line_head head = {ts, level_names[level], caller, module, msg};
    uint64_t h = line_hash(module, msg, args);

    pthread_mutex_lock(&lock);
    unsigned repeated = 0;
    if (filtered && level >= LOG_WARN && !admit(h, &repeated)) {
        pthread_mutex_unlock(&lock);
        return;
    }
    struct buf b;
    buf_init(&b, 64 * 1024);
    if (format == LOG_JSON)
        format_json(&b, &head, args, repeated);
    else
        format_logfmt(&b, &head, args, repeated);
    buf_putc(&b, '\n');
    if (!buf_failed(&b))
        fwrite(b.data, 1, b.len, stderr);
    else
        fprintf(stderr, "ts=%s level=error module=log msg=\"log line too long, dropped\"\n", ts);
    fflush(stderr);
    pthread_mutex_unlock(&lock);
    buf_free(&b);
}

void log_write(enum log_level level, const char *file, int line, const char *module,
               const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    log_vwrite(level, true, file, line, module, msg, ap);
    va_end(ap);
}

void log_write_security(const char *file, int line, const char *module, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    log_vwrite(LOG_WARN, false, file, line, module, msg, ap);
    va_end(ap);
}
