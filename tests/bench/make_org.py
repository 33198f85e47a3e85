#!/usr/bin/env python3
"""Writes a fake-AWS scenario (tests/fake_aws/README.md) of a large organization.

    make_org.py N [--ous 500] [--policies 50] [--events 2000] [-o FILE]

N accounts with realistic names (team-system-environment, a few legacy and
acquired ones, some suspended or closing), OUs three levels deep under one
root, SCPs attached at every level (the root, OUs of each level, a few
accounts) with FullAWSAccess on the root, every OU and every account as AWS
requires, and CloudTrail events over the last 24 h on the management account
in us-east-1 (mostly read-only noise, some of the watched events).

Deterministic: the same arguments give the same bytes (seeded random; event
times are relative to when the fake loads the scenario).
"""
import argparse
import json
import random
import sys
import uuid

MANAGEMENT = '111111111111'
ORG = 'o-bench00001'
ROOT = 'r-b3nc'
ACCESS_KEY = 'AKIAFAKEMANAGEMENT01'
SECRET_KEY = 'fakeManagementSecretKey/0000000000000000'

TOP_OUS = ['Workloads', 'Security', 'Infrastructure', 'Sandbox', 'Deployments',
           'Policy Staging', 'Exceptions', 'Suspended']
UNITS = ['Retail', 'Payments', 'Logistics', 'Marketing', 'Data Platform', 'Identity',
         'Mobile', 'Search', 'Billing', 'Customer Care', 'Analytics', 'Fraud',
         'Media', 'Travel', 'Risk', 'Supply Chain', 'HR Systems', 'Finance']
TEAMS = ['checkout', 'catalog', 'orders', 'ledger', 'ingest', 'warehouse', 'ml-feature',
         'auth', 'sso', 'ios', 'android', 'api-gateway', 'notifications', 'pricing',
         'inventory', 'shipping', 'returns', 'recommendations', 'reporting', 'etl',
         'streaming', 'lakehouse', 'crm', 'ticketing', 'chatbot', 'kyc', 'aml',
         'scoring', 'cdn', 'transcoding', 'booking', 'loyalty', 'payroll', 'tax',
         'treasury', 'audit-log', 'siem', 'backup', 'network-hub', 'dns', 'ci',
         'artifacts', 'observability', 'secrets', 'edge', 'queue', 'search-index']
ENVS = ['prod', 'staging', 'dev', 'test', 'qa', 'perf', 'sandbox', 'dr']
REGIONS = ['eu-west-1', 'us-east-1', 'us-west-2', 'ap-southeast-2', 'eu-central-1']

NOISE = ['DescribeOrganization', 'ListAccounts', 'ListPolicies', 'DescribePolicy',
         'ListRoots', 'ListOrganizationalUnitsForParent', 'ListAccountsForParent',
         'ListTargetsForPolicy', 'DescribeAccount', 'ListParents', 'ListTagsForResource']
WATCHED = [('CreateAccount', 30), ('InviteAccountToOrganization', 12), ('AcceptHandshake', 12),
           ('AccountJoinedOrganization', 12), ('MoveAccount', 60), ('LeaveOrganization', 6),
           ('AccountDepartedOrganization', 3), ('RemoveAccountFromOrganization', 3),
           ('CloseAccount', 8), ('DetachPolicy', 10), ('UpdatePolicy', 14), ('DeletePolicy', 2),
           ('DisablePolicyType', 1)]

POLICY_CALLS = ('AttachPolicy', 'DetachPolicy', 'UpdatePolicy', 'DeletePolicy')

LEAVE_DENY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "DenyLeaveOrganization", "Effect": "Deny",
     "Action": "organizations:LeaveOrganization", "Resource": "*"}]}
LEAVE_DENY_COND = {"Version": "2012-10-17", "Statement": [
    {"Sid": "DenyLeaveExceptBreakGlass", "Effect": "Deny",
     "Action": ["organizations:LeaveOrganization", "account:CloseAccount"], "Resource": "*",
     "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/BreakGlass"}}}]}
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def guardrail(i, rng):
    """A realistic SCP that does not mention LeaveOrganization."""
    kind = i % 6
    if kind == 0:
        st = {"Sid": "RegionAllowList%d" % i, "Effect": "Deny", "NotAction": [
            "iam:*", "organizations:*", "route53:*", "cloudfront:*", "support:*", "sts:*"],
            "Resource": "*", "Condition": {"StringNotEquals": {
                "aws:RequestedRegion": rng.sample(REGIONS, 2)}}}
    elif kind == 1:
        st = {"Sid": "DenyRootUser%d" % i, "Effect": "Deny", "Action": "*", "Resource": "*",
              "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}}}
    elif kind == 2:
        st = {"Sid": "ProtectCloudTrail%d" % i, "Effect": "Deny",
              "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail",
                         "cloudtrail:UpdateTrail", "cloudtrail:PutEventSelectors"],
              "Resource": "*"}
    elif kind == 3:
        st = {"Sid": "DenyIamUsers%d" % i, "Effect": "Deny",
              "Action": ["iam:CreateUser", "iam:CreateAccessKey"], "Resource": "*"}
    elif kind == 4:
        st = {"Sid": "RequireImdsV2%d" % i, "Effect": "Deny", "Action": "ec2:RunInstances",
              "Resource": "arn:aws:ec2:*:*:instance/*",
              "Condition": {"StringNotEquals": {"ec2:MetadataHttpTokens": "required"}}}
    else:
        st = {"Sid": "ProtectGuardDuty%d" % i, "Effect": "Deny",
              "Action": ["guardduty:DeleteDetector", "guardduty:DisassociateFromMasterAccount",
                         "config:StopConfigurationRecorder"], "Resource": "*"}
    return {"Version": "2012-10-17", "Statement": [st]}


