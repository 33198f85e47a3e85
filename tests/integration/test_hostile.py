"""Hostile clients, AWS faults, a soak run, secrets, and Prometheus over TLS
with basic auth: the exporter keeps serving, keeps telling the truth, and
does not grow."""
import concurrent.futures
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (MGMT_KEY, RELEASE, SCENARIOS, TESTING, Exporter, FakeAWS, Prometheus,
                     env_keys, parse_exposition, wait_until)


def fds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1))


def timed_scrape(x):
    t0 = time.monotonic()
    status, _, body = x.get(timeout=5)
    return status, time.monotonic() - t0, body


class HostileClientsTest(unittest.TestCase):
    def test_slowloris_idle_oversized_bursts(self):
        # Every client here is 127.0.0.1, the scraper too: the per-address
        # limit (tested in test_webconfig) is off, so what is tested is how the
        # server bears 330 connections at once.
        with Exporter('--collector.testing.series=2000', '--collector.testing.interval=1h',
                      '--web.max-requests=4', '--web.max-connections-per-ip=0',
                      binary=TESTING) as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 20))
            for _ in range(3):
                x.get()
            base_fds = fds(x.proc.pid)
            held = []
            try:
                for _ in range(300):  # idle connections
                    held.append(socket.create_connection(('127.0.0.1', x.port)))
                slow = []
                for _ in range(30):  # slowloris
                    s = socket.create_connection(('127.0.0.1', x.port))
                    s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\n')
                    slow.append(s)
                held += slow
                for round_ in range(5):
                    for s in slow:
                        s.send(b'X')  # a header, a byte at a time
                    status, took, _ = timed_scrape(x)
                    self.assertEqual(status, 200)
                    self.assertLess(took, 2.0)
                # Oversized request line and headers: refused, nothing else hurt.
                status, _, _ = x.get('/' + 'a' * 70000)
                self.assertEqual(status, 414)  # URI Too Long
                status, _, _ = x.get(headers={'X-Big': 'b' * 100000})
                self.assertEqual(status, 431)  # Request Header Fields Too Large
                # A burst of scrapes beyond --web.max-requests: some get 503,
                # none hang, and a normal scrape succeeds right after.
                with concurrent.futures.ThreadPoolExecutor(40) as pool:
                    results = list(pool.map(lambda _: x.get(timeout=10)[0], range(80)))
                self.assertEqual(set(results) - {200, 503}, set())
                self.assertEqual([x.get(method=m)[0] for m in ('HEAD', 'OPTIONS', 'POST', 'DELETE')],
                                 [200, 405, 405, 405])
                status, took, body = timed_scrape(x)
                self.assertEqual(status, 200)
                self.assertLess(took, 2.0)
            finally:
                for s in held:
                    s.close()
            # 300 scrapes leave the descriptor count where it was.
            for _ in range(300):
                self.assertEqual(x.get()[0], 200)
            self.assertTrue(wait_until(lambda: fds(x.proc.pid) <= base_fds, 10),
                            (fds(x.proc.pid), base_fds))
            self.assertLess(rss_kb(x.proc.pid), 256 * 1024)  # ASan build: generous
            self.assertIsNone(x.proc.poll())


def org_scenario():
    with open(os.path.join(SCENARIOS, 'basic.json')) as f:
        return json.load(f)


