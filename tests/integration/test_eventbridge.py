"""The eventbridge collector against the fake AWS's SQS: the fast path counts
an event within seconds, once across both paths, through redeliveries and
restarts; bad messages never stop it; queue errors put it down and it
recovers; SIGTERM during a long poll ends it at once."""
import http.client
import json
import re
import os
import tempfile
import time
import unittest

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import (MGMT_KEY, RUN_FAILED, SCENARIOS, TESTING, TIME_SCALE, Exporter, FakeAWS,
                     Prometheus, env_keys, log_lines, parse_exposition, run_failed, wait_until)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
RULE_FILES = [os.path.join(ROOT, 'dashboards', 'prometheus', f) for f in ('rules.yml', 'alerts.yml')]

MGMT = '111111111111'
MEMBER = '222222222222'
QUEUE, DLQ = 'aws-org-exporter-events', 'aws-org-exporter-events-dlq'


def record(event_id, name, t, account=MEMBER, recipient=MGMT, error=None, message=None,
           source='organizations.amazonaws.com', extra=None):
    r = {'eventVersion': '1.08', 'eventID': event_id, 'eventName': name, 'eventSource': source,
         'awsRegion': 'us-east-1', 'eventTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t)),
         'sourceIPAddress': '203.0.113.9', 'recipientAccountId': recipient,
         'userIdentity': {'type': 'AssumedRole', 'accountId': recipient,
                          'arn': 'arn:aws:sts::%s:assumed-role/Admin/mallory' % recipient},
         'requestParameters': {'accountId': account} if account else None}
    if error:
        r['errorCode'] = error
        r['errorMessage'] = message or 'error'
    r.update(extra or {})
    return r


def envelope(rec, detail_type='AWS API Call via CloudTrail'):
    """The EventBridge event that a rule puts on the queue for rec."""
    return json.dumps({'version': '0', 'id': 'eb-' + rec['eventID'], 'detail-type': detail_type,
                       'source': 'aws.' + rec['eventSource'].split('.')[0],
                       'account': rec['recipientAccountId'], 'time': rec['eventTime'],
                       'region': 'us-east-1', 'resources': [], 'detail': rec})


def lookup_entry(rec):
    """rec as LookupEvents returns it."""
    return {'EventId': rec['eventID'], 'EventName': rec['eventName'],
            'EventTime': int(time.time()) - 5, 'EventSource': rec['eventSource'],
            'Username': 'mallory', 'ReadOnly': 'false', 'CloudTrailEvent': json.dumps(rec)}


def scenario(events=(), visibility=30, max_receive=2):
    with open(os.path.join(SCENARIOS, 'basic.json')) as f:
        doc = json.load(f)
    doc['cloudtrail'] = {'events': {MGMT: {'us-east-1': list(events)}}}
    doc['sqs'] = {'queues': [
        {'account': MGMT, 'name': QUEUE, 'visibility_timeout': visibility,
         'redrive': {'dead_letter': DLQ, 'max_receive_count': max_receive}},
        {'account': MGMT, 'name': DLQ, 'retention': 1209600}]}
    return doc


def samples(body, name):
    return [(l, v) for n, l, v in parse_exposition(body) if n == name]


def count(body, event, outcome):
    for l, v in samples(body, 'aws_org_cloudtrail_events_total'):
        if l['event_name'] == event and l['outcome'] == outcome:
            return v
    return None


def results(body):
    return {l['result']: v for l, v in samples(body, 'aws_org_eventbridge_messages_total')}


def up(body, collector):
    for l, v in samples(body, 'aws_org_collector_up'):
        if l['collector'] == collector:
            return v
    return None


