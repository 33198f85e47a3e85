/*
 * http: the embedded libmicrohttpd server.
 *
 *   GET|HEAD <telemetry path>  the current exposition (gzip when accepted)
 *   GET|HEAD /                 landing page
 *   GET|HEAD /-/healthy        200 while the process runs
 *   GET|HEAD /-/ready          200 once every collector completed a run
 * Other methods get 405 with Allow, other paths 404. A scrape only queues a
 * shared, pre-built response: it never waits on a collector.
 */
#ifndef EXPORTER_HTTP_H
#define EXPORTER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "exporter/registry.h"
#include "exporter/webconfig.h"

struct http_config {
    const char *listen_address; /* "[host]:port" */
    const char *telemetry_path; /* starts with '/' */
    unsigned max_requests;      /* concurrent scrapes; 0 = no limit */
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0 = no limit */
    unsigned connection_timeout;     /* seconds of inactivity */
    unsigned threads;
    struct web_config *web;      /* borrowed (a reference is taken); NULL: plain, open */
    bool unauthenticated_probes; /* /-/healthy and /-/ready without basic auth */
};

struct http_server;

/*
 * Splits "host:port", "[v6]:port" or ":port" into host (empty for every
 * address) and port. Returns 0, or -1 when the address is malformed.
 */
int http_parse_listen_address(const char *s, char *host, size_t hostlen, unsigned *port);

/* For flags: NULL when s is a valid listen address, else what was expected. */
const char *http_check_listen_address(const char *s);

/* For flags: NULL when s is a valid telemetry path, else what was expected. */
const char *http_check_path(const char *s);

/* Decides from an Accept-Encoding value whether gzip is acceptable. */
bool http_accepts_gzip(const char *accept_encoding);

/* Starts serving; reg is borrowed. NULL with a reason in err on failure. */
struct http_server *http_start(const struct http_config *cfg, struct registry *reg, char *err,
                               size_t errlen);

/* Swaps in a reloaded configuration's users (a reference is taken). TLS
 * settings and headers take effect on restart only; returns false when they
 * differ from the running ones, so the caller can say so. */
bool http_reload_web_config(struct http_server *s, struct web_config *web);

/* The port actually bound (useful with port 0). */
unsigned http_port(const struct http_server *s);

/* Stops accepting new connections. */
void http_quiesce(struct http_server *s);

/* Waits until no request is in flight or timeout seconds pass; true if idle. */
bool http_wait_idle(struct http_server *s, double timeout);

/* Closes every connection and frees the server. Accepts NULL. */
void http_stop(struct http_server *s);

#endif
