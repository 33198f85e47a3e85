"""The SCP collector against the fake AWS: an organization with OUs three
deep and six policies, accounts in every situation, exact statuses, a
detached guardrail flipping accounts to unprotected, a guardrail's document
edited alone (as UpdatePolicy can) counting by the next run, and a call
count that follows policies and OUs rather than accounts."""
import json
import os
import time
import unittest
import urllib.request

from harness import (RUN_FAILED, SCENARIOS, TESTING, Exporter, FakeAWS, Prometheus, env_keys,
                     log_lines, metric_values, parse_exposition, wait_until)

RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'dashboards',
                     'prometheus')
RULE_FILES = [os.path.join(RULES, f) for f in ('rules.yml', 'alerts.yml')]
MGMT = '111111111111'
ROOT = 'r-a1b2'


def doc(*statements):
    return json.dumps({'Version': '2012-10-17', 'Statement': list(statements)})


FULL = doc({'Effect': 'Allow', 'Action': '*', 'Resource': '*'})
DENY_LEAVE = doc({'Effect': 'Deny', 'Action': 'organizations:LeaveOrganization',
                  'Resource': '*'})
DENY_LEAVE_WILDCARD = doc({'Effect': 'Deny', 'Action': 'Organizations:Leave*', 'Resource': '*'})
CONDITIONAL = doc({'Effect': 'Deny', 'Action': ['organizations:LeaveOrganization'],
                   'Resource': '*', 'Condition': {'ArnNotLike': {
                       'aws:PrincipalArn': 'arn:aws:iam::*:role/BreakGlass'}}})
ALLOW_LIST = doc({'Effect': 'Allow', 'Action': ['ec2:*', 's3:*', 'cloudwatch:*'],
                  'Resource': '*'})

# The leave guardrail on ou-a (and so on ou-ab, ou-abc and 600000000007).
GUARDRAIL = {'id': 'p-denyleave1', 'name': 'DenyLeave', 'description': 'guardrail',
             'type': 'SERVICE_CONTROL_POLICY', 'aws_managed': False, 'content': DENY_LEAVE,
             'targets': ['ou-a1b2-a0000001']}
# What UpdatePolicy can make of it, changing only its content: the same id,
# name and description, so the same ListPolicies summary.
GUARDRAIL_WITH_EXCEPTION = dict(GUARDRAIL, content=doc(
    {'Effect': 'Deny', 'Action': 'organizations:LeaveOrganization', 'Resource': '*',
     'Condition': {'ArnNotLike': {'aws:PrincipalArn': 'arn:aws:iam::*:role/Mallory'}}}))
GUARDRAIL_WITHOUT_DENY = dict(GUARDRAIL, content=doc(
    {'Effect': 'Deny', 'Action': 'organizations:DeleteOrganization', 'Resource': '*'}))
# The accounts under the guardrail.
GUARDED = ('600000000001', '600000000007')

OUS = [('ou-a1b2-a0000001', ROOT), ('ou-a1b2-ab000002', 'ou-a1b2-a0000001'), ('ou-a1b2-abc00003', 'ou-a1b2-ab000002'), ('ou-a1b2-allow001', ROOT),
       ('ou-a1b2-cond0001', ROOT), ('ou-a1b2-open0001', ROOT), ('ou-a1b2-bad00001', ROOT)]
# account -> (OU, expected status, reason)
EXPECTED = {
    '600000000001': ('ou-a1b2-abc00003', 'protected', 'explicit_deny'),
    '600000000002': ('ou-a1b2-allow001', 'protected', 'no_allow'),
    '600000000003': ('ou-a1b2-cond0001', 'conditional', 'conditional_deny'),
    '600000000004': ('ou-a1b2-open0001', 'unprotected', 'no_deny'),
    '600000000005': ('ou-a1b2-open0001', 'protected', 'explicit_deny'),
    '600000000006': ('ou-a1b2-bad00001', 'unknown', 'malformed_policy'),
    '600000000007': ('ou-a1b2-a0000001', 'protected', 'explicit_deny'),
}