class EventBridgeBase(unittest.TestCase):
    """The fake AWS with a queue, an exporter consuming it, and helpers."""

    def setUp(self):
        self.fake = FakeAWS()
        self.queue_url = '%s/%s/%s' % (self.fake.url, MGMT, QUEUE)

    def tearDown(self):
        self.fake.stop()

    def exporter(self, *args, cloudtrail=True):
        return Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                        '--collector.eventbridge.queue-url=' + self.queue_url, *args,
                        binary=TESTING, aws=['cloudtrail'] if cloudtrail else [], env=env_keys())

    def send(self, body):
        """SendMessage, signed like any SDK call (the fake checks it)."""
        payload = json.dumps({'QueueUrl': self.queue_url, 'MessageBody': body})
        req = AWSRequest(method='POST', url=self.fake.url + '/', data=payload,
                         headers={'Content-Type': 'application/x-amz-json-1.0',
                                  'X-Amz-Target': 'AmazonSQS.SendMessage'})
        SigV4Auth(Credentials(*MGMT_KEY), 'sqs', 'us-east-1').add_auth(req)
        c = http.client.HTTPConnection('127.0.0.1', self.fake.port, timeout=10)
        c.request('POST', '/', body=payload, headers=dict(req.headers))
        r = c.getresponse()
        out = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 200, out)
        return out['MessageId']

    def queue(self, name=QUEUE):
        return self.fake.control('sqs')['%s/%s' % (MGMT, name)]

    def body(self, x):
        status, _, body = x.get('/metrics')
        self.assertEqual(status, 200)
        return body

    def ready(self, x):
        self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 30 * TIME_SCALE),
                        x.stderr())

