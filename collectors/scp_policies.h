/*
 * scp_policies: the SCPs of one run of the SCP collector, each with its
 * document (DescribePolicy) parsed by scp_eval, and the ones that did not
 * parse when last read, kept from run to run so that each is warned about
 * once while its problem stays the same. Documents are read on every run,
 * never cached: UpdatePolicy can change a document alone, effective at once.
 */
#ifndef COLLECTORS_SCP_POLICIES_H
#define COLLECTORS_SCP_POLICIES_H

#include <stddef.h>

#include "collectors/aws/client.h"
#include "collectors/scp_eval.h"

/* AWS allows 1,000 SCPs; a listing of more is not believed. */
#define SCP_MAX_POLICIES 10000

/* A policy and its document, as read by one run. */
struct scp_listed_policy {
    char id[SCP_ID_MAX];
    struct scp_doc *doc; /* owned; NULL: not read yet, or malformed */
    char problem[512];   /* why the document does not parse; "" when it does */
};

/* The SCPs of one run, in ListPolicies order. Zero-initialised is empty. */
struct scp_policies {
    struct scp_listed_policy *v; /* owned */
    size_t n, cap;
};

/* Frees the policies' documents and array; leaves ps empty. Accepts NULL. */
void scp_policies_clear(struct scp_policies *ps);

/* Adds a listed SCP (its id, copied; no document yet). Returns 0, or -1 when
 * the id is too long, the list full, or memory short. */
int scp_policies_add(struct scp_policies *ps, const char *id);

/*
 * Reads a policy's document into p->doc (p's, NULL before) on client c.
 * Returns 0 with p->doc set, or with p->doc NULL when the document AWS holds
 * does not parse (p->problem says why: the accounts it could decide are
 * unknown). Returns -1 with err set when the call failed or its answer is
 * malformed: the run fails, and the last good snapshot stays.
 */
int scp_policy_read_document(struct aws_client *c, struct scp_listed_policy *p, char *err,
                             size_t errlen);

/* Warns about a policy that does not parse, once while its problem stays
 * the same (`broken`: the ones that did not parse when last read). */
void scp_policy_warn_unparsed(const struct scp_policies *broken, const struct scp_listed_policy *p);

/* Makes broken the policies of ps that do not parse (ids and problems, no
 * documents), for the next run's warnings; out of memory, they are warned
 * about again. */
void scp_policies_keep_broken(struct scp_policies *broken, const struct scp_policies *ps);

#endif