class FaultMatrixTest(unittest.TestCase):
    """Every fault the fake can inject, on every AWS collector: the exporter
    stays up, serves its last good values with up 0, counts no false
    departure and no duplicate event, and recovers when the fault stops."""

    KINDS = ['throttle', '5xx', 'slow', 'reset', 'truncate', 'malformed', 'expired', 'skew',
             'access_denied', 'repeat_token']

    def test_fault_matrix(self):
        with FakeAWS() as fake, Exporter(
                '--aws.endpoint-url=' + fake.url, '--no-collector.testing',
                '--collector.organizations.interval=1s', '--collector.scp.interval=1s',
                '--collector.cloudtrail.interval=1s',
                '--collector.cloudtrail.events=DetachPolicy,RemoveAccountFromOrganization',
                '--aws.max-attempts=2', '--aws.timeout=3s', binary=TESTING, aws=True,
                env=env_keys()) as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 30), x.stderr())
            good = parse_exposition(x.get()[2])

            def value(body, name, **labels):
                return [v for n, l, v in parse_exposition(body) if n == name and l == labels]
            events_before = {(l['event_name'], l['outcome']): v for n, l, v in good
                             if n == 'aws_org_cloudtrail_events_total'}
            for kind in self.KINDS:
                fake.faults([{'operation': 'organizations.*', 'kind': kind, 'delay_seconds': 4},
                             {'operation': 'cloudtrail.*', 'kind': kind, 'delay_seconds': 4}])
                calls = sum(fake.stats()['calls'].values())
                if kind in ('throttle', 'slow', 'expired', 'skew'):
                    # retried or corrected: runs may still succeed; let some go by
                    self.assertTrue(wait_until(
                        lambda: sum(fake.stats()['calls'].values()) >= calls + 12, 30), kind)
                else:
                    self.assertTrue(wait_until(
                        lambda: b'aws_org_collector_up{collector="organizations"} 0\n'
                        in x.get()[2], 30), kind)
                status, body = x.get()[0], x.get()[2]
                self.assertEqual(status, 200, kind)
                self.assertEqual(sorted(v for n, l, v in parse_exposition(body)
                                        if n == 'aws_org_account_departures_total'), [0.0] * 5, kind)
                self.assertEqual(len(value(body, 'aws_org_info', organization_id='o-a1b2c3d4e5',
                                           management_account_id='111111111111',
                                           feature_set='ALL')), 1, kind)
                self.assertEqual(len([1 for n, l, v in parse_exposition(body)
                                      if n == 'aws_org_account_info']), 25, kind)
                fake.faults([])
                self.assertTrue(wait_until(
                    lambda: all(b'aws_org_collector_up{collector="%s"} 1\n' % c in x.get()[2]
                                for c in (b'organizations', b'scp', b'cloudtrail')), 40), kind)
            body = x.get()[2]
            events_after = {(l['event_name'], l['outcome']): v
                            for n, l, v in parse_exposition(body)
                            if n == 'aws_org_cloudtrail_events_total'}
            self.assertEqual(events_after, events_before)
            self.assertEqual(sorted(v for n, l, v in parse_exposition(body)
                                        if n == 'aws_org_account_departures_total'), [0.0] * 5)
            self.assertIsNone(x.proc.poll())


class WrongTypesTest(unittest.TestCase):
    """Every member the collectors read, given the wrong JSON type, one at a
    time and wherever it occurs (inside CloudTrail records too): the exporter
    stays up and serves what it last knew (every account, the same
    leave-protection statuses), counts no departure and no event twice, and
    recovers when the answers are right again."""

    FIELDS = [
        # Organizations
        'Organization', 'Id', 'Arn', 'MasterAccountId', 'FeatureSet', 'Accounts', 'Name',
        'Email', 'State', 'Status', 'JoinedMethod', 'JoinedTimestamp', 'Paths', 'NextToken',
        'Roots', 'PolicyTypes', 'Type', 'Policies', 'Description', 'AwsManaged', 'Policy',
        'PolicySummary', 'Content', 'Targets', 'TargetId',
        # CloudTrail: the summaries and the records inside them
        'Events', 'EventId', 'EventName', 'EventTime', 'EventSource', 'Username',
        'CloudTrailEvent', 'eventID', 'eventTime', 'eventName', 'eventSource', 'errorCode',
        'errorMessage', 'userIdentity', 'arn', 'sourceIPAddress', 'recipientAccountId',
        'requestParameters', 'accountId',
    ]

    def test_every_field_with_the_wrong_type(self):
        with FakeAWS() as fake, Exporter(
                '--aws.endpoint-url=' + fake.url, '--no-collector.testing',
                '--collector.organizations.interval=1s', '--collector.scp.interval=1s',
                '--collector.cloudtrail.interval=1s', '--aws.max-attempts=1',
                # the member's denied LeaveOrganization records carry errorCode
                '--collector.cloudtrail.member-role=aws-org-exporter-member',
                binary=TESTING, aws=True, env=env_keys()) as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 30), x.stderr())
            good = parse_exposition(x.get()[2])

            def events(samples):
                return {(l['event_name'], l['outcome']): v for n, l, v in samples
                        if n == 'aws_org_cloudtrail_events_total'}

            def accounts(samples):
                return {l['account_id'] for n, l, v in samples if n == 'aws_org_account_info'}

            def protection(samples):
                return {l['account_id']: l['status'] for n, l, v in samples
                        if n == 'aws_org_account_leave_protection'}

            before, listed, protected = events(good), accounts(good), protection(good)
            self.assertEqual(len(protected), 25)
            self.assertEqual(len(listed), 25)
            for field in self.FIELDS:
                applied = fake.stats()['wrong_types']
                fake.faults([{'operation': '*', 'kind': 'wrong_type', 'field': field}])
                self.assertTrue(wait_until(lambda: fake.stats()['wrong_types'] >= applied + 2, 20),
                                field)
                time.sleep(0.3)  # the runs that got the wrong answers end
                status, _, body = x.get()
                now = parse_exposition(body)
                self.assertEqual(status, 200, field)
                self.assertIsNone(x.proc.poll(), field)
                self.assertEqual([v for n, l, v in now if n == 'aws_org_account_departures_total'],
                                 [0.0] * 5, field)
                self.assertEqual(accounts(now), listed, field)
                self.assertEqual(events(now), before, field)
                self.assertEqual(protection(now), protected, field)
            fake.faults([])
            self.assertTrue(wait_until(
                lambda: all(b'aws_org_collector_up{collector="%s"} 1\n' % c in x.get()[2]
                            for c in (b'organizations', b'scp', b'cloudtrail')), 40))
            after = parse_exposition(x.get()[2])
            self.assertEqual(events(after), before)
            self.assertEqual(accounts(after), listed)
            self.assertEqual(protection(after), protected)
            self.assertEqual([v for n, l, v in after if n == 'aws_org_account_departures_total'],
                             [0.0] * 5)
            self.assertEqual(fake.stats()['bad_signatures'], 0)


