/*
 * trail_record: one raw CloudTrail record (a JSON object written, in part, by
 * whoever controls the account) into a struct of fixed-size fields.
 *
 * Data model. The input is capped at TRAIL_RECORD_MAX bytes and parsed whole
 * by jansson (length given, so no terminator is needed; duplicate keys are
 * refused, so a record cannot carry two eventNames for two readers). Only
 * eventID and eventName are required. Every other field is looked up by
 * path; a path through a missing, null or non-object member, or ending on a
 * non-string, yields the empty string. Strings are copied into their buffer;
 * one that does not fit is cut at a UTF-8 character boundary and ends in
 * "...", so a reader can tell it was cut. The outcome and the denial test
 * read the full strings, not the cut copies: an "explicit deny" past byte
 * 512 of a message still counts.
 *
 * The affected account (the member the event is about):
 *   LeaveOrganization                  recipientAccountId, else
 *                                      userIdentity.accountId (the member
 *                                      records its own call)
 *   AccountDepartedOrganization,       serviceEventDetails.accountId, else
 *   AccountJoinedOrganization          requestParameters.accountId, else the
 *                                      one 12-digit account id other than
 *                                      the recipient found in
 *                                      serviceEventDetails (one level deep)
 *                                      and resources[] (accountId, ARN);
 *                                      else none, and the record is marked
 *                                      unattributed. Never the recipient:
 *                                      these events are recorded in the
 *                                      management account, and the real
 *                                      layout is not public.
 *   RemoveAccountFromOrganization,     requestParameters.accountId
 *   CloseAccount, MoveAccount
 *   InviteAccountToOrganization        requestParameters.target.id when
 *                                      target.type is ACCOUNT
 *   CreateAccount                      responseElements.createAccountStatus
 *                                      .accountId (absent while IN_PROGRESS)
 *   CreateAccountResult,               serviceEventDetails.createAccountStatus
 *   CloseAccountResult                 (closeAccountStatus).accountId; a
 *                                      status whose state is FAILED makes the
 *                                      outcome failed, its failureReason the
 *                                      error code
 *   anything else                      recipientAccountId
 * For the calls that name their target, an absent target leaves the field
 * empty rather than falling back to the recipient (the management account):
 * a denied RemoveAccountFromOrganization without parameters, or an invitation
 * sent to an e-mail address, is about no known member, and naming the
 * management account would be false.
 */
#define _DEFAULT_SOURCE /* timegm */
#include "collectors/trail_record.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/err.h"

/* Returns the member at the path of keys (NULL-terminated) under root, or
 * NULL when any step is missing or not an object. Borrowed reference. */
static json_t *path_get(json_t *root, ...)
{
    va_list ap;
    va_start(ap, root);
    json_t *cur = root;
    const char *key;
    while (cur && (key = va_arg(ap, const char *)) != NULL)
        cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
    va_end(ap);
    return cur;
}

/* Returns the string value of v and its length in *len, or "" and 0 when v is
 * not a string (absent, null, number, object...). The pointer is borrowed
 * from v. */
