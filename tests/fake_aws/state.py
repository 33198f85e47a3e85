"""The fake's state: the scenario (what the organization, its trails and
roles look like), the credentials it knows, the statistics of what clients
did, and the indexes that make every lookup O(1) at 10,000+ accounts.

Data model: State.scenario is the scenario JSON as loaded (defaults filled
in); it is only changed under State.lock, by load_scenario or a patch, and
every change ends with changed(), which bumps the generation. index() gives
the Index of the current generation, built on first use after a change: the
lists in the scenario stay the truth (their order is the answers' order);
the Index maps ids and parents onto the same objects and memoises rendered
answers, so it is never out of date and never written to by a patch. Call
index() and read what it returns with State.lock held.
"""
import base64
import collections
import copy
import hashlib
import secrets
import threading
import time

import cloudtrail


class Index:
    """Lookups over one generation of a scenario. Built from sc in O(size);
    the lazily-filled memo holds answers computed from that generation only.
    Every object it gives out belongs to the scenario or the memo: read-only."""

    def __init__(self, sc, generation):
        self.generation = generation
        # first match wins, as a scan would find it: roots, then OUs, then
        # accounts, each in list order
        self.entities = {}
        for kind, items in (('ROOT', sc['roots']), ('ORGANIZATIONAL_UNIT', sc['ous']),
                            ('ACCOUNT', sc['accounts'])):
            for x in items:
                self.entities.setdefault(x['id'], (kind, x))
        self.accounts_by_id = {}
        self.accounts_by_parent = collections.defaultdict(list)
        for a in sc['accounts']:
            self.accounts_by_id.setdefault(a['id'], a)
            self.accounts_by_parent[a.get('parent_id')].append(a)
        self.ous_by_parent = collections.defaultdict(list)
        for o in sc['ous']:
            self.ous_by_parent[o.get('parent_id')].append(o)
        self.policies_by_id = {}
        self.policies_by_target = collections.defaultdict(list)
        for p in sc['policies']:
            self.policies_by_id.setdefault(p['id'], p)
            for t in dict.fromkeys(p.get('targets', [])):
                self.policies_by_target[t].append(p)
        self.memo = {}   # (what, key...) -> answer; see memoised()

    def entity(self, eid):
        """('ROOT'|'ORGANIZATIONAL_UNIT'|'ACCOUNT', obj) or (None, None)."""
        return self.entities.get(eid, (None, None))

    def memoised(self, key, compute):
        """The memo's answer for key, compute() on its first use."""
        try:
            return self.memo[key]
        except KeyError:
            v = self.memo[key] = compute()
            return v


