#define _GNU_SOURCE /* pthread_timedjoin_np */
#include "exporter/registry.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "exporter/feed.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"

#define SNAPSHOT_MAX (64u << 20) /* a collector's rendered text, at most */
#define LIVE_MAX (4u << 20)

/*
 * A collector's published text, kept compressed: the raw deflate segment is
 * what every gzip scrape sends (Prometheus always asks for gzip); the plain
 * body is inflated from the segments only when a client asks for plain
 * (exposition_flatten). At 10,000 accounts this keeps about 3 MB of text out
 * of the resident set (README, "Performance"). Immutable once made.
 */
struct snapshot {
    size_t len;         /* the plain text's length */
    unsigned char *seg; /* owned: raw deflate, byte-aligned, not final */
    size_t seg_len;
    unsigned long crc; /* of the plain text */
    atomic_int refs;
};

struct slot {
    struct registry *reg;
    const struct collector_def *def;
    void *state;
    uint64_t interval_ms;
    char help_suffix[96];
    pthread_t thread;
    bool thread_started;
    struct collector_feed *feed;  /* owned: where runs publish def->provides */
    struct collector_feed *input; /* borrowed: another slot's feed, or NULL */
    /* Guarded by reg->lock. */
    struct snapshot *snap;
    bool up, completed;
    double duration, last_success;
};

struct live {
    registry_live_fn fn;
    void *arg;
};

struct registry {
    pthread_mutex_t lock; /* guards slot state, snap pointers, generation */
    pthread_cond_t cond;  /* wakes sleeping collectors at shutdown */
    atomic_bool stopping;
    struct slot *slots;
    size_t nslots;
    struct live *live;
    size_t nlive;
    uint64_t generation;
    double live_max_age;
    pthread_mutex_t expo_lock; /* serialises composition */
    struct exposition *current;
};

/*
 * zlib's fastest level, as Prometheus's own client libraries use for /metrics
 * (Go's promhttp: gzip.BestSpeed): on a 10,000-account body it takes about a
 * third of the time of the default level 6 for 17% more bytes.
 */
#define SNAPSHOT_GZIP_LEVEL 1

/* A snapshot of a compressed text (see struct deflater): takes seg
 * (malloc'd; NULL when len is 0), also on failure. */
static struct snapshot *snapshot_adopt(unsigned char *seg, size_t seg_len, size_t len,
                                       unsigned long crc)
{
    struct snapshot *s = calloc(1, sizeof *s);
    if (s == NULL) {
        free(seg);
        return NULL;
    }
    s->seg = seg;
    s->seg_len = seg_len;
    s->len = len;
    s->crc = crc;
    atomic_init(&s->refs, 1);
    return s;
}

/*
 * Inflates a segment of the deflater (not final, byte-aligned) that holds
 * exactly len bytes whose CRC-32 is crc into out (len bytes, the caller's).
 * Returns 0, or -1 when out of memory or when the segment does not give back
 * those bytes.
 */
static int inflate_segment(const unsigned char *seg, size_t seg_len, size_t len, unsigned long crc,
                           char *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK)
        return -1;
    z.next_in = (Bytef *)(uintptr_t)seg;
    z.avail_in = (uInt)seg_len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)len;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    bool ok = (rc == Z_OK || rc == Z_BUF_ERROR) && z.avail_in == 0 && z.total_out == len &&
              crc32(0L, (const Bytef *)out, (uInt)len) == crc;
    inflateEnd(&z);
    return ok ? 0 : -1;
}

static void snapshot_release(struct snapshot *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    free(s->seg);
    free(s);
}

struct registry *registry_create(double live_max_age)
{
    struct registry *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    clock_cond_init(&r->cond);
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->expo_lock, NULL);
    atomic_init(&r->stopping, false);
    r->live_max_age = live_max_age;
    return r;
}

void registry_destroy(struct registry *r)
{
    if (r == NULL)
        return;
    registry_stop(r, 5.0);
    for (size_t i = 0; i < r->nslots; i++) {
        /* A collector still running after stop keeps its slot: leak it. */
        if (r->slots[i].thread_started)
            return;
        snapshot_release(r->slots[i].snap);
    }
    for (size_t i = 0; i < r->nslots; i++)
        collector_feed_destroy(r->slots[i].feed); /* no thread left to read it */
    exposition_release(r->current);
    free(r->slots);
    free(r->live);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->expo_lock);
    pthread_cond_destroy(&r->cond);
    free(r);
}