def scenario(extra_accounts=0, extra_ou='ou-a1b2-open0001'):
    with open(os.path.join(SCENARIOS, 'basic.json')) as f:
        d = json.load(f)
    d['ous'] = [{'id': o, 'name': o, 'parent_id': p} for o, p in OUS]
    accounts = [dict(d['accounts'][0], parent_id=ROOT)]
    for a, (ou, _, _) in sorted(EXPECTED.items()):
        accounts.append({'id': a, 'name': 'acct-' + a[-1], 'email': a + '@example.com',
                         'state': 'ACTIVE', 'joined_method': 'INVITED',
                         'joined_timestamp': 1700000000, 'parent_id': ou})
    for i in range(extra_accounts):
        accounts.append({'id': '7%011d' % i, 'name': 'extra-%d' % i, 'email': 'e%d@x.com' % i,
                         'state': 'ACTIVE', 'joined_method': 'CREATED',
                         'joined_timestamp': 1700000000, 'parent_id': extra_ou})
    d['accounts'] = accounts
    everything = [ROOT] + [o for o, _ in OUS if o != 'ou-a1b2-allow001'] + [a['id'] for a in accounts]
    d['policies'] = [
        {'id': 'p-FullAWSAccess', 'name': 'FullAWSAccess', 'description': 'all', 'type':
         'SERVICE_CONTROL_POLICY', 'aws_managed': True, 'content': FULL, 'targets': everything},
        dict(GUARDRAIL),
        {'id': 'p-conditional1', 'name': 'DenyLeaveExceptBreakGlass', 'description': 'c',
         'type': 'SERVICE_CONTROL_POLICY', 'aws_managed': False, 'content': CONDITIONAL,
         'targets': ['ou-a1b2-cond0001']},
        {'id': 'p-allowlist1', 'name': 'AllowList', 'description': 'no organizations',
         'type': 'SERVICE_CONTROL_POLICY', 'aws_managed': False, 'content': ALLOW_LIST,
         'targets': ['ou-a1b2-allow001']},
        {'id': 'p-wildcard1', 'name': 'DenyLeaveWildcard', 'description': 'w',
         'type': 'SERVICE_CONTROL_POLICY', 'aws_managed': False,
         'content': DENY_LEAVE_WILDCARD, 'targets': ['600000000005']},
        {'id': 'p-broken0001', 'name': 'Broken', 'description': 'does not parse',
         'type': 'SERVICE_CONTROL_POLICY', 'aws_managed': False,
         'content': '{"Statement": [{"Effect": "Deny", "Action": ', 'targets': ['ou-a1b2-bad00001']},
    ]
    d['cloudtrail'] = {'events': {}}
    return d


UNEVALUABLE = ('a service control policy cannot be evaluated: the accounts it could decide are '
               'unknown')
BROKEN_ERR = 'the policy document does not parse: invalid JSON at line 1 column 44'
UNEVALUABLE_LINE = ('level=warn caller=scp_policies.c module=scp msg="%s" policy_id=p-broken0001 '
                    'err="%s"' % (UNEVALUABLE, BROKEN_ERR))
LOST_DETAIL = {
    'unprotected': 'every level allows organizations:LeaveOrganization and no deny applies',
    'conditional': 'conditional deny of organizations:LeaveOrganization in policy p-denyleave1 '
                   'Statement[0] at ou ou-a1b2-a0000001'}


def lost(account, now):
    """The log line (log_lines) of a guarded account losing its protection."""
    return ('level=warn caller=scp.c module=scp msg="an account lost its leave protection" '
            'account_id=%s was=protected now=%s detail="%s"' % (account, now, LOST_DETAIL[now]))


def statuses(body):
    return {l['account_id']: l['status'] for n, l, v in parse_exposition(body)
            if n == 'aws_org_account_leave_protection'}


def protection_info(body):
    """{account_id: (reason, level, level_id, policy_id)} of
    aws_org_account_leave_protection_info."""
    return {l['account_id']: (l['reason'], l['level'], l['level_id'], l['policy_id'])
            for n, l, v in parse_exposition(body) if n == 'aws_org_account_leave_protection_info'}


class ScpTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeAWS()

    def tearDown(self):
        self.fake.stop()

    def exporter(self, *args):
        return Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing', *args,
                        binary=TESTING, aws=['organizations', 'scp'], env=env_keys())

    def wait_scp(self, x):
        return wait_until(lambda: b'aws_org_collector_up{collector="scp"} 1\n' in x.get()[2],
                          30, 0.2)

    def test_statuses_and_a_detached_guardrail(self):
        self.fake.scenario(scenario())
        with self.exporter('--collector.scp.interval=1s') as x:
            self.assertTrue(self.wait_scp(x), x.stderr()[-2000:])
            body = x.get()[2]
            want = {a: s for a, (_, s, _) in EXPECTED.items()}
            want[MGMT] = 'not_applicable'
            self.assertEqual(statuses(body), want)
            # By default only the accounts that are not protected say why.
            info = protection_info(body)
            self.assertEqual(sorted(info), sorted(a for a, s in want.items() if s != 'protected'))
            self.assertEqual(info['600000000006'], ('malformed_policy', 'ou', 'ou-a1b2-bad00001',
                                                    'p-broken0001'))
            counts = {l['status']: v for n, l, v in parse_exposition(body)
                      if n == 'aws_org_accounts_leave_protection'}
            self.assertEqual(counts, {'protected': 4, 'conditional': 1, 'unprotected': 1,
                                      'unknown': 1, 'not_applicable': 1})
            self.assertEqual(metric_values(body, 'aws_org_scp_enabled'), {'': 1})
            self.assertEqual(log_lines(x.stderr(), UNEVALUABLE), [UNEVALUABLE_LINE])
            # The guardrail on ou-a is detached: its accounts lose protection.
            self.fake.patch({'op': 'detach_policy', 'policy_id': 'p-denyleave1',
                             'target_id': 'ou-a1b2-a0000001'})
            self.assertTrue(wait_until(
                lambda: statuses(x.get()[2]).get('600000000001') == 'unprotected', 15, 0.2))
            st = statuses(x.get()[2])
            self.assertEqual((st['600000000001'], st['600000000007'], st['600000000005']),
                             ('unprotected', 'unprotected', 'protected'))
            self.assertEqual(log_lines(x.stderr(), 'an account lost its leave protection'),
                             [lost(a, 'unprotected') for a in GUARDED])
        self.assertEqual(self.fake.stats()['bad_signatures'], 0)
        self.assertEqual(self.fake.stats()['invalid_requests'], 0)

    def test_protected_details_name_what_protects(self):
        self.fake.scenario(scenario())
        with self.exporter('--collector.scp.interval=1s', '--collector.scp.protected-details') as x:
            self.assertTrue(self.wait_scp(x), x.stderr()[-2000:])
            body = x.get()[2]
            info = protection_info(body)
            self.assertEqual(sorted(info), sorted(statuses(body)))  # every account
            self.assertEqual(info['600000000001'],
                             ('explicit_deny', 'ou', 'ou-a1b2-a0000001', 'p-denyleave1'))
            self.assertEqual(info['600000000002'], ('no_allow', 'ou', 'ou-a1b2-allow001', ''))
            self.assertEqual(info['600000000005'],
                             ('explicit_deny', 'account', '600000000005', 'p-wildcard1'))
            self.assertEqual(info['600000000006'], ('malformed_policy', 'ou', 'ou-a1b2-bad00001',
                                                    'p-broken0001'))

    def scp_run_started_after(self, x, t0):
        """True once an SCP run that started after t0 (wall time) succeeded
        and its snapshot is served."""
        v = {n: val for n, l, val in parse_exposition(x.get()[2])
             if l.get('collector') == 'scp'}
        return (v.get('aws_org_collector_up') == 1 and
                v['aws_org_collector_last_success_timestamp_seconds'] -
                v['aws_org_collector_duration_seconds'] > t0)

    def test_a_content_only_edit_counts_by_the_next_run(self):
        """UpdatePolicy can change only a policy's content, effective at
        once in AWS; its ListPolicies summary (name, description) stays the
        same. The next SCP run reads it: no cached document is trusted, and
        the deprecated --collector.scp.policy-refresh changes nothing."""
        self.fake.scenario(scenario())
        with self.exporter('--collector.scp.interval=1s', '--log.level=debug',
                           '--collector.scp.policy-refresh=30m') as x:
            self.assertTrue(self.wait_scp(x), x.stderr()[-2000:])
            want = {a: s for a, (_, s, _) in EXPECTED.items()}
            want[MGMT] = 'not_applicable'
            self.assertEqual(statuses(x.get()[2]), want)
            for edit, status in ((GUARDRAIL_WITHOUT_DENY, 'unprotected'),
                                 (GUARDRAIL, 'protected'),
                                 (GUARDRAIL_WITH_EXCEPTION, 'conditional')):
                t0 = time.time()
                self.fake.patch({'op': 'add_policy', 'policy': dict(edit)})
                self.assertTrue(wait_until(lambda: self.scp_run_started_after(x, t0), 15, 0.1),
                                x.stderr()[-2000:])
                for a in GUARDED:
                    want[a] = status
                self.assertEqual(statuses(x.get()[2]), want, status)
            log = x.stderr()
            self.assertEqual(log_lines(log, 'an account lost its leave protection'),
                             [lost(a, 'unprotected') for a in GUARDED] +
                             [lost(a, 'conditional') for a in GUARDED])
            deprecated = ('--collector.scp.policy-refresh is deprecated and ignored: every run '
                          'reads every policy document')
            self.assertEqual(log_lines(log, deprecated),
                             ['level=warn caller=scp.c module=scp msg="%s" value=30m' % deprecated])
            # The policy that does not parse, read again every run: warned
            # about once, then at debug level.
            self.assertEqual(log_lines(log, UNEVALUABLE), [UNEVALUABLE_LINE])
            still = 'a service control policy still cannot be evaluated'
            self.assertEqual(set(log_lines(log, still)),
                             {'level=debug caller=scp_policies.c module=scp msg="%s" '
                              'policy_id=p-broken0001 err="%s"' % (still, BROKEN_ERR)})
        self.assertEqual(self.fake.stats()['invalid_requests'], 0)

    def test_the_tree_walk_and_bad_paths_give_the_same_statuses(self):
        want = {a: s for a, (_, s, _) in EXPECTED.items()}
        want[MGMT] = 'not_applicable'
        old_api = scenario()
        old_api['options']['omit_paths'] = True  # the API before 2026-03-31
        bad = scenario()
        # A path that names another account: not trusted, so the tree is walked.
        bad['accounts'][1]['paths'] = ['o-a1b2c3d4e5/r-a1b2/600000000002/']
        # Well-formed paths that disagree (as when an OU moves while the
        # listing is paged): 600000000001 puts ou-a1b2-abc00003 under
        # ou-a1b2-ab000002, this one puts it under the root.
        disagree = scenario()
        disagree['accounts'][7]['paths'] = ['o-a1b2c3d4e5/r-a1b2/ou-a1b2-abc00003/600000000007/']
        for d, msg, account in (
                (old_api, None, None),
                (bad, "an account's path is not well formed: walking the OU tree instead",
                 '600000000001'),
                (disagree, "the accounts' paths disagree: walking the OU tree instead",
                 '600000000007')):
            self.fake.control('reset', {'faults': True})
            self.fake.scenario(d)
            with self.exporter() as x:
                self.assertTrue(self.wait_scp(x), x.stderr()[-2000:])
                self.assertEqual(statuses(x.get()[2]), want)
                calls = self.fake.stats()['calls']
                # The root and each OU, one page each: the tree was walked.
                self.assertEqual(calls['organizations.ListAccountsForParent'], 1 + len(OUS))
                if msg:
                    self.assertEqual(log_lines(x.stderr(), msg),
                                     ['level=warn caller=scp_paths.c module=scp msg="%s" '
                                      'account_id=%s' % (msg, account)])

    def test_scps_disabled(self):
        d = scenario()
        d['roots'][0]['policy_types'] = []
        self.fake.scenario(d)
        with self.exporter() as x:
            self.assertTrue(self.wait_scp(x))
            body = x.get()[2]
        self.assertEqual(metric_values(body, 'aws_org_scp_enabled'), {'': 0})
        want = {a: 'unprotected' for a in EXPECTED}
        want[MGMT] = 'not_applicable'
        self.assertEqual(statuses(body), want)

    def calls_for(self, extra, paths=True):
        self.fake.control('reset', {'faults': True})
        d = scenario(extra_accounts=extra)
        d['options']['omit_paths'] = not paths
        self.fake.scenario(d)
        with self.exporter() as x:
            self.assertTrue(self.wait_scp(x))
            self.assertEqual(len(statuses(x.get()[2])), 8 + extra)
        return self.fake.stats()['calls']

    def test_calls_follow_policies_and_ous_not_accounts(self):
        # With the accounts' Paths (the API since 2026-03-31) the tree comes
        # from the listing: no walk at all.
        small, large = self.calls_for(20), self.calls_for(400)
        for op in ('ListRoots', 'ListPolicies', 'DescribePolicy'):
            key = 'organizations.' + op
            self.assertEqual(small[key], large[key], op)
        self.assertEqual(small['organizations.DescribePolicy'], 6)
        # Every account carries FullAWSAccess (AWS requires a policy on each),
        # so that policy's target list, 20 per page, grows by pages: the only
        # call that follows accounts, and no call is made per account.
        extra_pages = (400 - 20) // 20
        self.assertEqual(large['organizations.ListTargetsForPolicy'],
                         small['organizations.ListTargetsForPolicy'] + extra_pages)
        for op in ('ListOrganizationalUnitsForParent', 'ListAccountsForParent', 'ListParents',
                   'ListPoliciesForTarget'):
            self.assertNotIn('organizations.' + op, large, op)

    def test_calls_without_paths_walk_the_ous(self):
        small, large = self.calls_for(20, paths=False), self.calls_for(400, paths=False)
        key = 'organizations.ListOrganizationalUnitsForParent'
        self.assertEqual(small[key], large[key])
        self.assertEqual(small[key], 1 + len(OUS))  # the root and each OU, one page each
        # the accounts under the OU that holds them grow by pages, as the targets do
        extra_pages = (400 - 20) // 20
        self.assertEqual(large['organizations.ListAccountsForParent'],
                         small['organizations.ListAccountsForParent'] + extra_pages)
        self.assertEqual(large['organizations.ListTargetsForPolicy'],
                         small['organizations.ListTargetsForPolicy'] + extra_pages)
        self.assertNotIn('organizations.ListParents', large)
        self.assertNotIn('organizations.ListPoliciesForTarget', large)


