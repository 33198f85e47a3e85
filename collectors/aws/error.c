#include "collectors/aws/error.h"

#include <stdio.h>

void aws_error_set(struct aws_error *err, long http_status, const char *code, const char *msg)
{
    err->http_status = http_status;
    snprintf(err->code, sizeof err->code, "%s", code);
    snprintf(err->message, sizeof err->message, "%s", msg ? msg : "");
}