int registry_add_collector(struct registry *r, const struct collector_def *def, void *state,
                           uint64_t interval_ms)
{
    struct slot *s = realloc(r->slots, (r->nslots + 1) * sizeof *s);
    if (s == NULL)
        return -1;
    r->slots = s;
    s = &r->slots[r->nslots++];
    memset(s, 0, sizeof *s);
    s->reg = r;
    s->def = def;
    s->state = state;
    s->interval_ms = interval_ms;
    char d[32];
    flags_format_duration(interval_ms, d, sizeof d);
    if (!def->continuous) /* a consumer's families are as fresh as its last batch */
        snprintf(s->help_suffix, sizeof s->help_suffix, " (cached; refreshed every %s)", d);
    return 0;
}

int registry_add_live(struct registry *r, registry_live_fn fn, void *arg)
{
    struct live *l = realloc(r->live, (r->nlive + 1) * sizeof *l);
    if (l == NULL)
        return -1;
    r->live = l;
    r->live[r->nlive++] = (struct live){fn, arg};
    return 0;
}

/*
 * A run's text, compressed as it is written: the writer hands over every
 * SNAPSHOT_CHUNK bytes (expo_set_sink), so a collector's text is never whole
 * in memory, only its deflate segment (about an eighth of it).
 */
#define SNAPSHOT_CHUNK (128u << 10)
#define SEG_STEP (64u << 10) /* room made for deflate's output at a time */

struct deflater {
    z_stream z;
    bool open;
    struct buf seg;    /* the compressed text so far (capped at SNAPSHOT_MAX) */
    size_t len;        /* plain bytes taken */
    unsigned long crc; /* of those bytes */
};

static void deflater_init(struct deflater *d)
{
    memset(d, 0, sizeof *d);
    buf_init(&d->seg, SNAPSHOT_MAX);
    d->crc = crc32(0L, Z_NULL, 0);
}

/* Compresses len bytes of text onto d->seg; with Z_SYNC_FLUSH the segment
 * then ends on a byte boundary without a final block (segments concatenate),
 * with Z_FINISH it ends with the final block. zlib's state (about
 * 270 KiB) is made on the first call, so a run that is still calling AWS
 * holds none. 0, or -1 (too large, or out of memory). */
static int deflater_put(struct deflater *d, const char *text, size_t len, int flush)
{
    if (!d->open) {
        if (deflateInit2(&d->z, SNAPSHOT_GZIP_LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK)
            return -1;
        d->open = true;
    }
    if (len > SNAPSHOT_MAX - d->len)
        return -1;
    if (len > 0) /* crc32() of a NULL buffer is the initial value, not crc */
        d->crc = crc32(d->crc, (const Bytef *)text, (uInt)len);
    d->len += len;
    d->z.next_in = (Bytef *)(uintptr_t)text;
    d->z.avail_in = (uInt)len;
    do {
        if (buf_reserve(&d->seg, SEG_STEP) != 0)
            return -1;
        size_t room = d->seg.cap - d->seg.len - 1;
        d->z.next_out = (Bytef *)d->seg.data + d->seg.len;
        d->z.avail_out = (uInt)room;
        int rc = deflate(&d->z, flush);
        if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END)
            return -1;
        d->seg.len += room - d->z.avail_out;
    } while (d->z.avail_in > 0 || d->z.avail_out == 0);
    return 0;
}

static void deflater_close(struct deflater *d)
{
    if (d->open)
        deflateEnd(&d->z);
    d->open = false;
    buf_free(&d->seg);
}

/* expo's sink: the text written so far goes into the compressor. */
static int deflater_sink(void *arg, const char *text, size_t len)
{
    return deflater_put(arg, text, len, Z_NO_FLUSH);
}

