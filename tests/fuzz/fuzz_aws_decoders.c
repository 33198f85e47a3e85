/*
 * libFuzzer target: the decoders of AWS answers — error bodies (JSON and STS
 * XML), the XML text extractor and time parser used for STS credentials,
 * and the account objects of ListAccounts / DescribeAccount.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/aws/client.h"
#include "collectors/organizations.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct aws_error e;
    aws_decode_error(400, body, size, "x#Throttling:detail", false, &e);
    if (e.code[0] == '\0')
        abort(); /* a code always comes out, "HTTP400" at worst */
    aws_decode_error(403, body, size, NULL, true, &e);
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char out[256];
    if (aws_xml_text(s, "SessionToken", out, sizeof out) == 0 && strlen(out) >= sizeof out)
        abort();
    double t;
    (void)aws_parse_time(s, &t);
    json_t *j = json_loadb(body, size, 0, NULL);
    struct org_account a;
    char err[256], path[1024];
    struct org_listing *owner = calloc(1, sizeof *owner); /* whose parent paths are shared */
    if (owner != NULL)
        atomic_init(&owner->refs, 1);
    if (j != NULL && owner != NULL) {
        json_t *acc =
            json_is_object(j) && json_object_get(j, "Account") ? json_object_get(j, "Account") : j;
        int rc = org_account_parse(acc, &a, owner, err, sizeof err);
        if (rc != 0 && err[0] == '\0')
            abort();
        /* A path kept as its parent's comes back whole (Paths: a string, or
         * an array whose first string is taken). */
        json_t *paths = json_object_get(acc, "Paths");
        const char *given = json_is_string(paths) ? json_string_value(paths)
                                                  : json_string_value(json_array_get(paths, 0));
        if (rc == 0 && a.parent_path != NULL &&
            (given == NULL ||
             (strlen(given) < sizeof path &&
              (org_account_path(&a, path, sizeof path) == NULL || strcmp(path, given) != 0))))
            abort();
        org_account_free(&a);
    }
    org_listing_release(owner);
    json_decref(j);
    free(s);
    return 0;
}
