/*
 * profile: the shared config files, AWS_CONFIG_FILE (~/.aws/config) and
 * AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), read the way the SDKs
 * read them: INI sections, nested sub-keys skipped, the credentials file
 * first.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/aws/provider_impl.h"
#include "collectors/aws/providers.h"

struct kv {
    char *key, *value;
};

struct aws_profile {
    struct kv *v;
    size_t n;
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t l = strlen(s);
    while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r' || s[l - 1] == '\n'))
        s[--l] = '\0';
    return s;
}

/* Adds the keys of section `want` of an INI file; earlier keys win. */
static void load_section(struct aws_profile *p, const char *path, const char *want,
                         const char *want_alt)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[4096];
    bool in = false;
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == ' ' || line[0] == '\t') /* nested sub-keys: not ours */
            continue;
        char *s = trim(line);
        if (*s == '#' || *s == ';' || *s == '\0')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (end == NULL)
                continue;
            *end = '\0';
            char *name = trim(s + 1);
            in = strcmp(name, want) == 0 || (want_alt && strcmp(name, want_alt) == 0);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in || eq == NULL)
            continue;
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        if (aws_profile_get(p, k) != NULL)
            continue;
        struct kv *nv = realloc(p->v, (p->n + 1) * sizeof *nv);
        if (nv == NULL)
            break;
        p->v = nv;
        p->v[p->n].key = strdup(k);
        p->v[p->n].value = strdup(v);
        if (p->v[p->n].key && p->v[p->n].value)
            p->n++;
        else {
            free(p->v[p->n].key);
            free(p->v[p->n].value);
        }
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
}

static void default_path(char *out, size_t n, const char *env, const char *file)
{
    const char *e = getenv(env);
    if (e != NULL && *e != '\0') {
        snprintf(out, n, "%s", e);
        return;
    }
    const char *home = getenv("HOME");
    snprintf(out, n, "%s/.aws/%s", home ? home : "", file);
}

struct aws_profile *aws_profile_load(const char *name, const char *config_path,
                                     const char *credentials_path)
{
    char cfg[1024], cred[1024];
    if (config_path == NULL)
        default_path(cfg, sizeof cfg, "AWS_CONFIG_FILE", "config");
    else
        snprintf(cfg, sizeof cfg, "%s", config_path);
    if (credentials_path == NULL)
        default_path(cred, sizeof cred, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    else
        snprintf(cred, sizeof cred, "%s", credentials_path);
    struct aws_profile *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    char section[300];
    snprintf(section, sizeof section, "profile %s", name);
    load_section(p, cred, name, NULL); /* the credentials file wins */
    load_section(p, cfg, section, strcmp(name, "default") == 0 ? "default" : NULL);
    if (p->n == 0) {
        aws_profile_free(p);
        return NULL;
    }
    return p;
}

const char *aws_profile_get(const struct aws_profile *p, const char *key)
{
    for (size_t i = 0; p != NULL && i < p->n; i++)
        if (strcmp(p->v[i].key, key) == 0)
            return p->v[i].value;
    return NULL;
}

void aws_profile_free(struct aws_profile *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        aws_secret_free(p->v[i].value);
    }
    free(p->v);
    free(p);
}
