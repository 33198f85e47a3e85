/*
 * scp_eval: the SCP policy evaluator. Contracts and the precedence of
 * outcomes are in scp_eval.h.
 *
 * Data model. A document is compiled once into statements that keep only
 * what the evaluation needs: the effect, whether the action list is
 * NotAction, whether a non-empty Condition is present, whether the statement
 * applies to the resource "*" (decided at parse time, since LeaveOrganization
 * has no other resource), and the action patterns lowercased. Everything else
 * in the JSON is validated and dropped; the jansson tree is freed before
 * scp_doc_parse returns.
 */
#include "collectors/scp_eval.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define NO_INDEX ((size_t)-1)

struct scp_stmt {
    size_t index;       /* position in the document's Statement */
    bool deny;          /* Effect "Deny", else "Allow" */
    bool not_action;    /* patterns come from NotAction */
    bool conditional;   /* a non-empty Condition */
    bool resource_star; /* Resource / NotResource let it apply to "*" */
    size_t first, n;    /* its patterns: doc->patterns[first .. first + n) */
};

struct scp_doc {
    struct scp_stmt *stmts;
    size_t n_stmts;
    char **patterns; /* lowercased Action / NotAction values, owned */
    size_t n_patterns, cap_patterns;
    size_t n_values; /* Action + Resource values seen, for the cap */
};

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Whether pattern p (plen bytes) matches s (slen bytes) as a whole, `*` any
 * run, `?` one byte, ASCII case folded when fold. Iterative, backtracking
 * only to the most recent `*`: a later `*` subsumes every choice an earlier
 * one could make, so O(plen * slen) at worst. */
static bool wildcard_match(const char *p, size_t plen, const char *s, size_t slen, bool fold)
{
    size_t pi = 0, si = 0, star = NO_INDEX, mark = 0;
    while (si < slen) {
        if (pi < plen && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < plen && (p[pi] == '?' || p[pi] == s[si] ||
                                 (fold && ascii_lower((unsigned char)p[pi]) ==
                                              ascii_lower((unsigned char)s[si])))) {
            pi++;
            si++;
        } else if (star != NO_INDEX) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

bool scp_action_matches(const char *pattern, const char *action)
{
    if (!pattern || !action)
        return false;
    return wildcard_match(pattern, strlen(pattern), action, strlen(action), true);
}

/* ---- parsing ------------------------------------------------------------ */

/* Copies a key from the document for an error message: at most 32 bytes,
 * anything but printable ASCII (quotes and backslashes too) shown as '?',
 * so no hostile key can shape the log line. */
static void safe_key(char out[33], const char *key)
{
    size_t i = 0;
    for (; key[i] && i < 32; i++) {
        unsigned char c = (unsigned char)key[i];
        out[i] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
    }
    out[i] = '\0';
}

void scp_doc_free(struct scp_doc *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->n_patterns; i++)
        free(doc->patterns[i]);
    free(doc->patterns);
    free(doc->stmts);
    free(doc);
}

/* Appends a lowercased copy of s to doc's patterns. False when out of memory. */
static bool add_pattern(struct scp_doc *doc, const char *s, size_t len)
{
    if (doc->n_patterns == doc->cap_patterns) {
        size_t cap = doc->cap_patterns ? doc->cap_patterns * 2 : 8;
        char **grown = realloc(doc->patterns, cap * sizeof *grown);
        if (!grown)
            return false;
        doc->patterns = grown;
        doc->cap_patterns = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return false;
    for (size_t i = 0; i < len; i++)
        copy[i] = (char)ascii_lower((unsigned char)s[i]);
    copy[len] = '\0';
    doc->patterns[doc->n_patterns++] = copy;
    return true;
}

enum parse_rc { PARSE_OK, PARSE_BAD, PARSE_NOMEM };

/* Checks that v is a string or a non-empty array of strings of 1 to
 * SCP_PATTERN_MAX bytes each, counting them against SCP_MAX_PATTERNS. With
 * keep, stores them as action patterns; with star, sets *star when one of them
 * matches the literal "*" (case-sensitive: resources are). */
static enum parse_rc parse_values(struct scp_doc *doc, json_t *v, const char *what, size_t index,
                                  bool keep, bool *star, char *err, size_t errlen)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!(json_is_string(v) || (json_is_array(v) && n > 0))) {
        err_set(err, errlen, "Statement[%zu]: %s must be a string or a non-empty array of strings",
                index, what);
        return PARSE_BAD;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(e)) {
            err_set(err, errlen,
                    "Statement[%zu]: %s must be a string or a non-empty array of strings", index,
                    what);
            return PARSE_BAD;
        }
        const char *s = json_string_value(e);
        size_t len = json_string_length(e);
        if (len == 0 || len > SCP_PATTERN_MAX) {
            err_set(err, errlen, "Statement[%zu]: each %s value must be 1 to %d bytes", index, what,
                    SCP_PATTERN_MAX);
            return PARSE_BAD;
        }
        if (++doc->n_values > SCP_MAX_PATTERNS) {
            err_set(err, errlen, "more than %d Action and Resource values", SCP_MAX_PATTERNS);
            return PARSE_BAD;
        }
        if (keep && !add_pattern(doc, s, len)) {
            err_set(err, errlen, "out of memory");
            return PARSE_NOMEM;
        }
        if (star && wildcard_match(s, len, "*", 1, false))
            *star = true;
    }
    return PARSE_OK;
}

