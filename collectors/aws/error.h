/*
 * error: what an AWS call, or a credentials fetch, says when it fails.
 */
#ifndef AWS_ERROR_H
#define AWS_ERROR_H

struct aws_error {
    long http_status; /* 0 when no HTTP answer came */
    char code[64];    /* the AWS error code, or a transport class such as "Timeout" */
    char message[256];
};

/* The one writer of struct aws_error: copies code and msg (NULL: empty), cut
 * to fit. */
void aws_error_set(struct aws_error *err, long http_status, const char *code, const char *msg);

#endif
