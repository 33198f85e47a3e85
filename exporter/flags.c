#include "exporter/flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void flagset_free(struct flagset *fs)
{
    if (fs == NULL)
        return;
    free(fs->v);
    fs->v = NULL;
    fs->n = fs->cap = 0;
}

int flagset_add(struct flagset *fs, const struct flag *f)
{
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 32;
        struct flag *v = realloc(fs->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        fs->v = v;
        fs->cap = cap;
    }
    fs->v[fs->n++] = *f;
    return 0;
}

int flagset_add_all(struct flagset *fs, const struct flag *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (flagset_add(fs, &f[i]) != 0)
            return -1;
    return 0;
}

/* Prometheus duration units, largest first. */
static const struct {
    const char *unit;
    uint64_t ms;
} units[] = {{"y", 365ULL * 86400000},
             {"w", 7ULL * 86400000},
             {"d", 86400000},
             {"h", 3600000},
             {"m", 60000},
             {"s", 1000},
             {"ms", 1}};

int flags_parse_duration(const char *s, uint64_t *ms)
{
    if (s == NULL || *s == '\0')
        return -1;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    uint64_t total = 0;
    size_t next_unit = 0; /* units must come in decreasing order, each once */
    const char *p = s;
    while (*p) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > (UINT64_MAX - 9) / 10)
                return -1;
            n = n * 10 + (uint64_t)(*p++ - '0');
        }
        size_t u;
        for (u = next_unit; u < sizeof units / sizeof units[0]; u++) {
            size_t len = strlen(units[u].unit);
            /* "m" must not swallow the "m" of "ms" */
            if (strncmp(p, units[u].unit, len) == 0 && !(u == 4 && p[1] == 's'))
                break;
        }
        if (u == sizeof units / sizeof units[0])
            return -1;
        if (n > (UINT64_MAX - total) / units[u].ms)
            return -1;
        total += n * units[u].ms;
        p += strlen(units[u].unit);
        next_unit = u + 1;
    }
    *ms = total;
    return 0;
}

void flags_format_duration(uint64_t ms, char *out, size_t n)
{
    if (ms == 0) {
        snprintf(out, n, "0s");
        return;
    }
    size_t len = 0;
    out[0] = '\0';
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        uint64_t q = ms / units[u].ms;
        if (q == 0)
            continue;
        ms -= q * units[u].ms;
        int w = snprintf(out + len, n - len, "%llu%s", (unsigned long long)q, units[u].unit);
        if (w < 0 || (size_t)w >= n - len)
            return;
        len += (size_t)w;
    }
}

static const struct flag *find(const struct flagset *fs, const char *name, size_t len)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strncmp(fs->v[i].name, name, len) == 0 && fs->v[i].name[len] == '\0')
            return &fs->v[i];
    return NULL;
}

/* Parses value into f->dst. Returns 0, or -1 with a message in err. */
static int set_value(const struct flag *f, const char *value, char *err, size_t errlen)
{
    const char *expected = NULL;
    switch (f->type) {
    case FLAG_STRING:
        if (f->check != NULL && (expected = f->check(value)) != NULL)
            break;
        *(const char **)f->dst = value;
        return 0;
    case FLAG_BOOL:
        if (strcmp(value, "true") == 0)
            *(bool *)f->dst = true;
        else if (strcmp(value, "false") == 0)
            *(bool *)f->dst = false;
        else
            expected = "true or false";
        if (expected == NULL)
            return 0;
        break;
    case FLAG_DURATION: {
        uint64_t ms;
        if (flags_parse_duration(value, &ms) != 0) {
            expected = "a duration such as 500ms, 30s, 5m, 1h or 7d";
        } else if ((f->min || f->max) && (ms < f->min || ms > f->max)) {
            char lo[32], hi[32];
            flags_format_duration(f->min, lo, sizeof lo);
            flags_format_duration(f->max, hi, sizeof hi);
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag --%s: expected a duration from %s to %s", value,
                     f->name, lo, hi);
            return -1;
        } else {
            *(uint64_t *)f->dst = ms;
            return 0;
        }
        break;
    }
    case FLAG_UINT: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        bool ok = value[0] >= '0' && value[0] <= '9' && *end == '\0' && errno == 0;
        if (ok && (f->min || f->max) && (v < f->min || v > f->max)) {
            snprintf(err, errlen,
                     "invalid value \"%s\" for flag --%s: expected an integer from %llu to %llu",
                     value, f->name, (unsigned long long)f->min, (unsigned long long)f->max);
            return -1;
        }
        if (!ok) {
            expected = "an integer";
            break;
        }
        *(uint64_t *)f->dst = v;
        return 0;
    }
    }
    snprintf(err, errlen, "invalid value \"%s\" for flag --%s: expected %s", value, f->name,
             expected);
    return -1;
}

int flags_parse(const struct flagset *fs, int argc, char **argv, char *err, size_t errlen)
{
    for (size_t i = 0; i < fs->n; i++) {
        if (set_value(&fs->v[i], fs->v[i].def ? fs->v[i].def : "", err, errlen) != 0)
            return FLAGS_ERROR; /* a bad default is a bug; the message names it */
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return FLAGS_HELP;
        if (strcmp(arg, "--version") == 0)
            return FLAGS_VERSION;
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            snprintf(err, errlen, "unexpected argument \"%s\": flags start with --", arg);
            return FLAGS_ERROR;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct flag *f = find(fs, name, len);
        if (f == NULL && eq == NULL && strncmp(name, "no-", 3) == 0) {
            const struct flag *b = find(fs, name + 3, len - 3);
            if (b != NULL && b->type == FLAG_BOOL) {
                *(bool *)b->dst = false;
                continue;
            }
        }
        if (f == NULL) {
            snprintf(err, errlen, "unknown flag --%.*s", (int)(len > 200 ? 200 : len), name);
            return FLAGS_ERROR;
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (f->type == FLAG_BOOL) {
            value = "true";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, errlen, "flag --%s needs a value", f->name);
            return FLAGS_ERROR;
        }
        if (set_value(f, value, err, errlen) != 0)
            return FLAGS_ERROR;
    }
    return FLAGS_OK;
}

void flags_usage(const struct flagset *fs, FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [<flags>]\n\nFlags:\n", prog);
    fprintf(out, "  -h, --help\n      Show this help and exit.\n");
    fprintf(out, "  --version\n      Show the version and exit.\n");
    for (size_t i = 0; i < fs->n; i++) {
        const struct flag *f = &fs->v[i];
        const char *def = f->def ? f->def : "";
        switch (f->type) {
        case FLAG_BOOL:
            fprintf(out, "  --[no-]%s\n      %s (default: %s)\n", f->name, f->help,
                    strcmp(def, "true") == 0 ? "enabled" : "disabled");
            break;
        default:
            fprintf(out, "  --%s=%s\n      %s (default: \"%s\")\n", f->name,
                    f->type == FLAG_DURATION ? "DURATION"
                    : f->type == FLAG_UINT   ? "N"
                                             : "VALUE",
                    f->help, def);
        }
    }
}
