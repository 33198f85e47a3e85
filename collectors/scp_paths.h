/*
 * scp_paths: where each account and OU sits, from the accounts' Paths in the
 * organizations listing ("o-x/r-y/ou-a/ou-b/123456789012/", given by the API
 * since 2026-03-31), so that the SCP collector need not walk the OU tree.
 * A path AWS would not give is not used: the caller walks the tree instead.
 */
#ifndef COLLECTORS_SCP_PATHS_H
#define COLLECTORS_SCP_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "collectors/organizations.h"
#include "collectors/scp_tree.h"

/* SCPs allow five levels of OUs; a path with more elements is not AWS's. */
#define SCP_PATH_MAX_ELEMENTS 10

/*
 * Splits an account's path into its elements (pointers into buf, which the
 * caller owns), or returns 0 when the path is not one AWS would give for
 * this account under this root: the organization, the root, OUs, the account
 * itself, each ending with '/'. Returns the number of elements.
 */
size_t scp_path_split(const char *path, const char *root, const char *account, char *buf,
                      size_t buflen, char *el[SCP_PATH_MAX_ELEMENTS]);

/* Whether every account of l has a well-formed path under t's root and l's
 * organization (and l has accounts); logs the first that has not. */
bool scp_paths_usable(const struct scp_tree *t, const struct org_listing *l);

/*
 * Places every account and OU from the accounts' paths (each element's parent
 * is the one before; the root has none). Returns 0, -1 (out of memory, err
 * set), or 1 when the paths disagree: an OU given two parents, or an element
 * twice in one path. Then some parents are set and the caller forgets them.
 */
int scp_paths_place(struct scp_tree *t, const struct org_listing *l, char *err, size_t errlen);

#endif
