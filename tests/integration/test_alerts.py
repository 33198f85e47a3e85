"""What pages, end to end: the exporter on the fake AWS, a real Prometheus
evaluating dashboards/prometheus/*.yml every second, and the alert
instances counted by severity from Prometheus's own ALERTS series (every
label set that was ever firing during the test, resolved ones included).

- A closed account that AWS removes (the listing loses an account last seen
  CLOSED, then AccountDepartedOrganization says CLEANED) fires nothing at
  critical or high: one info alert.
- One real departure (the listing loses the account, CloudTrail records
  RemoveAccountFromOrganization and then AccountDepartedOrganization) fires
  exactly one critical alert instance, for that account.
- An SCP detached fires a high alert naming the policy; a tag policy
  detached, in the same history, fires none.
- IAM's DeletePolicy, in the same history as Organizations' events, counts
  for nothing."""
import json
import os
import time
import unittest

from harness import (RELEASE, SCENARIOS, Exporter, FakeAWS, Prometheus, env_keys,
                     parse_exposition, wait_until)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
RULE_FILES = [os.path.join(ROOT, 'dashboards', 'prometheus', f) for f in ('rules.yml', 'alerts.yml')]
MGMT = '111111111111'
CLOSED = '100000000011'
LEAVER = '100000000012'
EVENTS = ('AccountDepartedOrganization,RemoveAccountFromOrganization,DetachPolicy,DeletePolicy,'
          'LeaveOrganization,AcceptHandshake')
MEMBERS = ('222222222222', '100000000001')  # read through the member role
ROLE = 'aws-org-exporter-member'


def member_denied_leave(event_id, account, ago, name='LeaveOrganization'):
    """A denied LeaveOrganization (or transfer: AcceptHandshake) in the
    member's own history, ago seconds before now (CloudTrail delivers out of
    order: the ages are what matter)."""
    r = {'eventVersion': '1.09', 'eventID': event_id, 'eventName': name,
         'eventSource': 'organizations.amazonaws.com', 'awsRegion': 'us-east-1',
         'recipientAccountId': account, 'sourceIPAddress': '198.51.100.%s' % account[-1],
         'errorCode': 'AccessDenied',
         'errorMessage': 'User: arn:aws:iam::%s:root is not authorized to perform: '
                         'organizations:LeaveOrganization with an explicit deny in a service '
                         'control policy' % account,
         'userIdentity': {'type': 'Root', 'accountId': account,
                          'arn': 'arn:aws:iam::%s:root' % account}}
    return {'op': 'add_event', 'account': account, 'region': 'us-east-1',
            'event': {'EventId': event_id, 'EventName': name,
                      'EventSource': 'organizations.amazonaws.com', 'ReadOnly': 'false',
                      'EventTimeAgo': ago, 'CloudTrailEvent': r}}


def event(event_id, name, **fields):
    """A LookupEvents entry for the management account's history, now."""
    r = {'eventVersion': '1.09', 'eventID': event_id, 'eventName': name,
         'eventSource': fields.pop('source', 'organizations.amazonaws.com'),
         'awsRegion': 'us-east-1', 'recipientAccountId': MGMT,
         'sourceIPAddress': '203.0.113.50',
         'userIdentity': {'type': 'AssumedRole', 'accountId': MGMT,
                          'arn': 'arn:aws:sts::%s:assumed-role/OrgAdmin/eve' % MGMT}}
    r.update(fields)
    return {'op': 'add_event', 'account': MGMT, 'region': 'us-east-1',
            'event': {'EventId': event_id, 'EventName': name, 'EventSource': r['eventSource'],
                      'ReadOnly': 'false', 'CloudTrailEvent': r}}


def service_event(event_id, name, details):
    e = event(event_id, name, serviceEventDetails=details, eventType='AwsServiceEvent',
              userIdentity={'accountId': MGMT, 'invokedBy': 'organizations.amazonaws.com'},
              sourceIPAddress='organizations.amazonaws.com')
    return e