/* Validates and compiles statement number index (object o) into *st. */
static enum parse_rc parse_statement(struct scp_doc *doc, json_t *o, size_t index,
                                     struct scp_stmt *st, char *err, size_t errlen)
{
    static const char *const known[] = {"Sid",      "Effect",      "Action",   "NotAction",
                                        "Resource", "NotResource", "Condition"};
    if (!json_is_object(o)) {
        err_set(err, errlen, "Statement[%zu] is not an object", index);
        return PARSE_BAD;
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok = ok || strcmp(key, known[k]) == 0;
        if (!ok) {
            char shown[33];
            safe_key(shown, key);
            err_set(err, errlen, "Statement[%zu]: unknown element \"%s\"", index, shown);
            return PARSE_BAD;
        }
    }

    json_t *sid = json_object_get(o, "Sid");
    if (sid && !json_is_string(sid)) {
        err_set(err, errlen, "Statement[%zu]: Sid must be a string", index);
        return PARSE_BAD;
    }

    json_t *effect = json_object_get(o, "Effect");
    if (!effect) {
        err_set(err, errlen, "Statement[%zu]: Effect is missing", index);
        return PARSE_BAD;
    }
    const char *ev = json_string_value(effect);
    if (!ev || (strcmp(ev, "Allow") != 0 && strcmp(ev, "Deny") != 0)) {
        err_set(err, errlen, "Statement[%zu]: Effect must be \"Allow\" or \"Deny\"", index);
        return PARSE_BAD;
    }

    json_t *action = json_object_get(o, "Action");
    json_t *not_action = json_object_get(o, "NotAction");
    if (action && not_action) {
        err_set(err, errlen, "Statement[%zu]: both Action and NotAction", index);
        return PARSE_BAD;
    }
    if (!action && !not_action) {
        err_set(err, errlen, "Statement[%zu]: neither Action nor NotAction", index);
        return PARSE_BAD;
    }

    json_t *resource = json_object_get(o, "Resource");
    json_t *not_resource = json_object_get(o, "NotResource");
    if (resource && not_resource) {
        err_set(err, errlen, "Statement[%zu]: both Resource and NotResource", index);
        return PARSE_BAD;
    }

    json_t *cond = json_object_get(o, "Condition");
    if (cond) {
        bool ok = json_is_object(cond);
        json_t *op;
        const char *opname;
        if (ok) {
            json_object_foreach(cond, opname, op)
            {
                ok = ok && json_is_object(op);
            }
        }
        if (!ok) {
            err_set(err, errlen, "Statement[%zu]: Condition must be an object of objects", index);
            return PARSE_BAD;
        }
    }

    st->index = index;
    st->deny = strcmp(ev, "Deny") == 0;
    st->not_action = not_action != NULL;
    st->conditional = cond && json_object_size(cond) > 0;
    st->first = doc->n_patterns;
    enum parse_rc rc =
        parse_values(doc, action ? action : not_action, action ? "Action" : "NotAction", index,
                     true, NULL, err, errlen);
    if (rc != PARSE_OK)
        return rc;
    st->n = doc->n_patterns - st->first;

    if (resource) {
        bool star = false;
        rc = parse_values(doc, resource, "Resource", index, false, &star, err, errlen);
        st->resource_star = star;
    } else if (not_resource) {
        bool star = false;
        rc = parse_values(doc, not_resource, "NotResource", index, false, &star, err, errlen);
        st->resource_star = !star;
    } else {
        st->resource_star = true;
    }
    return rc;
}