class WeakenedProtectionAlertTest(unittest.TestCase):
    """What pages when a guardrail is weakened, end to end: the exporter on
    the fake AWS, a real Prometheus evaluating dashboards/prometheus/*.yml
    every second, and the alert instances counted from Prometheus's own
    ALERTS series (every label set that was firing during the test).

    An exception added to the deny (a Condition: the statement still
    denies, except to one principal) fires one high alert per account it
    protected, naming the account and the policy; the deny then removed
    altogether is the same alert, not a second page. Accounts that were
    conditional, unprotected or unknown from the start fire nothing.

    Run with --collector.scp.protected-details, so that the details also
    say what protected the account before; DefaultDetailsTest runs without."""

    FLAGS = ('--collector.scp.protected-details',)  # what protected an account, exported too

    def setUp(self):
        self.fake = FakeAWS()
        self.fake.scenario(scenario())
        self.x = Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                          '--collector.scp.interval=1s', *self.FLAGS, binary=TESTING,
                          aws=['organizations', 'scp'], env=env_keys())
        self.prom = Prometheus(['127.0.0.1:%d' % self.x.port], rule_files=RULE_FILES)

    def tearDown(self):
        self.prom.__exit__(None, None, None)
        self.x.__exit__(None, None, None)
        self.fake.stop()

    def instances(self, severities='critical|high|warning|info'):
        """Every alert instance that fired during the test, as (alertname,
        severity, account_id), sorted."""
        q = 'max_over_time(ALERTS{alertstate="firing",severity=~"%s"}[10m])' % severities
        return sorted((r['metric']['alertname'], r['metric']['severity'],
                       r['metric'].get('account_id', '')) for r in self.prom.query(q))

    def firing(self, name):
        with urllib.request.urlopen('http://127.0.0.1:%d/api/v1/alerts' % self.prom.port,
                                    timeout=5) as r:
            return sorted((a for a in json.load(r)['data']['alerts']
                           if a['state'] == 'firing' and a['labels']['alertname'] == name),
                          key=lambda a: a['labels']['account_id'])

    def status_in_prometheus(self, account, status):
        return self.prom.query('aws_org_account_leave_protection{account_id="%s",status="%s"}'
                               % (account, status))

    def test_a_weakened_guardrail_pages_once_per_account(self):
        self.assertTrue(wait_until(lambda: self.status_in_prometheus('600000000001', 'protected'),
                                   30, 0.2), self.prom.logs()[-2000:] + self.x.stderr()[-2000:])
        time.sleep(4)  # a few more scrapes and rule evaluations
        self.assertEqual(self.instances(), [])

        # The deny gets an exception for one principal: the same policy, the
        # same name and description, a new document.
        self.fake.patch({'op': 'add_policy', 'policy': dict(GUARDRAIL_WITH_EXCEPTION)})
        want = [('AwsOrgAccountProtectionWeakened', 'high', a) for a in GUARDED]
        self.assertTrue(wait_until(lambda: self.instances() == want, 30, 0.2),
                        (self.instances(), self.x.stderr()[-2000:]))
        firing = self.firing('AwsOrgAccountProtectionWeakened')
        self.assertEqual([(a['labels']['account_id'], a['labels'].get('name'),
                           a['labels']['severity']) for a in firing],
                         [('600000000001', 'acct-1', 'high'), ('600000000007', 'acct-7', 'high')])
        self.assertEqual(firing[0]['annotations']['summary'],
                         'The protection of account 600000000001 against leaving the '
                         'organization was weakened')
        self.assertEqual(
            [a['annotations']['details'] for a in firing],
            ['Now conditional (conditional_deny, policy p-denyleave1 at ou ou-a1b2-a0000001). '
             'Earlier in the hour: explicit_deny, policy p-denyleave1 at ou ou-a1b2-a0000001.'] * 2)

        # The deny removed altogether: still the same alert per account.
        self.assertEqual(self.remove_deny(want),
                         ['Now unprotected (no_deny). Earlier in the hour: conditional_deny, policy '
                          'p-denyleave1 at ou ou-a1b2-a0000001. Earlier in the hour: explicit_deny, '
                          'policy p-denyleave1 at ou ou-a1b2-a0000001.'] * 2)

    def remove_deny(self, want):
        """Removes the deny from the guardrail; once every guarded account is
        unprotected, checks no new instance fired and returns the details."""
        self.fake.patch({'op': 'add_policy', 'policy': dict(GUARDRAIL_WITHOUT_DENY)})
        self.assertTrue(wait_until(
            lambda: all(self.status_in_prometheus(a, 'unprotected') for a in GUARDED), 30, 0.2))
        time.sleep(4)
        self.assertEqual(self.instances(), want)
        return [a['annotations']['details'] for a in self.firing('AwsOrgAccountProtectionWeakened')]


