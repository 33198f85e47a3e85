"""deploy/eventbridge/ and deploy/iam/exporter-eventbridge-policy.json: the
fast path's CloudFormation templates (issue 17).

- tests/deploy/validate-cfn.mjs, every resource against the CloudFormation
  resource specification of npm's @aws-cdk/cfnspec: the real templates pass;
  broken copies (an unknown property, a wrong type, a missing required
  property, an unknown resource type, references to nothing, a conditional
  resource named outside its condition) are rejected with the expected report.
- The rules' event patterns, read from the templates and matched by
  tests/deploy/event_pattern.py, against EventBridge events built from
  CloudTrail records of every watched event name (the public samples of
  ../shared/fixtures/cloudtrail-public/ and tests/data/cloudtrail/ where there
  is one, else a minimal record): the management rule takes every watched name
  and nothing else (IAM's DeletePolicy, an Organizations read); the member rule
  and the central bus rule take a member's own LeaveOrganization and
  AcceptHandshake only. A copy whose pattern misses LeaveOrganization is
  rejected. The watched names are the exporter's own (its --help).
- What the templates promise: encryption, the redrive policy, retention, the
  queue policy naming only the template's rules, the bus policy limited to the
  organization, the member's role, the outputs; and the exporter's IAM policy
  file equals the template's managed policy.

Needs PyYAML (python3-yaml), node and make deps-node."""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

from harness import RELEASE, ROOT

sys.path.insert(0, os.path.join(ROOT, 'tests', 'deploy'))
import event_pattern  # noqa: E402  (tests/deploy/event_pattern.py)
from test_deploy_checkers import line_of, need, read, replace_once, run, write  # noqa: E402

EVENTBRIDGE = os.path.join('deploy', 'eventbridge')
MANAGEMENT = os.path.join(EVENTBRIDGE, 'management.yaml')
MEMBER = os.path.join(EVENTBRIDGE, 'member-stackset.yaml')
IAM_POLICY = os.path.join('deploy', 'iam', 'exporter-eventbridge-policy.json')
VALIDATE_CFN = os.path.join(ROOT, 'tests', 'deploy', 'validate-cfn.mjs')
PUBLIC = os.path.join(ROOT, '..', 'shared', 'fixtures', 'cloudtrail-public')
OURS = os.path.join(ROOT, 'tests', 'data', 'cloudtrail')

MANAGEMENT_ACCOUNT = '111111111111'
MEMBER_ACCOUNT = '222222222222'
OTHER_MEMBER = '333333333333'
API_CALL = 'AWS API Call via CloudTrail'
SERVICE_EVENT = 'AWS Service Event via CloudTrail'
MEMBER_FORWARDED = ['AcceptHandshake', 'LeaveOrganization']
SQS_ACTIONS = ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage']

# Recorded records of watched names: the public samples first, then ours.
RECORD_FILES = {
    'LeaveOrganization': [
        os.path.join(PUBLIC, '01_leaveorganization_denied_identity_policy_stratus.json'),
        os.path.join(PUBLIC, '02_leaveorganization_denied_panther_testlog.json'),
        os.path.join(OURS, 'leaveorganization_denied_scp.json'),
        os.path.join(OURS, 'leaveorganization_success_root.json')],
    'RemoveAccountFromOrganization': [
        os.path.join(PUBLIC, '04_removeaccountfromorganization_eventbridge_envelope_aws_sea.json')],
    'InviteAccountToOrganization': [os.path.join(PUBLIC, '05_inviteaccounttoorganization_awsdocs.json')],
    'AttachPolicy': [os.path.join(PUBLIC, '06_attachpolicy_failed_awsdocs.json')],
    'AccountDepartedOrganization': [os.path.join(OURS, 'accountdepartedorganization_left.json')],
    'AccountJoinedOrganization': [os.path.join(OURS, 'accountjoinedorganization_invited.json')],
}
# Names that Organizations records as service events, not API calls.
SERVICE_EVENTS = {'AccountDepartedOrganization', 'AccountJoinedOrganization', 'CreateAccountResult',
                  'CloseAccountResult'}


def load_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def load_template(rel):
    """A template (long-form intrinsic functions: plain YAML)."""
    with open(os.path.join(ROOT, rel), encoding='utf-8') as f:
        return yaml.safe_load(f)


