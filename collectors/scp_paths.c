#include "collectors/scp_paths.h"

#include <stdio.h>
#include <string.h>

#include "lib/log.h"

size_t scp_path_split(const char *path, const char *root, const char *account, char *buf,
                      size_t buflen, char *el[SCP_PATH_MAX_ELEMENTS])
{
    size_t len = strlen(path);
    if (len >= buflen || len < 2 || path[len - 1] != '/')
        return 0;
    memcpy(buf, path, len + 1);
    size_t n = 0;
    for (char *p = buf; *p != '\0';) {
        char *slash = strchr(p, '/');
        if (slash == p || n == SCP_PATH_MAX_ELEMENTS || slash - p >= SCP_ID_MAX)
            return 0; /* an empty element, too deep, or an id too long */
        *slash = '\0';
        el[n++] = p;
        p = slash + 1;
    }
    if (n < 3 || strncmp(el[0], "o-", 2) != 0 || strcmp(el[1], root) != 0 ||
        strcmp(el[n - 1], account) != 0)
        return 0;
    for (size_t i = 2; i + 1 < n; i++)
        if (strncmp(el[i], "ou-", 3) != 0)
            return 0;
    return n;
}

bool scp_paths_usable(const struct scp_tree *t, const struct org_listing *l)
{
    bool paths = l->n > 0;
    char buf[1024], whole[1024], *el[SCP_PATH_MAX_ELEMENTS];
    for (size_t i = 0; i < l->n && paths; i++) {
        const struct org_account *a = &l->accounts[i];
        const char *path = org_account_path(a, whole, sizeof whole);
        paths = path != NULL && scp_path_split(path, t->root, a->id, buf, sizeof buf, el) > 0 &&
                (l->org_id == NULL || strcmp(el[0], l->org_id) == 0);
        if (path != NULL && !paths)
            log_warn("scp", "an account's path is not well formed: walking the OU tree instead",
                     "account_id", a->id);
    }
    return paths;
}

int scp_paths_place(struct scp_tree *t, const struct org_listing *l, char *err, size_t errlen)
{
    char buf[1024], whole[1024], *el[SCP_PATH_MAX_ELEMENTS];
    for (size_t i = 0; i < l->n; i++) {
        const struct org_account *a = &l->accounts[i];
        const char *path = org_account_path(a, whole, sizeof whole);
        size_t n = path ? scp_path_split(path, t->root, a->id, buf, sizeof buf, el) : 0;
        for (size_t k = 2; k < n; k++) {
            for (size_t j = 1; j < k; j++)
                if (strcmp(el[j], el[k]) == 0)
                    goto disagree;
            struct scp_node *nd = scp_tree_node(t, el[k], true);
            if (nd == NULL || (nd->parent == NULL && scp_node_set_parent(nd, el[k - 1]) != 0)) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            if (strcmp(nd->parent, el[k - 1]) != 0)
                goto disagree;
        }
        continue;
    disagree:
        log_warn("scp", "the accounts' paths disagree: walking the OU tree instead", "account_id",
                 a->id);
        return 1;
    }
    return 0;
}