class WeakenedProtectionDefaultDetailsTest(WeakenedProtectionAlertTest):
    """The same pages by default, without protected-details: what protected
    the account before was never exported, so the details say what it is
    now and what it was before only once that was not "protected"."""

    FLAGS = ()

    def test_a_weakened_guardrail_pages_once_per_account(self):
        self.assertTrue(wait_until(lambda: self.status_in_prometheus('600000000001', 'protected'),
                                   30, 0.2), self.prom.logs()[-2000:] + self.x.stderr()[-2000:])
        self.fake.patch({'op': 'add_policy', 'policy': dict(GUARDRAIL_WITH_EXCEPTION)})
        want = [('AwsOrgAccountProtectionWeakened', 'high', a) for a in GUARDED]
        self.assertTrue(wait_until(lambda: self.instances() == want, 30, 0.2),
                        (self.instances(), self.x.stderr()[-2000:]))
        self.assertEqual(
            [a['annotations']['details'] for a in self.firing('AwsOrgAccountProtectionWeakened')],
            ['Now conditional (conditional_deny, policy p-denyleave1 at ou ou-a1b2-a0000001).'] * 2)
        self.assertEqual(self.remove_deny(want),
                         ['Now unprotected (no_deny). Earlier in the hour: conditional_deny, policy '
                          'p-denyleave1 at ou ou-a1b2-a0000001.'] * 2)