class AlertSemanticsTest(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(SCENARIOS, 'basic.json')) as f:
            doc = json.load(f)
        doc['cloudtrail'] = {'events': {}}  # a quiet history: only what the test adds
        doc['policies'].append({'id': 'p-tags0001', 'name': 'cost-center-tags',
                                'type': 'TAG_POLICY', 'content': '{"tags":{}}',
                                'targets': ['r-a1b2']})
        for a in doc['accounts']:
            if a['id'] == CLOSED:
                a['state'] = 'CLOSED'
        # The member role in every member that can act, as a StackSet would.
        readable = [a['id'] for a in doc['accounts'] if a['id'] != MGMT
                    and a['state'] in ('ACTIVE', 'PENDING_CLOSURE')]
        doc['roles'] = [r for r in doc.get('roles', []) if r['account_id'] not in readable] + [
            {'arn': 'arn:aws:iam::%s:role/%s' % (m, ROLE), 'account_id': m,
             # Deleting a role does not end the sessions it issued: short ones
             # here, so the test sees the next AssumeRole refused in seconds.
             'session_duration_seconds': 10 if m == MEMBERS[1] else 900} for m in readable]
        self.doc = doc
        self.fake = FakeAWS()
        self.fake.scenario(doc)
        self.x = Exporter('--aws.endpoint-url=' + self.fake.url,
                          '--collector.organizations.interval=1s', '--collector.scp.interval=1s',
                          '--collector.cloudtrail.interval=1s',
                          '--collector.cloudtrail.events=' + EVENTS,
                          '--collector.cloudtrail.member-role=' + ROLE,
                          binary=RELEASE, aws=True, env=env_keys())
        self.assertTrue(wait_until(lambda: self.x.get('/-/ready')[0] == 200, 30, 0.1),
                        self.x.stderr())
        self.prom = Prometheus(['127.0.0.1:%d' % self.x.port], rule_files=RULE_FILES)

    def tearDown(self):
        self.prom.__exit__(None, None, None)
        self.x.__exit__(None, None, None)
        self.fake.stop()

    def instances(self, severities='critical|high'):
        """Every alert instance that fired during the test, as (alertname,
        account_id, policy_id, event_id), sorted."""
        q = ('max_over_time(ALERTS{alertstate="firing",severity=~"%s"}[10m])' % severities)
        return sorted((r['metric']['alertname'], r['metric'].get('account_id', ''),
                       r['metric'].get('policy_id', ''), r['metric'].get('event_id', ''))
                      for r in self.prom.query(q))

    def seen(self, *event_ids):
        """True once Prometheus holds every event id among the newest events."""
        got = {r['metric']['event_id']
               for r in self.prom.query('aws_org_cloudtrail_recent_event_info')}
        return set(event_ids) <= got

    def settle(self):
        """A few more scrapes and rule evaluations."""
        time.sleep(4)

    def test_what_pages(self):
        self.assertTrue(wait_until(lambda: self.prom.query(
            'aws_org_account_info{account_id="%s"}' % CLOSED), 30, 0.2), self.prom.logs()[-2000:])
        self.settle()
        self.assertEqual(self.instances('critical|high|warning|info'), [])

        # 1. AWS cleans up the closed account: nothing critical or high.
        self.fake.patch([{'op': 'remove_account', 'id': CLOSED},
                         service_event('e-clean', 'AccountDepartedOrganization',
                                       {'accountId': CLOSED, 'departureMethod': 'CLEANED'})])
        self.assertTrue(wait_until(lambda: self.seen('e-clean'), 30, 0.2), self.x.stderr())
        self.assertTrue(wait_until(lambda: self.prom.query(
            'aws_org_departed_account_info{account_id="%s",last_state="CLOSED"}' % CLOSED), 30, 0.2))
        self.settle()
        self.assertEqual(self.instances(), [])
        self.assertEqual(self.instances('info'),
                         [('AwsOrgClosedAccountRemoved', CLOSED, '', '')])

        # 2. One real departure, three pieces of evidence: one critical alert.
        self.fake.patch([{'op': 'remove_account', 'id': LEAVER}])
        self.assertTrue(wait_until(lambda: self.prom.query(
            'aws_org_departed_account_info{account_id="%s"}' % LEAVER), 30, 0.2))
        self.fake.patch([event('e-remove', 'RemoveAccountFromOrganization',
                               requestParameters={'accountId': LEAVER})])
        self.assertTrue(wait_until(lambda: self.seen('e-remove'), 30, 0.2), self.x.stderr())
        self.fake.patch([service_event('e-departed', 'AccountDepartedOrganization',
                                       {'accountId': LEAVER, 'departureMethod': 'REMOVED'})])
        self.assertTrue(wait_until(lambda: self.seen('e-departed'), 30, 0.2), self.x.stderr())
        self.settle()
        self.assertEqual(self.instances(), [('AwsOrgAccountDeparted', LEAVER, '', '')])
        firing = [a for a in self.prom_alerts() if a['labels']['alertname'] == 'AwsOrgAccountDeparted']
        self.assertEqual(len(firing), 1)
        self.assertEqual(
            firing[0]['annotations']['details'],
            'Listed as member-12, last ACTIVE. CloudTrail: AccountDepartedOrganization (removed) by '
            'organizations.amazonaws.com from organizations.amazonaws.com (event e-departed). '
            'CloudTrail: RemoveAccountFromOrganization by '
            'arn:aws:sts::111111111111:assumed-role/OrgAdmin/eve from 203.0.113.50 '
            '(event e-remove).')

        # 3. Guardrails: the SCP detach pages and names the policy; the tag
        # policy detach and IAM's DeletePolicy do not.
        self.fake.patch([
            {'op': 'detach_policy', 'policy_id': 'p-tags0001', 'target_id': 'r-a1b2'},
            event('e-tags', 'DetachPolicy',
                  requestParameters={'policyId': 'p-tags0001', 'targetId': 'r-a1b2'}),
            event('e-iam', 'DeletePolicy', source='iam.amazonaws.com',
                  requestParameters={'policyArn': 'arn:aws:iam::111111111111:policy/old'}),
            {'op': 'detach_policy', 'policy_id': 'p-denyleave01', 'target_id': 'ou-a1b2-prod0001'},
            event('e-scp', 'DetachPolicy',
                  requestParameters={'policyId': 'p-denyleave01', 'targetId': 'ou-a1b2-prod0001'}),
        ])
        self.assertTrue(wait_until(lambda: self.seen('e-tags', 'e-scp'), 30, 0.2), self.x.stderr())
        self.settle()
        got = [i for i in self.instances() if i[0] == 'AwsOrgGuardrailTampering']
        self.assertEqual(got, [('AwsOrgGuardrailTampering', MGMT, 'p-denyleave01', 'e-scp')])
        types = {r['metric']['event_id']: r['metric'].get('policy_type', '')
                 for r in self.prom.query('aws_org_cloudtrail_recent_event_info')}
        self.assertEqual((types['e-tags'], types['e-scp']), ('TAG_POLICY', 'SERVICE_CONTROL_POLICY'))
        self.assertNotIn('e-iam', types)
        counts = {(l['event_name'], l['outcome']): v for n, l, v in parse_exposition(self.x.get()[2])
                  if n == 'aws_org_cloudtrail_events_total'}
        self.assertEqual(counts[('DeletePolicy', 'success')], 0)
        self.assertEqual(counts[('DetachPolicy', 'success')], 2)
        # Nothing else critical or high fired but what the SCP detach exposed.
        others = {i for i in self.instances()
                  if i[0] not in ('AwsOrgGuardrailTampering', 'AwsOrgAccountDeparted',
                                  'AwsOrgAccountProtectionWeakened')}
        self.assertEqual(others, set())

    def test_late_and_out_of_order_leave_attempts_alert(self):
        """A denied LeaveOrganization in one member, then one in another
        member whose event time is EARLIER (delivered later): both alert,
        each naming its account."""
        self.assertTrue(wait_until(lambda: self.prom.query(
            'aws_org_cloudtrail_member_up{account_id="%s"} == 1' % MEMBERS[1]), 30, 0.2),
            self.x.stderr()[-2000:])
        self.fake.patch([member_denied_leave('d-first', MEMBERS[0], 60)])
        self.assertTrue(wait_until(lambda: self.seen('d-first'), 30, 0.2), self.x.stderr())
        self.settle()
        self.fake.patch([member_denied_leave('d-earlier', MEMBERS[1], 600)])
        self.assertTrue(wait_until(lambda: self.seen('d-earlier'), 30, 0.2), self.x.stderr())
        self.settle()
        self.assertEqual(
            [i for i in self.instances() if i[0] == 'AwsOrgLeaveAttemptDenied'],
            [('AwsOrgLeaveAttemptDenied', MEMBERS[1], '', 'd-earlier'),
             ('AwsOrgLeaveAttemptDenied', MEMBERS[0], '', 'd-first')])
        # A transfer to another organization, denied by the same guardrail:
        # the member's AcceptHandshake is a leave attempt too.
        self.fake.patch([member_denied_leave('d-transfer', MEMBERS[0], 30, 'AcceptHandshake')])
        self.assertTrue(wait_until(lambda: self.seen('d-transfer'), 30, 0.2), self.x.stderr())
        self.settle()
        self.assertEqual(
            [i for i in self.instances() if i[0] == 'AwsOrgLeaveAttemptDenied'],
            [('AwsOrgLeaveAttemptDenied', MEMBERS[1], '', 'd-earlier'),
             ('AwsOrgLeaveAttemptDenied', MEMBERS[0], '', 'd-first'),
             ('AwsOrgLeaveAttemptDenied', MEMBERS[0], '', 'd-transfer')])

    def test_member_whose_role_is_deleted(self):
        """An attacker with admin rights in a member deletes the member role:
        once the exporter's session of it ends, its history cannot be read,
        and AwsOrgMemberUnreadable (high) is pending for that account (it
        fires after its 10 minutes, which promtool's tests cover)."""
        self.assertTrue(wait_until(lambda: self.prom.query(
            'aws_org_cloudtrail_member_up{account_id="%s"} == 1' % MEMBERS[1]), 30, 0.2),
            self.x.stderr()[-2000:])
        pending = lambda: [a for a in self.prom_alerts(states=('pending', 'firing'))
                           if a['labels']['alertname'] == 'AwsOrgMemberUnreadable']
        self.settle()
        self.assertEqual(pending(), [])
        roles = [r for r in self.doc['roles'] if r['account_id'] != MEMBERS[1]]
        self.fake.patch([{'op': 'set', 'path': ['roles'], 'value': roles}])
        got = wait_until(pending, 60, 0.5)
        self.assertEqual([(a['labels']['account_id'], a['labels']['severity'], a['state'])
                          for a in got], [(MEMBERS[1], 'high', 'pending')], self.x.stderr()[-3000:])

    def prom_alerts(self, states=('firing',)):
        import urllib.request
        with urllib.request.urlopen('http://127.0.0.1:%d/api/v1/alerts' % self.prom.port,
                                    timeout=5) as r:
            return [a for a in json.load(r)['data']['alerts'] if a['state'] in states]


if __name__ == '__main__':
    unittest.main()