def watched_names():
    """The exporter's watched event names: the default of
    --collector.cloudtrail.events in its --help."""
    r = subprocess.run([RELEASE, '--help'], capture_output=True, text=True, timeout=30)
    m = re.search(r'--collector\.cloudtrail\.events=VALUE\n.*\(default: "([^"]*)"\)', r.stdout + r.stderr)
    if m is None:
        raise AssertionError('no --collector.cloudtrail.events default in %s --help' % RELEASE)
    return m.group(1).split(',')


def envelope(record, account):
    """record wrapped as EventBridge delivers it (the shape of the public
    sample 04_*eventbridge_envelope*), from account, in us-east-1."""
    sample = load_json(RECORD_FILES['RemoveAccountFromOrganization'][0])
    event = {k: v for k, v in sample.items() if k != 'detail'}
    service = record.get('eventSource', '').split('.')[0]
    event.update({'id': 'test-' + record['eventName'], 'account': account, 'source': 'aws.' + service,
                  'detail-type': SERVICE_EVENT if record.get('eventType') == 'AwsServiceEvent' else API_CALL,
                  'detail': record})
    return event


def records_of(name):
    """The CloudTrail records of one event name: the recorded ones, else a
    minimal record."""
    out = []
    for path in RECORD_FILES.get(name, []):
        r = load_json(path)
        r = r.get('detail', r)
        out.append({k: v for k, v in r.items() if not k.startswith('p_')})  # Panther's fields
    if not out:
        out.append({'eventVersion': '1.11', 'eventSource': 'organizations.amazonaws.com', 'eventName': name,
                    'awsRegion': 'us-east-1', 'eventID': 'e-' + name,
                    'eventType': 'AwsServiceEvent' if name in SERVICE_EVENTS else 'AwsApiCall'})
    return out


def events_of(names, account):
    return [(n, envelope(r, account)) for n in names for r in records_of(n)]


def not_watched(account):
    """Events that no rule may forward, by what they are."""
    iam = {'eventVersion': '1.08', 'eventSource': 'iam.amazonaws.com', 'eventName': 'DeletePolicy',
           'awsRegion': 'us-east-1', 'eventType': 'AwsApiCall',
           'requestParameters': {'policyArn': 'arn:aws:iam::%s:policy/p' % account}}
    forged = dict(envelope(iam, account), source='aws.organizations')
    listing = {'eventVersion': '1.08', 'eventSource': 'organizations.amazonaws.com',
               'eventName': 'ListAccounts', 'awsRegion': 'us-east-1', 'eventType': 'AwsApiCall',
               'readOnly': True}
    tag = {'eventVersion': '1.08', 'eventSource': 'organizations.amazonaws.com',
           'eventName': 'TagResource', 'awsRegion': 'us-east-1', 'eventType': 'AwsApiCall'}
    console = dict(envelope(records_of('LeaveOrganization')[0], account),
                   **{'detail-type': 'AWS Console Sign In via CloudTrail'})
    return [('iam DeletePolicy', envelope(iam, account)),
            ('iam DeletePolicy with source aws.organizations', forged),
            ('organizations ListAccounts', envelope(listing, account)),
            ('organizations TagResource', envelope(tag, account)),
            ('LeaveOrganization as a console sign-in', console)]


DLQ_ARN = {'Fn::GetAtt': ['DeadLetterQueue', 'Arn']}


def pattern_of(template, rule):
    return template['Resources'][rule]['Properties']['EventPattern']


def rules(template):
    return {n: r for n, r in template['Resources'].items() if r['Type'] == 'AWS::Events::Rule'}


def rule_problems(template, name, expected, events, others, context):
    """What is wrong with rule name's pattern: the expected event names it
    misses, the other events it takes. [] when none."""
    pattern = event_pattern.resolve(pattern_of(template, name), context)
    taken = {n for n, e in events if event_pattern.matches(pattern, e)}
    problems = ['%s misses %s' % (name, n) for n in sorted(set(expected) - taken)]
    problems += ['%s takes %s' % (name, n) for n in sorted(taken - set(expected))]
    problems += ['%s takes %s' % (name, what) for what, e in others if event_pattern.matches(pattern, e)]
    return problems


def edited(text, changes):
    """text with each (old, new) of changes made, old occurring once."""
    for old, new in changes:
        text = replace_once(text, old, new)
    return text


