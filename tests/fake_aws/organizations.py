"""AWS Organizations for the fake AWS (JSON 1.1): the reads the exporter
makes. Only the management account (and delegated administrators) may call
them; other members only DescribeOrganization. Lists page with NextTokens
bound to the operation, caller and parameters (paging.py).

Every lookup goes through the state's Index (accounts, OUs and policies by
id and by parent or target) and rendered accounts, OUs and paths are
memoised there, so a page costs the size of the page, not of the
organization. Rendered answers are shared: read-only.
"""
from common import AwsError
from paging import paginate, with_token

TARGET_PREFIX = 'AWSOrganizationsV20161128.'
SCP = 'SERVICE_CONTROL_POLICY'
NOT_IN_USE = "Your account is not a member of an organization."
NO_POLICY = "We can't find a policy with the PolicyId that you specified."


def org_arns(sc):
    """(management account id, organization id) of the scenario."""
    org = sc['organization'] or {}
    return org.get('master_account_id', ''), org.get('id', '')


def entity_path(sc, ix, eid):
    """The AWS path of an OU or account, "o-x/r-y/ou-a/ou-b/<id>/", or None when
    its parents do not lead to a root (a scenario may leave parent_id out)."""
    def compute():
        chain, seen = [eid], {eid}
        kind, obj = ix.entity(eid)
        while kind in ('ORGANIZATIONAL_UNIT', 'ACCOUNT'):
            pid = obj.get('parent_id')
            if pid is None or pid in seen:
                return None
            chain.append(pid)
            seen.add(pid)
            kind, obj = ix.entity(pid)
        if kind != 'ROOT':
            return None
        return '/'.join([org_arns(sc)[1]] + list(reversed(chain))) + '/'
    return ix.memoised(('path', eid), compute)


def account_out(sc, ix, a):
    """The Account structure of scenario account a (memoised, read-only)."""
    def compute():
        master, oid = org_arns(sc)
        out = {'Id': a['id'],
               'Arn': a.get('arn') or 'arn:aws:organizations::%s:account/%s/%s' % (master, oid, a['id']),
               'Email': a.get('email', '%s@example.com' % a['id']),
               'Name': a.get('name', a['id'])}
        state = a.get('state', 'ACTIVE')
        if 'status' in a:
            if a['status'] is not None:
                out['Status'] = a['status']
        elif not sc['options'].get('omit_legacy_status'):
            out['Status'] = {'ACTIVE': 'ACTIVE', 'SUSPENDED': 'SUSPENDED', 'PENDING_CLOSURE': 'PENDING_CLOSURE',
                             'PENDING_ACTIVATION': 'ACTIVE', 'CLOSED': 'SUSPENDED'}.get(state, 'ACTIVE')
        out['State'] = state
        out['JoinedMethod'] = a.get('joined_method', 'CREATED')
        out['JoinedTimestamp'] = a.get('joined_timestamp', 1500000000)
        if 'paths' in a:  # as the scenario gives them, right or wrong
            out['Paths'] = a['paths']
        elif not sc['options'].get('omit_paths'):  # Paths: in the API since 2026-03-31
            path = entity_path(sc, ix, a['id'])
            if path is not None:
                out['Paths'] = [path]
        return out
    # keyed by the object: a scenario may hold two accounts with one id
    return ix.memoised(('account', id(a)), compute)


def ou_out(sc, ix, o):
    """The OrganizationalUnit structure of scenario OU o (memoised, read-only)."""
    def compute():
        master, oid = org_arns(sc)
        out = {'Id': o['id'], 'Arn': o.get('arn') or 'arn:aws:organizations::%s:ou/%s/%s' % (master, oid, o['id']),
               'Name': o.get('name', o['id'])}
        if not sc['options'].get('omit_paths'):
            path = entity_path(sc, ix, o['id'])
            if path is not None:
                out['Path'] = path
        return out
    return ix.memoised(('ou', id(o)), compute)


def root_out(sc, ix, r):
    """The Root structure of scenario root r."""
    master, oid = org_arns(sc)
    return {'Id': r['id'], 'Arn': r.get('arn') or 'arn:aws:organizations::%s:root/%s/%s' % (master, oid, r['id']),
            'Name': r.get('name', 'Root'),
            'PolicyTypes': [{'Type': p['type'], 'Status': p.get('status', 'ENABLED')} for p in r.get('policy_types', [])]}


def policy_summary(sc, p):
    """The PolicySummary structure of scenario policy p."""
    master, oid = org_arns(sc)
    ptype = p.get('type', SCP)
    if p.get('arn'):
        arn = p['arn']
    elif p.get('aws_managed'):
        arn = 'arn:aws:organizations::aws:policy/%s/%s' % (ptype.lower(), p['id'])
    else:
        arn = 'arn:aws:organizations::%s:policy/%s/%s/%s' % (master, oid, ptype.lower(), p['id'])
    return {'Id': p['id'], 'Arn': arn, 'Name': p.get('name', p['id']), 'Description': p.get('description', ''),
            'Type': ptype, 'AwsManaged': bool(p.get('aws_managed', False))}


RENDER = {'ROOT': root_out, 'ORGANIZATIONAL_UNIT': ou_out, 'ACCOUNT': account_out}