class EventBridgeTest(EventBridgeBase):
    def test_fast_path_counts_once_across_both_paths(self):
        now = time.time()
        self.fake.scenario(scenario())
        with self.exporter('--collector.cloudtrail.interval=1s') as x:
            self.ready(x)
            self.assertEqual(up(self.body(x), 'eventbridge'), 1)
            # A member's denied leave, forwarded from its bus: only the queue has it.
            leave = record('ev-leave', 'LeaveOrganization', now - 2, account=None,
                           recipient=MEMBER, error='AccessDenied',
                           message='User is not authorized to perform: '
                                   'organizations:LeaveOrganization with an explicit deny')
            sent = time.time()
            self.send(envelope(leave))
            self.assertTrue(wait_until(
                lambda: count(self.body(x), 'LeaveOrganization', 'denied') == 1, 5 * TIME_SCALE),
                x.stderr())
            seen_after = time.time() - sent
            body = self.body(x)
            info = [l for l, v in samples(body, 'aws_org_cloudtrail_recent_event_info')
                    if l['event_id'] == 'ev-leave']
            self.assertEqual(len(info), 1)
            self.assertEqual((info[0]['source'], info[0]['outcome'], info[0]['account_id']),
                             ('member', 'denied', MEMBER))
            delay = {l['source']: v for l, v in
                     samples(body, 'aws_org_cloudtrail_event_delay_seconds_count')}
            self.assertEqual(delay, {'lookup': 0, 'member': 0, 'eventbridge': 1})
            self.assertEqual(results(body),
                             {'counted': 1, 'duplicate': 0, 'ignored': 0, 'malformed': 0})
            # A management record on the queue, then in the event history.
            removed = record('ev-removed', 'RemoveAccountFromOrganization', now - 1)
            self.send(envelope(removed))
            self.assertTrue(wait_until(lambda: count(
                self.body(x), 'RemoveAccountFromOrganization', 'success') == 1, 5 * TIME_SCALE))
            polls = self.fake.stats()['calls'].get('cloudtrail.LookupEvents', 0)
            self.fake.patch([{'op': 'add_event', 'account': MGMT, 'region': 'us-east-1',
                              'event': lookup_entry(removed)}])
            self.assertTrue(wait_until(
                lambda: self.fake.stats()['calls'].get('cloudtrail.LookupEvents', 0) >=
                polls + 40, 60 * TIME_SCALE))
            body = self.body(x)
            self.assertEqual(count(body, 'RemoveAccountFromOrganization', 'success'), 1)
            # The reverse: in the history first, then on the queue.
            joined = record('ev-joined', 'AccountJoinedOrganization', now - 30,
                            account='333333333333')
            self.fake.patch([{'op': 'add_event', 'account': MGMT, 'region': 'us-east-1',
                              'event': lookup_entry(joined)}])
            self.assertTrue(wait_until(lambda: count(
                self.body(x), 'AccountJoinedOrganization', 'success') == 1, 60 * TIME_SCALE))
            self.send(envelope(joined, 'AWS Service Event via CloudTrail'))
            self.assertTrue(wait_until(lambda: results(self.body(x))['duplicate'] == 1,
                                       5 * TIME_SCALE))
            body = self.body(x)
            self.assertEqual(count(body, 'AccountJoinedOrganization', 'success'), 1)
            self.assertEqual(results(body),
                             {'counted': 2, 'duplicate': 1, 'ignored': 0, 'malformed': 0})
            self.assertTrue(wait_until(lambda: self.queue()['deleted'] == 3, 5))
            self.assertEqual((self.queue()['visible'], self.queue()['in_flight']), (0, 0))
        self.assertLess(seen_after, 5 * TIME_SCALE)

    def test_redelivered_after_a_crash_counts_once(self):
        now = time.time()
        self.fake.scenario(scenario(visibility=30))
        state = tempfile.mktemp(prefix='eb-state-')
        self.addCleanup(lambda: os.path.exists(state) and os.unlink(state))
        # Every delete fails: the exporter is "killed" after its commit and
        # before its delete; the message stays in flight.
        self.fake.faults([{'operation': 'sqs.DeleteMessageBatch', 'kind': '5xx', 'status': 500}])
        leave = record('ev-crash', 'LeaveOrganization', now - 2, account=None, recipient=MEMBER,
                       error='AccessDenied', message='explicit deny LeaveOrganization')
        with self.exporter('--state.file=' + state, cloudtrail=False) as x:
            self.ready(x)
            self.send(envelope(leave))
            self.assertTrue(wait_until(
                lambda: count(self.body(x), 'LeaveOrganization', 'denied') == 1, 5 * TIME_SCALE))
            self.assertTrue(wait_until(
                lambda: self.fake.stats()['calls'].get('sqs.DeleteMessageBatch', 0) >= 1, 10))
            x.stop(sig=9)
        self.assertEqual(self.queue()['in_flight'], 1)
        self.fake.faults([])
        # A long poll of the killed exporter may still be waiting in the fake
        # (its end of the socket is gone, not the fake's): it would take the
        # message first, as SQS would. Expire once it has ended (<= 20 s).
        self.assertTrue(wait_until(lambda: self.fake.control('sqs')['waiting'] == 0, 30, 0.2))
        self.fake.control('sqs', {'op': 'expire', 'account': MGMT, 'name': QUEUE})
        with self.exporter('--state.file=' + state, cloudtrail=False) as x:
            self.ready(x)
            self.assertTrue(wait_until(lambda: results(self.body(x))['duplicate'] == 1,
                                       10 * TIME_SCALE), x.stderr())
            body = self.body(x)
            self.assertEqual(count(body, 'LeaveOrganization', 'denied'), 1)
            self.assertEqual(results(body),
                             {'counted': 0, 'duplicate': 1, 'ignored': 0, 'malformed': 0})
            self.assertTrue(wait_until(lambda: self.queue()['deleted'] == 1, 5))
        self.assertEqual(self.queue()['receive_counts'], [])

    def test_bad_messages_never_stop_the_consumer(self):
        now = time.time()
        self.fake.scenario(scenario(visibility=1, max_receive=2))
        with self.exporter(cloudtrail=False) as x:
            self.ready(x)
            self.send('this is not JSON {')
            self.send(envelope(record('ev-iam', 'DeletePolicy', now, account=None,
                                      source='iam.amazonaws.com')))
            self.send(json.dumps({'detail-type': 'AWS API Call via CloudTrail',
                                  'source': 'aws.organizations', 'detail': {'eventName': 'x'}}))
            self.send(envelope(record('ev-ok', 'RemoveAccountFromOrganization', now)))
            self.assertTrue(wait_until(lambda: count(
                self.body(x), 'RemoveAccountFromOrganization', 'success') == 1, 5 * TIME_SCALE))
            # The two unreadable ones come back once (visibility 1 s), then
            # the redrive policy moves them to the dead-letter queue.
            self.assertTrue(wait_until(lambda: self.queue(DLQ)['visible'] == 2, 20 * TIME_SCALE),
                            self.fake.control('sqs'))
            body = self.body(x)
            self.assertEqual(results(body),
                             {'counted': 1, 'duplicate': 0, 'ignored': 1, 'malformed': 4})
            self.assertEqual(count(body, 'DeletePolicy', 'success'), 0)
            self.assertEqual(up(body, 'eventbridge'), 1)
            q = self.queue()
            self.assertEqual((q['visible'], q['in_flight'], q['deleted']), (0, 0, 2))
            dead = ('a message on the queue cannot be read as an Organizations record: it is left '
                    'for the dead-letter queue')
            # The message ids are the fake's random ones; what follows "not
            # JSON: " is jansson's wording.
            masked = sorted(re.sub(r'err="not JSON: [^"]*"', 'err="not JSON: ..."',
                                   re.sub(r' message_id=\S+ ', ' message_id=ID ', l))
                            for l in log_lines(x.stderr(), dead))
            self.assertEqual(masked, sorted(
                'level=warn caller=eventbridge.c module=eventbridge msg="%s" message_id=ID '
                'receive_count=%d err="%s"' % (dead, n, err)
                for n in (1, 2) for err in ('not JSON: ...', 'no eventID')))

    def test_queue_errors_put_it_down_and_it_recovers(self):
        now = time.time()
        self.fake.scenario(scenario())
        # One attempt (three for throttles) per call: the collector's own
        # back-off is what this watches, not the client's retries.
        with self.exporter('--aws.max-attempts=1', cloudtrail=False) as x:
            self.ready(x)
            for fault in ('access_denied', 'throttle'):
                self.fake.faults([{'operation': 'sqs.ReceiveMessage', 'kind': fault}])
                self.assertTrue(wait_until(lambda: up(self.body(x), 'eventbridge') == 0,
                                           30 * TIME_SCALE), fault)
                self.fake.faults([])
                self.assertTrue(wait_until(lambda: up(self.body(x), 'eventbridge') == 1,
                                           90 * TIME_SCALE), fault)
            # The queue deleted, then made again.
            self.fake.control('sqs', {'op': 'delete_queue', 'account': MGMT, 'name': QUEUE})
            self.assertTrue(wait_until(lambda: up(self.body(x), 'eventbridge') == 0,
                                       30 * TIME_SCALE))
            self.fake.control('sqs', {'op': 'create_queue', 'account': MGMT, 'name': QUEUE})
            self.send(envelope(record('ev-back', 'LeaveOrganization', now, account=None,
                                      recipient=MEMBER)))
            self.assertTrue(wait_until(
                lambda: count(self.body(x), 'LeaveOrganization', 'success') == 1,
                90 * TIME_SCALE), x.stderr())
            self.assertEqual(up(self.body(x), 'eventbridge'), 1)
            self.assertEqual(set(log_lines(x.stderr(), RUN_FAILED)), {run_failed(
                'eventbridge', 'ReceiveMessage: ' + err) for err in (
                    'AccessDeniedException: You don\'t have permissions to access this resource.',
                    'ThrottlingException: Rate exceeded',
                    'QueueDoesNotExist: The specified queue does not exist.')})

    def test_sigterm_during_a_long_poll(self):
        self.fake.scenario(scenario())
        with self.exporter(cloudtrail=False) as x:
            self.ready(x)
            self.assertTrue(wait_until(
                lambda: self.fake.stats()['calls'].get('sqs.ReceiveMessage', 0) >= 1, 10))
            time.sleep(1)  # inside the 20 s wait
            t0 = time.time()
            x.proc.terminate()
            x.proc.wait(30)
            took = time.time() - t0
        self.assertEqual(x.proc.returncode, 0)
        self.assertLess(took, 2.0 * TIME_SCALE)

    def test_off_without_a_queue_url(self):
        with Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                      binary=TESTING, aws=['cloudtrail'], env=env_keys()) as x:
            self.ready(x)
            body = self.body(x)
            self.assertEqual(up(body, 'eventbridge'), None)
            self.assertEqual(samples(body, 'aws_org_eventbridge_messages_total'), [])
            self.assertEqual(self.fake.stats()['calls'].get('sqs.ReceiveMessage', 0), 0)

    def test_queue_url_is_checked(self):
        for bad in ('sqs.us-east-1.amazonaws.com/111111111111/q', 'https://host/q',
                    'https://host/11111/q', 'https://host/111111111111/'):
            with self.subTest(bad=bad):
                import subprocess
                p = subprocess.run([TESTING, '--collector.eventbridge.queue-url=' + bad],
                                   capture_output=True, text=True, timeout=10)
                self.assertEqual(p.returncode, 2)
                self.assertEqual(
                    p.stderr.strip(),
                    'aws-org-exporter: error: invalid value "%s" for flag '
                    '--collector.eventbridge.queue-url: expected an SQS queue URL such as '
                    'https://sqs.us-east-1.amazonaws.com/111111111111/name; see --help' % bad)