class State:
    def __init__(self, scenario, sqs=None):
        """sqs: the SQS service (sqs.Sqs), given the scenario's "sqs" key at
        each load; it keeps its own lock."""
        self.lock = threading.RLock()
        self.sqs = sqs
        self.creds = {}          # akid -> dict(secret, token, account_id, arn, expires, source)
        self.issued = []         # what STS / container / IMDS handed out (no secrets)
        self.imds_tokens = {}    # token -> expiry
        self.generation = 0
        self._index = None
        self.load_scenario(scenario)
        self.reset_stats()

    # scenario ---------------------------------------------------------
    def load_scenario(self, sc):
        """Replaces the scenario with a copy of sc; issued keys stay valid."""
        with self.lock:
            self.loaded_at = time.time()
            sc = copy.deepcopy(sc)
            sc.setdefault('credentials', [])
            sc.setdefault('organization', None)
            sc.setdefault('roots', [])
            sc.setdefault('ous', [])
            sc.setdefault('accounts', [])
            sc.setdefault('policies', [])
            sc.setdefault('cloudtrail', {}).setdefault('events', {})
            sc.setdefault('roles', [])
            sc.setdefault('web_identity_tokens', [])
            sc.setdefault('options', {})
            for g in sc['cloudtrail'].get('generate', []):
                evs = sc['cloudtrail']['events'].setdefault(g['account'], {}).setdefault(g.get('region', 'us-east-1'), [])
                for i in range(int(g['count'])):
                    evs.append(cloudtrail.generated_event(g, i))
            for acc_regions in sc['cloudtrail']['events'].values():
                for evs in acc_regions.values():
                    for e in evs:
                        cloudtrail.normalise_event(e, self.loaded_at)
            self.scenario = sc
            self.changed()
            if self.sqs is not None:
                self.sqs.load(sc.get('sqs'))
            # static keys replace the old static keys; issued keys survive
            self.creds = {k: v for k, v in self.creds.items() if v['source'] != 'static'}
            for c in sc['credentials']:
                self.creds[c['access_key_id']] = {
                    'secret': c['secret_access_key'], 'token': c.get('session_token'),
                    'account_id': c['account_id'],
                    'arn': c.get('arn', 'arn:aws:iam::%s:user/%s' % (c['account_id'], c.get('user_name', 'fake-user'))),
                    'user_id': c.get('user_id', 'AIDA' + hashlib.sha1(c['access_key_id'].encode()).hexdigest()[:17].upper()),
                    'expires': c.get('expires'), 'source': 'static'}

    def changed(self):
        """Says the scenario changed (call with the lock held): the next
        index() builds a new Index."""
        with self.lock:
            self.generation += 1

    def index(self):
        """The Index of the scenario as it is now (call with the lock held)."""
        with self.lock:
            if self._index is None or self._index.generation != self.generation:
                self._index = Index(self.scenario, self.generation)
            return self._index

    # stats ------------------------------------------------------------
    def reset_stats(self):
        with self.lock:
            self.calls = collections.Counter()
            self.bad_signatures = 0
            self.wrong_types = 0  # responses a wrong_type rule changed
            self.invalid_requests = 0
            self.errors_returned = collections.Counter()
            self.windows = {}
            self.max_rate = {}
            self.requests = collections.deque(maxlen=1000)

    def observe(self, service, op, account, region):
        """Counts a request as it arrives (before any check)."""
        now = time.monotonic()
        with self.lock:
            self.calls['%s.%s' % (service, op)] += 1
            key = '%s.%s/%s/%s' % (service, op, account or 'unknown', region or 'unknown')
            w = self.windows.setdefault(key, collections.deque())
            w.append(now)
            while w and w[0] <= now - 1.0:
                w.popleft()
            if len(w) > self.max_rate.get(key, 0):
                self.max_rate[key] = len(w)

    def record(self, service, op, account, region, status, code):
        """Counts a request's outcome (the last 1000 are kept)."""
        with self.lock:
            if code != 'OK':
                self.errors_returned[code] += 1
            self.requests.append({'time': time.time(), 'service': service, 'operation': op,
                                  'account': account, 'region': region, 'status': status, 'code': code})

    def stats(self):
        """GET /_fake/stats: a copy the caller owns."""
        with self.lock:
            return {'calls': dict(self.calls), 'bad_signatures': self.bad_signatures,
                    'wrong_types': self.wrong_types,
                    'invalid_requests': self.invalid_requests,
                    'errors_returned': dict(self.errors_returned), 'max_rate': dict(self.max_rate),
                    'credentials_issued': list(self.issued), 'requests': list(self.requests)}

    # credentials ------------------------------------------------------
    def credential(self, akid):
        """A copy of the credential of akid, or None."""
        with self.lock:
            c = self.creds.get(akid)
            return dict(c) if c else None

    def issue(self, account_id, arn, user_id, duration, source):
        """New temporary credentials: (akid, secret, token, expiry epoch)."""
        akid = 'ASIA' + ''.join(secrets.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567') for _ in range(16))
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        token = 'FQoGZXIvYXdzE' + base64.b64encode(secrets.token_bytes(96)).decode()
        exp = int(time.time() + duration)
        with self.lock:
            self.creds[akid] = {'secret': secret, 'token': token, 'account_id': account_id, 'arn': arn,
                                'user_id': user_id, 'expires': exp, 'source': source}
            self.issued.append({'access_key_id': akid, 'source': source, 'account_id': account_id,
                                'arn': arn, 'issued_at': time.time(), 'expiration': exp})
        return akid, secret, token, exp

    def expire(self, access_key_id=None):
        """Makes every issued credential (or the one of access_key_id) expire now."""
        with self.lock:
            for k, c in self.creds.items():
                if c['source'] != 'static' and access_key_id in (None, k):
                    c['expires'] = int(time.time()) - 1

    def find_role(self, arn):
        for r in self.scenario['roles']:
            if r['arn'] == arn:
                return r
        return None
