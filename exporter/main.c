/*
 * aws-org-exporter: a Prometheus exporter that watches an AWS Organization for
 * accounts leaving it (MITRE ATT&CK T1666.A002) and for new ones (T1666.A001).
 *
 * main parses the flags, starts the collectors and the HTTP server, and waits
 * for SIGINT/SIGTERM. Signals are blocked before any thread starts (threads
 * inherit the mask) and taken by a dedicated thread with sigwait(): the first
 * starts a graceful stop, the second exits at once.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <dlfcn.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporter/collector.h"
#include "exporter/flags.h"
#include "exporter/http.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "exporter/process.h"
#include "exporter/registry.h"
#include "exporter/webconfig.h"
#include "lib/arena.h"

#ifndef VERSION
#define VERSION "unknown"
#endif
#ifndef REVISION
#define REVISION "unknown"
#endif

static struct {
    const char *listen_address;
    const char *telemetry_path;
    uint64_t max_requests;
    uint64_t max_connections;
    uint64_t max_connections_per_ip;
    uint64_t connection_timeout_ms;
    uint64_t threads;
    const char *log_level;
    const char *log_format;
    const char *health_probe;
    const char *web_config_file;
    bool unauthenticated_probes;
} opt;

static const char *check_log_level(const char *s)
{
    enum log_level l;
    return log_parse_level(s, &l) == 0 ? NULL : "one of debug, info, warn, error";
}

static const char *check_log_format(const char *s)
{
    enum log_format f;
    return log_parse_format(s, &f) == 0 ? NULL : "one of logfmt, json";
}

static const struct flag core_flags[] = {
    {"web.listen-address", FLAG_STRING, ":9813",
     "Address to listen on for the web interface and telemetry: [host]:port.", &opt.listen_address,
     0, 0, http_check_listen_address},
    {"web.telemetry-path", FLAG_STRING, "/metrics", "Path under which to expose metrics.",
     &opt.telemetry_path, 0, 0, http_check_path},
    {"web.max-requests", FLAG_UINT, "40",
     "Maximum number of scrapes served at once; more get 503. 0 means no limit.", &opt.max_requests,
     0, 100000, NULL},
    {"web.max-connections", FLAG_UINT, "512",
     "Maximum number of open HTTP connections, idle ones included.", &opt.max_connections, 1,
     100000, NULL},
    {"web.max-connections-per-ip", FLAG_UINT, "64",
     "Maximum number of open HTTP connections from one client address, so one client cannot "
     "hold them all. 0 means no limit.",
     &opt.max_connections_per_ip, 0, 100000, NULL},
    {"web.connection-timeout", FLAG_DURATION, "30s",
     "Close a connection after this long without activity.", &opt.connection_timeout_ms, 1000,
     86400000, NULL},
    {"web.threads", FLAG_UINT, "2", "HTTP worker threads.", &opt.threads, 1, 64, NULL},
    {"log.level", FLAG_STRING, "info",
     "Only log messages with this severity or above: debug, "
     "info, warn, error.",
     &opt.log_level, 0, 0, check_log_level},
    {"log.format", FLAG_STRING, "logfmt", "Output format of log messages: logfmt or json.",
     &opt.log_format, 0, 0, check_log_format},
    {"web.config.file", FLAG_STRING, "",
     "Path to a web configuration file (exporter-toolkit format) enabling TLS and/or basic "
     "authentication. Basic auth users are re-read on SIGHUP.",
     &opt.web_config_file, 0, 0, NULL},
    {"web.unauthenticated-probes", FLAG_BOOL, "false",
     "Serve /-/healthy and /-/ready without basic authentication (for orchestrator probes).",
     &opt.unauthenticated_probes, 0, 0, NULL},
    {"health-probe", FLAG_STRING, "",
     "Do not serve: GET this URL (e.g. http://127.0.0.1:9813/-/healthy) and exit 0 on a 200, "
     "1 otherwise. For container health checks without a shell.",
     &opt.health_probe, 0, 0, NULL},
};

/* Per collector: the generated flags' storage and text. */
struct collector_opt {
    bool enabled;
    uint64_t interval_ms;
    char enable_name[96], enable_help[192], interval_name[96], interval_help[128];
};