def _targets(sc, ix, pol):
    """The targets of policy pol that exist, as (kind, obj), in its order."""
    def compute():
        out = []
        for t in pol.get('targets', []):
            kind, obj = ix.entity(t)
            if kind is not None:
                out.append((kind, obj))
        return out
    return ix.memoised(('targets', id(pol)), compute)


def _check_caller(sc, ix, op, caller):
    org = sc['organization']
    if not org:
        raise AwsError('AWSOrganizationsNotInUseException', NOT_IN_USE)
    acct = caller['account_id']
    if acct != org['master_account_id']:
        if acct not in ix.accounts_by_id:
            raise AwsError('AWSOrganizationsNotInUseException', NOT_IN_USE)
        # A delegated administrator reads what the exporter reads; other
        # members only DescribeOrganization.
        if op not in ('DescribeOrganization',) and acct not in org.get('delegated_administrators', []):
            raise AwsError('AccessDeniedException', "You don't have permissions to access this resource.")


def _describe_organization(org):
    return {'Organization': {
        'Id': org['id'],
        'Arn': org.get('arn') or 'arn:aws:organizations::%s:organization/%s' % (org['master_account_id'], org['id']),
        'FeatureSet': org.get('feature_set', 'ALL'),
        'MasterAccountArn': org.get('master_account_arn') or 'arn:aws:organizations::%s:account/%s/%s' % (
            org['master_account_id'], org['id'], org['master_account_id']),
        'MasterAccountId': org['master_account_id'],
        'MasterAccountEmail': org.get('master_account_email', 'management@example.com'),
        'AvailablePolicyTypes': [{'Type': 'SERVICE_CONTROL_POLICY', 'Status': 'ENABLED'}]}}


def dispatch(state, op, params, caller):
    """One Organizations operation (call with state.lock held): the answer,
    or AwsError."""
    sc = state.scenario
    ix = state.index()
    _check_caller(sc, ix, op, caller)
    # A token is the caller's (its principal), not one access key's: it stays
    # good across a credentials refresh of the same role session, as in AWS.
    who = caller['arn']

    def page_of(member, items, render=None, page_sizes=None):
        page, tok = paginate(op, params, items, who, page_sizes, render)
        return with_token({member: page}, tok)

    if op == 'DescribeOrganization':
        return _describe_organization(sc['organization'])
    if op == 'ListAccounts':
        ps = sc['options'].get('list_accounts_page_size')
        if isinstance(ps, int):
            ps = [ps]
        return page_of('Accounts', sc['accounts'], lambda a: account_out(sc, ix, a), ps)
    if op == 'DescribeAccount':
        a = ix.accounts_by_id.get(params['AccountId'])
        if a is None:
            raise AwsError('AccountNotFoundException', "You specified an account that doesn't exist.")
        return {'Account': account_out(sc, ix, a)}
    if op == 'ListRoots':
        return page_of('Roots', sc['roots'], lambda r: root_out(sc, ix, r))
    if op == 'ListPolicies':
        pols = [p for p in sc['policies'] if p.get('type', SCP) == params['Filter']]
        return page_of('Policies', pols, lambda p: policy_summary(sc, p))
    if op == 'DescribePolicy':
        p = ix.policies_by_id.get(params['PolicyId'])
        if p is None:
            raise AwsError('PolicyNotFoundException', NO_POLICY)
        return {'Policy': {'PolicySummary': policy_summary(sc, p), 'Content': p.get('content', '')}}
    if op == 'ListTargetsForPolicy':
        pol = ix.policies_by_id.get(params['PolicyId'])
        if pol is None:
            raise AwsError('PolicyNotFoundException', NO_POLICY)

        def target(t):
            kind, obj = t
            o = RENDER[kind](sc, ix, obj)
            return {'TargetId': o['Id'], 'Arn': o['Arn'], 'Name': o['Name'], 'Type': kind}
        return page_of('Targets', _targets(sc, ix, pol), target)
    if op == 'ListPoliciesForTarget':
        kind, _ = ix.entity(params['TargetId'])
        if kind is None:
            raise AwsError('TargetNotFoundException', "We can't find a root, OU, account, or email that you specified.")
        pols = [p for p in ix.policies_by_target.get(params['TargetId'], []) if p.get('type', SCP) == params['Filter']]
        return page_of('Policies', pols, lambda p: policy_summary(sc, p))
    if op in ('ListOrganizationalUnitsForParent', 'ListAccountsForParent'):
        kind, _ = ix.entity(params['ParentId'])
        if kind not in ('ROOT', 'ORGANIZATIONAL_UNIT'):
            raise AwsError('ParentNotFoundException', "We can't find a root or OU with the ParentId that you specified.")
        if op == 'ListAccountsForParent':
            return page_of('Accounts', ix.accounts_by_parent.get(params['ParentId'], []),
                           lambda a: account_out(sc, ix, a))
        return page_of('OrganizationalUnits', ix.ous_by_parent.get(params['ParentId'], []),
                       lambda o: ou_out(sc, ix, o))
    if op == 'ListParents':
        kind, obj = ix.entity(params['ChildId'])
        if kind not in ('ORGANIZATIONAL_UNIT', 'ACCOUNT'):
            raise AwsError('ChildNotFoundException', "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
        pk, _ = ix.entity(obj.get('parent_id'))
        parents = [{'Id': obj['parent_id'], 'Type': pk}] if pk else []
        return page_of('Parents', parents)
    raise AwsError('UnknownOperationException', 'The fake does not implement %s' % op)
