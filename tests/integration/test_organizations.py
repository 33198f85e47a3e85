"""The organizations collector against the fake AWS: a large organization
with hostile names, departures and arrivals, and listings that fail
part-way without ever counting a departure."""
import json
import os
import subprocess
import time
import unittest

from harness import (CHECKER, RELEASE, SCENARIOS, TESTING, Exporter, FakeAWS, Prometheus, env_keys,
                     RUN_FAILED, log_lines, parse_exposition, run_failed, wait_until)

STATES = ['PENDING_ACTIVATION', 'ACTIVE', 'SUSPENDED', 'PENDING_CLOSURE', 'CLOSED']
FORGED = 'x"} 1\naws_org_account_departures_total 0\n#'
NASTY = ['quote " in name', 'back\\slash', 'new\nline', 'brace } name',
         'utf8 \u00dcn\u00efc\u00f8d\u00e9 \u2713 \U0001f512', FORGED]


def big_scenario(n=137):
    with open(os.path.join(SCENARIOS, 'basic.json')) as f:
        doc = json.load(f)
    accounts = [dict(doc['accounts'][0])]  # the management account, ACTIVE
    for i in range(1, n):
        name = NASTY[i - 1] if i <= len(NASTY) else 'member-%03d' % i
        accounts.append({'id': '3%011d' % i, 'name': name, 'email': 'a%d@example.com' % i,
                         'state': STATES[i % 5], 'joined_method': 'INVITED' if i % 2 else 'CREATED',
                         'joined_timestamp': 1700000000 + i, 'parent_id': doc['roots'][0]['id']})
    doc['accounts'] = accounts
    return doc


def samples(body, name):
    return [(l, v) for n, l, v in parse_exposition(body) if n == name]


def value(body, name, **labels):
    vals = [v for l, v in samples(body, name) if l == labels]
    return vals[0] if len(vals) == 1 else None


API_STATES = ['PENDING_ACTIVATION', 'ACTIVE', 'SUSPENDED', 'PENDING_CLOSURE', 'CLOSED']


def departures(body):
    """aws_org_account_departures_total by last_state: every state of the API
    always there (exactly those, unless another state departed)."""
    return {l['last_state']: v for l, v in samples(body, 'aws_org_account_departures_total')}


def departed_total(body):
    d = departures(body)
    return sum(d.values()) if set(API_STATES) <= set(d) else None


class OrganizationsTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeAWS()
        self.doc = big_scenario()
        self.fake.scenario(self.doc)

    def tearDown(self):
        self.fake.stop()

    def exporter(self, *args, binary=TESTING):
        if binary == TESTING:
            args = ('--no-collector.testing',) + args
        return Exporter('--aws.endpoint-url=' + self.fake.url, *args,
                        binary=binary, aws=['organizations'], env=env_keys())

    def wait_run_failed(self, x, err, timeout):
        """True once the exporter's log holds exactly one run failure, err."""
        return wait_until(lambda: log_lines(x.stderr(), RUN_FAILED) ==
                          [run_failed('organizations', err)], timeout)

    def wait_up(self, x, up=1, timeout=20):
        line = ('aws_org_collector_up{collector="organizations"} %d\n' % up).encode()
        return wait_until(lambda: line in x.get()[2], timeout, 0.1)

    def test_large_organization_with_hostile_names(self):
        with self.exporter() as x:
            self.assertTrue(self.wait_up(x), x.stderr())
            body = x.get()[2]
        want = {s: sum(1 for a in self.doc['accounts'] if a['state'] == s) for s in STATES}
        got = {l['state']: v for l, v in samples(body, 'aws_org_accounts')}
        self.assertEqual(got, want)
        self.assertEqual(sum(want.values()), 137)
        self.assertEqual(want, {'PENDING_ACTIVATION': 27, 'ACTIVE': 29, 'SUSPENDED': 27,
                                'PENDING_CLOSURE': 27, 'CLOSED': 27})
        info = samples(body, 'aws_org_account_info')
        self.assertEqual(len(info), 137)
        by_id = {l['account_id']: l for l, _ in info}
        for a in self.doc['accounts']:  # no email label unless asked
            self.assertEqual(by_id[a['id']], {'account_id': a['id'], 'name': a['name'],
                                              'state': a['state'],
                                              'joined_method': a['joined_method']})
        self.assertEqual(value(body, 'aws_org_account_joined_timestamp_seconds',
                               account_id='300000000007'), 1700000007)
        # The forged name is one label value: the counter it imitates exists once.
        self.assertEqual(samples(body, 'aws_org_account_departures_total'),
                         [({'last_state': st}, 0.0) for st in API_STATES])
        self.assertEqual([l for l in body.split(b'\n')
                          if l.startswith(b'aws_org_account_info{account_id="300000000006",')],
                         [b'aws_org_account_info{account_id="300000000006",name="x\\"} 1\\n'
                          b'aws_org_account_departures_total 0\\n#",state="ACTIVE",'
                          b'joined_method="CREATED"} 1'])
        self.assertEqual(value(body, 'aws_org_info', organization_id='o-a1b2c3d4e5',
                               management_account_id='111111111111', feature_set='ALL'), 1)
        self.assertEqual(self.fake.stats()['calls']['organizations.ListAccounts'], 7)
        for cmd in (['promtool', 'check', 'metrics'],):
            p = subprocess.run(cmd, input=body, capture_output=True)
            self.assertEqual((p.returncode, p.stdout + p.stderr), (0, b''))

    def test_empty_pages_with_a_token_are_not_the_end(self):
        self.fake.patch({'op': 'set_option', 'name': 'list_accounts_page_size',
                         'value': [20, 0, 7]})
        with self.exporter() as x:
            self.assertTrue(self.wait_up(x), x.stderr())
            self.assertEqual(len(samples(x.get()[2], 'aws_org_account_info')), 137)

    def test_email_only_when_asked(self):
        with self.exporter('--collector.organizations.account-email') as x:
            self.assertTrue(self.wait_up(x))
            info = {l['account_id']: l for l, _ in samples(x.get()[2], 'aws_org_account_info')}
        self.assertEqual(info['300000000009']['email'], 'a9@example.com')

    def test_departures_and_arrivals(self):
        with self.exporter('--collector.organizations.interval=1s') as x:
            self.assertTrue(self.wait_up(x))
            body = x.get()[2]
            self.assertEqual(value(body, 'aws_org_account_arrivals_total'), 0)  # first listing
            # 300000000004 was CLOSED: AWS removing it is a departure too, told
            # apart by its last state.
            gone = ['300000000003', '300000000004', '300000000050', '300000000100']
            self.fake.patch([{'op': 'remove_account', 'id': i} for i in gone])
            self.assertTrue(wait_until(
                lambda: departed_total(x.get()[2]) == 4, 10, 0.1))
            body = x.get()[2]
            departed = {l['account_id']: (l['name'], v)
                        for l, v in samples(body, 'aws_org_departed_account_info')}
            self.assertEqual(sorted(departed), gone)
            state_of = {a['id']: a['state'] for a in self.doc['accounts']}
            self.assertEqual({l['account_id']: l['last_state']
                              for l, _ in samples(body, 'aws_org_departed_account_info')},
                             {i: state_of[i] for i in gone})
            want = dict.fromkeys(API_STATES, 0.0)
            for i in gone:
                want[state_of[i]] += 1
            self.assertEqual(departures(body), want)
            self.assertEqual(want['CLOSED'], 1)
            self.assertEqual(departed['300000000003'][0], 'new\nline')
            self.assertLess(abs(departed['300000000050'][1] - time.time()), 10)
            self.assertEqual(len(samples(body, 'aws_org_account_info')), 133)
            departed_lines = ['level=warn caller=organizations.c module=organizations '
                              'msg="account departed the organization" account_id=%s name=%s '
                              'last_state=%s' % (i, n, st) for i, n, st in (
                                  ('300000000003', '"new\\nline"', 'PENDING_CLOSURE'),
                                  ('300000000004', '"brace } name"', 'CLOSED'),
                                  ('300000000050', 'member-050', 'PENDING_ACTIVATION'),
                                  ('300000000100', 'member-100', 'PENDING_ACTIVATION'))]
            self.assertEqual(log_lines(x.stderr(), 'account departed the organization'),
                             departed_lines)
            self.fake.patch([{'op': 'add_account', 'account': {
                'id': '40000000000%d' % i, 'name': 'new-%d' % i, 'email': 'n%d@example.com' % i,
                'state': 'ACTIVE', 'joined_method': 'INVITED', 'joined_timestamp': 1790000000,
                'parent_id': self.doc['roots'][0]['id']}} for i in (1, 2)])
            self.assertTrue(wait_until(
                lambda: value(x.get()[2], 'aws_org_account_arrivals_total') == 2, 10, 0.1))
            time.sleep(1.2)
            body = x.get()[2]
            self.assertEqual(departed_total(body), 4)
            self.assertEqual(value(body, 'aws_org_account_arrivals_total'), 2)
            self.assertEqual(log_lines(x.stderr(), 'account joined the organization'),
                             ['level=info caller=organizations.c module=organizations '
                              'msg="account joined the organization" account_id=40000000000%d '
                              'name=new-%d state=ACTIVE joined_method=INVITED' % (i, i)
                              for i in (1, 2)])

    def test_departing_twice_is_one_series_and_two_warnings(self):
        # Removed, back, removed again, all within the retention: one series
        # (its time the second departure's) and a warn line per departure,
        # the second not swallowed by the repeat filter.
        acc = next(a for a in self.doc['accounts'] if a['id'] == '300000000050')
        departed = lambda body: samples(body, 'aws_org_departed_account_info')
        with self.exporter('--collector.organizations.interval=1s') as x:
            self.assertTrue(self.wait_up(x), x.stderr())
            self.fake.patch({'op': 'remove_account', 'id': acc['id']})
            self.assertTrue(wait_until(
                lambda: departed_total(x.get()[2]) == 1, 10, 0.1))
            first = departed(x.get()[2])
            self.assertEqual([l for l, _ in first],
                             [{'account_id': '300000000050', 'name': 'member-050',
                               'last_state': 'PENDING_ACTIVATION'}])
            self.fake.patch({'op': 'add_account', 'account': acc})
            self.assertTrue(wait_until(
                lambda: value(x.get()[2], 'aws_org_account_arrivals_total') == 1, 10, 0.1))
            self.assertEqual(departed(x.get()[2]), [])  # back: no longer departed
            self.fake.patch({'op': 'remove_account', 'id': acc['id']})
            self.assertTrue(wait_until(
                lambda: departed_total(x.get()[2]) == 2, 10, 0.1))
            body = x.get()[2]
            log = x.stderr()
        second = departed(body)
        self.assertEqual([l for l, _ in second],
                         [{'account_id': '300000000050', 'name': 'member-050',
                           'last_state': 'PENDING_ACTIVATION'}])
        self.assertGreater(second[0][1], first[0][1])
        want = ('level=warn caller=organizations.c module=organizations '
                'msg="account departed the organization" account_id=300000000050 '
                'name=member-050 last_state=PENDING_ACTIVATION')
        self.assertEqual(log_lines(log, 'account departed the organization'), [want, want], log)
        p = subprocess.run(['/usr/bin/python3', CHECKER], input=body, capture_output=True)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, b''))

    def test_failed_listings_count_no_departure(self):
        with self.exporter('--collector.organizations.interval=1s', '--aws.max-attempts=1') as x:
            self.assertTrue(self.wait_up(x))
            good = x.get()[2]
            self.fake.patch([{'op': 'remove_account', 'id': i}
                             for i in ('300000000001', '300000000002', '300000000004')])
            for kind in ('5xx', 'malformed'):
                for page in range(1, 8):
                    calls = self.fake.stats()['calls'].get('organizations.ListAccounts', 0)
                    self.fake.faults([{'operation': 'organizations.ListAccounts', 'kind': kind,
                                       'every': page}])
                    # Two listings that each fail on this page.
                    self.assertTrue(wait_until(lambda: self.fake.stats()['calls'].get(
                        'organizations.ListAccounts', 0) >= calls + 2 * page, 15, 0.1))
                    body = x.get()[2]
                    self.assertEqual(value(body, 'aws_org_collector_up',
                                           collector='organizations'), 0, (kind, page))
                    self.assertEqual(departed_total(body), 0,
                                     (kind, page))
                    # The last good listing is still served, whole.
                    self.assertEqual(samples(body, 'aws_org_account_info'),
                                     samples(good, 'aws_org_account_info'))
            # Which page each listing failed on depends on where the fake's
            # call count stood when the fault was set: each line is one of
            # these, and both kinds were logged.
            errors = {kind: {run_failed('organizations',
                                        'ListAccounts: %s (page %d)' % (text, page))
                             for page in range(1, 8)}
                      for kind, text in (
                          ('5xx', 'InternalFailure: We encountered an internal error. '
                                  'Please try again.'),
                          ('malformed', 'MalformedResponse: the response is not a JSON object'))}
            logged = set(log_lines(x.stderr(), RUN_FAILED))
            self.assertEqual(logged - errors['5xx'] - errors['malformed'], set())
            self.assertNotEqual(logged & errors['5xx'], set())
            self.assertNotEqual(logged & errors['malformed'], set())
            self.fake.faults([])
            self.assertTrue(self.wait_up(x))
            body = x.get()[2]
            self.assertEqual(departed_total(body), 3)
            self.assertEqual(len(samples(body, 'aws_org_account_info')), 134)

    def test_repeating_next_token_is_an_error(self):
        self.fake.faults([{'operation': 'organizations.ListAccounts', 'kind': 'repeat_token'}])
        with self.exporter() as x:
            self.assertTrue(self.wait_up(x, up=0))
            self.assertTrue(self.wait_run_failed(
                x, 'ListAccounts: NextToken repeated on page 2', 5), x.stderr())

    def test_access_denied_is_explained(self):
        self.fake.faults([{'operation': 'organizations.DescribeOrganization',
                           'kind': 'access_denied'}])
        with self.exporter() as x:
            # up is 0 before the first run too: wait for the run's own word.
            self.assertTrue(self.wait_run_failed(
                x, 'DescribeOrganization: access denied: the exporter\'s role needs '
                'organizations:DescribeOrganization (AWS said: You don\'t have permissions to '
                'access this resource.)', 10), x.stderr())
            self.assertEqual(value(x.get()[2], 'aws_org_collector_up', collector='organizations'),
                             0)

    def test_not_in_organization_is_explained(self):
        with Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                      aws=['organizations'], env={'AWS_ACCESS_KEY_ID': 'AKIAFAKEMEMBER000002',
                                     'AWS_SECRET_ACCESS_KEY':
                                     'fakeMemberSecretKey/22222222222222222222'}) as x:
            # 222222222222 is not among the accounts of this scenario's organization.
            self.assertTrue(self.wait_up(x, up=0))
            self.assertTrue(self.wait_run_failed(
                x, 'DescribeOrganization: this account is not a member of an organization: run '
                'the exporter with credentials of the management account or a delegated '
                'administrator', 5), x.stderr())

    def test_prometheus_stores_names_unchanged(self):
        with self.exporter(binary=RELEASE) as x, Prometheus(['127.0.0.1:%d' % x.port]) as prom:
            self.assertTrue(self.wait_up(x))
            result = wait_until(lambda: prom.query('aws_org_account_info'), 60, 0.5)
            names = sorted(r['metric']['name'] for r in result)
            self.assertEqual(names, sorted(a['name'] for a in self.doc['accounts']))

if __name__ == '__main__':
    unittest.main()