/* A run in progress: what its publish callback works on. */
struct run_ctx {
    struct collector_run run; /* first: the callback gets &ctx->run */
    struct slot *slot;
    struct buf buf; /* the text not yet handed to z */
    struct expo expo;
    struct deflater z;
};

/* Starts an empty buffer, compressor and writer for ctx. */
static void run_ctx_open(struct run_ctx *ctx)
{
    buf_init(&ctx->buf, SNAPSHOT_MAX);
    deflater_init(&ctx->z);
    expo_init(&ctx->expo, &ctx->buf);
    ctx->expo.help_suffix = ctx->slot->help_suffix;
    expo_set_sink(&ctx->expo, deflater_sink, &ctx->z, SNAPSHOT_CHUNK);
    ctx->run.out = &ctx->expo;
}

/* Frees ctx's writer, buffer and compressor (what was written is dropped). */
static void run_ctx_close(struct run_ctx *ctx)
{
    expo_free(&ctx->expo);
    buf_free(&ctx->buf);
    deflater_close(&ctx->z);
}

/* Makes the text written so far a snapshot and swaps it into the slot
 * (generation bumped, so the next scrape composes anew); frees the writer.
 * Returns 0, or -1 with a reason in err (nothing swapped). */
static int run_ctx_swap(struct run_ctx *ctx, char *err, size_t errlen)
{
    struct registry *r = ctx->slot->reg;
    struct snapshot *snap = NULL;
    if (expo_error(&ctx->expo) != NULL) {
        snprintf(err, errlen, "%s", expo_error(&ctx->expo));
    } else if (ctx->z.len == 0 && ctx->buf.len == 0) {
        snap = snapshot_adopt(NULL, 0, 0, ctx->z.crc); /* nothing written: no zlib */
        if (snap == NULL)
            snprintf(err, errlen, "out of memory while storing the snapshot");
    } else if (deflater_put(&ctx->z, ctx->buf.data, ctx->buf.len, Z_SYNC_FLUSH) != 0) {
        snprintf(err, errlen, "cannot compress the snapshot (out of memory, or over %u MiB)",
                 SNAPSHOT_MAX >> 20);
    } else {
        size_t seg_len = 0;
        unsigned char *seg = (unsigned char *)buf_steal(&ctx->z.seg, &seg_len);
        snap = seg ? snapshot_adopt(seg, seg_len, ctx->z.len, ctx->z.crc) : NULL;
        if (snap == NULL)
            snprintf(err, errlen, "out of memory while storing the snapshot");
    }
    run_ctx_close(ctx);
    if (snap == NULL)
        return -1;
    pthread_mutex_lock(&r->lock);
    struct snapshot *old = ctx->slot->snap;
    ctx->slot->snap = snap;
    r->generation++;
    pthread_mutex_unlock(&r->lock);
    snapshot_release(old);
    return 0;
}

/* collector_run.publish: the snapshot so far, published mid-run; a
 * checkpoint of a healthy run (up, completed, last success now). */
static int run_publish(struct collector_run *run)
{
    struct run_ctx *ctx = (struct run_ctx *)run; /* run is ctx's first member */
    char err[256];
    int rc = run_ctx_swap(ctx, err, sizeof err);
    if (rc != 0) {
        log_warn("registry", "cannot publish a collector's batch", "collector",
                 ctx->slot->def->name, "err", err);
    } else {
        struct registry *r = ctx->slot->reg;
        pthread_mutex_lock(&r->lock);
        ctx->slot->up = true;
        ctx->slot->completed = true;
        ctx->slot->last_success = clock_wall();
        pthread_mutex_unlock(&r->lock);
    }
    run_ctx_open(ctx);
    return rc;
}