static const char *str_of(const json_t *v, size_t *len)
{
    if (!json_is_string(v)) {
        *len = 0;
        return "";
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

/* Copies len bytes of the valid UTF-8 string s into dst of size cap (cap >=
 * 4). When it does not fit, keeps the longest prefix that ends on a character
 * boundary and leaves room for "...", then appends "...". Always terminates. */
static void copy_bounded(char *dst, size_t cap, const char *s, size_t len)
{
    if (len < cap) {
        memcpy(dst, s, len);
        dst[len] = '\0';
        return;
    }
    size_t keep = cap - 4;
    /* s[keep] is the first byte dropped; back off while it continues a
     * character begun before it. */
    while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
        keep--;
    memcpy(dst, s, keep);
    memcpy(dst + keep, "...", 4);
}

/* Copies the string at v into dst (see copy_bounded); "" when not a string. */
static void copy_field(char *dst, size_t cap, const json_t *v)
{
    size_t len;
    const char *s = str_of(v, &len);
    copy_bounded(dst, cap, s, len);
}

/* Copies the string at v into dst when v is a non-empty string; returns
 * whether it did. Used to walk a list of places an account id may be. */
static int copy_if_set(char *dst, size_t cap, const json_t *v)
{
    size_t len;
    const char *s = str_of(v, &len);
    if (len == 0)
        return 0;
    copy_bounded(dst, cap, s, len);
    return 1;
}

/* Reads exactly n ASCII digits at s into *val; returns 0, or -1 if any is
 * not a digit. */
static int digits(const char *s, int n, int *val)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *val = v;
    return 0;
}

/* Parses CloudTrail's UTC time "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (len bytes,
 * nothing before or after) into unix seconds. Returns 0 for anything else,
 * including impossible dates: 0 is the header's "absent or malformed". Uses
 * timegm, so neither TZ nor the locale matters. */
static double parse_time(const char *s, size_t len)
{
    int year, mon, day, hour, min, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[len - 1] != 'Z')
        return 0;
    if (digits(s, 4, &year) || digits(s + 5, 2, &mon) || digits(s + 8, 2, &day) ||
        digits(s + 11, 2, &hour) || digits(s + 14, 2, &min) || digits(s + 17, 2, &sec))
        return 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || (mon == 2 && day == 29 && !leap))
        return 0;
    if (hour > 23 || min > 59 || sec > 60)
        return 0;

    double frac = 0, scale = 1;
    size_t i = 19;
    if (s[i] == '.') {
        i++;
        size_t start = i;
        for (; i < len - 1; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 0;
            /* Past nanoseconds the digits change nothing a double can hold. */
            if (i - start < 9) {
                frac = frac * 10 + (s[i] - '0');
                scale *= 10;
            }
        }
        if (i == start)
            return 0;
    }
    if (i != len - 1)
        return 0;

    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    /* -1 is also the second before the epoch; otherwise it means time_t
     * cannot hold the date. */
    if (t == (time_t)-1 &&
        !(year == 1969 && mon == 12 && day == 31 && hour == 23 && min == 59 && sec == 59))
        return 0;
    return (double)t + frac / scale;
}

/* The time in the string at v, or 0 (see parse_time). */
static double time_field(const json_t *v)
{
    size_t len;
    const char *s = str_of(v, &len);
    return parse_time(s, len);
}

/* Whether needle (ASCII, lower case) occurs in hay[0..len) ignoring ASCII
 * case. Written out rather than strcasestr: locale-independent, and hay is
 * bounded by its length. */
static int contains_nocase(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        size_t j = 0;
        while (j < n) {
            unsigned char c = (unsigned char)hay[i + j];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
            if (c != (unsigned char)needle[j])
                break;
            j++;
        }
        if (j == n)
            return 1;
    }
    return 0;
}

/* The outcome from the full errorCode and errorMessage: success without a
 * code; denied for the access-denied codes or a message that says so;
 * failed otherwise. */
static enum trail_outcome outcome_of(const json_t *code_v, const json_t *msg_v)
{
    size_t clen, mlen;
    const char *code = str_of(code_v, &clen);
    const char *msg = str_of(msg_v, &mlen);
    static const char *const denied_codes[] = {"AccessDenied", "AccessDeniedException",
                                               "UnauthorizedOperation"};
    if (clen == 0)
        return TRAIL_SUCCESS;
    for (size_t i = 0; i < sizeof denied_codes / sizeof denied_codes[0]; i++)
        if (clen == strlen(denied_codes[i]) && memcmp(code, denied_codes[i], clen) == 0)
            return TRAIL_DENIED;
    if (contains_nocase(msg, mlen, "not authorized") || contains_nocase(msg, mlen, "explicit deny"))
        return TRAIL_DENIED;
    return TRAIL_FAILED;
}