static int build_flags(struct flagset *fs, struct collector_opt *copts,
                       const struct collector_def *const *table, size_t n)
{
    for (size_t i = 0; i < sizeof core_flags / sizeof core_flags[0]; i++)
        if (flagset_add(fs, &core_flags[i]) != 0)
            return -1;
    for (size_t i = 0; i < n; i++) {
        struct collector_opt *c = &copts[i];
        snprintf(c->enable_name, sizeof c->enable_name, "collector.%s", table[i]->name);
        snprintf(c->enable_help, sizeof c->enable_help, "Enable the %s collector: %s",
                 table[i]->name, table[i]->help);
        snprintf(c->interval_name, sizeof c->interval_name, "collector.%s.interval",
                 table[i]->name);
        snprintf(c->interval_help, sizeof c->interval_help,
                 table[i]->continuous
                     ? "How long one run of the %s collector consumes before it reports."
                     : "How often the %s collector refreshes its cached metrics.",
                 table[i]->name);
        struct flag en = {c->enable_name,
                          FLAG_BOOL,
                          table[i]->default_enabled ? "true" : "false",
                          c->enable_help,
                          &c->enabled,
                          0,
                          0,
                          NULL};
        struct flag iv = {
            c->interval_name, FLAG_DURATION, table[i]->default_interval, c->interval_help,
            &c->interval_ms,  1000,          366ULL * 86400000,          NULL};
        if (flagset_add(fs, &en) != 0 || flagset_add(fs, &iv) != 0)
            return -1;
    }
    size_t nshared;
    const struct collector_shared *const *shared = collector_shared_table(&nshared);
    for (size_t i = 0; i < nshared; i++)
        if (shared[i]->add_flags != NULL && shared[i]->add_flags(fs) != 0)
            return -1;
    for (size_t i = 0; i < n; i++)
        if (table[i]->add_flags != NULL && table[i]->add_flags(fs) != 0)
            return -1;
    return 0;
}

static int build_info_write(void *arg, struct expo *e)
{
    (void)arg;
    char mhd[32];
    snprintf(mhd, sizeof mhd, "%s", MHD_get_version());
    struct expo_label l[] = {
        {"version", VERSION},
        {"revision", REVISION},
        {"libcurl", curl_version_info(CURLVERSION_NOW)->version},
        {"libmicrohttpd", mhd},
        {"jansson", jansson_version_str()},
    };
    expo_family(e, "aws_org_exporter_build_info", EXPO_GAUGE,
                "A metric with a constant '1' value labeled by the exporter's version, revision "
                "and the versions of the libraries it runs with.");
    return expo_sample(e, l, sizeof l / sizeof l[0], 1);
}

/* SIGHUP: read the web configuration again; a bad file changes nothing. */
static void reload_web_config(struct http_server *http)
{
    if (opt.web_config_file[0] == '\0') {
        log_info("main", "SIGHUP: no --web.config.file to reload");
        return;
    }
    char err[512];
    struct web_config *web = web_config_load(opt.web_config_file, err, sizeof err);
    if (web == NULL) {
        log_error("main", "SIGHUP: the web configuration file is invalid; keeping the running one",
                  "err", err);
        return;
    }
    bool same_tls = http_reload_web_config(http, web);
    web_config_release(web);
    log_info("main", "SIGHUP: web configuration reloaded (basic auth users)", "file",
             opt.web_config_file);
    if (!same_tls)
        log_warn("main", "SIGHUP: TLS settings and headers change on restart only", "file",
                 opt.web_config_file);
}

