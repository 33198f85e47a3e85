#!/usr/bin/python3
"""tests/fake_aws/server.py with two lookups made O(1), for organizations of
10,000+ accounts; same command line, same checks, same answers.

The fake looks an entity up by scanning roots, OUs and accounts
(find_entity), and ListTargetsForPolicy does that for every target on every
page: FullAWSAccess is attached to every account, so at 10,000 accounts one
page costs ~50 million comparisons (seconds) and the 525 pages would take
longer than the benchmark. ListAccounts also re-renders every account for
each page of 20. Here find_entity uses an index and account_out a memo, both
keyed by the scenario object and rebuilt when it is replaced or its lists
change length. Signature checks (botocore SigV4), model validation, pacing
statistics and pagination are untouched. The benchmark does not patch the
scenario, so a patched account (same list length) cannot go stale here.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fake_aws'))
import server as fake  # noqa: E402

_orig_find_entity = fake.find_entity
_orig_account_out = fake.account_out
_index = {'key': None, 'map': None}
_memo = {'key': None, 'map': None}


def _key(sc):
    opts = sc.get('options')  # may be an empty dict: keep its identity
    return (id(sc), len(sc['roots']), len(sc['ous']), len(sc['accounts']),
            id(opts), bool(opts and opts.get('omit_legacy_status')),
            bool(opts and opts.get('omit_paths')))


def find_entity(sc, eid):
    k = _key(sc)
    if _index['key'] != k:
        m = {}
        # the scan's first match wins: roots, then OUs, then accounts, each in
        # list order; filled from the lowest priority up so later writes win
        for kind, items in (('ACCOUNT', sc['accounts']), ('ORGANIZATIONAL_UNIT', sc['ous']),
                            ('ROOT', sc['roots'])):
            for x in reversed(items):
                m[x['id']] = (kind, x)
        _index['map'], _index['key'] = m, k
    return _index['map'].get(eid, (None, None))


def account_out(sc, a):
    k = _key(sc)
    if _memo['key'] != k:
        _memo['map'], _memo['key'] = {}, k
    m = _memo['map']
    out = m.get(id(a))
    if out is None or out[0] is not a:
        out = m[id(a)] = (a, _orig_account_out(sc, a))
    return dict(out[1])  # a copy: callers may not mutate the memo


fake.find_entity = find_entity
fake.account_out = account_out

if __name__ == '__main__':
    sys.exit(fake.main())
