#include "pager.h"

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

int aws_pager_run(const struct aws_pager *p, json_t *request, aws_pager_item_fn on_item, void *arg,
                  struct aws_pager_status *status, char *err, size_t errlen)
{
    struct aws_pager_status st_local;
    struct aws_pager_status *st = status ? status : &st_local;
    memset(st, 0, sizeof *st);
    const char *label = p->label ? p->label : p->operation;
    size_t max_pages = p->max_pages ? p->max_pages : AWS_PAGER_MAX_PAGES;
    aws_pager_call_fn call = p->call ? p->call : aws_json_call;
    struct tokens seen;
    buf_init(&seen.text, TOKENS_MAX_BYTES);
    buf_init(&seen.index, TOKENS_MAX_BYTES);
    enum aws_pager_result result = AWS_PAGER_OK;
    for (size_t page = 1;; page++) {
        if (p->stopping != NULL && atomic_load(p->stopping)) {
            snprintf(err, errlen, "%s: stopping", label);
            result = AWS_PAGER_STOPPED;
            break;
        }
        if (page > max_pages) {
            snprintf(err, errlen, "%s: more than %zu pages", label, max_pages);
            result = AWS_PAGER_TOO_MANY_PAGES;
            break;
        }
        json_t *resp = NULL;
        if (call(p->client, p->service, p->operation, request, &resp, &st->error) != 0) {
            call_failed(p, label, &st->error, page, err, errlen);
            result = AWS_PAGER_CALL_FAILED;
            break;
        }
        st->pages = page;
        json_t *list = json_object_get(resp, p->items);
        json_t *next = json_object_get(resp, "NextToken");
        if (!json_is_array(list) ||
            (next != NULL && !json_is_null(next) && !json_is_string(next))) {
            snprintf(err, errlen, "%s: malformed page %zu", label, page);
            json_decref(resp);
            result = AWS_PAGER_MALFORMED;
            break;
        }
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item)
        {
            if (p->max_items != 0 && st->items == p->max_items) {
                snprintf(err, errlen, "%s: more than %zu items", label, p->max_items);
                result = AWS_PAGER_TOO_MANY_ITEMS;
                break;
            }
            char why[512] = "";
            if (on_item(arg, item, why, sizeof why) != 0) {
                if (why[0] != '\0') /* the handler said why */
                    snprintf(err, errlen, "%s", why);
                else
                    snprintf(err, errlen, "%s: malformed item on page %zu", label, page);
                result = AWS_PAGER_ITEM_REJECTED;
                break;
            }
            st->items++;
        }
        const char *t = json_string_value(next);
        if (result != AWS_PAGER_OK || t == NULL || *t == '\0') {
            json_decref(resp);
            break;
        }
        int known = tokens_check(&seen, t);
        if (known == 1) {
            snprintf(err, errlen, "%s: NextToken repeated on page %zu", label, page);
            result = AWS_PAGER_REPEATED_TOKEN;
        } else if (known != 0 || json_object_set_new(request, "NextToken", json_string(t)) != 0) {
            snprintf(err, errlen, "%s: out of memory", label);
            result = AWS_PAGER_OUT_OF_MEMORY;
        }
        json_decref(resp);
        if (result != AWS_PAGER_OK)
            break;
    }
    json_object_del(request, "NextToken");
    buf_free(&seen.text);
    buf_free(&seen.index);
    st->result = result;
    return result == AWS_PAGER_OK ? 0 : -1;
}