/*
 * libcurl initialises libssh2, and libssh2 (Debian's is built on OpenSSL)
 * initialises OpenSSL's engines: 1.5 MiB of resident pages, for SCP and
 * SFTP, protocols every transfer here refuses (CURLOPT_PROTOCOLS_STR
 * "http,https"). libssh2 counts its initialisations, so one made first
 * without crypto (LIBSSH2_INIT_NO_CRYPTO, 0x0001 in libssh2.h) stands for
 * curl's. Looked up at run time: a libcurl without libssh2 has none.
 */
static void curl_init(void)
{
    int (*ssh_init)(int);
    *(void **)&ssh_init = dlsym(RTLD_DEFAULT, "libssh2_init");
    if (ssh_init != NULL)
        ssh_init(0x0001);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --health-probe: one GET, exit 0 on 200. */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static int health_probe(const char *url)
{
    curl_init();
    CURL *h = curl_easy_init();
    long status = 0;
    CURLcode rc = CURLE_FAILED_INIT;
    if (h != NULL) {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
    }
    curl_global_cleanup();
    if (rc != CURLE_OK) {
        fprintf(stderr, "aws-org-exporter: health probe of %s failed: %s\n", url,
                curl_easy_strerror(rc));
        return 1;
    }
    if (status != 200) {
        fprintf(stderr, "aws-org-exporter: health probe of %s answered %ld\n", url, status);
        return 1;
    }
    return 0;
}

/* Shutdown hand-off between the signal thread and main. */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static int stop_signal;
static bool reload_pending;

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            pthread_mutex_lock(&stop_lock);
            reload_pending = true;
            pthread_cond_signal(&stop_cond);
            pthread_mutex_unlock(&stop_lock);
            continue;
        }
        pthread_mutex_lock(&stop_lock);
        int first = stop_signal == 0;
        if (first)
            stop_signal = sig;
        pthread_cond_signal(&stop_cond);
        pthread_mutex_unlock(&stop_lock);
        if (!first) {
            static const char msg[] = "second signal: exiting at once\n";
            ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
            (void)w;
            _exit(1);
        }
    }
    return NULL;
}

/*
 * Parses the command line into fs (built here, the caller frees it) and
 * copts (the caller's, one per collector). Returns -1 when the exporter is
 * to run, else the exit code: after --help, --version, a flag error (2), or
 * --health-probe.
 */
static int parse_command_line(int argc, char **argv, struct flagset *fs,
                              struct collector_opt *copts, const struct collector_def *const *table,
                              size_t ncollectors)
{
    if (build_flags(fs, copts, table, ncollectors) != 0) {
        fprintf(stderr, "aws-org-exporter: out of memory\n");
        return 1;
    }
    char err[512];
    int rc = flags_parse(fs, argc, argv, err, sizeof err);
    if (rc == FLAGS_HELP) {
        printf("aws-org-exporter %s: a Prometheus exporter for AWS Organizations "
               "membership, leave attempts and leave-protection coverage.\n\n",
               VERSION);
        flags_usage(fs, stdout, "aws-org-exporter");
    } else if (rc == FLAGS_VERSION) {
        printf("aws-org-exporter, version %s (revision: %s)\n  libcurl: %s\n  "
               "libmicrohttpd: %s\n  jansson: %s\n",
               VERSION, REVISION, curl_version_info(CURLVERSION_NOW)->version, MHD_get_version(),
               jansson_version_str());
    } else if (rc != FLAGS_OK) {
        fprintf(stderr, "aws-org-exporter: error: %s; see --help\n", err);
    } else if (opt.health_probe[0] != '\0') {
        return health_probe(opt.health_probe);
    } else {
        return -1;
    }
    return rc == FLAGS_ERROR ? 2 : 0;
}

/* Blocks the signals in every thread to come and starts the thread that
 * takes them. Call before any other thread starts. Returns 0 or -1. */
static int start_signal_thread(void)
{
    signal(SIGPIPE, SIG_IGN);
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t sig_thread;
    return pthread_create(&sig_thread, NULL, signal_thread, &set) == 0 ? 0 : -1;
}