FORGE = '"} 1\naws_org_forged_total{x="y"} 1\n# \\ \u00e9\u2028\u00a0\U0001f600'


def awkward(n, prefix=''):
    """n characters of the awkward kind, prefix first: quotes, braces,
    backslashes, newlines, non-ASCII letters, a line separator, an emoji."""
    text = prefix
    while len(text) < n:
        text += FORGE
    return text[:n]


class HostileDataTest(unittest.TestCase):
    """Names, OU names, a policy document and CloudTrail records at the
    largest sizes AWS allows, full of characters that would break or forge
    an exposition line: the body passes promtool, holds no series the
    exporter does not write, and carries every value escaped, in full or
    cut to the exporter's documented bounds."""

    def test_maximum_sizes_and_awkward_characters(self):
        with open(os.path.join(SCENARIOS, 'basic.json')) as f:
            doc = json.load(f)
        names = {}
        for i, a in enumerate(doc['accounts'][1:6]):  # account names: 50 characters at most
            a['name'] = names[a['id']] = awkward(50, 'acct%d ' % i)
        for o in doc['ous']:  # OU names: 128 characters at most
            o['name'] = awkward(128, o['id'] + ' ')
        # An SCP of 5,120 characters (the quota) that denies LeaveOrganization
        # on the sandbox OU, its Sids and condition values awkward.
        statements = [{'Sid': 'DenyLeave', 'Effect': 'Deny',
                       'Action': 'organizations:LeaveOrganization', 'Resource': '*'}]
        while True:
            st = {'Sid': 'Pad%d' % len(statements), 'Effect': 'Deny', 'Action': 'ec2:RunInstances',
                  'Resource': '*', 'Condition': {'StringEquals': {'aws:PrincipalTag/x': awkward(200)}}}
            if len(json.dumps({'Version': '2012-10-17', 'Statement': statements + [st]})) > 5120:
                break
            statements.append(st)
        content = json.dumps({'Version': '2012-10-17', 'Statement': statements})
        content += ' ' * (5120 - len(content))
        doc['policies'].append({'id': 'p-hostile0001', 'name': awkward(128), 'description':
                                awkward(512), 'type': 'SERVICE_CONTROL_POLICY',
                                'aws_managed': False, 'content': content,
                                'targets': ['ou-a1b2-sand0001']})
        # A denied LeaveOrganization whose record is near CloudTrail's 256 KB
        # limit, every string the exporter reads longer than it keeps.
        record = {
            'eventVersion': '1.09', 'eventID': 'e0e0e0e0-hostile-record-000000000001',
            'eventTime': '2026-11-28T00:00:00Z', 'eventSource': 'organizations.amazonaws.com',
            'eventName': 'LeaveOrganization', 'awsRegion': 'us-east-1',
            'sourceIPAddress': awkward(300, '192.0.2.1'),
            'errorCode': awkward(200, 'AccessDenied'),
            'errorMessage': awkward(4000, 'not authorized to perform: '),
            'recipientAccountId': '111111111111',
            'userIdentity': {'type': 'AssumedRole', 'accountId': '111111111111',
                             'arn': awkward(2048, 'arn:aws:sts::111111111111:assumed-role/')},
            'requestParameters': {'padding': ''}, 'responseElements': None,
            'readOnly': False, 'managementEvent': True}
        pad = 150000
        while len(json.dumps(dict(record, requestParameters={'padding': awkward(pad)}))) > 255 * 1024:
            pad -= 1000
        record['requestParameters']['padding'] = awkward(pad)
        doc['cloudtrail']['events'].setdefault('111111111111', {}).setdefault('us-east-1', []).append({
            'EventId': record['eventID'], 'EventName': 'LeaveOrganization', 'EventTimeAgo': 60,
            'EventSource': 'organizations.amazonaws.com', 'Username': awkward(64),
            'ReadOnly': 'false', 'Resources': [], 'CloudTrailEvent': record})
        with FakeAWS() as fake:
            fake.scenario(doc)
            # protected-details: the hostile policy id reaches a label of a
            # protected account too.
            with Exporter('--aws.endpoint-url=' + fake.url, '--no-collector.testing',
                          '--collector.scp.protected-details', binary=TESTING, aws=True,
                          env=env_keys()) as x:
                self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 40), x.stderr())
                self.assertTrue(wait_until(lambda: all(
                    b'aws_org_collector_up{collector="%s"} 1\n' % c in x.get()[2]
                    for c in (b'organizations', b'scp', b'cloudtrail')), 30), x.stderr()[-3000:])
                body = x.get()[2]
        p = subprocess.run(['promtool', 'check', 'metrics'], input=body, capture_output=True)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, b''))
        samples = parse_exposition(body)
        self.assertEqual([n for n, l, v in samples if 'forged' in n], [])
        self.assertTrue(all(n.startswith(('aws_org_', 'process_')) for n, l, v in samples),
                        sorted({n for n, l, v in samples}))
        got = {l['account_id']: l['name'] for n, l, v in samples if n == 'aws_org_account_info'}
        for aid, name in names.items():
            self.assertEqual(got[aid], name)  # in full, escaped and read back
        status = {l['account_id']: l['status'] for n, l, v in samples
                  if n == 'aws_org_account_leave_protection'}
        self.assertEqual(status['444444444444'], 'protected')  # in the sandbox OU
        info = [l for n, l, v in samples if n == 'aws_org_account_leave_protection_info'
                and l['account_id'] == '444444444444']
        self.assertEqual(info[0]['policy_id'], 'p-hostile0001')
        recent = [l for n, l, v in samples if n == 'aws_org_cloudtrail_recent_event_info'
                  and l['event_id'] == record['eventID']]
        self.assertEqual(len(recent), 1)
        ev = recent[0]
        self.assertEqual(ev['outcome'], 'denied')
        # cut to the record parser's bounds at a character boundary, marked "..."
        # Where the cut falls depends on the characters near the bound: the
        # kept part is checked exactly, its length within the bound.
        for label, full, bound in (('principal_arn', record['userIdentity']['arn'], 512),
                                   ('source_ip', record['sourceIPAddress'], 128),
                                   ('error_code', record['errorCode'], 128)):
            self.assertTrue(ev[label].endswith('...'), label)
            kept = ev[label][:-3]
            self.assertEqual(kept, full[:len(kept)], label)
            self.assertLess(len(ev[label].encode()), bound, label)
            self.assertGreater(len(kept.encode()), bound - 8, label)