if __name__ == '__main__':
    unittest.main()


# A guardrail attached to 40 accounts one by one: a target list of two pages,
# kept between runs, as FullAWSAccess's is (root, 6 OUs, 48 accounts: 3 pages).
DIRECT = ['7%011d' % i for i in range(40)]
LONG_LISTS = 2
SHORT_LISTS = 5  # one page each: read every run
FULL_PAGES = 3 + 2 + SHORT_LISTS
TARGET_LISTS = 'target lists'


def refresh_scenario():
    d = scenario(extra_accounts=len(DIRECT))
    d['policies'].append({'id': 'p-denydirect', 'name': 'DenyLeaveDirect', 'description': 'd',
                          'type': 'SERVICE_CONTROL_POLICY', 'aws_managed': False,
                          'content': DENY_LEAVE, 'targets': list(DIRECT)})
    return d


def policy_record(event_id, name, policy_id, target_id, t):
    """A management account's AttachPolicy or DetachPolicy record."""
    return {'eventVersion': '1.08', 'eventID': event_id, 'eventName': name,
            'eventSource': 'organizations.amazonaws.com', 'awsRegion': 'us-east-1',
            'eventTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t)),
            'sourceIPAddress': '203.0.113.9', 'recipientAccountId': MGMT,
            'userIdentity': {'type': 'AssumedRole', 'accountId': MGMT,
                             'arn': 'arn:aws:sts::%s:assumed-role/Admin/mallory' % MGMT},
            'requestParameters': {'policyId': policy_id, 'targetId': target_id}}


def lookup_entry(rec):
    return {'EventId': rec['eventID'], 'EventName': rec['eventName'],
            'EventTime': int(time.time()) - 5, 'EventSource': rec['eventSource'],
            'Username': 'mallory', 'ReadOnly': 'false', 'CloudTrailEvent': json.dumps(rec)}


def plan_line(full, read, kept, new=0):
    return ('level=debug caller=scp.c module=scp msg="%s" full=%s read=%d kept=%d '
            'new_entities=%d' % (TARGET_LISTS, 'true' if full else 'false', read, kept, new))


FULL_LINE = plan_line(True, SHORT_LISTS + LONG_LISTS, 0)
STEADY_LINE = plan_line(False, SHORT_LISTS, LONG_LISTS)