/*
 * Creates each enabled collector and adds it to reg, then the live metrics:
 * those of what the enabled collectors share (once each), the build info and
 * the process metrics. The collectors' states stay with reg until exit.
 * Returns 0, or -1 after logging why.
 */
static int add_collectors(struct registry *reg, const struct collector_def *const *table,
                          struct collector_opt *copts, size_t ncollectors)
{
    for (size_t i = 0; i < ncollectors; i++) {
        if (copts[i].enabled && table[i]->configured != NULL && !table[i]->configured()) {
            /* Enabled, but not given what it needs (its flags say how). */
            copts[i].enabled = false;
            log_debug("main", "collector off: not configured", "collector", table[i]->name);
        }
        if (!copts[i].enabled)
            continue;
        void *state = NULL;
        if (table[i]->create != NULL) {
            char err[512] = "";
            state = table[i]->create(err, sizeof err);
            if (state == NULL) {
                log_error("main", "cannot set up collector", "collector", table[i]->name, "err",
                          err);
                return -1;
            }
        }
        registry_add_collector(reg, table[i], state, copts[i].interval_ms);
        log_info("main", "collector enabled", "collector", table[i]->name);
    }
    char err[512];
    if (registry_wire(reg, table, ncollectors, err, sizeof err) != 0) {
        log_error("main", "cannot wire the collectors", "err", err);
        return -1;
    }
    /* The live metrics of what the enabled collectors share, once each. */
    size_t nshared;
    const struct collector_shared *const *shared = collector_shared_table(&nshared);
    for (size_t s = 0; s < nshared; s++) {
        bool used = false;
        for (size_t i = 0; i < ncollectors; i++)
            for (size_t j = 0; copts[i].enabled && table[i]->shared && table[i]->shared[j]; j++)
                used |= table[i]->shared[j] == shared[s];
        if (used && shared[s]->write_live != NULL)
            registry_add_live(reg, shared[s]->write_live, NULL);
    }
    registry_add_live(reg, build_info_write, NULL);
    registry_add_live(reg, process_metrics_write, NULL);
    return 0;
}

/* Starts the HTTP server on reg with the flags and the web configuration
 * file. Returns it, or NULL after logging why. */
static struct http_server *start_http(struct registry *reg)
{
    char err[512];
    struct web_config *web = NULL;
    if (opt.web_config_file[0] != '\0') {
        web = web_config_load(opt.web_config_file, err, sizeof err);
        if (web == NULL) {
            log_error("main", "invalid web configuration file", "err", err);
            return NULL;
        }
    }
    struct http_config hc = {
        .listen_address = opt.listen_address,
        .telemetry_path = opt.telemetry_path,
        .max_requests = (unsigned)opt.max_requests,
        .max_connections = (unsigned)opt.max_connections,
        .max_connections_per_ip = (unsigned)opt.max_connections_per_ip,
        .connection_timeout = (unsigned)((opt.connection_timeout_ms + 999) / 1000),
        .threads = (unsigned)opt.threads,
        .web = web,
        .unauthenticated_probes = opt.unauthenticated_probes,
    };
    struct http_server *http = http_start(&hc, reg, err, sizeof err);
    web_config_release(web); /* the server holds its own reference */
    if (http == NULL) {
        log_error("main", "cannot start the web server", "err", err);
        return NULL;
    }
    char port[16];
    snprintf(port, sizeof port, "%u", http_port(http));
    log_info("main", "listening", "address", opt.listen_address, "port", port, "version", VERSION,
             "telemetry_path", opt.telemetry_path);
    return http;
}

/* Waits for SIGINT or SIGTERM, reloading the web configuration on each
 * SIGHUP meanwhile. Returns the stopping signal. */