/* Whether s (len bytes) is a 12-digit account id. */
static int is_account_id(const char *s, size_t len)
{
    if (len != 12)
        return 0;
    for (size_t i = 0; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Notes the account id at v (a 12-digit string, or the last path segment of
 * an ARN when from_arn) as a candidate unless it is the recipient. Returns
 * -1 once two different candidates were seen (ambiguous), else 0. */
static int candidate(const json_t *v, int from_arn, const char *recipient, char *found)
{
    size_t len;
    const char *s = str_of(v, &len);
    if (from_arn) {
        size_t at = len;
        while (at > 0 && s[at - 1] != '/')
            at--;
        if (at == 0)
            return 0;
        s += at;
        len -= at;
    }
    if (!is_account_id(s, len) || strncmp(s, recipient, 12) == 0)
        return 0;
    if (found[0] != '\0' && strncmp(found, s, 12) != 0)
        return -1;
    memcpy(found, s, 12);
    found[12] = '\0';
    return 0;
}

/* The member account of a membership service event whose layout is not
 * public: the one account id other than the recipient in serviceEventDetails
 * (its string members, and those of the objects directly inside it) and in
 * resources[] (accountId, ARN). Empty when there is none or more than one. */
static void search_member(json_t *root, const char *recipient, char *dst)
{
    char found[16] = "";
    int ambiguous = 0;
    const char *key;
    json_t *v, *inner;
    json_object_foreach(path_get(root, "serviceEventDetails", NULL), key, v)
    {
        ambiguous |= candidate(v, 0, recipient, found);
        const char *k2;
        if (json_is_object(v))
            json_object_foreach(v, k2, inner) ambiguous |= candidate(inner, 0, recipient, found);
    }
    size_t i;
    json_t *res = path_get(root, "resources", NULL);
    json_array_foreach(res, i, v)
    {
        ambiguous |= candidate(json_object_get(v, "accountId"), 0, recipient, found);
        ambiguous |= candidate(json_object_get(v, "ARN"), 1, recipient, found);
    }
    if (!ambiguous)
        memcpy(dst, found, sizeof found);
}

/* Fills out->affected_account by the table in the comment at the top. */
static void affected_account(json_t *root, struct trail_record *out)
{
    char *dst = out->affected_account;
    size_t cap = sizeof out->affected_account;
    const char *name = out->event_name;

    if (strcmp(name, "LeaveOrganization") == 0) {
        if (!copy_if_set(dst, cap, path_get(root, "recipientAccountId", NULL)))
            copy_field(dst, cap, path_get(root, "userIdentity", "accountId", NULL));
    } else if (strcmp(name, "AccountDepartedOrganization") == 0 ||
               strcmp(name, "AccountJoinedOrganization") == 0) {
        if (!copy_if_set(dst, cap, path_get(root, "serviceEventDetails", "accountId", NULL)) &&
            !copy_if_set(dst, cap, path_get(root, "requestParameters", "accountId", NULL)))
            search_member(root, out->recipient_account, dst);
        /* What names the recipient (the management account) names no member. */
        if (dst[0] != '\0' && strcmp(dst, out->recipient_account) == 0)
            dst[0] = '\0';
        out->unattributed = dst[0] == '\0';
    } else if (strcmp(name, "CreateAccountResult") == 0) {
        copy_field(dst, cap,
                   path_get(root, "serviceEventDetails", "createAccountStatus", "accountId", NULL));
    } else if (strcmp(name, "CloseAccountResult") == 0) {
        copy_field(dst, cap,
                   path_get(root, "serviceEventDetails", "closeAccountStatus", "accountId", NULL));
    } else if (strcmp(name, "RemoveAccountFromOrganization") == 0 ||
               strcmp(name, "CloseAccount") == 0 || strcmp(name, "MoveAccount") == 0) {
        copy_field(dst, cap, path_get(root, "requestParameters", "accountId", NULL));
    } else if (strcmp(name, "InviteAccountToOrganization") == 0) {
        size_t tlen;
        const char *type =
            str_of(path_get(root, "requestParameters", "target", "type", NULL), &tlen);
        if (tlen == 7 && memcmp(type, "ACCOUNT", 7) == 0)
            copy_field(dst, cap, path_get(root, "requestParameters", "target", "id", NULL));
    } else if (strcmp(name, "CreateAccount") == 0) {
        copy_field(dst, cap,
                   path_get(root, "responseElements", "createAccountStatus", "accountId", NULL));
    } else {
        copy_field(dst, cap, path_get(root, "recipientAccountId", NULL));
    }
}

/* CreateAccountResult and CloseAccountResult are service events without an
 * errorCode: a status whose state is FAILED makes them failed, with the
 * status's failureReason (EMAIL_ALREADY_EXISTS, ...) as the error code. */
static void account_status_outcome(json_t *root, struct trail_record *out)
{
    const char *member = strcmp(out->event_name, "CreateAccountResult") == 0 ? "createAccountStatus"
                         : strcmp(out->event_name, "CloseAccountResult") == 0 ? "closeAccountStatus"
                                                                              : NULL;
    if (member == NULL || out->outcome != TRAIL_SUCCESS)
        return;
    size_t len;
    const char *state = str_of(path_get(root, "serviceEventDetails", member, "state", NULL), &len);
    if (len == 6 && memcmp(state, "FAILED", 6) == 0) {
        out->outcome = TRAIL_FAILED;
        if (!copy_if_set(out->error_code, sizeof out->error_code,
                         path_get(root, "serviceEventDetails", member, "failureReason", NULL)))
            copy_bounded(out->error_code, sizeof out->error_code, "FAILED", 6);
    }
}

/* Reasons go through err_set_printable: jansson quotes the offending input
 * in its text ("near '...'"), which may hold control characters, or UTF-8 cut
 * by the bound. */

/* Fills out (initialised by the caller) from root, a CloudTrail record.
 * Returns 0, or -1 with a reason in err (no eventID, no eventName). */
static int from_object(json_t *root, struct trail_record *out, char *err, size_t errlen)
{
    const json_t *id = json_object_get(root, "eventID");
    const json_t *name = json_object_get(root, "eventName");
    if (!json_is_string(id) || json_string_length(id) == 0) {
        err_set_printable(err, errlen, "no eventID");
        return -1;
    }
    if (!json_is_string(name) || json_string_length(name) == 0) {
        err_set_printable(err, errlen, "no eventName");
        return -1;
    }

    copy_field(out->event_id, sizeof out->event_id, id);
    copy_field(out->event_name, sizeof out->event_name, name);
    copy_field(out->event_source, sizeof out->event_source, path_get(root, "eventSource", NULL));
    out->event_time = time_field(path_get(root, "eventTime", NULL));
    copy_field(out->aws_region, sizeof out->aws_region, path_get(root, "awsRegion", NULL));

    const json_t *code = path_get(root, "errorCode", NULL);
    const json_t *msg = path_get(root, "errorMessage", NULL);
    copy_field(out->error_code, sizeof out->error_code, code);
    copy_field(out->error_message, sizeof out->error_message, msg);
    out->outcome = outcome_of(code, msg);

    copy_field(out->principal_type, sizeof out->principal_type,
               path_get(root, "userIdentity", "type", NULL));
    /* A service acting on its own has no arn; invokedBy names it (AWS's
     * Organizations service events carry no type at all, only accountId and
     * invokedBy). A Root identity without an arn stays empty: nothing is
     * made up. */
    if (strcmp(out->principal_type, "AWSService") == 0)
        copy_field(out->principal_arn, sizeof out->principal_arn,
                   path_get(root, "userIdentity", "invokedBy", NULL));
    else if (!copy_if_set(out->principal_arn, sizeof out->principal_arn,
                          path_get(root, "userIdentity", "arn", NULL)) &&
             out->principal_type[0] == '\0')
        copy_field(out->principal_arn, sizeof out->principal_arn,
                   path_get(root, "userIdentity", "invokedBy", NULL));
    copy_field(out->principal_account, sizeof out->principal_account,
               path_get(root, "userIdentity", "accountId", NULL));
    copy_field(out->recipient_account, sizeof out->recipient_account,
               path_get(root, "recipientAccountId", NULL));
    copy_field(out->source_ip, sizeof out->source_ip, path_get(root, "sourceIPAddress", NULL));

    affected_account(root, out);
    account_status_outcome(root, out);
    if (!copy_if_set(out->departure_method, sizeof out->departure_method,
                     path_get(root, "serviceEventDetails", "departureMethod", NULL)))
        copy_field(out->departure_method, sizeof out->departure_method,
                   path_get(root, "serviceEventDetails", "departedMethod", NULL));
    for (char *p = out->departure_method; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    out->departure_time = time_field(path_get(root, "serviceEventDetails", "departureTime", NULL));
    if (out->departure_time == 0)
        out->departure_time =
            time_field(path_get(root, "serviceEventDetails", "departedTime", NULL));
    copy_field(out->policy_id, sizeof out->policy_id,
               path_get(root, "requestParameters", "policyId", NULL));
    copy_field(out->target_id, sizeof out->target_id,
               path_get(root, "requestParameters", "targetId", NULL));
    copy_field(out->handshake_action, sizeof out->handshake_action,
               path_get(root, "responseElements", "handshake", "action", NULL));
    if (!copy_if_set(out->policy_type, sizeof out->policy_type,
                     path_get(root, "requestParameters", "policyType", NULL)))
        copy_field(out->policy_type, sizeof out->policy_type,
                   path_get(root, "requestParameters", "type", NULL));

    return 0;
}

int trail_record_parse(const char *json, size_t len, struct trail_record *out, char *err,
                       size_t errlen)
{
    if (!out) {
        err_set_printable(err, errlen, "no output record");
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->outcome = TRAIL_SUCCESS;
    if (err && errlen > 0)
        err[0] = '\0';
    if (len > TRAIL_RECORD_MAX) {
        err_set_printable(err, errlen, "record of %zu bytes is over the %d-byte cap", len,
                          TRAIL_RECORD_MAX);
        return -1;
    }
    if (!json) {
        err_set_printable(err, errlen, "no input");
        return -1;
    }

    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jerr.text is jansson's own wording, bounded by its fixed array;
         * %.80s keeps the whole reason on one short line. */
        err_set_printable(err, errlen, "not JSON: %.80s at byte %d", jerr.text, jerr.position);
        return -1;
    }
    if (!json_is_object(root)) {
        err_set_printable(err, errlen, "not a JSON object");
        json_decref(root);
        return -1;
    }

    int rc = from_object(root, out, err, errlen);
    json_decref(root);
    return rc;
}

const char *trail_outcome_name(enum trail_outcome o)
{
    switch (o) {
    case TRAIL_SUCCESS:
        return "success";
    case TRAIL_DENIED:
        return "denied";
    case TRAIL_FAILED:
        return "failed";
    }
    return "failed";
}

enum trail_envelope trail_record_parse_envelope(const char *json, size_t len,
                                                struct trail_record *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen > 0)
        err[0] = '\0';
    if (len > TRAIL_ENVELOPE_MAX) {
        err_set_printable(err, errlen, "message of %zu bytes is over the %d-byte cap", len,
                          TRAIL_ENVELOPE_MAX);
        return TRAIL_ENVELOPE_MALFORMED;
    }
    json_error_t jerr;
    json_t *root = json ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (root == NULL) {
        err_set_printable(err, errlen, "not JSON: %.80s at byte %d", json ? jerr.text : "no input",
                          json ? jerr.position : 0);
        return TRAIL_ENVELOPE_MALFORMED;
    }
    const char *type = json_string_value(json_object_get(root, "detail-type"));
    const char *source = json_string_value(json_object_get(root, "source"));
    if (type == NULL || (strcmp(type, "AWS API Call via CloudTrail") != 0 &&
                         strcmp(type, "AWS Service Event via CloudTrail") != 0)) {
        err_set_printable(err, errlen,
                          type ? "an event of another detail-type" : "not an EventBridge event");
        json_decref(root);
        return TRAIL_ENVELOPE_OTHER;
    }
    /* A CloudTrail event: its detail is the record, and it must be one. */
    json_t *detail = json_object_get(root, "detail");
    enum trail_envelope kind = TRAIL_ENVELOPE_RECORD;
    out->outcome = TRAIL_SUCCESS;
    if (!json_is_object(detail)) {
        err_set_printable(err, errlen, "a CloudTrail event whose detail is not an object");
        kind = TRAIL_ENVELOPE_MALFORMED;
    } else if (from_object(detail, out, err, errlen) != 0) {
        kind = TRAIL_ENVELOPE_MALFORMED;
    }
    /* An unusable record of another service is no concern of ours. */
    if (kind == TRAIL_ENVELOPE_MALFORMED &&
        (source == NULL || strcmp(source, "aws.organizations") != 0)) {
        const char *es = json_string_value(json_object_get(detail, "eventSource"));
        if (es == NULL || strcmp(es, "organizations.amazonaws.com") != 0)
            kind = TRAIL_ENVELOPE_OTHER;
    }
    json_decref(root);
    return kind;
}

/* See trail_record.h. */
bool trail_record_member_leave(const struct trail_record *r)
{
    if (strcmp(r->event_name, "AcceptHandshake") != 0)
        return true;
    if (r->outcome == TRAIL_SUCCESS)
        return r->handshake_action[0] == '\0' || strcasecmp(r->handshake_action, "INVITE") == 0;
    return strstr(r->error_message, "LeaveOrganization") != NULL;
}