/* One run of a collector: render, snapshot, swap. */
static void run_once(struct slot *s)
{
    struct registry *r = s->reg;
    double t0 = clock_mono();
    char err[512] = "";
    struct run_ctx ctx = {.slot = s};
    ctx.run = (struct collector_run){.err = err,
                                     .errlen = sizeof err,
                                     .stopping = &r->stopping,
                                     .interval_ms = s->interval_ms,
                                     .publish = run_publish,
                                     .feed = s->feed,
                                     .input = s->input};
    run_ctx_open(&ctx);
    int rc = s->def->run(s->state, &ctx.run);
    if (rc == 0 && expo_error(&ctx.expo) != NULL)
        snprintf(err, sizeof err, "%s", expo_error(&ctx.expo));
    if (expo_error(&ctx.expo) != NULL)
        rc = -1;
    if (rc == 0 || ctx.run.publish_on_error) {
        char why[256];
        if (run_ctx_swap(&ctx, why, sizeof why) != 0 && rc == 0) {
            snprintf(err, sizeof err, "%s", why);
            rc = -1;
        }
    } else {
        run_ctx_close(&ctx);
    }
    double t1 = clock_mono();

    pthread_mutex_lock(&r->lock);
    if (rc == 0)
        s->last_success = clock_wall();
    s->up = rc == 0;
    s->completed = true;
    s->duration = t1 - t0;
    r->generation++;
    pthread_mutex_unlock(&r->lock);

    /* What the run freed (pages, JSON, the old snapshot) goes back to the
     * system now, not at the next run's peak. */
    malloc_trim(0);
    char dur[32];
    snprintf(dur, sizeof dur, "%.3f", t1 - t0);
    if (rc == 0)
        log_debug("registry", "collector run succeeded", "collector", s->def->name, "duration",
                  dur);
    else
        log_warn("registry", "collector run failed, keeping its last good snapshot", "collector",
                 s->def->name, "err", err[0] ? err : "unknown error");
}

static void *collector_thread(void *arg)
{
    struct slot *s = arg;
    struct registry *r = s->reg;
    unsigned seed = (unsigned)(uintptr_t)s ^ (unsigned)time(NULL);
    while (!atomic_load(&r->stopping)) {
        double started = clock_mono();
        run_once(s);
        /* Next run one interval after this one started, +/-5% so that
         * exporters started together do not call AWS in lock-step. */
        double jitter = ((double)rand_r(&seed) / RAND_MAX - 0.5) * 0.1;
        double due = started + (double)s->interval_ms / 1000.0 * (1.0 + jitter);
        if (s->def->continuous)
            continue; /* a consumer: at once again (it waits out its own back-off) */
        struct timespec ts = clock_timespec(due);
        pthread_mutex_lock(&r->lock);
        while (!atomic_load(&r->stopping) && clock_mono() < due)
            pthread_cond_timedwait(&r->cond, &r->lock, &ts);
        pthread_mutex_unlock(&r->lock);
    }
    return NULL;
}

/* The enabled slot providing p, or NULL. */
static struct slot *provider_slot(struct registry *r, const struct collector_product *p)
{
    for (size_t i = 0; i < r->nslots; i++)
        if (r->slots[i].def->provides == p)
            return &r->slots[i];
    return NULL;
}

/* Explains in err that s needs p for needed_for and no enabled collector
 * provides it. */
static void explain_missing(const struct slot *s, const struct collector_product *p,
                            const char *needed_for, const struct collector_def *const *table,
                            size_t ntable, char *err, size_t errlen)
{
    const char *me = s->def->name;
    for (size_t i = 0; i < ntable; i++)
        if (table[i]->provides == p) {
            err_set(err, errlen,
                    "collector %s needs %s (for %s), which the %s collector provides, and it is "
                    "disabled: enable it with --collector.%s, or disable %s with "
                    "--no-collector.%s",
                    me, p->what, needed_for, table[i]->name, table[i]->name, me, me);
            return;
        }
    err_set(err, errlen,
            "collector %s needs %s (for %s), which no collector of this build provides: "
            "disable it with --no-collector.%s",
            me, p->what, needed_for, me);
}

int registry_wire(struct registry *r, const struct collector_def *const *table, size_t ntable,
                  char *err, size_t errlen)
{
    for (size_t i = 0; i < r->nslots; i++) {
        struct slot *s = &r->slots[i];
        if (s->def->provides != NULL && s->feed == NULL &&
            (s->feed = collector_feed_create(s->def->provides)) == NULL) {
            err_set(err, errlen, "out of memory");
            return -1;
        }
    }
    for (size_t i = 0; i < r->nslots; i++) {
        struct slot *s = &r->slots[i];
        const char *needed_for = NULL;
        const struct collector_product *p =
            s->def->consumes ? s->def->consumes(s->state, &needed_for) : NULL;
        if (p == NULL)
            continue;
        struct slot *from = provider_slot(r, p);
        s->input = from ? from->feed : NULL;
        if (from == NULL && needed_for != NULL) {
            explain_missing(s, p, needed_for, table, ntable, err, errlen);
            return -1;
        }
        if (from == NULL)
            log_info("registry",
                     "collector runs without what it would consume: its provider is "
                     "disabled",
                     "collector", s->def->name, "product", p->what);
    }
    return 0;
}