class EventBridgeAlertsTest(EventBridgeBase):
    """Through the queue, the alerts of the polling path: a real Prometheus
    evaluating the shipped rules every second."""

    def test_queue_events_alert_like_the_history(self):
        now = time.time()
        self.fake.scenario(scenario())
        leave = record('q-leave', 'LeaveOrganization', now - 3, account=None, recipient=MEMBER,
                       error='AccessDenied', message='explicit deny: organizations:LeaveOrganization')
        # A member accepting another organization's invitation: a transfer
        # out, stopped by the guardrail.
        transfer = record('q-transfer', 'AcceptHandshake', now - 2, account=None,
                          recipient='333333333333', error='AccessDenied',
                          message='not authorized to perform: organizations:LeaveOrganization')
        # The management account's own AcceptHandshake (all features): no leave.
        approve = record('q-approve', 'AcceptHandshake', now - 1, account=None,
                         extra={'responseElements': {'handshake': {'action':
                                                                   'APPROVE_ALL_FEATURES'}}})
        with self.exporter(cloudtrail=False) as x, \
                Prometheus(['127.0.0.1:%d' % x.port], rule_files=RULE_FILES) as prom:
            self.ready(x)
            self.assertTrue(wait_until(lambda: prom.query('up{job="aws-org-exporter"} == 1'),
                                       60), prom.logs()[-2000:])
            for r in (leave, transfer, approve):
                self.send(envelope(r))
            q = 'ALERTS{alertname="AwsOrgLeaveAttemptDenied",alertstate="firing"}'
            self.assertTrue(wait_until(lambda: len(prom.query(q)) == 2, 30 * TIME_SCALE),
                            prom.query('ALERTS'))
            firing = sorted((a['metric']['event_id'], a['metric']['account_id'],
                             a['metric']['source']) for a in prom.query(q))
            self.assertEqual(firing, [('q-leave', MEMBER, 'member'),
                                      ('q-transfer', '333333333333', 'member')])
            time.sleep(3)  # a few more evaluations: nothing else pages
            pages = [a['metric']['alertname'] for a in prom.query('ALERTS')
                     if a['metric'].get('severity') in ('critical', 'high')]
            self.assertEqual(sorted(pages), ['AwsOrgLeaveAttemptDenied'] * 2)
            self.assertEqual(results(self.body(x)),
                             {'counted': 3, 'duplicate': 0, 'ignored': 0, 'malformed': 0})


if __name__ == '__main__':
    unittest.main()