def ok_lines(path, text):
    """What validate-cfn.mjs prints for a valid template, read independently
    (PyYAML's composer, which keeps short-form tags as they are): one line per
    resource, at the first line of its mapping."""
    root = yaml.compose(text)
    resources = [v for k, v in root.value if k.value == 'Resources'][0]
    out = []
    for key, node in resources.value:
        kind = [v.value for k, v in node.value if k.value == 'Type'][0]
        out.append('ok %s:%d %s %s' % (path, node.start_mark.line + 1, key.value, kind))
    return out


class Matcher(unittest.TestCase):
    """The matcher itself, on the semantics EventBridge documents."""

    def test_cases(self):
        event = {'source': 'aws.organizations', 'detail': {'eventName': 'LeaveOrganization', 'n': 5,
                                                           'tags': ['a', 'b'], 'flag': True}}
        cases = [
            ({'source': ['aws.organizations']}, True),
            ({'source': ['aws.iam', 'aws.organizations']}, True),        # OR within an array
            ({'source': ['aws.iam']}, False),
            ({'source': ['aws.organizations'], 'account': ['1']}, False),  # AND; a missing key
            ({'detail': {'eventName': ['LeaveOrganization']}}, True),     # nested keys
            ({'detail': {'eventName': ['leaveorganization']}}, False),    # case matters
            ({'detail': {'eventName': [{'prefix': 'Leave'}]}}, True),
            ({'detail': {'eventName': [{'prefix': 'Accept'}]}}, False),
            ({'detail': {'eventName': [{'anything-but': ['ListAccounts']}]}}, True),
            ({'detail': {'eventName': [{'anything-but': ['LeaveOrganization']}]}}, False),
            ({'detail': {'errorCode': [{'exists': False}]}}, True),
            ({'detail': {'errorCode': [{'exists': True}]}}, False),
            ({'detail': {'n': [5]}}, True),
            ({'detail': {'n': ['5']}}, False),                           # JSON types differ
            ({'detail': {'flag': [True]}}, True),
            ({'detail': {'tags': ['b']}}, True),                         # any element of an array
            ({'detail': {'eventName': {'x': ['y']}}}, False),            # an object where a string is
        ]
        for pattern, want in cases:
            with self.subTest(pattern=pattern):
                self.assertIs(event_pattern.matches(pattern, event), want)

    def test_invalid_patterns_raise(self):
        for pattern in ({}, {'source': 'aws.organizations'}, {'source': []},
                        {'source': [{'numeric': ['>', 1]}]}, {'source': [['a']]}):
            with self.subTest(pattern=pattern):
                with self.assertRaises(event_pattern.PatternError):
                    event_pattern.matches(pattern, {'source': 'a'})

    def test_resolve(self):
        self.assertEqual(event_pattern.resolve({'account': [{'Ref': 'AWS::AccountId'}]},
                                               {'AWS::AccountId': MEMBER_ACCOUNT}),
                         {'account': [MEMBER_ACCOUNT]})
        with self.assertRaises(event_pattern.PatternError):
            event_pattern.resolve({'account': [{'Fn::Sub': 'x'}]}, {})


