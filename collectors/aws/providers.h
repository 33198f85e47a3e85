/*
 * providers: where AWS credentials come from, resolved the way the SDKs
 * resolve them. Each constructor returns a provider of the credentials
 * interface (credentials.h: get, source, destroy), which caches and refreshes
 * ahead of expiry.
 *
 * The default chain picks, once at start and without network calls, the
 * first source that is configured:
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY [, AWS_SESSION_TOKEN]
 *   2. web identity: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
 *      [+ AWS_ROLE_SESSION_NAME] -> STS AssumeRoleWithWebIdentity (unsigned;
 *      the token file is read again at every refresh)
 *   3. shared files: AWS_PROFILE (default "default") in AWS_CONFIG_FILE
 *      (~/.aws/config) and AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials):
 *      static keys, role_arn with source_profile or credential_source,
 *      web_identity_token_file, credential_process (run by /bin/sh in a
 *      process group of its own, stdin on /dev/null, stderr read and thrown
 *      away, no other descriptor inherited; the group is killed after
 *      aws_config.process_timeout)
 *   4. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (169.254.170.2) or
 *      _FULL_URI (loopback, 169.254.170.2, 169.254.170.23, fd00:ec2::23, or
 *      any host over https) with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 *      _TOKEN (the file wins)
 *   5. EC2 IMDSv2, unless AWS_EC2_METADATA_DISABLED=true;
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the address.
 * aws_creds_assume_role() puts STS AssumeRole (signed by another provider)
 * on top of any of these: --aws.role-arn, and per-account member roles.
 *
 * One file per source: creds_static.c (static keys, environment),
 * creds_sts.c (assume-role, web identity), creds_process.c, creds_container.c,
 * creds_imds.c, profile.c (the shared files), creds_chain.c (the chain).
 * Secrets live only in struct aws_credentials and are never logged.
 */
#ifndef AWS_PROVIDERS_H
#define AWS_PROVIDERS_H

#include <stddef.h>

#include "collectors/aws/client.h"
#include "collectors/aws/credentials.h"

/*
 * The default chain for cfg (copied where needed). Returns NULL with a
 * reason in errbuf when no source is configured or a configured one is
 * malformed (a profile that does not exist, a bad container URI...).
 */
struct aws_creds_provider *aws_creds_default_chain(const struct aws_config *cfg, char *errbuf,
                                                   size_t errlen);

/*
 * STS AssumeRole of role_arn, signed with base (borrowed; must outlive the
 * result). external_id and session_name may be NULL; duration in seconds
 * (0 = STS default). Returns NULL on allocation failure.
 */
struct aws_creds_provider *aws_creds_assume_role(struct aws_creds_provider *base,
                                                 const struct aws_config *cfg, const char *role_arn,
                                                 const char *external_id, const char *session_name,
                                                 unsigned duration);

/* A provider of fixed credentials (copied). */
struct aws_creds_provider *aws_creds_static(const char *source, const char *akid,
                                            const char *secret, const char *token);

/* The shared config files, for tests and for the region. */
struct aws_profile;
/* Loads profile name from the config and credentials files (paths from the
 * environment when NULL). Returns NULL when the profile exists in neither. */
struct aws_profile *aws_profile_load(const char *name, const char *config_path,
                                     const char *credentials_path);
/* A key's value in the profile (credentials file first), or NULL. */
const char *aws_profile_get(const struct aws_profile *p, const char *key);
void aws_profile_free(struct aws_profile *p);

#endif
