"""The CloudTrail collector against the fake AWS: exact counts per event name
and outcome across overlapping polls and late deliveries, paging, pace, and
the recent-events table."""
import calendar
import json
import os
import stat
import subprocess
import tempfile
import time
import unittest

from harness import (MGMT_KEY, RUN_FAILED, SCENARIOS, TESTING, Exporter, FakeAWS, clean_env,
                     env_keys, log_lines, metric_values, parse_exposition, run_failed, wait_until)

MGMT = '111111111111'
STATE_RESTORED = 'state restored: counting continues where it stopped'


def restored(path, ids):
    """The log line (log_lines) of a state file restored."""
    return ('level=info caller=trail_ledger.c module=cloudtrail msg="%s" file=%s event_ids=%d'
            % (STATE_RESTORED, path, ids))


def member_up(body):
    """{account_id: aws_org_cloudtrail_member_up}"""
    return {l['account_id']: v for n, l, v in parse_exposition(body)
            if n == 'aws_org_cloudtrail_member_up'}


def cloudtrail_up(body):
    return metric_values(body, 'aws_org_collector_up').get('{collector="cloudtrail"}')


def record(event_id, name, t, error=None, message=None, user=None, account='222222222222',
           ip='203.0.113.7'):
    r = {'eventVersion': '1.08', 'eventID': event_id, 'eventName': name,
         'eventSource': 'organizations.amazonaws.com', 'awsRegion': 'us-east-1',
         'eventTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t)),
         'sourceIPAddress': ip, 'recipientAccountId': MGMT,
         'userIdentity': user or {'type': 'AssumedRole', 'accountId': MGMT,
                                  'arn': 'arn:aws:sts::%s:assumed-role/Admin/alice' % MGMT},
         'requestParameters': {'accountId': account}}
    if error:
        r['errorCode'] = error
        r['errorMessage'] = message or 'error'
    return {'EventId': event_id, 'EventName': name, 'EventTime': int(t),
            'EventSource': 'organizations.amazonaws.com', 'Username': 'alice',
            'ReadOnly': 'false', 'CloudTrailEvent': json.dumps(r)}


def denied_line(event, account, ip, event_id, t):
    """The log line (log_lines) of a denied LeaveOrganization attempt by
    account's root user; t the event's time (seconds or its eventTime text)."""
    if isinstance(t, str):
        t = calendar.timegm(time.strptime(t, '%Y-%m-%dT%H:%M:%SZ'))
    return ('level=warn caller=trail_ledger.c module=cloudtrail msg="a LeaveOrganization attempt '
            'was denied" event=%s outcome=denied account_id=%s principal_arn=arn:aws:iam::%s:root '
            'principal_type=Root source_ip=%s error_code=AccessDenied event_id=%s event_time=%d'
            % (event, account, account, ip, event_id, int(t)))


def scenario(events):
    with open(os.path.join(SCENARIOS, 'basic.json')) as f:
        doc = json.load(f)
    doc['cloudtrail'] = {'events': {MGMT: {'us-east-1': events}}}
    return doc


def counts(body):
    return {(l['event_name'], l['outcome']): v for n, l, v in parse_exposition(body)
            if n == 'aws_org_cloudtrail_events_total'}


class CloudTrailTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeAWS()

    def tearDown(self):
        self.fake.stop()

    def exporter(self, events, *args):
        return Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                        '--collector.cloudtrail.events=' + events, *args, binary=TESTING,
                        aws=['cloudtrail'], env=env_keys())

    def polls(self):
        return self.fake.stats()['calls'].get('cloudtrail.LookupEvents', 0)

    def test_exactly_once_across_overlapping_polls_and_late_events(self):
        now = time.time()
        self.fake.scenario(scenario([
            record('e1', 'RemoveAccountFromOrganization', now - 3600),
            record('e2', 'DetachPolicy', now - 600),
            record('e3', 'DetachPolicy', now - 300, error='AccessDenied',
                   message='User is not authorized to perform: organizations:DetachPolicy'),
        ]))
        names = 'RemoveAccountFromOrganization,DetachPolicy'
        with self.exporter(names, '--collector.cloudtrail.interval=1s') as x:
            ready = lambda: x.get('/-/ready')[0] == 200
            self.assertTrue(wait_until(ready, 20), x.stderr())
            # Poll 2 and 3 see the same window again; a late event arrives
            # 12 minutes after its time, and a new one now.
            start = self.polls()
            self.assertTrue(wait_until(lambda: self.polls() >= start + 2, 20))
            self.fake.patch([
                {'op': 'add_event', 'account': MGMT, 'region': 'us-east-1',
                 'event': record('e4', 'DetachPolicy', time.time() - 720)},
                {'op': 'add_event', 'account': MGMT, 'region': 'us-east-1',
                 'event': record('e5', 'RemoveAccountFromOrganization', time.time(),
                                 error='ConstraintViolationException')}])
            start = self.polls()
            self.assertTrue(wait_until(lambda: self.polls() >= start + 6, 30))
            body = x.get()[2]
        c = counts(body)
        self.assertEqual(c, {
            ('RemoveAccountFromOrganization', 'success'): 1,
            ('RemoveAccountFromOrganization', 'denied'): 0,
            ('RemoveAccountFromOrganization', 'failed'): 1,
            ('DetachPolicy', 'success'): 2,
            ('DetachPolicy', 'denied'): 1,
            ('DetachPolicy', 'failed'): 0,
        })
        recent = [l for n, l, v in parse_exposition(body)
                  if n == 'aws_org_cloudtrail_recent_event_info']
        # By the poll that first saw them, then by time: the late e4 (its time
        # before e3's and e2's) comes with e5, before everything seen earlier.
        self.assertEqual([r['event_id'] for r in recent], ['e5', 'e4', 'e3', 'e2', 'e1'])
        self.assertEqual(recent[2], {
            'event_id': 'e3', 'event_name': 'DetachPolicy', 'outcome': 'denied',
            'account_id': '111111111111',  # a policy event is about the recipient account
            'principal_arn': 'arn:aws:sts::111111111111:assumed-role/Admin/alice',
            'source_ip': '203.0.113.7', 'error_code': 'AccessDenied', 'departure_method': '',
            'policy_id': '', 'target_id': '', 'policy_type': '',  # this record names no policy
            'source': 'lookup'})
        stats = self.fake.stats()
        self.assertEqual(stats['bad_signatures'], 0)
        self.assertEqual(stats['invalid_requests'], 0)

    def test_what_each_record_is_about(self):
        """Only Organizations' records count; departure methods, new accounts,
        policy types and membership events that name no member."""
        now = time.time()

        def with_(rec, **fields):
            r = json.loads(rec['CloudTrailEvent'])
            r.update(fields)
            for k in [k for k, v in fields.items() if v is None]:
                del r[k]
            rec['CloudTrailEvent'] = json.dumps(r)
            if 'eventSource' in fields:
                rec['EventSource'] = fields['eventSource']
            return rec
        service = {'accountId': MGMT, 'invokedBy': 'organizations.amazonaws.com'}
        doc = scenario([
            # IAM's DeletePolicy, recorded in us-east-1 too: not counted.
            with_(record('iam1', 'DeletePolicy', now - 500), eventSource='iam.amazonaws.com',
                  requestParameters={'policyArn': 'arn:aws:iam::111111111111:policy/p'}),
            with_(record('org1', 'DeletePolicy', now - 490),
                  requestParameters={'policyId': 'p-gone0001'}),
            with_(record('d-cleaned', 'AccountDepartedOrganization', now - 480),
                  userIdentity=service, requestParameters=None,
                  serviceEventDetails={'accountId': '333333333333', 'departureMethod': 'CLEANED'}),
            with_(record('d-left', 'AccountDepartedOrganization', now - 470),
                  userIdentity=service, requestParameters=None,
                  serviceEventDetails={'accountId': '444444444444', 'departureMethod': 'Left'}),
            with_(record('d-nobody', 'AccountDepartedOrganization', now - 460),
                  userIdentity=service, requestParameters=None,
                  serviceEventDetails={'departureMethod': 'LEFT'}),
            with_(record('c-result', 'CreateAccountResult', now - 450), userIdentity=service,
                  requestParameters=None,
                  serviceEventDetails={'createAccountStatus': {
                      'id': 'car-0123456789abcdef', 'state': 'SUCCEEDED',
                      'accountId': '555555555555'}}),
            with_(record('p-scp', 'DetachPolicy', now - 440),
                  requestParameters={'policyId': 'p-denyleave01', 'targetId': 'ou-a1b2-prod0001'}),
            with_(record('p-tag', 'DetachPolicy', now - 430),
                  requestParameters={'policyId': 'p-tags0001', 'targetId': 'r-a1b2'}),
        ])
        doc['policies'].append({'id': 'p-tags0001', 'name': 'tags', 'type': 'TAG_POLICY',
                                'content': '{}', 'targets': []})
        self.fake.scenario(doc)
        names = 'DeletePolicy,AccountDepartedOrganization,CreateAccountResult,DetachPolicy'
        with self.exporter(names) as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 20), x.stderr())
            body = x.get()[2]
            log = x.stderr()
        c = counts(body)
        self.assertEqual(c[('DeletePolicy', 'success')], 1)
        self.assertEqual(c[('AccountDepartedOrganization', 'success')], 3)
        self.assertEqual(c[('CreateAccountResult', 'success')], 1)
        recent = {l['event_id']: l for n, l, v in parse_exposition(body)
                  if n == 'aws_org_cloudtrail_recent_event_info'}
        about = {i: (l['account_id'], l['departure_method'], l['policy_id'], l['target_id'],
                     l['policy_type']) for i, l in recent.items()}
        self.assertEqual(about, {
            # Without the SCP collector, a policy AWS no longer knows cannot be
            # told from an SCP: unknown (the alerts page on it).
            'org1': ('111111111111', '', 'p-gone0001', '', 'unknown'),
            'd-cleaned': ('333333333333', 'cleaned', '', '', ''),
            'd-left': ('444444444444', 'left', '', '', ''),
            'd-nobody': ('', 'left', '', '', ''),
            'c-result': ('555555555555', '', '', '', ''),
            'p-scp': ('111111111111', '', 'p-denyleave01', 'ou-a1b2-prod0001',
                      'SERVICE_CONTROL_POLICY'),
            'p-tag': ('111111111111', '', 'p-tags0001', 'r-a1b2', 'TAG_POLICY'),
        })
        self.assertEqual(metric_values(body, 'aws_org_cloudtrail_unattributed_events_total'),
                         {'{event_name="AccountDepartedOrganization"}': 1})
        nobody = ('a membership event names no member account: it is counted, but no account '
                  'is attributed (please report the record\'s shape)')
        self.assertEqual(log_lines(log, nobody),
                         ['level=warn caller=trail_ledger.c module=cloudtrail msg="%s" '
                          'event=AccountDepartedOrganization event_id=d-nobody event_time=%d '
                          'recipient_account_id=111111111111' % (nobody, int(now - 460))])
        untyped = 'cannot tell the type of a policy named by an event; it counts as a guardrail'
        self.assertEqual(log_lines(log, untyped),
                         ['level=warn caller=trail_policy.c module=cloudtrail msg="%s" '
                          'policy_id=p-gone0001 event_id=org1 code=PolicyNotFoundException '
                          'err="We can\'t find a policy with the PolicyId that you specified."'
                          % untyped])
        # One DescribePolicy per policy id, never again (types do not change).
        self.assertEqual(self.fake.stats()['calls'].get('organizations.DescribePolicy'), 3)

    def test_late_events_are_counted_and_their_delay_shown(self):
        """An event that reaches the history 90 minutes after its time is
        counted once (the 2h overlap), and the delay histogram shows it; its
        count is the counters' sum."""
        now = time.time()
        self.fake.scenario(scenario([record('l1', 'DetachPolicy', now - 30)]))
        with self.exporter('DetachPolicy,DeletePolicy', '--collector.cloudtrail.interval=1s') as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 20), x.stderr())
            start = self.polls()
            self.assertTrue(wait_until(lambda: self.polls() >= start + 4, 20))
            self.fake.patch({'op': 'add_event', 'account': MGMT, 'region': 'us-east-1',
                             'event': record('l2', 'DeletePolicy', time.time() - 5400)})
            start = self.polls()
            self.assertTrue(wait_until(lambda: self.polls() >= start + 6, 30))
            body = x.get()[2]
        c = counts(body)
        self.assertEqual((c[('DetachPolicy', 'success')], c[('DeletePolicy', 'success')]), (1, 1))
        hist = {(n, l.get('source'), l.get('le')): v for n, l, v in parse_exposition(body)
                if n.startswith('aws_org_cloudtrail_event_delay_seconds')}
        bounds = ['30', '60', '120', '300', '600', '900', '1800', '3600', '7200', '21600',
                  '86400', '+Inf']
        # l1: 30 s late or a little more (first seen at the first poll); l2:
        # between 5400 s and 7200 s.
        lookup = [hist[('aws_org_cloudtrail_event_delay_seconds_bucket', 'lookup', b)]
                  for b in bounds]
        self.assertIn(lookup, ([1] * 8 + [2] * 4, [0] + [1] * 7 + [2] * 4))
        self.assertEqual(hist[('aws_org_cloudtrail_event_delay_seconds_count', 'lookup', None)], 2)
        self.assertEqual(hist[('aws_org_cloudtrail_event_delay_seconds_count', 'member', None)], 0)
        total = hist[('aws_org_cloudtrail_event_delay_seconds_sum', 'lookup', None)]
        self.assertGreater(total, 5400 + 30)
        self.assertLess(total, 5400 + 30 + 120)
        self.assertEqual(sum(v for (n, _, _), v in hist.items() if n.endswith('_count')),
                         sum(c.values()))

    def test_quiet_name_with_an_old_event_is_not_recounted(self):
        # A quiet name's query reaches back behind its own newest event (10 h
        # old here) while another name's newest is minutes old: the old id
        # must stay remembered, or every poll would count it again.
        now = time.time()
        self.fake.scenario(scenario([record('q1', 'CreateAccount', now - 36000),
                                     record('q2', 'MoveAccount', now - 300)]))
        with self.exporter('CreateAccount,MoveAccount', '--collector.cloudtrail.interval=1s') as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 20))
            start = self.polls()
            self.assertTrue(wait_until(lambda: self.polls() >= start + 8, 30))
            c = counts(x.get()[2])
        self.assertEqual((c[('CreateAccount', 'success')], c[('MoveAccount', 'success')]), (1, 1))

    def test_paging_and_pace(self):
        now = time.time()
        self.fake.scenario(scenario([record('d%03d' % i, 'DetachPolicy', now - 60 * i)
                                     for i in range(1, 121)]))
        with self.exporter('DetachPolicy,DeletePolicy,UpdatePolicy') as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 30), x.stderr())
            body = x.get()[2]
        self.assertEqual(counts(body)[('DetachPolicy', 'success')], 120)
        self.assertEqual(counts(body)[('UpdatePolicy', 'success')], 0)
        stats = self.fake.stats()
        self.assertEqual(stats['calls']['cloudtrail.LookupEvents'], 3 + 1 + 1)  # 50+50+20
        self.assertLessEqual(stats['max_rate']['cloudtrail.LookupEvents/111111111111/us-east-1'], 2)
        last = {(l['event_name'], l['outcome']): v for n, l, v in parse_exposition(body)
                if n == 'aws_org_cloudtrail_event_last_timestamp_seconds'}
        self.assertEqual(last, {('DetachPolicy', 'success'): int(now - 60)})

    def test_unreadable_records_are_skipped_and_reported(self):
        now = time.time()
        bad = record('b1', 'DetachPolicy', now - 60)
        bad['CloudTrailEvent'] = '{"eventID": "b1", "eventName": '  # truncated
        self.fake.scenario(scenario([bad, record('g1', 'DetachPolicy', now - 30)]))
        with self.exporter('DetachPolicy') as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 20))
            body = x.get()[2]
            skipped = log_lines(x.stderr(), 'skipping an unreadable CloudTrail record')
        # What follows "not JSON: " is jansson's wording.
        self.assertEqual([l[:l.index('not JSON: ')] for l in skipped],
                         ['level=warn caller=cloudtrail.c module=cloudtrail msg="skipping an '
                          'unreadable CloudTrail record" event_id=b1 err="'])
        self.assertEqual(counts(body)[('DetachPolicy', 'success')], 1)
        self.assertEqual(cloudtrail_up(body), 1)

    def test_state_file_survives_restart(self):
        now = time.time()
        self.fake.scenario(scenario([record('s1', 'DetachPolicy', now - 600),
                                     record('s2', 'DeletePolicy', now - 300)]))
        names = 'DetachPolicy,DeletePolicy'
        with tempfile.TemporaryDirectory() as d:
            state = os.path.join(d, 'state.json')
            with self.exporter(names, '--state.file=' + state) as x:
                self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 20))
                self.assertTrue(wait_until(lambda: os.path.exists(state), 10))
            self.fake.patch({'op': 'add_event', 'account': MGMT, 'region': 'us-east-1',
                             'event': record('s3', 'DetachPolicy', time.time() - 5)})
            with self.exporter(names, '--state.file=' + state) as x:
                self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 20))
                body = x.get()[2]
                self.assertEqual(log_lines(x.stderr(), STATE_RESTORED), [restored(state, 2)])
            self.assertEqual(os.listdir(d), ['state.json'])  # no temporary file left
        c = counts(body)
        self.assertEqual((c[('DetachPolicy', 'success')], c[('DeletePolicy', 'success')]), (2, 1))
        self.assertEqual([l for l in body.split(b'\n')
                          if l.startswith(b'# HELP aws_org_cloudtrail_events_total ')],
                         [b'# HELP aws_org_cloudtrail_events_total Watched CloudTrail events by '
                          b'name and outcome (success, denied, failed), each counted once by '
                          b'event ID; kept across restarts in the state file.'])

    def test_corrupt_state_file_is_set_aside(self):
        now = time.time()
        self.fake.scenario(scenario([record('c1', 'DetachPolicy', now - 60)]))
        with tempfile.TemporaryDirectory() as d:
            state = os.path.join(d, 'state.json')
            with open(state, 'w') as f:
                f.write('{"kind": "something else", "version": 1}')
            with self.exporter('DetachPolicy', '--state.file=' + state) as x:
                self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 20))
                body = x.get()[2]
                log = x.stderr()
            aside = [n for n in os.listdir(d) if n.startswith('state.json.bad-')]
            self.assertEqual(len(aside), 1)
            unusable = ('the state file is unusable: starting afresh (the lookback window is '
                        'counted again)')
            self.assertEqual(log_lines(log, unusable),
                             ['level=error caller=trail_ledger.c module=cloudtrail msg="%s" '
                              'file=%s err="not this exporter\'s CloudTrail state" '
                              'set_aside_as=%s' % (unusable, state, os.path.join(d, aside[0]))])
            with open(os.path.join(d, aside[0])) as f:
                self.assertEqual(f.read(), '{"kind": "something else", "version": 1}')
        self.assertEqual(counts(body)[('DetachPolicy', 'success')], 1)

    def state_doc(self, names, polled_at, seen=(), counts=None, newest=None):
        """A state file as the exporter writes it."""
        counts, newest = counts or {}, newest or {}
        return {'kind': 'aws-org-exporter/cloudtrail', 'version': 1, 'region': 'us-east-1',
                'polled_at': polled_at,
                'events': {n: {'counts': counts.get(n, [0, 0, 0]), 'last': [0.0, 0.0, 0.0],
                               'newest': newest.get(n, 0.0)} for n in names},
                'seen': [[i, t] for i, t in seen], 'recent': []}

    def test_state_temp_file_follows_no_planted_link(self):
        # The old temporary name (state.json.tmp) and other names one could
        # predict are symlinks to a victim file: none is followed, the victim
        # is unchanged, and the state file is a regular file of mode 0600.
        now = time.time()
        self.fake.scenario(scenario([record('t1', 'DetachPolicy', now - 60)]))
        with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as elsewhere:
            victim = os.path.join(elsewhere, 'victim.txt')
            with open(victim, 'w') as f:
                f.write("IMPORTANT DATA, not the exporter's\n")
            planted = ['state.json.tmp', '.state.json.tmp', '.state.json', 'state.json~',
                       'state.tmp', '.state.json.XXXXXX']
            for name in planted:
                os.symlink(victim, os.path.join(d, name))
            state = os.path.join(d, 'state.json')
            with self.exporter('DetachPolicy', '--collector.cloudtrail.interval=1s',
                               '--state.file=' + state) as x:
                self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 20), x.stderr())
                start = self.polls()  # three more polls: three more saves
                self.assertTrue(wait_until(lambda: self.polls() >= start + 3, 20))
                self.assertTrue(wait_until(lambda: os.path.exists(state), 10))
                log = x.stderr()
            self.assertNotIn('cannot save the state', log)
            with open(victim) as f:
                self.assertEqual(f.read(), "IMPORTANT DATA, not the exporter's\n")
            st = os.lstat(state)
            self.assertTrue(stat.S_ISREG(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            with open(state) as f:
                doc = json.load(f)
            self.assertEqual(doc['events']['DetachPolicy']['counts'], [1, 0, 0])
            self.assertEqual([i for i, _ in doc['seen']], ['t1'])
            self.assertEqual(sorted(os.listdir(d)), sorted(planted + ['state.json']))
            for name in planted:
                self.assertEqual(os.readlink(os.path.join(d, name)), victim)

    def test_state_with_200000_ids_in_reverse_order_loads(self):
        # A crafted file (the exporter writes its ids sorted): every id is
        # restored, and each still keeps its event from being counted again.
        now = time.time()
        ids = ['id%06d' % i for i in range(199999, -1, -1)]
        self.fake.scenario(scenario([record('id000000', 'DetachPolicy', now - 600),
                                     record('id123456', 'DetachPolicy', now - 500),
                                     record('id199999', 'DetachPolicy', now - 400),
                                     record('new1', 'DetachPolicy', now - 300)]))
        with tempfile.TemporaryDirectory() as d:
            state = os.path.join(d, 'state.json')
            with open(state, 'w') as f:
                json.dump(self.state_doc(['DetachPolicy'], now - 60,
                                         seen=[(i, now - 600) for i in ids],
                                         counts={'DetachPolicy': [7, 0, 0]},
                                         newest={'DetachPolicy': now - 400}), f)
            with self.exporter('DetachPolicy', '--state.file=' + state) as x:
                self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 60), x.stderr())
                body = x.get()[2]
                log = x.stderr()
        self.assertEqual(log_lines(log, STATE_RESTORED), [restored(state, 200000)])
        self.assertEqual(counts(body)[('DetachPolicy', 'success')], 8)  # 7 + new1

    def test_state_file_that_never_ends_is_refused_at_start(self):
        # /dev/zero (a device) and a FIFO without a writer: neither is read
        # nor moved aside; the exporter says why and exits at once.
        with tempfile.TemporaryDirectory() as d:
            fifo = os.path.join(d, 'fifo')
            os.mkfifo(fifo)
            for path in ('/dev/zero', fifo):
                p = subprocess.run(
                    [TESTING, '--web.listen-address=127.0.0.1:0', '--no-collector.testing',
                     '--no-collector.organizations', '--no-collector.scp',
                     '--aws.endpoint-url=' + self.fake.url, '--state.file=' + path],
                    capture_output=True, env=dict(clean_env(), **env_keys()), timeout=60)
                err = p.stderr.decode()
                self.assertEqual(p.returncode, 1, err)
                self.assertEqual(log_lines(err, 'cannot set up collector'),
                                 ['level=error caller=main.c module=main msg="cannot set up '
                                  'collector" collector=cloudtrail err="--state.file=%s is not a '
                                  'regular file (a device, FIFO or directory)"' % path])
            self.assertEqual(os.listdir(d), ['fifo'])
            self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))
        self.assertTrue(stat.S_ISCHR(os.lstat('/dev/zero').st_mode))

    def test_state_polled_in_the_future_does_not_stop_collection(self):
        # Written under a clock a day ahead (then stepped back): the poll time
        # is ignored, the lookback window is read, and collection goes on.
        now = time.time()
        self.fake.scenario(scenario([record('p1', 'DetachPolicy', now - 7200),
                                     record('p2', 'DeletePolicy', now - 600)]))
        names = 'DetachPolicy,DeletePolicy'
        with tempfile.TemporaryDirectory() as d:
            state = os.path.join(d, 'state.json')
            with open(state, 'w') as f:
                json.dump(self.state_doc(names.split(','), now + 86400), f)
            with self.exporter(names, '--collector.cloudtrail.interval=1s',
                               '--state.file=' + state) as x:
                self.assertTrue(wait_until(lambda: cloudtrail_up(x.get()[2]) == 1, 20),
                                x.stderr()[-2000:])
                start = self.polls()
                self.assertTrue(wait_until(lambda: self.polls() >= start + 4, 20))
                body = x.get()[2]
                log = x.stderr()
            with open(state) as f:
                saved = json.load(f)['polled_at']
        self.assertEqual(cloudtrail_up(body), 1)
        c = counts(body)
        self.assertEqual((c[('DetachPolicy', 'success')], c[('DeletePolicy', 'success')]), (1, 1))
        out_of_range = ('the state file holds times out of range (after now + 5m, or a last poll '
                        'before now - 90d): a clock step? They are ignored, and their windows are '
                        'read again')
        self.assertEqual(log_lines(log, out_of_range),
                         ['level=warn caller=trail_ledger.c module=cloudtrail msg="%s" file=%s '
                          'times=1' % (out_of_range, state)])
        self.assertEqual(log_lines(log, STATE_RESTORED), [restored(state, 0)])
        self.assertEqual(log_lines(log, RUN_FAILED), [])
        self.assertLess(saved, time.time())  # the bad time is not kept
        stats = self.fake.stats()
        self.assertEqual(stats['invalid_requests'], 0)

    def test_member_fanout(self):
        with open(os.path.join(SCENARIOS, 'basic.json')) as f:
            doc = json.load(f)
        root = doc['roots'][0]['id']
        members = ['5000000000%02d' % i for i in range(1, 13)]
        doc['accounts'] = [doc['accounts'][0]] + [
            {'id': m, 'name': 'm-' + m[-2:], 'email': m + '@example.com', 'state': 'ACTIVE',
             'joined_method': 'INVITED', 'joined_timestamp': 1700000000, 'parent_id': root}
            for m in members] + [
            {'id': '500000000099', 'name': 'suspended', 'email': 's@example.com',
             'state': 'SUSPENDED', 'joined_method': 'INVITED', 'joined_timestamp': 1700000000,
             'parent_id': root}]
        doc['roles'] = [{'arn': 'arn:aws:iam::%s:role/aws-org-exporter-member' % m,
                         'account_id': m, 'session_duration_seconds': 900}
                        for m in members if m != '500000000005']  # 05 has no such role
        denied = record('m1', 'LeaveOrganization', time.time() - 120, error='AccessDenied',
                        message='You are not authorized to perform this operation because of '
                                'an explicit deny in a service control policy',
                        user={'type': 'Root', 'accountId': '500000000007',
                              'arn': 'arn:aws:iam::500000000007:root'}, ip='198.51.100.9')
        ev = json.loads(denied['CloudTrailEvent'])
        ev['recipientAccountId'] = '500000000007'
        del ev['requestParameters']
        denied['CloudTrailEvent'] = json.dumps(ev)
        doc['cloudtrail'] = {'events': {'500000000007': {'us-east-1': [denied]}}}
        self.fake.scenario(doc)
        with Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                      '--collector.cloudtrail.events=LeaveOrganization',
                      '--collector.cloudtrail.interval=1s',
                      '--collector.cloudtrail.member-role=aws-org-exporter-member',
                      binary=TESTING, aws=['organizations', 'cloudtrail'], env=env_keys()) as x:
            ok = wait_until(lambda: member_up(x.get()[2]).get('500000000005') == 0, 30)
            body = x.get()[2]
            log = x.stderr()
        self.assertTrue(ok, log[-2000:])
        self.assertEqual(counts(body)[('LeaveOrganization', 'denied')], 1)
        self.assertEqual(member_up(body), {m: (0 if m == '500000000005' else 1) for m in members})
        recent = [l for n, l, v in parse_exposition(body)
                  if n == 'aws_org_cloudtrail_recent_event_info']
        self.assertEqual(recent, [{'event_id': 'm1', 'event_name': 'LeaveOrganization',
                                   'outcome': 'denied', 'account_id': '500000000007',
                                   'principal_arn': 'arn:aws:iam::500000000007:root',
                                   'source_ip': '198.51.100.9', 'error_code': 'AccessDenied',
                                   'departure_method': '', 'policy_id': '', 'target_id': '',
                                   'policy_type': '', 'source': 'member'}])
        unread = 'cannot read a member account\'s history: a leave attempt there would go unseen'
        role = 'arn:aws:iam::500000000005:role/aws-org-exporter-member'
        # Each run that cannot read it says so: a set of one line.
        self.assertEqual(set(log_lines(log, unread)), {
            'level=warn caller=cloudtrail.c module=cloudtrail msg="%s" account_id=500000000005 '
            'role=aws-org-exporter-member err="LookupEvents LeaveOrganization: AccessDenied: '
            'User: arn:aws:iam::111111111111:user/exporter is not authorized to perform: '
            'sts:AssumeRole on resource: %s (page 1)"' % (unread, role)})
        self.assertEqual(log_lines(log, 'a LeaveOrganization attempt was denied'),
                         [denied_line('LeaveOrganization', '500000000007', '198.51.100.9', 'm1',
                                      ev['eventTime'])])
        stats = self.fake.stats()
        self.assertEqual(stats['bad_signatures'], 0)
        for m in members:
            if m != '500000000005':
                self.assertLessEqual(stats['max_rate'].get(
                    'cloudtrail.LookupEvents/%s/us-east-1' % m, 0), 2)

    def member_scenario(self, events):
        with open(os.path.join(SCENARIOS, 'basic.json')) as f:
            doc = json.load(f)
        root = doc['roots'][0]['id']
        members = ['6000000000%02d' % i for i in range(1, 4)]
        doc['accounts'] = [doc['accounts'][0]] + [
            {'id': m, 'name': 'm-' + m[-2:], 'email': m + '@example.com', 'state': 'ACTIVE',
             'joined_method': 'INVITED', 'joined_timestamp': 1700000000, 'parent_id': root}
            for m in members]
        doc['accounts'][-1]['state'] = 'PENDING_CLOSURE'  # still works: still read
        doc['roles'] = [{'arn': 'arn:aws:iam::%s:role/aws-org-exporter-member' % m,
                         'account_id': m, 'session_duration_seconds': 900} for m in members]
        doc['cloudtrail'] = {'events': events}
        return doc

    def member_record(self, event_id, name, account, t, **fields):
        rec = record(event_id, name, t, user={'type': 'Root', 'accountId': account,
                                              'arn': 'arn:aws:iam::%s:root' % account},
                     ip='192.0.2.99', error=fields.pop('error', None),
                     message=fields.pop('message', None))
        ev = json.loads(rec['CloudTrailEvent'])
        ev['recipientAccountId'] = account
        del ev['requestParameters']
        ev.update(fields)
        rec['CloudTrailEvent'] = json.dumps(ev)
        return rec

    def test_member_that_left_is_read_on_and_transfers_are_leaves(self):
        """A member removed from the listing whose own successful
        LeaveOrganization appears 30 s later is counted, with its principal
        and address; a denied transfer (AcceptHandshake of an invitation,
        naming LeaveOrganization) in a PENDING_CLOSURE member is a leave
        attempt; a member approving all features is not."""
        now = time.time()
        events = {
            '600000000003': {'us-east-1': [
                self.member_record('h1', 'AcceptHandshake', '600000000003', now - 60,
                                   error='AccessDenied',
                                   message='User: arn:aws:iam::600000000003:root is not '
                                           'authorized to perform: organizations:LeaveOrganization '
                                           'with an explicit deny in a service control policy'),
                self.member_record('h2', 'AcceptHandshake', '600000000003', now - 50,
                                   responseElements={'handshake': {
                                       'id': 'h-12345678', 'action': 'APPROVE_ALL_FEATURES'}}),
            ]}}
        self.fake.scenario(self.member_scenario(events))
        with Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                      '--collector.cloudtrail.events=LeaveOrganization,AcceptHandshake',
                      '--collector.cloudtrail.interval=1s', '--collector.organizations.interval=1s',
                      '--collector.cloudtrail.member-role=aws-org-exporter-member',
                      binary=TESTING, aws=['organizations', 'cloudtrail'], env=env_keys()) as x:
            self.assertTrue(wait_until(lambda: member_up(x.get()[2]) == {
                '600000000001': 1, '600000000002': 1, '600000000003': 1}, 30), x.stderr()[-2000:])
            # 600000000002 leaves: the listing loses it first...
            self.fake.patch({'op': 'remove_account', 'id': '600000000002'})
            member_left = ('a member left the organization: its history is read on for the grace '
                           'period, for its own record of the leave')
            self.assertTrue(wait_until(lambda: log_lines(x.stderr(), member_left) == [
                'level=info caller=cloudtrail.c module=cloudtrail msg="%s" '
                'account_id=600000000002' % member_left], 20), x.stderr()[-2000:])
            time.sleep(2)
            # ... and its own record of the leave shows 30 s after the call.
            left_at = int(time.time() - 30)
            self.fake.patch({'op': 'add_event', 'account': '600000000002', 'region': 'us-east-1',
                             'event': self.member_record('l9', 'LeaveOrganization', '600000000002',
                                                         left_at)})
            self.assertTrue(wait_until(lambda: counts(x.get()[2]).get(
                ('LeaveOrganization', 'success')) == 1, 20), x.stderr()[-2000:])
            body = x.get()[2]
            log = x.stderr()
        c = counts(body)
        self.assertEqual(c[('AcceptHandshake', 'denied')], 1)
        self.assertEqual(c[('AcceptHandshake', 'success')], 0)  # approving all features
        recent = {l['event_id']: (l['event_name'], l['outcome'], l['account_id'],
                                  l['principal_arn'], l['source_ip'], l['source'])
                  for n, l, v in parse_exposition(body)
                  if n == 'aws_org_cloudtrail_recent_event_info'}
        self.assertEqual(recent, {
            'l9': ('LeaveOrganization', 'success', '600000000002', 'arn:aws:iam::600000000002:root',
                   '192.0.2.99', 'member'),
            'h1': ('AcceptHandshake', 'denied', '600000000003', 'arn:aws:iam::600000000003:root',
                   '192.0.2.99', 'member')})
        self.assertEqual(member_up(body), {'600000000001': 1, '600000000002': 1,
                                           '600000000003': 1})
        self.assertEqual(log_lines(log, 'an account left the organization'),
                         ['level=warn caller=trail_ledger.c module=cloudtrail msg="an account '
                          'left the organization" event=LeaveOrganization outcome=success '
                          'account_id=600000000002 principal_arn=arn:aws:iam::600000000002:root '
                          'principal_type=Root source_ip=192.0.2.99 error_code="" event_id=l9 '
                          'event_time=%d' % left_at])
        self.assertEqual(log_lines(log, 'a LeaveOrganization attempt was denied'),
                         [denied_line('AcceptHandshake', '600000000003', '192.0.2.99', 'h1',
                                      now - 60)])

    def test_failed_poll_keeps_counts_and_recovers(self):
        now = time.time()
        self.fake.scenario(scenario([record('f1', 'DetachPolicy', now - 30)]))
        with self.exporter('DetachPolicy', '--collector.cloudtrail.interval=1s',
                           '--aws.max-attempts=1') as x:
            self.assertTrue(wait_until(
                lambda: cloudtrail_up(x.get()[2]) == 1, 20))
            self.fake.faults([{'operation': 'cloudtrail.LookupEvents', 'kind': '5xx'}])
            self.assertTrue(wait_until(
                lambda: cloudtrail_up(x.get()[2]) == 0, 20))
            self.assertEqual(counts(x.get()[2])[('DetachPolicy', 'success')], 1)
            self.fake.faults([])
            self.assertTrue(wait_until(
                lambda: cloudtrail_up(x.get()[2]) == 1, 20))
            self.assertEqual(counts(x.get()[2])[('DetachPolicy', 'success')], 1)