class ScpTargetRefreshTest(unittest.TestCase):
    """The long target lists are kept between runs and read again on the
    events that change them (seen by the CloudTrail poll or the EventBridge
    queue), for the entities that are new, and at each --collector.scp.resync."""

    def setUp(self):
        self.fake = FakeAWS()

    def tearDown(self):
        self.fake.stop()

    def exporter(self, collectors, *args):
        return Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                        '--log.level=debug', '--collector.scp.interval=3s',
                        '--collector.organizations.interval=1s',
                        '--collector.cloudtrail.interval=1s',
                        '--collector.cloudtrail.events=AttachPolicy,DetachPolicy', *args,
                        binary=TESTING, aws=collectors, env=env_keys())

    def plans(self, x):
        return log_lines(x.stderr(), TARGET_LISTS)

    def runs_after(self, x, n):
        """Waits until n more SCP runs logged their plan; returns the fake's
        calls then (read between runs: a run takes about 1.5 s of its 3)."""
        start = len(self.plans(x))
        self.assertTrue(wait_until(lambda: len(self.plans(x)) >= start + n, 30, 0.05),
                        x.stderr()[-2000:])
        return self.fake.stats()['calls']

    def add_guarded_account(self, x):
        """Adds account 700000000099 with FullAWSAccess and the guardrail
        attached without an event (as AWS attaches FullAWSAccess itself),
        and waits until it is served as protected."""
        new = dict(refresh_scenario()['accounts'][-1], id='700000000099', name='new')
        self.fake.patch([{'op': 'add_account', 'account': new},
                         {'op': 'attach_policy', 'policy_id': 'p-FullAWSAccess',
                          'target_id': new['id']},
                         {'op': 'attach_policy', 'policy_id': 'p-denydirect',
                          'target_id': new['id']}])
        self.assertTrue(wait_until(
            lambda: statuses(x.get()[2]).get(new['id']) == 'protected', 15, 0.1))

    def steady(self, x):
        """Two steady runs read the short lists only, with exact call counts."""
        before = self.runs_after(x, 1)
        after = self.runs_after(x, 2)
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        self.assertEqual(delta['organizations.ListTargetsForPolicy'], 2 * SHORT_LISTS)
        self.assertEqual(delta['organizations.DescribePolicy'], 2 * (SHORT_LISTS + LONG_LISTS))
        self.assertEqual(delta.get('organizations.ListPoliciesForTarget', 0), 0)
        self.assertEqual(self.plans(x)[-2:], [STEADY_LINE] * 2)

    def test_a_detach_seen_by_cloudtrail_is_read_by_the_next_run(self):
        self.fake.scenario(refresh_scenario())
        with self.exporter(['organizations', 'scp', 'cloudtrail']) as x:
            self.runs_after(x, 1)
            self.assertEqual(self.plans(x)[0], FULL_LINE)
            self.assertEqual(statuses(x.get()[2])[DIRECT[0]], 'protected')
            self.steady(x)
            # Detached in AWS, no event yet: the kept list still says protected.
            self.fake.patch({'op': 'detach_policy', 'policy_id': 'p-denydirect',
                             'target_id': DIRECT[0]})
            self.runs_after(x, 2)
            self.assertEqual(statuses(x.get()[2])[DIRECT[0]], 'protected')
            # The event arrives in CloudTrail: the next run reads that list.
            rec = policy_record('ev-detach-1', 'DetachPolicy', 'p-denydirect', DIRECT[0],
                                time.time() - 5)
            self.fake.patch({'op': 'add_event', 'account': MGMT, 'region': 'us-east-1',
                             'event': lookup_entry(rec)})
            self.assertTrue(wait_until(lambda: metric_values(
                x.get()[2], 'aws_org_cloudtrail_events_total').get(
                    '{event_name="DetachPolicy",outcome="success"}') == 1, 20, 0.1))
            n = len(self.plans(x))
            self.assertTrue(wait_until(
                lambda: statuses(x.get()[2])[DIRECT[0]] == 'unprotected', 15, 0.1))
            self.assertIn(plan_line(False, SHORT_LISTS + 1, LONG_LISTS - 1), self.plans(x)[n:])
            st = statuses(x.get()[2])
            self.assertEqual([st[a] for a in DIRECT[1:]], ['protected'] * (len(DIRECT) - 1))
            self.assertEqual(log_lines(x.stderr(), 'an account lost its leave protection'),
                             ['level=warn caller=scp.c module=scp msg="an account lost its leave '
                              'protection" account_id=%s was=protected now=unprotected '
                              'detail="%s"' % (DIRECT[0], LOST_DETAIL['unprotected'])])
        self.assertEqual(self.fake.stats()['invalid_requests'], 0)

    def test_an_attach_seen_by_eventbridge_is_read_by_the_next_run(self):
        d = refresh_scenario()
        d['sqs'] = {'queues': [{'account': MGMT, 'name': 'q', 'visibility_timeout': 30}]}
        # 700000000040 has only FullAWSAccess: unprotected until the guardrail
        # is attached to it too.
        d['accounts'].append(dict(d['accounts'][-1], id='700000000040', name='late'))
        d['policies'][0]['targets'].append('700000000040')
        self.fake.scenario(d)
        queue_url = '%s/%s/q' % (self.fake.url, MGMT)
        with self.exporter(['organizations', 'scp', 'eventbridge'],
                           '--collector.eventbridge.queue-url=' + queue_url) as x:
            self.runs_after(x, 1)
            self.assertEqual(self.plans(x)[0], FULL_LINE)
            self.assertEqual(statuses(x.get()[2])['700000000040'], 'unprotected')
            self.steady(x)
            self.fake.patch({'op': 'attach_policy', 'policy_id': 'p-denydirect',
                             'target_id': '700000000040'})
            self.runs_after(x, 2)
            self.assertEqual(statuses(x.get()[2])['700000000040'], 'unprotected')
            rec = policy_record('ev-attach-1', 'AttachPolicy', 'p-denydirect', '700000000040',
                                time.time() - 2)
            self.fake.control('sqs', {'op': 'send', 'account': MGMT, 'name': 'q',
                                      'body': json.dumps({
                                          'version': '0', 'id': 'eb-1',
                                          'detail-type': 'AWS API Call via CloudTrail',
                                          'source': 'aws.organizations', 'account': MGMT,
                                          'time': rec['eventTime'], 'region': 'us-east-1',
                                          'resources': [], 'detail': rec})})
            n = len(self.plans(x))
            self.assertTrue(wait_until(
                lambda: statuses(x.get()[2])['700000000040'] == 'protected', 15, 0.1),
                x.stderr()[-2000:])
            self.assertIn(plan_line(False, SHORT_LISTS + 1, LONG_LISTS - 1), self.plans(x)[n:])
            self.assertEqual(metric_values(x.get()[2], 'aws_org_eventbridge_messages_total')
                             .get('{result="counted"}'), 1)

    def test_a_new_account_has_its_own_policies_read_once(self):
        self.fake.scenario(refresh_scenario())
        with self.exporter(['organizations', 'scp', 'cloudtrail']) as x:
            self.runs_after(x, 1)
            self.assertEqual(self.plans(x)[0], FULL_LINE)
            self.steady(x)
            # A new account, with FullAWSAccess and the guardrail attached
            # without an event (as AWS attaches FullAWSAccess itself): its
            # own policies are read once (ListPoliciesForTarget), then kept.
            before = self.fake.stats()['calls']
            self.add_guarded_account(x)
            self.assertIn(plan_line(False, SHORT_LISTS, LONG_LISTS, 1), self.plans(x))
            self.steady(x)
            after = self.fake.stats()['calls']
            self.assertEqual(after['organizations.ListPoliciesForTarget'] -
                             before.get('organizations.ListPoliciesForTarget', 0), 1)
            st = statuses(x.get()[2])
            self.assertEqual([st[a] for a in DIRECT], ['protected'] * len(DIRECT))

    def test_a_role_without_list_policies_for_target_reads_every_list(self):
        """A role granted before the exporter called ListPoliciesForTarget:
        a new account makes the run read every list instead, never fail."""
        self.fake.scenario(refresh_scenario())
        self.fake.faults([{'operation': 'organizations.ListPoliciesForTarget',
                           'kind': 'access_denied'}])
        with self.exporter(['organizations', 'scp', 'cloudtrail']) as x:
            self.runs_after(x, 1)
            self.steady(x)
            self.add_guarded_account(x)
            self.assertEqual(self.plans(x).count(FULL_LINE), 2)
            warned = log_lines(x.stderr(), 'cannot read the policies of a new OU or account: '
                               'reading every target list instead (does the exporter\'s role '
                               'allow organizations:ListPoliciesForTarget?)')
            self.assertEqual(len(warned), 1, x.stderr()[-2000:])
            self.assertIn(' target_id=700000000099 ', warned[0])
            self.assertNotIn(RUN_FAILED, x.stderr())
            self.steady(x)

    def test_the_resync_reads_every_list(self):
        self.fake.scenario(refresh_scenario())
        with self.exporter(['organizations', 'scp', 'cloudtrail'],
                           '--collector.scp.resync=15s') as x:
            self.runs_after(x, 1)
            self.assertEqual(self.plans(x)[0], FULL_LINE)
            self.steady(x)
            # Detached without an event: kept until the resync, which reads
            # every list 15 s after the first full read began.
            self.fake.patch({'op': 'detach_policy', 'policy_id': 'p-denydirect',
                             'target_id': DIRECT[0]})
            self.runs_after(x, 1)
            self.assertEqual(statuses(x.get()[2])[DIRECT[0]], 'protected')
            self.assertTrue(wait_until(
                lambda: statuses(x.get()[2])[DIRECT[0]] == 'unprotected', 30, 0.1))
            plans = self.plans(x)
            self.assertEqual(plans.count(FULL_LINE), 2)
            self.assertEqual(plans[-1], FULL_LINE)
            self.assertEqual(set(plans[1:-1]), {STEADY_LINE})

    def test_without_an_event_source_every_list_is_read_every_run(self):
        self.fake.scenario(refresh_scenario())
        with self.exporter(['organizations', 'scp']) as x:
            before = self.runs_after(x, 2)
            after = self.runs_after(x, 2)
            self.assertEqual(after['organizations.ListTargetsForPolicy'] -
                             before['organizations.ListTargetsForPolicy'], 2 * FULL_PAGES)
            self.assertEqual(set(self.plans(x)), {FULL_LINE})