class SoakTest(unittest.TestCase):
    def test_soak_with_faults(self):
        """Collections every second for two minutes with faults coming and
        going, scraped continuously: RSS and descriptors level off."""
        with FakeAWS() as fake, Exporter(
                '--aws.endpoint-url=' + fake.url,
                '--collector.organizations.interval=1s', '--collector.scp.interval=1s',
                '--collector.cloudtrail.interval=1s', '--collector.cloudtrail.events=DetachPolicy',
                '--aws.max-attempts=2', binary=RELEASE, aws=True, env=env_keys()) as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 30))
            samples = []
            kinds = ['5xx', None, 'malformed', None, 'throttle', None, 'reset', None]
            t_end = time.monotonic() + 120
            i = 0
            while time.monotonic() < t_end:
                if i % 10 == 0:
                    kind = kinds[(i // 10) % len(kinds)]
                    fake.faults([{'operation': '*', 'kind': kind, 'every': 3}] if kind else [])
                self.assertEqual(x.get(headers={'Accept-Encoding': 'gzip'} if i % 2 else {})[0],
                                 200)
                if i % 20 == 0:
                    samples.append((rss_kb(x.proc.pid), fds(x.proc.pid)))
                i += 1
                time.sleep(0.1)
            runs = sum(v for k, v in fake.stats()['calls'].items())
            self.assertGreater(runs, 300)
            half = len(samples) // 2
            rss_first, rss_last = max(r for r, _ in samples[:half]), max(r for r, _ in samples[half:])
            fd_first, fd_last = max(f for _, f in samples[:half]), max(f for _, f in samples[half:])
            self.assertLessEqual(rss_last, rss_first * 1.25 + 1024, samples)
            self.assertLessEqual(fd_last, fd_first + 2, samples)
            self.assertIsNone(x.proc.poll())


class SecretsTest(unittest.TestCase):
    def test_no_secret_in_logs_or_metrics_at_debug(self):
        with FakeAWS() as fake, tempfile.TemporaryDirectory() as d:
            token_file = os.path.join(d, 'token')
            token = 'eyJhbGciOiJSUzI1NiJ9.fake-irsa-token.signature'
            with open(token_file, 'w') as f:
                f.write(token)
            env = {'AWS_ROLE_ARN': 'arn:aws:iam::111111111111:role/aws-org-exporter-short',
                   'AWS_WEB_IDENTITY_TOKEN_FILE': token_file}
            with Exporter('--aws.endpoint-url=' + fake.url, '--log.level=debug',
                          '--no-collector.testing', '--collector.organizations.interval=1s',
                          '--aws.role-arn=arn:aws:iam::111111111111:role/aws-org-exporter',
                          binary=TESTING, aws=True, env=env) as x:
                self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 30))
                fake.faults([{'operation': '*', 'kind': 'expired', 'count': 1}])
                time.sleep(3)
                body = x.get()[2].decode()
                log = x.stderr()
        for secret in (token, MGMT_KEY[1], 'fake-container-token'):
            self.assertNotIn(secret, log)
            self.assertNotIn(secret, body)
        # Issued secret keys and session tokens are long base64 runs: none appears.
        self.assertIsNone(re.search(r'[A-Za-z0-9/+=]{40,}', log))
        self.assertIsNone(re.search(r'[A-Za-z0-9/+=]{40,}', body))