class EventPatterns(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.watched = watched_names()
        cls.management = load_template(MANAGEMENT)
        cls.member = load_template(MEMBER)

    def test_watched_names(self):
        self.assertEqual(len(self.watched), 18)
        self.assertIn('LeaveOrganization', self.watched)
        self.assertIn('DeletePolicy', self.watched)
        # Every record built for a name is a record of that name from Organizations.
        for name in self.watched:
            for r in records_of(name):
                self.assertEqual((r['eventName'], r['eventSource']), (name, 'organizations.amazonaws.com'))

    def test_rules_found(self):
        self.assertEqual(sorted(rules(self.management)), ['CentralEventBusRule', 'ManagementAccountRule'])
        self.assertEqual(sorted(rules(self.member)), ['ForwardLeaveOrganizationRule'])

    def test_management_rule_takes_every_watched_event_and_nothing_else(self):
        context = {'AWS::AccountId': MANAGEMENT_ACCOUNT}
        events = events_of(self.watched, MANAGEMENT_ACCOUNT)
        self.assertEqual(len(events), len(self.watched) + 3)  # 4 LeaveOrganization records
        self.assertEqual(rule_problems(self.management, 'ManagementAccountRule', self.watched, events,
                                       not_watched(MANAGEMENT_ACCOUNT), context), [])
        # The service events arrive with their own detail-type, and match too.
        detail_types = {e['detail-type'] for _, e in events}
        self.assertEqual(detail_types, {API_CALL, SERVICE_EVENT})

    def test_member_rule_takes_its_own_leave_and_transfer_only(self):
        context = {'AWS::AccountId': MEMBER_ACCOUNT}
        events = events_of(self.watched, MEMBER_ACCOUNT)
        # The same records of another account: not this member's own.
        others = not_watched(MEMBER_ACCOUNT) + [
            ('%s of %s' % (n, OTHER_MEMBER), e) for n, e in events_of(MEMBER_FORWARDED, OTHER_MEMBER)]
        self.assertEqual(rule_problems(self.member, 'ForwardLeaveOrganizationRule', MEMBER_FORWARDED,
                                       events, others, context), [])

    def test_central_bus_rule_takes_what_members_forward(self):
        context = {'AWS::AccountId': MANAGEMENT_ACCOUNT}
        events = events_of(self.watched, MEMBER_ACCOUNT)
        self.assertEqual(rule_problems(self.management, 'CentralEventBusRule', MEMBER_FORWARDED, events,
                                       not_watched(MEMBER_ACCOUNT), context), [])

    def test_a_pattern_without_leave_organization_is_rejected(self):
        context = {'AWS::AccountId': MANAGEMENT_ACCOUNT}
        broken = copy.deepcopy(self.management)
        pattern_of(broken, 'ManagementAccountRule')['detail']['eventName'].remove('LeaveOrganization')
        events = events_of(self.watched, MANAGEMENT_ACCOUNT)
        self.assertEqual(rule_problems(broken, 'ManagementAccountRule', self.watched, events,
                                       not_watched(MANAGEMENT_ACCOUNT), context),
                         ['ManagementAccountRule misses LeaveOrganization'])
        for template, name, context in ((self.member, 'ForwardLeaveOrganizationRule', MEMBER_ACCOUNT),
                                        (self.management, 'CentralEventBusRule', MANAGEMENT_ACCOUNT)):
            broken = copy.deepcopy(template)
            pattern_of(broken, name)['detail']['eventName'].remove('LeaveOrganization')
            events = events_of(self.watched, MEMBER_ACCOUNT)
            self.assertEqual(rule_problems(broken, name, MEMBER_FORWARDED, events, [], {'AWS::AccountId': context}),
                             ['%s misses LeaveOrganization' % name])
        # Without the eventSource clause, IAM's DeletePolicy gets through once
        # its source claims Organizations; without the detail-type of service
        # events, the departures are missed.
        broken = copy.deepcopy(self.management)
        pattern = pattern_of(broken, 'ManagementAccountRule')
        del pattern['detail']['eventSource']
        pattern['detail-type'].remove(SERVICE_EVENT)
        self.assertEqual(rule_problems(broken, 'ManagementAccountRule', self.watched, events,
                                       not_watched(MANAGEMENT_ACCOUNT), context),
                         ['ManagementAccountRule misses %s' % n for n in sorted(SERVICE_EVENTS)]
                         + ['ManagementAccountRule takes iam DeletePolicy with source aws.organizations'])
        # A member rule without its account clause forwards another account's.
        broken = copy.deepcopy(self.member)
        del pattern_of(broken, 'ForwardLeaveOrganizationRule')['account']
        others = [('%s of %s' % (n, OTHER_MEMBER), e) for n, e in events_of(MEMBER_FORWARDED, OTHER_MEMBER)]
        self.assertEqual(
            rule_problems(broken, 'ForwardLeaveOrganizationRule', MEMBER_FORWARDED,
                          events_of(self.watched, MEMBER_ACCOUNT), others, {}),
            ['ForwardLeaveOrganizationRule takes %s of %s' % (n, OTHER_MEMBER)
             for n in MEMBER_FORWARDED for _ in records_of(n)])


class TemplateContents(unittest.TestCase):
    """What the templates promise, read from the parsed templates."""

    @classmethod
    def setUpClass(cls):
        cls.m = load_template(MANAGEMENT)
        cls.r = cls.m['Resources']
        cls.member = load_template(MEMBER)

    def test_queues(self):
        q, dlq = self.r['Queue']['Properties'], self.r['DeadLetterQueue']['Properties']
        for props in (q, dlq):
            # SSE-SQS unless a KMS key is given, then that key.
            self.assertEqual(props['SqsManagedSseEnabled'],
                             {'Fn::If': ['UseKmsKey', {'Ref': 'AWS::NoValue'}, True]})
            self.assertEqual(props['KmsMasterKeyId'], {'Fn::If': ['UseKmsKey', {'Ref': 'KmsKeyArn'},
                                                                  {'Ref': 'AWS::NoValue'}]})
        self.assertEqual(q['RedrivePolicy'], {'deadLetterTargetArn': DLQ_ARN,
                                              'maxReceiveCount': {'Ref': 'MaxReceiveCount'}})
        self.assertEqual(self.m['Parameters']['MaxReceiveCount']['Default'], 5)
        self.assertEqual(dlq['MessageRetentionPeriod'], 14 * 86400)
        self.assertLess(q['MessageRetentionPeriod'], dlq['MessageRetentionPeriod'])
        self.assertEqual(q['ReceiveMessageWaitTimeSeconds'], 20)
        self.assertNotIn('FifoQueue', q)  # a standard queue

    def test_rules_target_the_queue(self):
        for name, rule in rules(self.m).items():
            with self.subTest(rule=name):
                (target,) = rule['Properties']['Targets']
                self.assertEqual(target['Arn'], {'Fn::GetAtt': ['Queue', 'Arn']})
                self.assertEqual(target['DeadLetterConfig'], {'Arn': DLQ_ARN})
                self.assertNotIn('RoleArn', target)  # SQS: the queue policy authorises
                self.assertEqual(rule['Properties']['State'], 'ENABLED')
        # Rule names: at most 64 characters, with the longest QueueName allowed.
        longest = int(re.search(r'\{1,(\d+)\}', self.m['Parameters']['QueueName']['AllowedPattern']).group(1))
        for name, rule in rules(self.m).items():
            full = rule['Properties']['Name']['Fn::Sub'].replace('${QueueName}', 'q' * longest)
            self.assertLessEqual(len(full), 64, name)
        self.assertNotIn('EventBusName', self.r['ManagementAccountRule']['Properties'])  # the default bus
        self.assertEqual(self.r['CentralEventBusRule']['Properties']['EventBusName'], {'Ref': 'CentralEventBus'})

    def test_queue_policy_allows_only_the_rules_of_the_template(self):
        props = self.r['QueuePolicy']['Properties']
        self.assertEqual(props['Queues'], [{'Ref': 'Queue'}, {'Ref': 'DeadLetterQueue'}])
        allow, deny = props['PolicyDocument']['Statement']
        self.assertEqual((allow['Effect'], allow['Principal'], allow['Action']),
                         ('Allow', {'Service': 'events.amazonaws.com'}, 'sqs:SendMessage'))
        self.assertEqual(allow['Condition'], {'ArnEquals': {'aws:SourceArn': {'Fn::If': [
            'CreateCentralBus',
            [{'Fn::GetAtt': [n, 'Arn']} for n in ('ManagementAccountRule', 'CentralEventBusRule')],
            [{'Fn::GetAtt': ['ManagementAccountRule', 'Arn']}]]}}})
        self.assertEqual((deny['Effect'], deny['Condition']),
                         ('Deny', {'Bool': {'aws:SecureTransport': 'false'}}))

    def test_central_bus_only_for_the_organization(self):
        for name in ('CentralEventBus', 'CentralEventBusPolicy', 'CentralEventBusRule'):
            self.assertEqual(self.r[name]['Condition'], 'CreateCentralBus', name)
        st = self.r['CentralEventBusPolicy']['Properties']['Statement']
        self.assertEqual((st['Effect'], st['Principal'], st['Action'], st['Condition']),
                         ('Allow', '*', 'events:PutEvents',
                          {'StringEquals': {'aws:PrincipalOrgID': {'Ref': 'OrganizationId'}}}))
        self.assertEqual(self.m['Outputs']['CentralEventBusArn'],
                         {'Condition': 'CreateCentralBus', 'Description': mock_any(str),
                          'Value': {'Fn::GetAtt': ['CentralEventBus', 'Arn']}})

    def test_outputs(self):
        self.assertEqual(sorted(self.m['Outputs']), [
            'CentralEventBusArn', 'DeadLetterQueueArn', 'DeadLetterQueueUrl', 'ExporterFlag',
            'ExporterPolicyArn', 'QueueArn', 'QueueUrl'])
        self.assertEqual(self.m['Outputs']['QueueUrl']['Value'], {'Ref': 'Queue'})
        self.assertEqual(self.m['Outputs']['DeadLetterQueueUrl']['Value'], {'Ref': 'DeadLetterQueue'})
        self.assertEqual(self.m['Outputs']['ExporterFlag']['Value'],
                         {'Fn::Sub': '--collector.eventbridge.queue-url=${Queue}'})

    def test_exporter_policy_file_equals_the_template(self):
        doc = load_json(os.path.join(ROOT, IAM_POLICY))
        (st,) = doc['Statement']
        self.assertEqual((st['Effect'], sorted(st['Action'])), ('Allow', SQS_ACTIONS))
        queue = 'arn:aws:sqs:us-east-1:%s:%s' % (MANAGEMENT_ACCOUNT, self.m['Parameters']['QueueName']['Default'])
        self.assertEqual(st['Resource'], queue)  # that queue only
        consume, kms = self.r['ExporterPolicy']['Properties']['PolicyDocument']['Statement']
        self.assertEqual(dict(consume, Resource=queue), st)
        self.assertEqual(consume['Resource'], {'Fn::GetAtt': ['Queue', 'Arn']})
        self.assertEqual(kms, {'Fn::If': ['UseKmsKey', {'Sid': 'DecryptTheEventQueue', 'Effect': 'Allow',
                                                        'Action': 'kms:Decrypt', 'Resource': {'Ref': 'KmsKeyArn'}},
                                          {'Ref': 'AWS::NoValue'}]})

    def test_member_role_puts_events_on_the_central_bus_only(self):
        res = self.member['Resources']
        self.assertEqual(sorted(res), ['ForwardLeaveOrganizationRule', 'ForwardingRole'])
        role = res['ForwardingRole']['Properties']
        (trust,) = role['AssumeRolePolicyDocument']['Statement']
        self.assertEqual((trust['Principal'], trust['Action']),
                         ({'Service': 'events.amazonaws.com'}, 'sts:AssumeRole'))
        (policy,) = role['Policies']
        self.assertEqual(policy['PolicyDocument']['Statement'],
                         [{'Effect': 'Allow', 'Action': 'events:PutEvents',
                           'Resource': {'Ref': 'CentralEventBusArn'}}])
        self.assertNotIn('ManagedPolicyArns', role)
        (target,) = res['ForwardLeaveOrganizationRule']['Properties']['Targets']
        self.assertEqual((target['Arn'], target['RoleArn']),
                         ({'Ref': 'CentralEventBusArn'}, {'Fn::GetAtt': ['ForwardingRole', 'Arn']}))
        self.assertNotIn('EventBusName', res['ForwardLeaveOrganizationRule']['Properties'])


class mock_any:
    """Equal to any instance of a type (for an output's Description)."""

    def __init__(self, t):
        self.t = t

    def __eq__(self, other):
        return isinstance(other, self.t)


class ValidateCfn(unittest.TestCase):

    def setUp(self):
        self.node = need('node', 'run scripts/deps.sh test (apt-get install nodejs)')
        if not os.path.isfile(os.path.join(ROOT, 'tests', 'deploy', 'node_modules', '@aws-cdk', 'cfnspec',
                                           'spec', 'specification.json')):
            raise AssertionError('npm package @aws-cdk/cfnspec is not installed: run make deps-node')

    def validate(self, *paths):
        return run([self.node, VALIDATE_CFN] + list(paths))

    def test_templates_are_valid(self):
        # What to expect, read independently (PyYAML): one line per resource,
        # at the first line of its mapping.
        expected = ok_lines(MANAGEMENT, read(MANAGEMENT)) + ok_lines(MEMBER, read(MEMBER))
        self.assertEqual(len(expected), 10)
        self.assertIn('ok %s:%d Queue AWS::SQS::Queue' % (MANAGEMENT, line_of(read(MANAGEMENT), '  Queue:') + 1),
                      expected)
        rc, out, err = self.validate(MANAGEMENT, MEMBER)
        self.assertEqual((rc, out.splitlines(), err), (0, expected, ''))

    def test_a_json_template_is_read_too(self):
        text = json.dumps(load_template(MEMBER), indent=2)
        with tempfile.TemporaryDirectory() as d:
            path = write(d, 'member.json', text)
            rc, out, err = self.validate(path)
        self.assertEqual((rc, out.splitlines(), err), (0, ok_lines(path, text), ''))

    maxDiff = None

    def test_broken_copies_are_rejected(self):
        management, member = read(MANAGEMENT), read(MEMBER)
        # An unknown property (the retention without its unit's name), a word
        # for an integer, an attribute a queue does not have, one queue where a
        # list of them is expected.
        bad_queue = edited(management, [
            ('      MessageRetentionPeriod: 345600\n', '      MessageRetention: 345600\n'),
            ('ReceiveMessageWaitTimeSeconds: 20', 'ReceiveMessageWaitTimeSeconds: twenty'),
            ('[DeadLetterQueue, Arn]\n        maxReceiveCount', '[DeadLetterQueue, Url]\n        maxReceiveCount'),
            ('      Queues:\n        - Ref: Queue\n        - Ref: DeadLetterQueue\n', '      Queues:\n        Ref: Queue\n')])
        # A missing required property, an unknown resource type, a conditional
        # rule named outside its condition (in the false branch of the Fn::If
        # on it), a Ref to nothing, a default that its parameter does not allow.
        bad_bus = edited(management, [
            ('      StatementId: AllowPutEventsFromTheOrganization\n', ''),
            ('Type: AWS::Events::EventBus\n', 'Type: AWS::Events::Bus\n'),
            ('Rule, Arn]\n                    - - Fn::GetAtt: [ManagementAccountRule, Arn]\n',
             'Rule, Arn]\n                    - - Fn::GetAtt: [CentralEventBusRule, Arn]\n'),
            ('${Queue}"', '${Queues}"'),
            ('    Default: "false"\n', '    Default: "no"\n')])
        # The member template in short form (!Ref, !GetAtt A.B, !Sub), with a
        # mapping for a string, an unknown property and an attribute a role
        # does not have.
        short = edited(member, [
            ('          Arn:\n            Ref: CentralEventBusArn\n', '          Arn: !Ref CentralEventBusArn\n'),
            ('          RoleArn:\n            Fn::GetAtt: [ForwardingRole, Arn]\n',
             '          RoleArn: !GetAtt ForwardingRole.RoleArn\n'),
            ('      Name: aws-org-exporter-forward-leave\n',
             '      Name: !Sub "${AWS::StackName}-leave"\n      Description: {x: 1}\n'),
            ('      Description: This account', '      # This account'),
            ('      State: ENABLED\n', '      Enabled: true\n')])
        # A key given twice.
        twice = edited(member, [('      State: ENABLED\n', '      State: ENABLED\n      State: DISABLED\n')])
        with tempfile.TemporaryDirectory() as d:
            paths = [write(d, 'queue.yaml', bad_queue), write(d, 'bus.yaml', bad_bus),
                     write(d, 'short.yaml', short), write(d, 'twice.yaml', twice)]
            rc, out, err = self.validate(*paths)
        q, b, s, t = paths

        def at(path, text, needle, offset=0):
            return '%s:%d' % (path, line_of(text, needle) + offset)

        ok = [l for l in out.splitlines() if l.startswith('ok ')]
        problems = [l for l in out.splitlines() if not l.startswith('ok ')]
        self.assertEqual((rc, err), (1, ''))
        self.assertEqual(problems, [
            '%s: Resources.Queue.Properties.MessageRetention: unknown property MessageRetention'
            % at(q, bad_queue, 'MessageRetention: 345600'),
            '%s: Resources.Queue.Properties.ReceiveMessageWaitTimeSeconds: '
            'must be Integer, not string "twenty"'
            % at(q, bad_queue, 'twenty'),
            '%s: Resources.Queue.Properties.RedrivePolicy.deadLetterTargetArn.Fn::GetAtt: '
            'Fn::GetAtt DeadLetterQueue.Url: AWS::SQS::Queue has no attribute Url'
            % at(q, bad_queue, '[DeadLetterQueue, Url]'),
            '%s: Resources.QueuePolicy.Properties.Queues: Ref gives a single value, a list is expected'
            % at(q, bad_queue, '      Queues:', 1),
            '%s: Parameters.CreateCentralEventBus.Default: "no" is not in AllowedValues'
            % at(b, bad_bus, 'Default: "no"'),
            '%s: Resources.CentralEventBus.Type: unknown resource type "AWS::Events::Bus"'
            % at(b, bad_bus, 'AWS::Events::Bus'),
            '%s: Resources.CentralEventBusPolicy.Properties: required property StatementId is missing'
            % at(b, bad_bus, "  CentralEventBusPolicy:", 4),
            '%s: Resources.QueuePolicy.Properties.PolicyDocument.Statement[0].Condition.ArnEquals.'
            'aws:SourceArn.Fn::If[2][0].Fn::GetAtt: CentralEventBusRule exists only when condition '
            'CreateCentralBus holds, which is not known here (use Fn::If on CreateCentralBus)'
            % at(b, bad_bus, '- - Fn::GetAtt: [CentralEventBusRule'),
            '%s: Outputs.ExporterFlag.Value.Fn::Sub: Ref "Queues": no such parameter or resource'
            % at(b, bad_bus, '${Queues}'),
            '%s: Resources.ForwardLeaveOrganizationRule.Properties.Description: '
            'must be String, not mapping {"x":1}'
            % at(s, short, 'Description: {x: 1}'),
            '%s: Resources.ForwardLeaveOrganizationRule.Properties.Enabled: unknown property Enabled'
            % at(s, short, 'Enabled: true'),
            '%s: Resources.ForwardLeaveOrganizationRule.Properties.Targets[0].RoleArn.Fn::GetAtt: '
            'Fn::GetAtt ForwardingRole.RoleArn: AWS::IAM::Role has no attribute RoleArn'
            % at(s, short, '!GetAtt ForwardingRole.RoleArn'),
            '%s: YAML: Map keys must be unique' % at(t, twice, 'State: DISABLED'),
        ])
        # The resources without a problem still pass (the short form's too).
        failing = {q: ['Queue', 'QueuePolicy'], b: ['CentralEventBus', 'CentralEventBusPolicy', 'QueuePolicy'],
                   s: ['ForwardLeaveOrganizationRule'], t: None}
        expected = []
        for path, text in zip(paths, (bad_queue, bad_bus, short, twice)):
            if failing[path] is not None:
                expected += [l for l in ok_lines(path, text) if l.split()[2] not in failing[path]]
        self.assertEqual(ok, expected)
        self.assertIn('ok %s ForwardingRole AWS::IAM::Role' % at(s, short, '  ForwardingRole:', 1), ok)


class Readme(unittest.TestCase):
    """deploy/README.md's commands name the templates' real parameters and outputs."""

    def test_commands_and_outputs_exist(self):
        text = read(os.path.join('deploy', 'README.md'))
        section = text[text.index('## EventBridge fast path'):text.index('## Kubernetes')]
        management, member = load_template(MANAGEMENT), load_template(MEMBER)
        # The command's lines, joined where they end with a backslash.
        command = re.search(r'--parameter-overrides (?:[^\n]*\\\n)*[^\n]*', section).group(0)
        overrides = command.split(' ', 1)[1]
        names = re.findall(r'([A-Za-z]+)=', overrides)
        self.assertEqual(names, ['ExporterRoleName', 'CreateCentralEventBus', 'OrganizationId'])
        for n in names:
            self.assertIn(n, management['Parameters'])
        self.assertEqual(re.findall(r'ParameterKey=([A-Za-z]+)', section), list(member['Parameters']))
        for rel in re.findall(r'file://(\S+)|--template-file (\S+)', section):
            self.assertTrue(os.path.isfile(os.path.join(ROOT, ''.join(rel))), rel)
        outputs = set(re.findall(r'`([A-Za-z]+)`\s+output|<([A-Za-z]+) output>', section))
        outputs = {a or b for a, b in outputs}
        self.assertEqual(sorted(outputs), ['CentralEventBusArn', 'ExporterFlag', 'ExporterPolicyArn'])
        self.assertLessEqual(outputs, set(management['Outputs']))
        for name in ('QueueUrl', 'QueueArn', 'DeadLetterQueueUrl'):
            self.assertIn('`%s`' % name, section)
        self.assertIn('RetainStacksOnAccountRemoval=true', section)
        self.assertIn('--region us-east-1', section)
