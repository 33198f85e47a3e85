#include "collectors/aws/pager.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The NextTokens of one listing: each once, NUL-ended in `text`, found by
 * their hash first (`index`: one struct seen_token per token). Both capped:
 * at most one token per page. */
#define TOKENS_MAX_BYTES (64u << 20)

struct seen_token {
    uint64_t hash;
    size_t off; /* into text */
};

struct tokens {
    struct buf text, index;
};

static uint64_t hash_token(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* Whether s was seen; remembers it if not. Returns 1 (seen), 0 (new, now
 * remembered), or -1 when out of memory or past the caps. */
static int tokens_check(struct tokens *t, const char *s)
{
    uint64_t h = hash_token(s);
    size_t n = t->index.len / sizeof(struct seen_token);
    for (size_t i = 0; i < n; i++) {
        struct seen_token e;
        memcpy(&e, t->index.data + i * sizeof e, sizeof e);
        if (e.hash == h && strcmp(t->text.data + e.off, s) == 0)
            return 1;
    }
    struct seen_token e = {h, t->text.len};
    if (buf_append(&t->text, s, strlen(s) + 1) != 0 || buf_append(&t->index, &e, sizeof e) != 0)
        return -1;
    return 0;
}

void aws_pager_explain(const struct aws_error *e, enum aws_service svc, const char *operation,
                       const char *label, char *out, size_t outlen)
{
    int n;
    if (strcmp(e->code, "AccessDeniedException") == 0)
        n = snprintf(out, outlen,
                     "%s: access denied: the exporter's role needs %s:%s (AWS said: %s)", label,
                     aws_service_name(svc), operation, e->message);
    else
        n = snprintf(out, outlen, "%s: %s: %s", label, e->code, e->message);
    if (n < 0 && outlen > 0)
        out[0] = '\0';
}

/* The reason of a failed call: explained, with the page at the end (a
 * message from AWS too long for err is cut, the page stays). */
static void call_failed(const struct aws_pager *p, const char *label, const struct aws_error *e,
                        size_t page, char *err, size_t errlen)
{
    char msg[768], where[48];
    aws_pager_explain(e, p->service, p->operation, label, msg, sizeof msg);
    snprintf(where, sizeof where, " (page %zu)", page);
    size_t keep = strlen(msg), wlen = strlen(where);
    if (errlen > wlen && keep > errlen - 1 - wlen)
        keep = errlen - 1 - wlen;
    snprintf(err, errlen, "%.*s%s", (int)keep, msg, where);
}

/* One listing under way: what aws_pager_run's steps share. */
struct listing {
    const struct aws_pager *p;
    const char *label;
    aws_pager_item_fn on_item;
    void *arg;
    struct aws_pager_status *st;
    char *err;
    size_t errlen;
};

/*
 * Hands the items of answered page number `page` (resp, borrowed) to the
 * caller's handler and sets *next to its NextToken (resp's; NULL when it is
 * the last). Returns AWS_PAGER_OK, or how the listing ends, with err set.
 */
static enum aws_pager_result take_page(struct listing *ls, json_t *resp, size_t page,
                                       const char **next)
{
    json_t *list = json_object_get(resp, ls->p->items);
    json_t *token = json_object_get(resp, "NextToken");
    if (!json_is_array(list) || (token != NULL && !json_is_null(token) && !json_is_string(token))) {
        snprintf(ls->err, ls->errlen, "%s: malformed page %zu", ls->label, page);
        return AWS_PAGER_MALFORMED;
    }
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (ls->p->max_items != 0 && ls->st->items == ls->p->max_items) {
            snprintf(ls->err, ls->errlen, "%s: more than %zu items", ls->label, ls->p->max_items);
            return AWS_PAGER_TOO_MANY_ITEMS;
        }
        char why[512] = "";
        if (ls->on_item(ls->arg, item, why, sizeof why) != 0) {
            if (why[0] != '\0') /* the handler said why */
                snprintf(ls->err, ls->errlen, "%s", why);
            else
                snprintf(ls->err, ls->errlen, "%s: malformed item on page %zu", ls->label, page);
            return AWS_PAGER_ITEM_REJECTED;
        }
        ls->st->items++;
    }
    const char *t = json_string_value(token);
    *next = t != NULL && *t != '\0' ? t : NULL;
    return AWS_PAGER_OK;
}

/* Takes pages until the last, or until the listing ends otherwise. */
static enum aws_pager_result take_pages(struct listing *ls, json_t *request, struct tokens *seen)
{
    const struct aws_pager *p = ls->p;
    size_t max_pages = p->max_pages ? p->max_pages : AWS_PAGER_MAX_PAGES;
    aws_pager_call_fn call = p->call ? p->call : aws_json_call;
    for (size_t page = 1;; page++) {
        if (p->stopping != NULL && atomic_load(p->stopping)) {
            snprintf(ls->err, ls->errlen, "%s: stopping", ls->label);
            return AWS_PAGER_STOPPED;
        }
        if (page > max_pages) {
            snprintf(ls->err, ls->errlen, "%s: more than %zu pages", ls->label, max_pages);
            return AWS_PAGER_TOO_MANY_PAGES;
        }
        json_t *resp = NULL;
        if (call(p->client, p->service, p->operation, request, &resp, &ls->st->error) != 0) {
            call_failed(p, ls->label, &ls->st->error, page, ls->err, ls->errlen);
            return AWS_PAGER_CALL_FAILED;
        }
        ls->st->pages = page;
        const char *next = NULL;
        enum aws_pager_result result = take_page(ls, resp, page, &next);
        if (result == AWS_PAGER_OK && next != NULL) {
            int known = tokens_check(seen, next);
            if (known == 1) {
                snprintf(ls->err, ls->errlen, "%s: NextToken repeated on page %zu", ls->label,
                         page);
                result = AWS_PAGER_REPEATED_TOKEN;
            } else if (known != 0 ||
                       json_object_set_new(request, "NextToken", json_string(next)) != 0) {
                snprintf(ls->err, ls->errlen, "%s: out of memory", ls->label);
                result = AWS_PAGER_OUT_OF_MEMORY;
            }
        }
        json_decref(resp);
        if (result != AWS_PAGER_OK || next == NULL)
            return result;
    }
}

int aws_pager_run(const struct aws_pager *p, json_t *request, aws_pager_item_fn on_item, void *arg,
                  struct aws_pager_status *status, char *err, size_t errlen)
{
    struct aws_pager_status st_local;
    struct aws_pager_status *st = status ? status : &st_local;
    memset(st, 0, sizeof *st);
    struct listing ls = {p, p->label ? p->label : p->operation, on_item, arg, st, err, errlen};
    struct tokens seen;
    buf_init(&seen.text, TOKENS_MAX_BYTES);
    buf_init(&seen.index, TOKENS_MAX_BYTES);
    st->result = take_pages(&ls, request, &seen);
    json_object_del(request, "NextToken");
    buf_free(&seen.text);
    buf_free(&seen.index);
    return st->result == AWS_PAGER_OK ? 0 : -1;
}