class PrometheusOverTlsTest(unittest.TestCase):
    def test_prometheus_scrapes_over_https_with_basic_auth(self):
        from test_webconfig import bcrypt, make_pki
        with tempfile.TemporaryDirectory() as d:
            make_pki(d)
            cfg = os.path.join(d, 'web.yml')
            with open(cfg, 'w') as f:
                f.write('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
                        'basic_auth_users:\n  prometheus: %s\n' % bcrypt('scrape-pw'))
            with Exporter('--web.config.file=' + cfg, binary=RELEASE) as x:
                good = ('    scheme: https\n    tls_config:\n      ca_file: %s/ca.crt\n'
                        '    basic_auth:\n      username: prometheus\n      password: scrape-pw\n'
                        % d)
                with Prometheus(['127.0.0.1:%d' % x.port], job_extra=good) as prom:
                    self.assertTrue(wait_until(lambda: prom.query('up == 1'), 60, 0.5),
                                    prom.logs()[-2000:])
                    self.assertTrue(prom.query('aws_org_exporter_build_info'))
                bad = good.replace('scrape-pw', 'wrong')
                with Prometheus(['127.0.0.1:%d' % x.port], job_extra=bad) as prom:
                    self.assertTrue(wait_until(lambda: prom.query('up == 0'), 60, 0.5))
                    targets = wait_until(lambda: [t for t in json.loads(
                        __import__('urllib.request').request.urlopen(
                            'http://127.0.0.1:%d/api/v1/targets' % prom.port).read())['data'][
                                'activeTargets'] if t.get('lastError')], 30, 0.5)
                    # lastError is Prometheus' wording around the status.
                    self.assertIn('401', targets[0]['lastError'])


if __name__ == '__main__':
    unittest.main()