static int wait_for_stop(struct http_server *http)
{
    pthread_mutex_lock(&stop_lock);
    while (stop_signal == 0) {
        if (!reload_pending) {
            pthread_cond_wait(&stop_cond, &stop_lock);
            continue;
        }
        reload_pending = false;
        pthread_mutex_unlock(&stop_lock);
        reload_web_config(http);
        pthread_mutex_lock(&stop_lock);
    }
    int sig = stop_signal;
    pthread_mutex_unlock(&stop_lock);
    return sig;
}

/*
 * The allocator, tuned for a process that mostly idles between collector
 * runs and holds a few large immutable buffers (the rendered snapshots):
 * - buffers of 128 KiB and more are always their own mappings (glibc would
 *   otherwise raise this threshold after the first large free, and later
 *   buffers would fragment the heaps), so a freed snapshot leaves the
 *   process at once;
 * - two arenas, not eight per CPU: the collector threads allocate little
 *   and rarely at the same time, and each extra arena keeps its own free
 *   pages resident.
 * Each collector run ends with malloc_trim (registry.c). Measured at 10,000
 * accounts: about 0.7 MiB less peak RSS (README, "Performance").
 */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void tune_allocator(void)
{
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_ARENA_MAX, 2);
}

int main(int argc, char **argv)
{
    tune_allocator();
#ifndef UNDER_ASAN
    /* Before jansson allocates anything that arena_free could be given:
     * parsed AWS responses are cut from per-response arenas
     * (collectors/aws/client.c), every other jansson value is malloc's.
     * Not under AddressSanitizer, which would no longer see a parsed
     * response used after it was freed (lib/arena has its own unit test). */
    json_set_alloc_funcs(arena_malloc, arena_free);
#endif
    size_t ncollectors;
    const struct collector_def *const *table = collector_table(&ncollectors);
    struct collector_opt *copts = calloc(ncollectors + 1, sizeof *copts);
    struct flagset fs = {0};
    if (copts == NULL) {
        fprintf(stderr, "aws-org-exporter: out of memory\n");
        return 1;
    }
    int rc = parse_command_line(argc, argv, &fs, copts, table, ncollectors);
    if (rc >= 0) {
        flagset_free(&fs);
        free(copts);
        return rc;
    }
    enum log_level level;
    enum log_format format;
    log_parse_level(opt.log_level, &level);
    log_parse_format(opt.log_format, &format);
    log_setup(level, format, 60.0);

    /* Before any thread: signals go to the signal thread only. */
    if (start_signal_thread() != 0) {
        log_error("main", "cannot start the signal thread");
        return 1;
    }
    curl_init();

    struct registry *reg = registry_create(1.0);
    if (reg == NULL) {
        log_error("main", "out of memory");
        return 1;
    }
    if (add_collectors(reg, table, copts, ncollectors) != 0)
        return 1;
    struct http_server *http = start_http(reg);
    if (http == NULL)
        return 1;
    if (registry_start(reg) != 0) {
        log_error("main", "cannot start the collector threads");
        return 1;
    }
    int sig = wait_for_stop(http);
    log_info("main", "stopping: finishing the responses in flight", "signal", strsignal(sig));

    /* Stop accepting, let in-flight responses finish, then close the rest:
     * the whole stop stays well inside 2 s. The collectors are told first,
     * so that a long poll or a paced call ends while the responses finish. */
    double told = clock_mono();
    registry_stop(reg, 0);
    http_quiesce(http);
    if (!http_wait_idle(http, 1.2))
        log_warn("main", "responses still in flight at shutdown were cut short");
    http_stop(http);
    /* A transfer notices within about a second (libcurl's progress
     * callback): the collectors get until 1.8 s after they were told. */
    double left = 1.8 - (clock_mono() - told);
    registry_stop(reg, left > 0.3 ? left : 0.3);
    log_info("main", "stopped");
    /* Collector threads may still be inside a call to AWS: exit without
     * freeing what they use. */
    fflush(stderr);
    _exit(0);
}