int registry_start(struct registry *r)
{
    for (size_t i = 0; i < r->nslots; i++) {
        if (pthread_create(&r->slots[i].thread, NULL, collector_thread, &r->slots[i]) != 0)
            return -1;
        r->slots[i].thread_started = true;
    }
    return 0;
}

void registry_stop(struct registry *r, double timeout)
{
    pthread_mutex_lock(&r->lock);
    atomic_store(&r->stopping, true);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    struct timespec deadline = clock_timespec(clock_wall() + timeout);
    for (size_t i = 0; i < r->nslots; i++) {
        if (r->slots[i].thread_started &&
            pthread_timedjoin_np(r->slots[i].thread, NULL, &deadline) == 0)
            r->slots[i].thread_started = false;
    }
}

bool registry_ready(struct registry *r, struct buf *pending)
{
    bool ready = true;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nslots; i++) {
        if (r->slots[i].completed)
            continue;
        if (pending != NULL) {
            if (!ready)
                buf_puts(pending, ", ");
            buf_puts(pending, r->slots[i].def->name);
        }
        ready = false;
    }
    pthread_mutex_unlock(&r->lock);
    return ready;
}

void exposition_ref(struct exposition *e)
{
    atomic_fetch_add(&e->refs, 1);
}

void exposition_release(struct exposition *e)
{
    if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    for (size_t i = 0; i < e->nsnaps; i++)
        snapshot_release(e->snaps[i]);
    free(e->snaps);
    free(e->live);
    free(e->live_seg);
    free(e);
}

/* The gzip body, piece by piece: the header, the snapshots' segments, the
 * live segment and the trailer. */
static void gzip_pieces(const struct exposition *x, char *out)
{
    size_t off = 0;
#define PUT(p, n) (memcpy(out + off, (p), (n)), off += (n))
    PUT(x->header, sizeof x->header);
    for (size_t i = 0; i < x->nsnaps; i++)
        if (x->snaps[i]->len > 0)
            PUT(x->snaps[i]->seg, x->snaps[i]->seg_len);
    PUT(x->live_seg, x->live_seg_len);
    PUT(x->trailer, sizeof x->trailer);
#undef PUT
}

char *exposition_flatten(const struct exposition *x, bool gzip, size_t *len)
{
    size_t total = gzip ? x->gz_len : x->plain_len;
    char *out = malloc(total + 1);
    if (out == NULL)
        return NULL;
    if (gzip) {
        gzip_pieces(x, out);
    } else {
        size_t off = 0;
        for (size_t i = 0; i < x->nsnaps; i++) {
            const struct snapshot *s = x->snaps[i];
            if (s->len > 0 && inflate_segment(s->seg, s->seg_len, s->len, s->crc, out + off) != 0) {
                free(out);
                return NULL;
            }
            off += s->len;
        }
        memcpy(out + off, x->live, x->live_len);
    }
    out[total] = '\0';
    *len = total;
    return out;
}

struct slot_view {
    const char *name;
    bool up;
    double duration, last_success;
};