/* Validates the top-level object and compiles its statements into doc. */
static enum parse_rc parse_root(struct scp_doc *doc, json_t *root, char *err, size_t errlen)
{
    if (!json_is_object(root)) {
        err_set(err, errlen, "document is not a JSON object");
        return PARSE_BAD;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "Version") == 0 || strcmp(key, "Id") == 0) {
            if (!json_is_string(val)) {
                err_set(err, errlen, "%s must be a string", key);
                return PARSE_BAD;
            }
        } else if (strcmp(key, "Statement") != 0) {
            char shown[33];
            safe_key(shown, key);
            err_set(err, errlen, "unknown element \"%s\"", shown);
            return PARSE_BAD;
        }
    }
    json_t *stmts = json_object_get(root, "Statement");
    if (!stmts) {
        err_set(err, errlen, "Statement is missing");
        return PARSE_BAD;
    }
    if (!json_is_object(stmts) && !json_is_array(stmts)) {
        err_set(err, errlen, "Statement must be an object or an array of objects");
        return PARSE_BAD;
    }
    size_t n = json_is_array(stmts) ? json_array_size(stmts) : 1;
    if (n == 0) {
        err_set(err, errlen, "Statement is empty");
        return PARSE_BAD;
    }
    if (n > SCP_MAX_STATEMENTS) {
        err_set(err, errlen, "more than %d statements", SCP_MAX_STATEMENTS);
        return PARSE_BAD;
    }
    doc->stmts = calloc(n, sizeof *doc->stmts);
    if (!doc->stmts) {
        err_set(err, errlen, "out of memory");
        return PARSE_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_is_array(stmts) ? json_array_get(stmts, i) : stmts;
        enum parse_rc rc = parse_statement(doc, o, i, &doc->stmts[i], err, errlen);
        if (rc != PARSE_OK)
            return rc;
        doc->n_stmts = i + 1;
    }
    return PARSE_OK;
}

struct scp_doc *scp_doc_parse(const char *json, size_t len, char *err, size_t errlen)
{
    err_set(err, errlen, "%s", "");
    if (!json) {
        err_set(err, errlen, "no document");
        return NULL;
    }
    if (len > SCP_DOC_MAX_BYTES) {
        err_set(err, errlen, "document is %zu bytes, more than %d", len, SCP_DOC_MAX_BYTES);
        return NULL;
    }
    json_error_t jerr;
    /* Duplicate keys are rejected: a document that says Effect twice means
     * whatever the reader picks, and AWS's reader need not pick as jansson. */
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* Position only: jansson's text quotes the document. */
        err_set(err, errlen, "invalid JSON at line %d column %d", jerr.line, jerr.column);
        return NULL;
    }
    struct scp_doc *doc = calloc(1, sizeof *doc);
    if (!doc) {
        json_decref(root);
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    enum parse_rc rc = parse_root(doc, root, err, errlen);
    json_decref(root);
    if (rc != PARSE_OK) {
        scp_doc_free(doc);
        return NULL;
    }
    return doc;
}

/* ---- evaluation --------------------------------------------------------- */

/* Whether statement st's action list covers action (lowercased, alen bytes). */
static bool stmt_covers(const struct scp_doc *doc, const struct scp_stmt *st, const char *action,
                        size_t alen)
{
    bool any = false;
    for (size_t i = 0; i < st->n && !any; i++) {
        const char *p = doc->patterns[st->first + i];
        any = wildcard_match(p, strlen(p), action, alen, true);
    }
    return st->not_action ? !any : any;
}

/* Length of s if shorter than max, else max (s may be unterminated past it). */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

