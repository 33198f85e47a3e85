/*
 * minimal_server: the yardstick for the exporter's scrape throughput.
 *
 *     minimal_server BODY_FILE [--threads N] [--gzip-level L]
 *
 * Serves BODY_FILE's exact bytes on any GET/HEAD, and a gzip body of them
 * (compressed once at start with zlib, level L, default 1 as the exporter) to requests that
 * send an Accept-Encoding mentioning gzip, with the exporter's Content-Type,
 * Content-Encoding and Vary headers. libmicrohttpd is used the way
 * exporter/http.c uses it: internal polling thread, epoll, ITC, a thread pool
 * of 2, both responses created once and shared, queued on the handler's
 * second call (queuing on the first makes MHD close the connection). Nothing
 * else: no routing, no locks, no reference counting, no auth.
 *
 * Listens on 127.0.0.1, port chosen by the system; prints "listening port=N"
 * on stdout, then serves until SIGTERM/SIGINT. Prints "gzip_bytes=N" too.
 */
#define _POSIX_C_SOURCE 200809L
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

static struct MHD_Response *plain, *gz;
static char marker;

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **req_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*req_cls == NULL) {
        *req_cls = &marker;
        return MHD_YES;
    }
    *upload_size = 0;
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
    bool gzip = ae != NULL && strstr(ae, "gzip") != NULL;
    return MHD_queue_response(c, MHD_HTTP_OK, gzip ? gz : plain);
}

/* Reads a whole file; the caller frees. NULL on failure. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *p = malloc(cap);
    size_t r;
    while (p != NULL && (r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *q = realloc(p, cap *= 2);
            if (q == NULL)
                free(p);
            p = q;
        }
    }
    fclose(f);
    *len = n;
    return p;
}

/* gzip (RFC 1952) of len bytes at level; the caller frees. NULL on failure. */
static unsigned char *gzip_once(const char *text, size_t len, int level, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong bound = deflateBound(&z, (uLong)len) + 64;
    unsigned char *p = malloc(bound);
    if (p == NULL) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)text;
    z.avail_in = (uInt)len;
    z.next_out = p;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    *out_len = bound - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(p);
        return NULL;
    }
    return p;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    unsigned threads = 2;
    int level = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--gzip-level") == 0 && i + 1 < argc)
            level = atoi(argv[++i]);
        else if (file == NULL && argv[i][0] != '-')
            file = argv[i];
        else {
            fprintf(stderr, "usage: %s BODY_FILE [--threads N] [--gzip-level L]\n", argv[0]);
            return 2;
        }
    }
    if (file == NULL) {
        fprintf(stderr, "usage: %s BODY_FILE [--threads N] [--gzip-level L]\n", argv[0]);
        return 2;
    }
    size_t len = 0, gz_len = 0;
    char *body = slurp(file, &len);
    if (body == NULL) {
        perror(file);
        return 1;
    }
    unsigned char *gzb = gzip_once(body, len, level, &gz_len);
    if (gzb == NULL) {
        fprintf(stderr, "gzip failed\n");
        return 1;
    }
    plain = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    gz = MHD_create_response_from_buffer(gz_len, gzb, MHD_RESPMEM_PERSISTENT);
    if (plain == NULL || gz == NULL)
        return 1;
    MHD_add_response_header(plain, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_METRICS);
    MHD_add_response_header(plain, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    MHD_add_response_header(gz, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_METRICS);
    MHD_add_response_header(gz, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(gz, MHD_HTTP_HEADER_VARY, "Accept-Encoding");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* MHD's threads inherit the mask */

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT,
        512u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "MHD_start_daemon failed\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening port=%u plain_bytes=%zu gzip_bytes=%zu\n", info ? info->port : 0, len,
           gz_len);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(plain);
    MHD_destroy_response(gz);
    free(body);
    free(gzb);
    return 0;
}