def ou_id(n):
    return 'ou-b3nc-%08x' % (0x10000000 + n)


def build(n_accounts, n_ous=500, n_policies=50, n_events=2000, seed=1):
    rng = random.Random(seed)
    # --- OUs: three levels (about 1.6% / 12% / the rest) ------------------
    n1 = max(1, min(len(TOP_OUS), n_ous))
    n2 = max(0, min(n_ous - n1, max(n1, n_ous * 12 // 100)))
    n3 = n_ous - n1 - n2
    ous, level1, level2, level3 = [], [], [], []
    for i in range(n1):
        o = {"id": ou_id(len(ous)), "name": TOP_OUS[i % len(TOP_OUS)], "parent_id": ROOT}
        ous.append(o)
        level1.append(o)
    for i in range(n2):
        parent = level1[i % n1]
        o = {"id": ou_id(len(ous)), "name": "%s %s" % (UNITS[i % len(UNITS)], i // len(UNITS) or ''),
             "parent_id": parent['id']}
        o['name'] = o['name'].strip()
        ous.append(o)
        level2.append(o)
    for i in range(n3):
        parent = level2[i % len(level2)] if level2 else level1[i % n1]
        o = {"id": ou_id(len(ous)), "name": "%s-%d" % (TEAMS[i % len(TEAMS)], i // len(TEAMS)),
             "parent_id": parent['id']}
        ous.append(o)
        level3.append(o)
    suspended_ou = level1[-1]['id']
    sandbox_ou = level1[min(3, n1 - 1)]['id']

    # --- accounts ---------------------------------------------------------
    accounts = [{"id": MANAGEMENT, "name": "management", "email": "aws-management@example.com",
                 "state": "ACTIVE", "joined_method": "CREATED", "joined_timestamp": 1483228800,
                 "parent_id": ROOT}]
    homes = level3 or level2 or level1
    used = {MANAGEMENT}
    base_ts = 1514764800  # 2018-01-01
    for i in range(1, n_accounts):
        while True:
            aid = '%012d' % rng.randrange(100000000000, 999999999999)
            if aid not in used:
                used.add(aid)
                break
        r = rng.random()
        team, env = rng.choice(TEAMS), rng.choice(ENVS)
        if r < 0.02:
            name = 'Legacy %s account %d' % (team.replace('-', ' ').title(), i)
        elif r < 0.03:
            name = 'Acquired Co. – %s (%s)' % (team, env)  # non-ASCII dash, spaces, parentheses
        else:
            name = '%s-%s-%s-%04d' % (rng.choice(UNITS).lower().replace(' ', ''), team, env, i)
        state, parent = 'ACTIVE', homes[i % len(homes)]['id']
        if r > 0.985:
            state, parent = 'SUSPENDED', suspended_ou
        elif r > 0.98:
            state = 'PENDING_CLOSURE'
        elif r > 0.95:
            parent = sandbox_ou
        elif r > 0.94 and level2:
            parent = level2[i % len(level2)]['id']
        accounts.append({"id": aid, "name": name, "email": "aws+%s-%s-%d@example.com" % (team, env, i),
                         "state": state, "joined_method": "CREATED" if r < 0.9 else "INVITED",
                         "joined_timestamp": base_ts + i * 3571 % (86400 * 2500),
                         "parent_id": parent})

    # --- SCPs: FullAWSAccess everywhere, the rest at every level ----------
    everything = [ROOT] + [o['id'] for o in ous] + [a['id'] for a in accounts]
    policies = [{"id": "p-FullAWSAccess", "name": "FullAWSAccess",
                 "description": "Allows access to every operation", "type": "SERVICE_CONTROL_POLICY",
                 "aws_managed": True, "content": json.dumps(FULL_ACCESS), "targets": everything}]
    members = [a['id'] for a in accounts[1:]]
    for i in range(1, n_policies):
        pid = 'p-%08x' % (0xb3c00000 + i)
        level = i % 4
        if i == 1:
            content, name = LEAVE_DENY, 'deny-leave-organization'
            targets = [o['id'] for o in level1 if o['id'] != sandbox_ou]
        elif i == 2:
            content, name = LEAVE_DENY_COND, 'deny-leave-except-break-glass'
            targets = [sandbox_ou]
        elif level == 0:
            content, name = guardrail(i, rng), 'root-guardrail-%d' % i
            targets = [ROOT]
        elif level == 1:
            content, name = guardrail(i, rng), 'top-ou-guardrail-%d' % i
            targets = rng.sample([o['id'] for o in level1], min(3, len(level1)))
        elif level == 2:
            content, name = guardrail(i, rng), 'unit-guardrail-%d' % i
            pool = level2 or level1
            targets = rng.sample([o['id'] for o in pool], min(5, len(pool)))
        else:
            content, name = guardrail(i, rng), 'team-guardrail-%d' % i
            pool = level3 or level2 or level1
            targets = rng.sample([o['id'] for o in pool], min(8, len(pool)))
            if members and i % 8 == 3:  # a few policies also on single accounts
                targets += rng.sample(members, min(5, len(members)))
        if i == 1:  # one account with its own deny too
            targets += members[:1]
        policies.append({"id": pid, "name": name, "description": "bench policy %d" % i,
                         "type": "SERVICE_CONTROL_POLICY", "aws_managed": False,
                         "content": json.dumps(content), "targets": targets})

    # --- CloudTrail: n_events over 24 h, newest first not required --------
    watched = []
    for name, count in WATCHED:
        watched += [name] * count
    n_watched = min(len(watched), n_events // 7)
    names = watched[:n_watched] + [NOISE[i % len(NOISE)] for i in range(n_events - n_watched)]
    rng.shuffle(names)
    guardrails = [p['id'] for p in policies[1:]]

    def params(name, target, readonly):
        """As AWS records them: the policy calls name a policy (a guardrail,
        never FullAWSAccess) and, for Attach/Detach, its target."""
        if readonly:
            return None
        if name in POLICY_CALLS:
            out = {"policyId": guardrails[int(target) % len(guardrails)]}
            if name in ('AttachPolicy', 'DetachPolicy'):
                out["targetId"] = target
            return out
        return {"accountId": target}

    events = []
    for i, name in enumerate(names):
        ago = 30 + (86400 - 120) * i / max(1, n_events)
        target = rng.choice(members) if members else MANAGEMENT
        denied = name == 'LeaveOrganization' and i % 2 == 0
        readonly = name in NOISE
        rec = {"eventVersion": "1.09",
               "userIdentity": {"type": "AssumedRole", "principalId": "AROABENCH0000000001:alice",
                                "arn": "arn:aws:sts::%s:assumed-role/OrgAdmin/alice" % (
                                    target if name == 'LeaveOrganization' else MANAGEMENT),
                                "accountId": target if name == 'LeaveOrganization' else MANAGEMENT},
               "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.%d" % (i % 250 + 1),
               "userAgent": "aws-cli/2.15.0 Python/3.11.6", "requestParameters":
                   params(name, target, readonly),
               "responseElements": None, "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
               "readOnly": readonly, "eventType": "AwsApiCall", "managementEvent": True,
               "recipientAccountId": MANAGEMENT, "eventCategory": "Management"}
        if denied:
            rec["errorCode"] = "AccessDenied"
            rec["errorMessage"] = ("You don't have permissions to access this resource. "
                                   "with an explicit deny in a service control policy")
        events.append({"EventId": str(uuid.UUID(int=rng.getrandbits(128))), "EventName": name,
                       "EventSource": "organizations.amazonaws.com", "EventTimeAgo": round(ago, 1),
                       "Username": "alice", "ReadOnly": "true" if readonly else "false",
                       "AccessKeyId": "ASIABENCH00000000001",
                       "Resources": [] if readonly else [{"ResourceType": "AWS::Organizations::Account",
                                                          "ResourceName": target}],
                       "CloudTrailEvent": rec})

    return {
        "credentials": [{"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY,
                         "account_id": MANAGEMENT, "user_name": "exporter"}],
        "organization": {"id": ORG, "feature_set": "ALL", "master_account_id": MANAGEMENT,
                         "master_account_email": "aws-management@example.com"},
        "roots": [{"id": ROOT, "name": "Root",
                   "policy_types": [{"type": "SERVICE_CONTROL_POLICY", "status": "ENABLED"}]}],
        "ous": ous,
        "accounts": accounts,
        "policies": policies,
        "cloudtrail": {"events": {MANAGEMENT: {"us-east-1": events}}},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('accounts', type=int)
    ap.add_argument('--ous', type=int, default=500)
    ap.add_argument('--policies', type=int, default=50)
    ap.add_argument('--events', type=int, default=2000)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('-o', '--output')
    a = ap.parse_args(argv)
    if a.accounts < 1 or a.ous < 1 or a.policies < 3 or a.events < 0:
        ap.error('need at least 1 account, 1 OU, 3 policies')
    sc = build(a.accounts, a.ous, a.policies, a.events, a.seed)
    out = open(a.output, 'w', encoding='utf-8') if a.output else sys.stdout
    json.dump(sc, out, ensure_ascii=False, separators=(',', ':'))
    out.write('\n')
    if a.output:
        out.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
