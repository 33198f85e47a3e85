/*
 * webconfig: the --web.config.file of the Prometheus exporter-toolkit
 * (https://github.com/prometheus/exporter-toolkit, docs/web-configuration.md):
 *
 *   tls_server_config:
 *     cert_file, key_file        PEM files; both or neither
 *     client_ca_file             PEM; with client_auth_type
 *     client_auth_type           NoClientCert (default), RequireAndVerifyClientCert
 *     min_version, max_version   TLS10 | TLS11 | TLS12 | TLS13
 *     prefer_server_cipher_suites  accepted (GnuTLS follows the server's order)
 *   http_server_config:
 *     headers                    extra response headers (name: value)
 *   basic_auth_users:            user: bcrypt hash ($2a$, $2b$, $2y$)
 *
 * Parsed with libyaml, strictly: an unknown key, a wrong type or a setting
 * this exporter cannot honour (cipher_suites, curve_preferences, http2: true,
 * other client_auth_type values) is an error naming the key and its line.
 * A loaded configuration is immutable and reference-counted, so a SIGHUP can
 * swap it while requests use the old one.
 */
#ifndef EXPORTER_WEBCONFIG_H
#define EXPORTER_WEBCONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct web_header {
    char *name, *value;
};

struct web_user {
    char *name, *hash;
};

struct web_config {
    char *cert_pem, *key_pem, *client_ca_pem; /* file contents; NULL without TLS */
    bool require_client_cert;
    char priorities[160]; /* GnuTLS priority string */
    struct web_header *headers;
    size_t nheaders;
    struct web_user *users;
    size_t nusers;
    /* A well-formed bcrypt hash that matches no password, at the highest cost
     * of the configured users: an unknown user name is checked against it,
     * so it takes as long to refuse as a known name with a wrong password. */
    char dummy_hash[61];
    atomic_int refs;
};

/* Loads path. Returns a configuration with one reference the caller owns, or
 * NULL with "FILE:LINE: what is wrong" in err. */
struct web_config *web_config_load(const char *path, char *err, size_t errlen);

/* Takes / drops a reference; release accepts NULL. */
void web_config_ref(struct web_config *c);
void web_config_release(struct web_config *c);

/* True when the configuration asks for basic authentication. */
static inline bool web_config_has_users(const struct web_config *c)
{
    return c != NULL && c->nusers > 0;
}

/*
 * Checks a user name and password against the bcrypt hashes: one full bcrypt
 * run, for an unknown user name too (against dummy_hash), so the time taken
 * does not tell which names exist. Successful checks are remembered (keyed by
 * a SHA-256 of hash, user and password) until a minute after their last use,
 * so a scraper costs one bcrypt, not one per scrape; failures are never
 * remembered. Constant-time comparison. Thread-safe. Slow by design: callers
 * on an event loop first try web_config_check_remembered().
 */
bool web_config_check_user(const struct web_config *c, const char *user, const char *password);

/* True when user and password passed web_config_check_user() within the last
 * minute (that minute starts again now). Cheap: one SHA-256, no bcrypt.
 * False says nothing about the password: ask web_config_check_user(). */
bool web_config_check_remembered(const struct web_config *c, const char *user,
                                 const char *password);

#endif