static void set_detail(struct scp_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_detail(struct scp_result *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* Cannot truncate: ids and action are bounded and SCP_DETAIL_MAX fits
     * the longest format with the longest of each. */
    err_vset(out->detail, sizeof out->detail, 0, fmt, ap);
    va_end(ap);
}

/* Records the deciding level (and policy) in out. Ids were checked shorter
 * than SCP_ID_MAX. */
static void set_where(struct scp_result *out, const struct scp_level *levels, size_t li, size_t pi,
                      size_t stmt)
{
    out->level = li;
    out->level_kind = levels[li].kind;
    snprintf(out->level_id, sizeof out->level_id, "%s", levels[li].id);
    if (pi != NO_INDEX)
        snprintf(out->policy_id, sizeof out->policy_id, "%s", levels[li].policies[pi].id);
    out->statement = stmt;
}

static enum scp_status finish(struct scp_result *out, enum scp_status status,
                              enum scp_reason reason)
{
    out->status = status;
    out->reason = reason;
    return status;
}

/* Checks the arguments; on error fills out's detail and returns false. */
static bool valid_input(const struct scp_level *levels, size_t n_levels, const char *action,
                        struct scp_result *out)
{
    const char *why = NULL;
    if (!action || bounded_len(action, SCP_ACTION_MAX) == 0 ||
        bounded_len(action, SCP_ACTION_MAX) >= SCP_ACTION_MAX)
        why = "action missing, empty or too long";
    else if (n_levels == 0 || !levels)
        why = "no levels";
    else if (n_levels > SCP_MAX_LEVELS)
        why = "too many levels";
    for (size_t i = 0; !why && i < n_levels; i++) {
        const struct scp_level *l = &levels[i];
        if (l->kind != SCP_LEVEL_ROOT && l->kind != SCP_LEVEL_OU && l->kind != SCP_LEVEL_ACCOUNT)
            why = "level kind out of range";
        else if (!l->id || bounded_len(l->id, SCP_ID_MAX) >= SCP_ID_MAX)
            why = "level id missing or too long";
        else if (l->n_policies > 0 && !l->policies)
            why = "policies missing";
        for (size_t j = 0; !why && j < l->n_policies; j++)
            if (!l->policies[j].id || bounded_len(l->policies[j].id, SCP_ID_MAX) >= SCP_ID_MAX)
                why = "policy id missing or too long";
    }
    if (why)
        set_detail(out, "invalid input: %s", why);
    return why == NULL;
}

enum scp_status scp_evaluate(const struct scp_level *levels, size_t n_levels, const char *action,
                             unsigned flags, struct scp_result *out)
{
    if (!out)
        return SCP_UNKNOWN;
    memset(out, 0, sizeof *out);
    out->level = NO_INDEX;
    out->statement = NO_INDEX;

    if (flags & ~(SCP_EVAL_MANAGEMENT_ACCOUNT | SCP_EVAL_SCPS_DISABLED)) {
        set_detail(out, "invalid input: unknown flags");
        return finish(out, SCP_UNKNOWN, SCP_REASON_INVALID_INPUT);
    }
    if (flags & SCP_EVAL_MANAGEMENT_ACCOUNT) {
        set_detail(out, "the management account is not subject to service control policies");
        return finish(out, SCP_NOT_APPLICABLE, SCP_REASON_MANAGEMENT_ACCOUNT);
    }
    if (flags & SCP_EVAL_SCPS_DISABLED) {
        set_detail(out, "service control policies are not enabled on the root");
        return finish(out, SCP_UNPROTECTED, SCP_REASON_SCP_DISABLED);
    }
    if (!valid_input(levels, n_levels, action, out))
        return finish(out, SCP_UNKNOWN, SCP_REASON_INVALID_INPUT);

    char lower[SCP_ACTION_MAX];
    size_t alen = strlen(action);
    for (size_t i = 0; i <= alen; i++)
        lower[i] = (char)ascii_lower((unsigned char)action[i]);

    /* The first (top-most) of each kind of finding. */
    size_t no_allow = NO_INDEX;
    size_t unk_level = NO_INDEX, unk_policy = NO_INDEX;
    enum scp_reason unk_reason = SCP_REASON_MALFORMED_POLICY;
    size_t cond_level = NO_INDEX, cond_policy = NO_INDEX, cond_stmt = NO_INDEX;

    for (size_t li = 0; li < n_levels; li++) {
        const struct scp_level *l = &levels[li];
        bool allowed = false, uncertain = l->unreadable || l->n_policies == 0;
        if (uncertain && unk_level == NO_INDEX) {
            unk_level = li;
            unk_reason = l->unreadable ? SCP_REASON_UNREADABLE_LEVEL : SCP_REASON_NO_POLICIES;
        }
        for (size_t pi = 0; pi < l->n_policies; pi++) {
            const struct scp_doc *doc = l->policies[pi].doc;
            if (!doc) {
                uncertain = true;
                if (unk_level == NO_INDEX) {
                    unk_level = li;
                    unk_policy = pi;
                    unk_reason = SCP_REASON_MALFORMED_POLICY;
                }
                continue;
            }
            for (size_t si = 0; si < doc->n_stmts; si++) {
                const struct scp_stmt *st = &doc->stmts[si];
                if (!stmt_covers(doc, st, lower, alen))
                    continue;
                if (!st->deny) {
                    allowed = true; /* Resource and Condition notwithstanding: see the header */
                } else if (!st->resource_star) {
                    continue;
                } else if (st->conditional) {
                    if (cond_level == NO_INDEX) {
                        cond_level = li;
                        cond_policy = pi;
                        cond_stmt = st->index;
                    }
                } else {
                    /* Levels, policies and statements are walked in order:
                     * the first unconditional deny is the top-most. */
                    set_where(out, levels, li, pi, st->index);
                    set_detail(out, "explicit deny of %s in policy %s Statement[%zu] at %s %s",
                               action, l->policies[pi].id, st->index, scp_level_kind_name(l->kind),
                               l->id);
                    return finish(out, SCP_PROTECTED, SCP_REASON_EXPLICIT_DENY);
                }
            }
        }
        if (!allowed && !uncertain && no_allow == NO_INDEX)
            no_allow = li;
    }

    if (no_allow != NO_INDEX) {
        const struct scp_level *l = &levels[no_allow];
        set_where(out, levels, no_allow, NO_INDEX, NO_INDEX);
        set_detail(out, "no policy at %s %s allows %s", scp_level_kind_name(l->kind), l->id,
                   action);
        return finish(out, SCP_PROTECTED, SCP_REASON_NO_ALLOW);
    }
    if (unk_level != NO_INDEX) {
        const struct scp_level *l = &levels[unk_level];
        set_where(out, levels, unk_level, unk_policy, NO_INDEX);
        const char *kind = scp_level_kind_name(l->kind);
        if (unk_reason == SCP_REASON_MALFORMED_POLICY)
            set_detail(out, "policy %s at %s %s is unreadable or malformed",
                       l->policies[unk_policy].id, kind, l->id);
        else if (unk_reason == SCP_REASON_UNREADABLE_LEVEL)
            set_detail(out, "the policies attached to %s %s could not be read", kind, l->id);
        else
            set_detail(out, "no policy is attached to %s %s", kind, l->id);
        return finish(out, SCP_UNKNOWN, unk_reason);
    }
    if (cond_level != NO_INDEX) {
        const struct scp_level *l = &levels[cond_level];
        set_where(out, levels, cond_level, cond_policy, cond_stmt);
        set_detail(out, "conditional deny of %s in policy %s Statement[%zu] at %s %s", action,
                   l->policies[cond_policy].id, cond_stmt, scp_level_kind_name(l->kind), l->id);
        return finish(out, SCP_CONDITIONAL, SCP_REASON_CONDITIONAL_DENY);
    }
    set_detail(out, "every level allows %s and no deny applies", action);
    return finish(out, SCP_UNPROTECTED, SCP_REASON_NO_DENY);
}

const char *scp_status_name(enum scp_status status)
{
    switch (status) {
    case SCP_PROTECTED:
        return "protected";
    case SCP_CONDITIONAL:
        return "conditional";
    case SCP_UNPROTECTED:
        return "unprotected";
    case SCP_UNKNOWN:
        return "unknown";
    case SCP_NOT_APPLICABLE:
        return "not_applicable";
    }
    return "invalid";
}

const char *scp_reason_name(enum scp_reason reason)
{
    switch (reason) {
    case SCP_REASON_EXPLICIT_DENY:
        return "explicit_deny";
    case SCP_REASON_NO_ALLOW:
        return "no_allow";
    case SCP_REASON_CONDITIONAL_DENY:
        return "conditional_deny";
    case SCP_REASON_NO_DENY:
        return "no_deny";
    case SCP_REASON_SCP_DISABLED:
        return "scp_disabled";
    case SCP_REASON_MALFORMED_POLICY:
        return "malformed_policy";
    case SCP_REASON_UNREADABLE_LEVEL:
        return "unreadable_level";
    case SCP_REASON_NO_POLICIES:
        return "no_policies";
    case SCP_REASON_INVALID_INPUT:
        return "invalid_input";
    case SCP_REASON_MANAGEMENT_ACCOUNT:
        return "management_account";
    }
    return "invalid";
}

const char *scp_level_kind_name(enum scp_level_kind kind)
{
    switch (kind) {
    case SCP_LEVEL_ROOT:
        return "root";
    case SCP_LEVEL_OU:
        return "ou";
    case SCP_LEVEL_ACCOUNT:
        return "account";
    }
    return "invalid";
}