# The delegated administrator of these tests: a member account whose own keys
# may list the organization (like a real delegated administrator), but whose
# CloudTrail event history holds none of the membership events.
DELEGATED = '222222222222'
DELEGATED_KEY = ('AKIAFAKEMEMBER000002', 'fakeMemberSecretKey/22222222222222222222')
MGMT_ROLE = 'arn:aws:iam::111111111111:role/aws-org-exporter'
WRONG_ACCOUNT = ('CloudTrail is read in an account that is not the management account: the '
                 'membership events are recorded only there, so the collector reports itself down')
WRONG_ACCOUNT_LOG = (
    'level=error caller=trail_account.c module=cloudtrail msg="' + WRONG_ACCOUNT + '" '
    'caller_account_id=%s management_account_id=111111111111 role_arn=%s '
    'fix="use credentials of the management account, or --collector.cloudtrail.role-arn '
    'naming a role in it"')
WRONG_ACCOUNT_ERR = 'CloudTrail is read in account %s, not in the management account 111111111111'
READ_IN_MGMT = 'CloudTrail is read in the management account'
READ_IN_MGMT_LOG = ('level=info caller=trail_account.c module=cloudtrail msg="' + READ_IN_MGMT +
                    '" account_id=111111111111 role_arn=%s')


class ManagementAccountTest(unittest.TestCase):
    """LookupEvents reads the caller's own account: the collector must read
    the management account's history, or say that it does not."""

    def setUp(self):
        self.fake = FakeAWS()
        now = time.time()
        doc = scenario([record('m1', 'DetachPolicy', now - 300),
                        record('m2', 'RemoveAccountFromOrganization', now - 200)])
        doc['organization']['delegated_administrators'] = [DELEGATED]
        # What the delegated administrator did in its own account: never counted.
        doc['cloudtrail']['events'][DELEGATED] = {'us-east-1': [
            record('own1', 'DetachPolicy', now - 100,
                   user={'type': 'AssumedRole', 'accountId': DELEGATED,
                         'arn': 'arn:aws:sts::%s:assumed-role/Admin/bob' % DELEGATED})]}
        self.fake.scenario(doc)

    def tearDown(self):
        self.fake.stop()

    def exporter(self, key, collectors, *args):
        return Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                        '--collector.cloudtrail.events=DetachPolicy,RemoveAccountFromOrganization',
                        '--collector.cloudtrail.interval=1s', '--collector.organizations.interval=1s',
                        *args, binary=TESTING, aws=collectors, env=env_keys(key))

    @staticmethod
    def wrong(body):
        return {(l['caller_account_id'], l['management_account_id']): v
                for n, l, v in parse_exposition(body)
                if n == 'aws_org_cloudtrail_wrong_account_info'}

    @staticmethod
    def up(body):
        return {l['collector']: v for n, l, v in parse_exposition(body)
                if n == 'aws_org_collector_up'}

    ZEROS = {(n, o): 0 for n in ('DetachPolicy', 'RemoveAccountFromOrganization')
             for o in ('success', 'denied', 'failed')}

    def test_delegated_admin_credentials_report_the_collector_down(self):
        # With the organizations collector (its listing names the management
        # account) and without it (the collector asks DescribeOrganization).
        for collectors in (['organizations', 'cloudtrail'], ['cloudtrail']):
            with self.subTest(collectors=collectors):
                self.fake.control('reset', {})
                with self.exporter(DELEGATED_KEY, collectors) as x:
                    down = wait_until(lambda: self.wrong(x.get()[2]), 20)
                    time.sleep(2.5)  # a few more runs: still down, logged once
                    body = x.get()[2]
                    log = x.stderr()
                self.assertTrue(down, log[-3000:])
                self.assertEqual(self.up(body), {c: (0 if c == 'cloudtrail' else 1)
                                                 for c in collectors})
                self.assertEqual(self.wrong(body), {(DELEGATED, MGMT): 1})
                self.assertEqual(counts(body), self.ZEROS)  # published, from the start
                self.assertEqual(log_lines(log, WRONG_ACCOUNT),
                                 [WRONG_ACCOUNT_LOG % (DELEGATED, '""')], log)
                # Each failed run says so: a set of one line.
                self.assertEqual(set(log_lines(log, RUN_FAILED)),
                                 {run_failed('cloudtrail', WRONG_ACCOUNT_ERR % DELEGATED)})
                calls = self.fake.stats()['calls']
                self.assertNotIn('cloudtrail.LookupEvents', calls)  # the wrong history is not read
                self.assertEqual(calls['sts.GetCallerIdentity'], 1)

    def test_delegated_admin_reads_through_a_management_role(self):
        with self.exporter(DELEGATED_KEY, ['cloudtrail'],
                           '--collector.cloudtrail.role-arn=' + MGMT_ROLE) as x:
            ready = wait_until(lambda: x.get('/-/ready')[0] == 200, 20)
            start = self.fake.stats()['calls'].get('cloudtrail.LookupEvents', 0)
            wait_until(lambda: self.fake.stats()['calls'].get('cloudtrail.LookupEvents', 0)
                       >= start + 4, 20)
            body = x.get()[2]
            log = x.stderr()
        self.assertTrue(ready, log[-3000:])
        self.assertEqual(self.up(body), {'cloudtrail': 1})
        self.assertEqual(self.wrong(body), {})
        self.assertEqual(counts(body), {**self.ZEROS, ('DetachPolicy', 'success'): 1,
                                        ('RemoveAccountFromOrganization', 'success'): 1})
        self.assertEqual(log_lines(log, READ_IN_MGMT), [READ_IN_MGMT_LOG % MGMT_ROLE])
        stats = self.fake.stats()
        self.assertEqual(stats['calls']['sts.AssumeRole'], 1)
        self.assertEqual(stats['calls']['sts.GetCallerIdentity'], 1)
        self.assertEqual({r['account'] for r in stats['requests']
                          if r['service'] in ('cloudtrail', 'organizations')}, {MGMT})

    def test_role_outside_the_management_account_is_the_wrong_account(self):
        # The comparison is made with the role's account, not the credentials'.
        role = 'arn:aws:iam::222222222222:role/aws-org-exporter-member'
        with self.exporter(MGMT_KEY, ['cloudtrail'], '--collector.cloudtrail.role-arn=' + role) as x:
            down = wait_until(lambda: self.wrong(x.get()[2]), 20)
            body = x.get()[2]
            log = x.stderr()
        self.assertTrue(down, log[-3000:])
        self.assertEqual(self.up(body), {'cloudtrail': 0})
        self.assertEqual(self.wrong(body), {(DELEGATED, MGMT): 1})
        self.assertEqual(log_lines(log, WRONG_ACCOUNT), [WRONG_ACCOUNT_LOG % (DELEGATED, role)])

    def test_management_credentials_ask_sts_once(self):
        with self.exporter(MGMT_KEY, ['cloudtrail']) as x:
            ready = wait_until(lambda: x.get('/-/ready')[0] == 200, 20)
            start = self.fake.stats()['calls'].get('cloudtrail.LookupEvents', 0)
            # Four more polls (two names each).
            polled = wait_until(lambda: self.fake.stats()['calls'].get(
                'cloudtrail.LookupEvents', 0) >= start + 8, 20)
            body = x.get()[2]
            log = x.stderr()
        self.assertTrue(ready and polled, log[-3000:])
        self.assertEqual(self.up(body), {'cloudtrail': 1})
        self.assertEqual(self.wrong(body), {})
        self.assertEqual(counts(body)[('DetachPolicy', 'success')], 1)
        self.assertEqual(log_lines(log, READ_IN_MGMT), [READ_IN_MGMT_LOG % '""'])
        calls = self.fake.stats()['calls']
        self.assertEqual(calls['sts.GetCallerIdentity'], 1)
        self.assertEqual(calls['organizations.DescribeOrganization'], 1)

    def test_role_arn_flag_is_checked(self):
        p = subprocess.run([TESTING, '--collector.cloudtrail.role-arn=aws-org-exporter'],
                           capture_output=True, text=True, timeout=10, env=clean_env())
        self.assertEqual((p.returncode, p.stdout), (2, ''))
        self.assertEqual(p.stderr, 'aws-org-exporter: error: invalid value "aws-org-exporter" '
                         'for flag --collector.cloudtrail.role-arn: expected an IAM role ARN '
                         'such as arn:aws:iam::111111111111:role/name; see --help\n')


if __name__ == '__main__':
    unittest.main()
