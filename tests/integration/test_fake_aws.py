"""Tests of the fake AWS itself (tests/fake_aws/server.py), driven by real
botocore clients: if botocore and the fake agree, the exporter is checked
against something that behaves like AWS."""
import datetime
import http.client
import json
import os
import signal
import time
import unittest
import urllib.error
import urllib.request

import botocore.session
from harness import FakeAWS
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FAKE_DIR = os.path.join(ROOT, 'tests', 'fake_aws')
BASIC = os.path.join(FAKE_DIR, 'scenarios', 'basic.json')

MGMT = '111111111111'
MGMT_KEY = ('AKIAFAKEMANAGEMENT01', 'fakeManagementSecretKey/0000000000000000')
MEMBER_KEY = ('AKIAFAKEMEMBER000002', 'fakeMemberSecretKey/22222222222222222222')
NO_RETRY = Config(retries={'total_max_attempts': 1})
STS_NS = '{https://sts.amazonaws.com/doc/2011-06-15/}'

with open(BASIC, encoding='utf-8') as _f:
    SCENARIO = json.load(_f)


class FakeAwsTest(unittest.TestCase):

    def setUp(self):
        self.fake = FakeAWS()
        self.proc = self.fake.proc
        self.port = self.fake.port
        self.endpoint = self.fake.url
        self.session = botocore.session.get_session()

    def tearDown(self):
        self.fake.__exit__()

    # helpers -------------------------------------------------------------
    def client(self, service, key=MGMT_KEY, token=None, config=NO_RETRY, region='us-east-1'):
        return self.session.create_client(service, endpoint_url=self.endpoint, region_name=region,
                                          aws_access_key_id=key[0], aws_secret_access_key=key[1],
                                          aws_session_token=token, config=config)

    def control(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method='GET' if body is None else 'POST')
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stats(self):
        return self.control('/_fake/stats')

    def signed(self, service, body, target=None, key=MGMT_KEY, amz_date=None, region='us-east-1'):
        """A raw SigV4-signed POST /; returns (status, body bytes)."""
        headers = {'Content-Type': 'application/x-amz-json-1.1' if target else
                   'application/x-www-form-urlencoded; charset=utf-8'}
        if target:
            headers['X-Amz-Target'] = target
        req = AWSRequest(method='POST', url=self.endpoint + '/', data=body, headers=headers)
        auth = SigV4Auth(Credentials(key[0], key[1]), service, region)
        if amz_date:
            # sign with a chosen timestamp, the way add_auth would
            req.context['timestamp'] = amz_date
            req.headers['X-Amz-Date'] = amz_date
            auth._modify_request_before_signing = lambda r: None
            sig = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
            auth._inject_signature_to_request(req, sig)
        else:
            auth.add_auth(req)
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
        try:
            c.request('POST', '/', body=body, headers=dict(req.headers.items()))
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def assertCode(self, ctx, code):
        self.assertEqual(ctx.exception.response['Error']['Code'], code)

    # Organizations ---------------------------------------------------------
    def test_list_accounts_paginates_with_valid_signatures(self):
        org = self.client('organizations')
        pages = list(org.get_paginator('list_accounts').paginate(PaginationConfig={'PageSize': 7}))
        ids = [a['Id'] for p in pages for a in p['Accounts']]
        self.assertEqual(ids, [a['id'] for a in SCENARIO['accounts']])
        self.assertEqual([len(p['Accounts']) for p in pages], [7, 7, 7, 4])
        first = pages[0]['Accounts'][1]
        self.assertEqual(first['Id'], '222222222222')
        self.assertEqual(first['Arn'], 'arn:aws:organizations::111111111111:account/o-a1b2c3d4e5/222222222222')
        self.assertEqual(first['Status'], 'ACTIVE')
        self.assertEqual(first['JoinedMethod'], 'CREATED')
        self.assertEqual(first['JoinedTimestamp'], datetime.datetime(2018, 1, 1, tzinfo=datetime.timezone.utc))
        st = self.stats()
        self.assertEqual(st['bad_signatures'], 0)
        self.assertEqual(st['invalid_requests'], 0)
        self.assertEqual(st['calls']['organizations.ListAccounts'], 4)
        self.assertEqual(st['errors_returned'], {})
        self.assertEqual([r['status'] for r in st['requests']], [200] * 4)
        self.assertEqual({r['account'] for r in st['requests']}, {MGMT})

    def test_list_accounts_raw_shape_has_state_and_optional_status(self):
        status, body = self.signed('organizations', b'{}', 'AWSOrganizationsV20161128.ListAccounts')
        self.assertEqual(status, 200)
        d = json.loads(body)
        self.assertEqual(len(d['Accounts']), 20)
        self.assertIn('NextToken', d)
        by_id = {a['Id']: a for a in d['Accounts']}
        self.assertEqual(by_id['333333333333']['State'], 'SUSPENDED')
        self.assertEqual(by_id['333333333333']['Status'], 'SUSPENDED')
        self.assertEqual(by_id['444444444444']['State'], 'PENDING_CLOSURE')
        self.assertNotIn('Status', by_id['555555555555'])
        self.assertEqual(by_id['555555555555']['JoinedTimestamp'], 1704067200)

    def test_forced_short_and_empty_pages(self):
        self.control('/_fake/patch', {'op': 'set_option', 'name': 'list_accounts_page_size', 'value': [3, 0]})
        org = self.client('organizations')
        pages = list(org.get_paginator('list_accounts').paginate())
        sizes = [len(p['Accounts']) for p in pages]
        self.assertEqual(sizes[:4], [3, 0, 3, 0])
        self.assertEqual(sum(sizes), 25)
        self.assertEqual(self.stats()['calls']['organizations.ListAccounts'], len(pages))

    def test_wrong_secret_is_rejected_and_counted(self):
        org = self.client('organizations', key=(MGMT_KEY[0], 'not-the-secret'))
        with self.assertRaises(ClientError) as ctx:
            org.list_accounts()
        self.assertCode(ctx, 'InvalidSignatureException')
        self.assertEqual(ctx.exception.response['Error']['Message'],
                         'The request signature we calculated does not match the signature you provided. '
                         'Check your AWS Secret Access Key and signing method. Consult the service documentation '
                         'for details.')
        with self.assertRaises(ClientError) as ctx:
            self.client('organizations', key=('AKIAUNKNOWN000000000', 'x')).list_accounts()
        self.assertCode(ctx, 'UnrecognizedClientException')
        with self.assertRaises(ClientError) as ctx:
            self.client('sts', key=(MGMT_KEY[0], 'not-the-secret')).get_caller_identity()
        self.assertCode(ctx, 'SignatureDoesNotMatch')
        st = self.stats()
        self.assertEqual(st['bad_signatures'], 2)
        self.assertEqual(st['errors_returned'], {'InvalidSignatureException': 1, 'UnrecognizedClientException': 1,
                                                 'SignatureDoesNotMatch': 1})

    def test_old_signature_is_expired(self):
        old = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(time.time() - 20 * 60))
        status, body = self.signed('organizations', b'{}', 'AWSOrganizationsV20161128.ListAccounts', amz_date=old)
        self.assertEqual(status, 400)
        d = json.loads(body)
        self.assertEqual(d['__type'], 'InvalidSignatureException')
        self.assertTrue(d['message'].startswith('Signature expired: %s is now earlier than ' % old), d['message'])
        # the same path with a fresh date passes: the raw signer is right
        now = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())
        status, _ = self.signed('organizations', b'{}', 'AWSOrganizationsV20161128.ListAccounts', amz_date=now)
        self.assertEqual(status, 200)
        self.assertEqual(self.stats()['bad_signatures'], 1)

    def test_max_results_range_is_validated(self):
        org = self.client('organizations', config=Config(parameter_validation=False,
                                                          retries={'total_max_attempts': 1}))
        with self.assertRaises(ClientError) as ctx:
            org.list_accounts(MaxResults=21)
        self.assertCode(ctx, 'ValidationException')
        self.assertEqual(ctx.exception.response['Error']['Message'],
                         'Invalid value for parameter MaxResults, value: 21, valid max value: 20')
        status, body = self.signed('organizations', b'{"MaxResults": 0}', 'AWSOrganizationsV20161128.ListAccounts')
        self.assertEqual((status, json.loads(body)['__type']), (400, 'ValidationException'))
        status, body = self.signed('organizations', b'{"Filter": ', 'AWSOrganizationsV20161128.ListPolicies')
        self.assertEqual((status, json.loads(body)['__type']), (400, 'SerializationException'))
        status, body = self.signed('organizations', b'{}', 'AWSOrganizationsV20161128.ListPolicies')
        self.assertEqual((status, json.loads(body)['__type']), (400, 'ValidationException'))
        status, body = self.signed('organizations', b'{}', 'AWSOrganizationsV20161128.NoSuchThing')
        self.assertEqual((status, json.loads(body)['__type']), (400, 'UnknownOperationException'))
        st = self.stats()
        self.assertEqual(st['invalid_requests'], 4)
        self.assertEqual(st['bad_signatures'], 0)

    def test_policies_targets_and_tree(self):
        org = self.client('organizations')
        pols = org.list_policies(Filter='SERVICE_CONTROL_POLICY')['Policies']
        self.assertEqual([p['Id'] for p in pols], ['p-FullAWSAccess', 'p-denyleave01', 'p-condleave01', 'p-regions0001'])
        self.assertEqual(pols[0]['Arn'], 'arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess')
        self.assertTrue(pols[0]['AwsManaged'])
        pol = org.describe_policy(PolicyId='p-denyleave01')['Policy']
        self.assertEqual(json.loads(pol['Content'])['Statement'][0]['Action'], 'organizations:LeaveOrganization')
        targets = org.list_targets_for_policy(PolicyId='p-denyleave01')['Targets']
        self.assertEqual(targets, [{'TargetId': 'ou-a1b2-prod0001', 'Name': 'Production', 'Type': 'ORGANIZATIONAL_UNIT',
                                    'Arn': 'arn:aws:organizations::111111111111:ou/o-a1b2c3d4e5/ou-a1b2-prod0001'}])
        self.assertEqual(org.list_parents(ChildId='222222222222')['Parents'],
                         [{'Id': 'ou-a1b2-prod0001', 'Type': 'ORGANIZATIONAL_UNIT'}])
        self.assertEqual(org.list_parents(ChildId='ou-a1b2-prod0001')['Parents'], [{'Id': 'r-a1b2', 'Type': 'ROOT'}])
        roots = org.list_roots()['Roots']
        self.assertEqual(roots[0]['PolicyTypes'], [{'Type': 'SERVICE_CONTROL_POLICY', 'Status': 'ENABLED'}])
        ous = org.list_organizational_units_for_parent(ParentId='r-a1b2')['OrganizationalUnits']
        self.assertEqual([o['Name'] for o in ous], ['Production', 'Sandbox', 'Suspended'])
        accs = org.list_accounts_for_parent(ParentId='ou-a1b2-prod0001')['Accounts']
        self.assertEqual(len(accs), 11)
        self.assertEqual(org.describe_organization()['Organization']['MasterAccountId'], MGMT)
        # the patch API detaches a target and removes an account
        self.control('/_fake/patch', [{'op': 'detach_policy', 'policy_id': 'p-denyleave01', 'target_id': 'ou-a1b2-prod0001'},
                                      {'op': 'remove_account', 'id': '222222222222'}])
        self.assertEqual(org.list_targets_for_policy(PolicyId='p-denyleave01')['Targets'], [])
        ids = [a['Id'] for p in org.get_paginator('list_accounts').paginate() for a in p['Accounts']]
        self.assertEqual(len(ids), 24)
        self.assertNotIn('222222222222', ids)
        with self.assertRaises(ClientError) as ctx:
            org.describe_policy(PolicyId='p-doesnotexist')
        self.assertCode(ctx, 'PolicyNotFoundException')

    def test_indexed_answers_follow_every_patch(self):
        """The state's index and memo (built by the first reads) are never
        stale: each kind of patch shows in the very next answer."""
        org = self.client('organizations')
        ct = self.client('cloudtrail')
        path = 'o-a1b2c3d4e5/r-a1b2/'

        def paths(account):  # raw: Debian 12's botocore does not know Paths
            status, body = self.signed('organizations', json.dumps({'AccountId': account}).encode(),
                                       'AWSOrganizationsV20161128.DescribeAccount')
            self.assertEqual(status, 200)
            return json.loads(body)['Account']['Paths']

        def children(parent):
            return [a['Id'] for a in org.list_accounts_for_parent(ParentId=parent)['Accounts']]

        def leaves():
            return [e['EventId'] for e in ct.lookup_events(
                LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'LeaveOrganization'}])['Events']]

        self.assertEqual(paths('444444444444'), [path + 'ou-a1b2-sand0001/444444444444/'])
        self.assertEqual(paths('333333333333'), [path + 'ou-a1b2-susp0001/333333333333/'])
        self.assertEqual(children('ou-a1b2-susp0001'), ['333333333333'])
        self.assertEqual([p['Id'] for p in org.list_policies_for_target(
            TargetId='444444444444', Filter='SERVICE_CONTROL_POLICY')['Policies']], ['p-FullAWSAccess'])
        before = leaves()

        self.control('/_fake/patch', {'op': 'update_account', 'id': '444444444444',
                                      'set': {'parent_id': 'ou-a1b2-susp0001'}})
        self.assertEqual(paths('444444444444'), [path + 'ou-a1b2-susp0001/444444444444/'])
        self.assertEqual(children('ou-a1b2-susp0001'), ['333333333333', '444444444444'])
        self.assertNotIn('444444444444', children('ou-a1b2-sand0001'))

        self.control('/_fake/patch', {'op': 'set', 'path': ['ous', 2, 'parent_id'], 'value': 'ou-a1b2-sand0001'})
        self.assertEqual(paths('333333333333'), [path + 'ou-a1b2-sand0001/ou-a1b2-susp0001/333333333333/'])
        self.assertEqual(org.list_parents(ChildId='ou-a1b2-susp0001')['Parents'],
                         [{'Id': 'ou-a1b2-sand0001', 'Type': 'ORGANIZATIONAL_UNIT'}])

        self.control('/_fake/patch', {'op': 'attach_policy', 'policy_id': 'p-regions0001', 'target_id': '444444444444'})
        self.assertEqual([p['Id'] for p in org.list_policies_for_target(
            TargetId='444444444444', Filter='SERVICE_CONTROL_POLICY')['Policies']], ['p-FullAWSAccess', 'p-regions0001'])
        self.assertEqual([(t['TargetId'], t['Type']) for t in org.list_targets_for_policy(PolicyId='p-regions0001')['Targets']],
                         [('r-a1b2', 'ROOT'), ('444444444444', 'ACCOUNT')])

        self.control('/_fake/patch', {'op': 'add_account', 'account': {
            'id': '123456789012', 'name': 'late', 'email': 'late@example.com', 'parent_id': 'ou-a1b2-prod0001'}})
        self.assertEqual(paths('123456789012'), [path + 'ou-a1b2-prod0001/123456789012/'])

        self.control('/_fake/patch', {'op': 'add_event', 'account': MGMT, 'region': 'us-east-1', 'event': {
            'EventId': 'indexed-leave-1', 'EventName': 'LeaveOrganization',
            'EventSource': 'organizations.amazonaws.com', 'CloudTrailEvent': '{}'}})
        self.assertEqual(leaves(), ['indexed-leave-1'] + before)

    def test_member_account_is_denied(self):
        with self.assertRaises(ClientError) as ctx:
            self.client('organizations', key=MEMBER_KEY).list_accounts()
        self.assertCode(ctx, 'AccessDeniedException')

    # CloudTrail ------------------------------------------------------------
    def test_lookup_events_newest_first_paged_with_bound_token(self):
        ct = self.client('cloudtrail')
        pages, token = [], None
        while True:
            kw = {'NextToken': token} if token else {}
            r = ct.lookup_events(**kw)
            pages.append(r['Events'])
            token = r.get('NextToken')
            if not token:
                break
        self.assertEqual([len(p) for p in pages], [50, 50, 24])
        events = [e for p in pages for e in p]
        times = [e['EventTime'] for e in events]
        self.assertEqual(times, sorted(times, reverse=True))
        self.assertEqual(len({e['EventId'] for e in events}), 124)
        # the token is bound to the parameters that made it
        first = ct.lookup_events()
        with self.assertRaises(ClientError) as ctx:
            ct.lookup_events(NextToken=first['NextToken'],
                             LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'DetachPolicy'}])
        self.assertCode(ctx, 'InvalidNextTokenException')
        with self.assertRaises(ClientError) as ctx:
            ct.lookup_events(NextToken=first['NextToken'], StartTime=datetime.datetime(2020, 1, 1))
        self.assertCode(ctx, 'InvalidNextTokenException')
        # same parameters, other page size: fine
        self.assertEqual(len(ct.lookup_events(NextToken=first['NextToken'], MaxResults=10)['Events']), 10)
        raw = self.client('cloudtrail', config=Config(parameter_validation=False, retries={'total_max_attempts': 1}))
        with self.assertRaises(ClientError) as ctx:
            raw.lookup_events(MaxResults=51)
        self.assertCode(ctx, 'ValidationException')
        with self.assertRaises(ClientError) as ctx:
            ct.lookup_events(LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'DetachPolicy'},
                                               {'AttributeKey': 'ReadOnly', 'AttributeValue': 'false'}])
        self.assertCode(ctx, 'InvalidLookupAttributesException')
        st = self.stats()
        self.assertEqual(st['bad_signatures'], 0)
        self.assertEqual(st['invalid_requests'], 4)
        self.assertEqual(st['calls']['cloudtrail.LookupEvents'], 9)
        self.assertGreaterEqual(st['max_rate']['cloudtrail.LookupEvents/%s/us-east-1' % MGMT], 2)

    def test_lookup_events_filters_and_records(self):
        ct = self.client('cloudtrail')
        r = ct.lookup_events(LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'DetachPolicy'}])
        self.assertEqual(len(r['Events']), 1)
        e = r['Events'][0]
        rec = json.loads(e['CloudTrailEvent'])
        self.assertEqual((rec['eventName'], rec['eventID'], rec['requestParameters']['policyId']),
                         ('DetachPolicy', e['EventId'], 'p-denyleave01'))
        r = ct.lookup_events(LookupAttributes=[{'AttributeKey': 'ResourceName', 'AttributeValue': '777777777777'}])
        self.assertEqual([e['EventName'] for e in r['Events']], ['RemoveAccountFromOrganization'])
        # a member account sees its own (denied) LeaveOrganization calls, newest first
        mct = self.client('cloudtrail', key=MEMBER_KEY)
        r = mct.lookup_events(LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'LeaveOrganization'}])
        recs = [json.loads(e['CloudTrailEvent']) for e in r['Events']]
        self.assertEqual([x['errorCode'] for x in recs], ['AccessDenied', 'AccessDenied'])
        self.assertIn('explicit deny in a service control policy', recs[0]['errorMessage'])
        self.assertIn('no identity-based policy allows', recs[1]['errorMessage'])
        # other region: nothing
        self.assertEqual(self.client('cloudtrail', key=MEMBER_KEY, region='eu-west-1').lookup_events()['Events'], [])
        # an event added at run time is the newest
        self.control('/_fake/patch', {'op': 'add_event', 'account': '222222222222', 'region': 'us-east-1',
                                      'event': {'EventName': 'LeaveOrganization', 'EventId': 'added-1',
                                                'EventSource': 'organizations.amazonaws.com',
                                                'CloudTrailEvent': {'eventVersion': '1.09'}}})
        r = mct.lookup_events(LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'LeaveOrganization'}])
        self.assertEqual([e['EventId'] for e in r['Events']][0], 'added-1')

    # STS -------------------------------------------------------------------
    def test_assume_role_xml_credentials_work_then_expire(self):
        # raw XML in the real STS format
        status, body = self.signed('sts', b'Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A'
                                   b'111111111111%3Arole%2Faws-org-exporter-short&RoleSessionName=raw')
        self.assertEqual(status, 200, body)
        import xml.etree.ElementTree as ET
        doc = ET.fromstring(body)
        self.assertEqual(doc.tag, STS_NS + 'AssumeRoleResponse')
        c = doc.find(STS_NS + 'AssumeRoleResult/' + STS_NS + 'Credentials')
        self.assertTrue(c.find(STS_NS + 'AccessKeyId').text.startswith('ASIA'))
        self.assertEqual(doc.find('.//' + STS_NS + 'Arn').text,
                         'arn:aws:sts::111111111111:assumed-role/aws-org-exporter-short/raw')
        # make the short role 2 s long, then assume it with botocore
        self.control('/_fake/patch', {'op': 'set', 'path': ['roles', 1, 'session_duration_seconds'], 'value': 2})
        sts = self.client('sts')
        r = sts.assume_role(RoleArn='arn:aws:iam::111111111111:role/aws-org-exporter-short', RoleSessionName='test')
        cr = r['Credentials']
        left = (cr['Expiration'] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        self.assertTrue(0 < left <= 2, left)
        tmp = (cr['AccessKeyId'], cr['SecretAccessKey'])
        org = self.client('organizations', key=tmp, token=cr['SessionToken'])
        self.assertEqual(len(org.list_accounts()['Accounts']), 20)
        ident = self.client('sts', key=tmp, token=cr['SessionToken']).get_caller_identity()
        self.assertEqual(ident['Arn'], 'arn:aws:sts::111111111111:assumed-role/aws-org-exporter-short/test')
        # no token, or a wrong one: rejected
        with self.assertRaises(ClientError) as ctx:
            self.client('organizations', key=tmp).list_accounts()
        self.assertCode(ctx, 'UnrecognizedClientException')
        time.sleep(max(0, left) + 1.1)
        with self.assertRaises(ClientError) as ctx:
            org.list_accounts()
        self.assertCode(ctx, 'ExpiredTokenException')
        # external id
        with self.assertRaises(ClientError) as ctx:
            sts.assume_role(RoleArn='arn:aws:iam::111111111111:role/aws-org-exporter-external', RoleSessionName='x1')
        self.assertCode(ctx, 'AccessDenied')
        sts.assume_role(RoleArn='arn:aws:iam::111111111111:role/aws-org-exporter-external', RoleSessionName='x1',
                        ExternalId='fake-external-id-1')
        st = self.stats()
        self.assertEqual(st['bad_signatures'], 0)
        self.assertEqual([c['source'] for c in st['credentials_issued']], ['AssumeRole'] * 3)

    def test_assume_role_with_web_identity_is_unsigned(self):
        sts = self.session.create_client('sts', endpoint_url=self.endpoint, region_name='us-east-1',
                                         config=Config(signature_version=UNSIGNED, retries={'total_max_attempts': 1}))
        r = sts.assume_role_with_web_identity(RoleArn='arn:aws:iam::111111111111:role/aws-org-exporter',
                                              RoleSessionName='irsa', WebIdentityToken=SCENARIO['web_identity_tokens'][0])
        cr = r['Credentials']
        org = self.client('organizations', key=(cr['AccessKeyId'], cr['SecretAccessKey']), token=cr['SessionToken'])
        self.assertEqual(org.describe_organization()['Organization']['Id'], 'o-a1b2c3d4e5')
        with self.assertRaises(ClientError) as ctx:
            sts.assume_role_with_web_identity(RoleArn='arn:aws:iam::111111111111:role/aws-org-exporter',
                                              RoleSessionName='irsa', WebIdentityToken='not-a-known-token')
        self.assertCode(ctx, 'InvalidIdentityToken')

    # faults ----------------------------------------------------------------
    def test_throttle_every_second_request(self):
        self.control('/_fake/faults', [{'operation': 'organizations.ListAccounts', 'kind': 'throttle', 'every': 2},
                                       {'operation': 'cloudtrail.LookupEvents', 'kind': 'throttle', 'every': 2},
                                       {'operation': 'sts.GetCallerIdentity', 'kind': 'throttle', 'count': 1}])
        org = self.client('organizations')
        outcome = []
        for _ in range(4):
            try:
                org.list_accounts(MaxResults=1)
                outcome.append('OK')
            except ClientError as e:
                outcome.append(e.response['Error']['Code'])
        self.assertEqual(outcome, ['OK', 'TooManyRequestsException'] * 2)
        ct = self.client('cloudtrail')
        ct.lookup_events(MaxResults=1)
        with self.assertRaises(ClientError) as ctx:
            ct.lookup_events(MaxResults=1)
        self.assertCode(ctx, 'ThrottlingException')
        sts = self.client('sts')
        with self.assertRaises(ClientError) as ctx:
            sts.get_caller_identity()
        self.assertCode(ctx, 'Throttling')
        self.assertEqual(sts.get_caller_identity()['Account'], MGMT)
        # a retrying client gets through: the 5th request passes, the 6th is
        # throttled and its retry (the 7th) passes
        retrying = self.client('organizations', config=Config(retries={'total_max_attempts': 3}))
        self.assertEqual(len(retrying.list_accounts(MaxResults=2)['Accounts']), 2)
        r = retrying.list_accounts(MaxResults=2)
        self.assertEqual((len(r['Accounts']), r['ResponseMetadata']['RetryAttempts']), (2, 1))
        st = self.stats()
        self.assertEqual(st['calls']['organizations.ListAccounts'], 7)
        self.assertEqual(st['errors_returned'], {'TooManyRequestsException': 3, 'ThrottlingException': 1,
                                                 'Throttling': 1})
        self.assertEqual(st['bad_signatures'], 0)
        self.control('/_fake/faults', [])
        self.assertEqual(len(org.list_accounts(MaxResults=1)['Accounts']), 1)

    def test_transport_faults(self):
        self.control('/_fake/faults', [{'operation': '*', 'kind': 'reset', 'count': 1},
                                       {'operation': 'organizations.DescribeOrganization', 'kind': 'truncate', 'count': 1},
                                       {'operation': 'organizations.ListRoots', 'kind': 'malformed', 'count': 1},
                                       {'operation': 'organizations.ListPolicies', 'kind': '5xx', 'status': 503, 'count': 1},
                                       {'operation': 'organizations.ListParents', 'kind': 'expired', 'count': 1},
                                       {'operation': 'organizations.DescribePolicy', 'kind': 'skew', 'count': 1},
                                       {'operation': 'organizations.ListAccountsForParent', 'kind': 'access_denied', 'count': 1}])
        target = 'AWSOrganizationsV20161128.'
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.signed('organizations', b'{}', target + 'ListAccounts')
        with self.assertRaises(http.client.IncompleteRead):
            self.signed('organizations', b'{}', target + 'DescribeOrganization')
        status, body = self.signed('organizations', b'{}', target + 'ListRoots')
        self.assertEqual(status, 200)
        self.assertRaises(ValueError, json.loads, body)
        status, body = self.signed('organizations', b'{"Filter": "SERVICE_CONTROL_POLICY"}', target + 'ListPolicies')
        self.assertEqual((status, json.loads(body)['__type']), (503, 'ServiceUnavailable'))
        status, body = self.signed('organizations', b'{"ChildId": "222222222222"}', target + 'ListParents')
        self.assertEqual((status, json.loads(body)['__type']), (400, 'ExpiredTokenException'))
        status, body = self.signed('organizations', b'{"PolicyId": "p-denyleave01"}', target + 'DescribePolicy')
        self.assertEqual(json.loads(body)['__type'], 'InvalidSignatureException')
        self.assertIn('Signature expired', json.loads(body)['message'])
        status, body = self.signed('organizations', b'{"ParentId": "r-a1b2"}', target + 'ListAccountsForParent')
        self.assertEqual(json.loads(body)['__type'], 'AccessDeniedException')
        # all rules used up: everything works again, on a kept-alive connection
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=5)
        for _ in range(3):
            c.request('GET', '/_fake/stats')
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            json.loads(r.read())
        c.close()
        self.assertEqual(self.signed('organizations', b'{}', target + 'ListRoots')[0], 200)

    def test_repeat_token(self):
        self.control('/_fake/faults', [{'operation': 'organizations.ListAccounts', 'kind': 'repeat_token'}])
        org = self.client('organizations')
        t1 = org.list_accounts(MaxResults=5)['NextToken']
        t2 = org.list_accounts(MaxResults=5, NextToken=t1)['NextToken']
        t3 = org.list_accounts(MaxResults=5, NextToken=t2)['NextToken']
        self.assertEqual((t2, t3), (t1, t1))

    # metadata endpoints ----------------------------------------------------
    def test_imdsv2_credentials_work(self):
        base = self.endpoint + '/latest'
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(base + '/meta-data/iam/security-credentials/', timeout=5)
        self.assertEqual(ctx.exception.code, 401)
        req = urllib.request.Request(base + '/api/token', method='PUT',
                                     headers={'X-aws-ec2-metadata-token-ttl-seconds': '21600'})
        token = urllib.request.urlopen(req, timeout=5).read().decode()
        h = {'X-aws-ec2-metadata-token': token}
        role = urllib.request.urlopen(urllib.request.Request(base + '/meta-data/iam/security-credentials/', headers=h),
                                      timeout=5).read().decode()
        self.assertEqual(role, 'aws-org-exporter-instance')
        d = json.loads(urllib.request.urlopen(urllib.request.Request(
            base + '/meta-data/iam/security-credentials/' + role, headers=h), timeout=5).read())
        self.assertEqual((d['Code'], d['Type']), ('Success', 'AWS-HMAC'))
        self.assertRegex(d['Expiration'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
        org = self.client('organizations', key=(d['AccessKeyId'], d['SecretAccessKey']), token=d['Token'])
        self.assertEqual(len(org.list_roots()['Roots']), 1)
        st = self.stats()
        self.assertEqual(st['calls']['imds.GetCredentials'], 3)
        self.assertEqual(st['calls']['imds.GetToken'], 1)
        self.assertEqual(st['bad_signatures'], 0)

    def test_container_credentials_work(self):
        url = self.endpoint + SCENARIO['container_credentials']['path']
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(urllib.request.Request(url, headers={'Authorization': 'wrong'}), timeout=5)
        self.assertEqual(ctx.exception.code, 401)
        d = json.loads(urllib.request.urlopen(urllib.request.Request(
            url, headers={'Authorization': SCENARIO['container_credentials']['authorization_token']}), timeout=5).read())
        self.assertEqual(sorted(d), ['AccessKeyId', 'Expiration', 'RoleArn', 'SecretAccessKey', 'Token'])
        ct = self.client('cloudtrail', key=(d['AccessKeyId'], d['SecretAccessKey']), token=d['Token'])
        self.assertEqual(len(ct.lookup_events(MaxResults=3)['Events']), 3)
        self.assertEqual(self.stats()['bad_signatures'], 0)

    # control ---------------------------------------------------------------
    def test_reset_and_scenario_replace(self):
        self.client('organizations').list_roots()
        self.assertEqual(self.stats()['calls'], {'organizations.ListRoots': 1})
        self.control('/_fake/reset', {})
        self.assertEqual(self.stats()['calls'], {})
        sc = json.loads(json.dumps(SCENARIO))
        sc['accounts'] = sc['accounts'][:2]
        self.control('/_fake/scenario', sc)
        self.assertEqual(len(self.client('organizations').list_accounts()['Accounts']), 2)
        os.kill(self.proc.pid, signal.SIGTERM)
        self.assertEqual(self.proc.wait(5), 0)


if __name__ == '__main__':
    unittest.main()