/* The collectors' own families, from a copy of their state. */
static void write_self(struct expo *e, const struct slot_view *v, size_t n)
{
    if (n == 0)
        return;
    expo_family(e, "aws_org_collector_up", EXPO_GAUGE,
                "1 when the collector's last run succeeded, 0 when it failed or has not run yet.");
    for (size_t i = 0; i < n; i++)
        expo_sample(e, &(struct expo_label){"collector", v[i].name}, 1, v[i].up);
    expo_family(e, "aws_org_collector_duration_seconds", EXPO_GAUGE,
                "Duration of the collector's last run, in seconds.");
    for (size_t i = 0; i < n; i++)
        expo_sample(e, &(struct expo_label){"collector", v[i].name}, 1, v[i].duration);
    expo_family(e, "aws_org_collector_last_success_timestamp_seconds", EXPO_GAUGE,
                "Unix time of the collector's last successful run; 0 before the first.");
    for (size_t i = 0; i < n; i++)
        expo_sample(e, &(struct expo_label){"collector", v[i].name}, 1, v[i].last_success);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Builds a new exposition; the caller owns the returned reference. Nothing
 * of the snapshots is copied: the exposition takes references to them. */
static struct exposition *compose(struct registry *r)
{
    size_t n = r->nslots;
    struct slot_view *views = calloc(n + 1, sizeof *views);
    struct exposition *x = calloc(1, sizeof *x);
    struct buf live;
    buf_init(&live, LIVE_MAX);
    struct expo e;
    expo_init(&e, &live);
    if (x != NULL)
        atomic_init(&x->refs, 1);
    if (views == NULL || x == NULL || (x->snaps = calloc(n + 1, sizeof *x->snaps)) == NULL)
        goto fail;

    pthread_mutex_lock(&r->lock);
    x->generation = r->generation;
    for (size_t i = 0; i < n; i++) {
        const struct slot *s = &r->slots[i];
        if (s->snap != NULL) {
            atomic_fetch_add(&s->snap->refs, 1);
            x->snaps[x->nsnaps++] = s->snap;
        }
        views[i] = (struct slot_view){s->def->name, s->up, s->duration, s->last_success};
    }
    pthread_mutex_unlock(&r->lock);

    write_self(&e, views, n);
    for (size_t i = 0; i < r->nlive; i++)
        r->live[i].fn(r->live[i].arg, &e);
    if (expo_error(&e) != NULL) {
        log_error("registry", "composing the live metrics failed", "err", expo_error(&e));
        goto fail;
    }
    x->live = buf_steal(&live, &x->live_len);
    struct deflater z; /* the live text, closing the gzip member */
    deflater_init(&z);
    if (x->live != NULL && deflater_put(&z, x->live, x->live_len, Z_FINISH) == 0)
        x->live_seg = (unsigned char *)buf_steal(&z.seg, &x->live_seg_len);
    unsigned long live_crc = z.crc;
    deflater_close(&z);
    if (x->live_seg == NULL)
        goto fail;

    static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(x->header, header, sizeof header);
    uLong crc = crc32(0L, Z_NULL, 0);
    size_t plain = 0, gz = sizeof header;
    for (size_t i = 0; i < x->nsnaps; i++) {
        const struct snapshot *s = x->snaps[i];
        if (s->len == 0)
            continue;
        plain += s->len;
        gz += s->seg_len;
        crc = crc32_combine(crc, s->crc, (z_off_t)s->len);
    }
    crc = crc32_combine(crc, live_crc, (z_off_t)x->live_len);
    plain += x->live_len;
    put_le32(x->trailer, (uint32_t)crc);
    put_le32(x->trailer + 4, (uint32_t)plain);
    x->plain_len = plain;
    x->gz_len = gz + x->live_seg_len + sizeof x->trailer;
    x->built_at = clock_mono();
    goto done;
fail:
    exposition_release(x);
    x = NULL;
done:
    free(views);
    expo_free(&e);
    buf_free(&live);
    return x;
}

struct exposition *registry_exposition(struct registry *r)
{
    pthread_mutex_lock(&r->expo_lock);
    pthread_mutex_lock(&r->lock);
    uint64_t gen = r->generation;
    pthread_mutex_unlock(&r->lock);
    struct exposition *x = r->current;
    if (x == NULL || x->generation != gen || clock_mono() - x->built_at >= r->live_max_age) {
        struct exposition *fresh = compose(r);
        if (fresh != NULL) {
            exposition_release(r->current);
            r->current = x = fresh;
        }
        /* On failure keep serving the previous body, if there is one. */
    }
    if (x != NULL)
        exposition_ref(x);
    pthread_mutex_unlock(&r->expo_lock);
    return x;
}
