#!/usr/bin/python3
"""A fake AWS for the exporter's tests: Organizations, CloudTrail LookupEvents,
STS, the container-credentials endpoint and IMDSv2, served from a scenario file.

Every signed request has its SigV4 signature recomputed with botocore's SigV4Auth
and every JSON body is validated against botocore's operation model. Faults are
injected on request and statistics of what the client did are kept for tests.

Run: /usr/bin/python3 tests/fake_aws/server.py --scenario FILE.json [--port 0]
See README.md next to this file for the scenario format and the control API.
"""
import argparse
import base64
import calendar
import collections
import copy
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as xml_escape

import sqs as sqs_service

import botocore.session
import botocore.validate
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

ORG_TARGET_PREFIX = 'AWSOrganizationsV20161128.'
SQS = sqs_service.Sqs()   # its own lock: a long poll never holds STATE.lock
CT_TARGET_PREFIX = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.'
STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/'
SIGV4_TIMESTAMP = '%Y%m%dT%H%M%SZ'
MAX_BODY = 1 << 20
SKEW_SECONDS = 15 * 60
TOKEN_KEY = secrets.token_bytes(16)   # signs pagination tokens

_botocore_session = botocore.session.get_session()
_models = {}
_models_lock = threading.Lock()


def service_model(name):
    with _models_lock:
        if name not in _models:
            _models[name] = _botocore_session.get_service_model(name)
        return _models[name]


def iso8601(t):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))


class AwsError(Exception):
    """An error answered to the client in the service's own format."""

    def __init__(self, code, message, status=400, extra=None, invalid=False, bad_signature=False):
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra or {}
        self.invalid = invalid
        self.bad_signature = bad_signature


class Fault(Exception):
    """A fault rule fired; the handler acts on .rule."""

    def __init__(self, rule):
        super().__init__(rule.get('kind'))
        self.rule = rule


# --------------------------------------------------------------------------
# SigV4 verification


class _VerifyingSigV4(SigV4Auth):
    """SigV4Auth that canonicalises exactly the headers the client signed (as
    received), instead of every header of the request minus a blacklist."""

    def __init__(self, credentials, service, region, signed_headers):
        super().__init__(credentials, service, region)
        self._signed = signed_headers

    def headers_to_sign(self, request):
        m = HTTPHeaders()
        for name in self._signed:
            for v in request.headers.get_all(name) or []:
                m[name] = v
        return m


def compute_signature(method, host, path, query, headers, signed_headers, body,
                      akid, secret, token, service, region, amz_date):
    url = 'http://%s%s' % (host, path)
    if query:
        url += '?' + query
    req = AWSRequest(method=method, url=url, data=body)
    req.headers = HTTPHeaders()
    for name in signed_headers:
        for v in headers.get_all(name) or []:
            req.headers[name] = v
    req.context['timestamp'] = amz_date
    auth = _VerifyingSigV4(Credentials(akid, secret, token), service, region, signed_headers)
    canonical = auth.canonical_request(req)
    sts = auth.string_to_sign(req, canonical)
    return auth.signature(sts, req)


AUTH_RE = re.compile(r'^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-fA-F]+)\s*$')


# --------------------------------------------------------------------------
# Validation against botocore's models


def _to_datetime_members(params, shape):
    """JSON 1.1 sends timestamps as epoch numbers; botocore's validator wants
    datetimes or strings. Converts in place (a copy is validated)."""
    t = shape.type_name
    if t == 'structure' and isinstance(params, dict):
        for k, v in list(params.items()):
            if k in shape.members:
                ms = shape.members[k]
                if ms.type_name == 'timestamp' and isinstance(v, (int, float)) and not isinstance(v, bool):
                    params[k] = datetime.datetime.fromtimestamp(v, datetime.timezone.utc)
                else:
                    _to_datetime_members(v, ms)
    elif t == 'list' and isinstance(params, list):
        for v in params:
            _to_datetime_members(v, shape.member)
    elif t == 'map' and isinstance(params, dict):
        for v in params.values():
            _to_datetime_members(v, shape.value)


def _extra_checks(params, shape, name, errors):
    """What botocore's validator leaves out: max of numbers, max length of
    strings and lists, enums and patterns."""
    t = shape.type_name
    md = shape.metadata
    if t in ('integer', 'long', 'float', 'double') and isinstance(params, (int, float)) and not isinstance(params, bool):
        if 'min' in md and params < md['min']:
            errors.append('Invalid value for parameter %s, value: %s, valid min value: %s' % (name, params, md['min']))
        if 'max' in md and params > md['max']:
            errors.append('Invalid value for parameter %s, value: %s, valid max value: %s' % (name, params, md['max']))
    elif t == 'string' and isinstance(params, str):
        if 'max' in md and len(params) > md['max']:
            errors.append('Invalid length for parameter %s, value: %d, valid max length: %s' % (name, len(params), md['max']))
        if md.get('enum') and params not in md['enum']:
            errors.append("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]"
                          % (params, name, ', '.join(md['enum'])))
        pat = md.get('pattern')
        if pat:
            try:
                ok = re.fullmatch(pat, params) is not None
            except re.error:
                ok = True
            if not ok:
                errors.append("Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s"
                              % (name, pat))
    elif t == 'structure' and isinstance(params, dict):
        for k, v in params.items():
            if k in shape.members:
                _extra_checks(v, shape.members[k], '%s.%s' % (name, k) if name else k, errors)
    elif t == 'list' and isinstance(params, list):
        if 'max' in md and len(params) > md['max']:
            errors.append('Invalid length for parameter %s, value: %d, valid max length: %s' % (name, len(params), md['max']))
        for i, v in enumerate(params):
            _extra_checks(v, shape.member, '%s[%d]' % (name, i), errors)


def validate_params(service, op_name, params):
    """Returns the operation model; raises AwsError on invalid input."""
    model = service_model(service)
    try:
        op = model.operation_model(op_name)
    except Exception:
        raise AwsError('UnknownOperationException', 'Unknown operation %s' % op_name)
    if not isinstance(params, dict):
        raise AwsError('SerializationException', 'Start of structure or map found where not expected.', invalid=True)
    if op.input_shape is None:
        return op
    p = copy.deepcopy(params)
    _to_datetime_members(p, op.input_shape)
    report = botocore.validate.ParamValidator().validate(p, op.input_shape)
    msgs = []
    if report.has_errors():
        msgs.extend(report.generate_report().splitlines())
    _extra_checks(params, op.input_shape, '', msgs)
    msgs = list(dict.fromkeys(m.strip() for m in msgs if m.strip()))
    if msgs:
        raise AwsError('ValidationException', '; '.join(msgs), invalid=True)
    return op


# --------------------------------------------------------------------------
# State


class State:
    def __init__(self, scenario):
        self.lock = threading.RLock()
        self.creds = {}          # akid -> dict(secret, token, account_id, arn, expires, source)
        self.issued = []         # what STS / container / IMDS handed out (no secrets)
        self.imds_tokens = {}    # token -> expiry
        self.faults = []
        self.load_scenario(scenario)
        self.reset_stats()

    # scenario ---------------------------------------------------------
    def load_scenario(self, sc):
        with self.lock:
            self.loaded_at = time.time()
            sc = copy.deepcopy(sc)
            sc.setdefault('credentials', [])
            sc.setdefault('organization', None)
            sc.setdefault('roots', [])
            sc.setdefault('ous', [])
            sc.setdefault('accounts', [])
            sc.setdefault('policies', [])
            sc.setdefault('cloudtrail', {}).setdefault('events', {})
            sc.setdefault('roles', [])
            sc.setdefault('web_identity_tokens', [])
            sc.setdefault('options', {})
            for g in sc['cloudtrail'].get('generate', []):
                evs = sc['cloudtrail']['events'].setdefault(g['account'], {}).setdefault(g.get('region', 'us-east-1'), [])
                for i in range(int(g['count'])):
                    evs.append(self._generated_event(g, i))
            for acc_regions in sc['cloudtrail']['events'].values():
                for evs in acc_regions.values():
                    for e in evs:
                        self._normalise_event(e)
            self.scenario = sc
            SQS.load(sc.get('sqs'))
            # static keys replace the old static keys; issued keys survive
            self.creds = {k: v for k, v in self.creds.items() if v['source'] != 'static'}
            for c in sc['credentials']:
                self.creds[c['access_key_id']] = {
                    'secret': c['secret_access_key'], 'token': c.get('session_token'),
                    'account_id': c['account_id'],
                    'arn': c.get('arn', 'arn:aws:iam::%s:user/%s' % (c['account_id'], c.get('user_name', 'fake-user'))),
                    'user_id': c.get('user_id', 'AIDA' + hashlib.sha1(c['access_key_id'].encode()).hexdigest()[:17].upper()),
                    'expires': c.get('expires'), 'source': 'static'}

    def _generated_event(self, g, i):
        name = g.get('EventName', 'DescribeOrganization')
        src = g.get('EventSource', 'organizations.amazonaws.com')
        account = g['account']
        user = g.get('Username', 'generated-user')
        return {
            'EventId': '%s-%04d-4000-8000-%012d' % (hashlib.sha1(json.dumps(g, sort_keys=True).encode()).hexdigest()[:8], i % 10000, i),
            'EventName': name, 'EventSource': src, 'Username': user,
            'EventTimeAgo': float(g.get('start_ago_seconds', 60)) + i * float(g.get('every_seconds', 60)),
            'ReadOnly': g.get('ReadOnly', 'true'), 'AccessKeyId': g.get('AccessKeyId', 'ASIAGENERATED0000001'),
            'Resources': [],
            'CloudTrailEvent': {
                'eventVersion': '1.09',
                'userIdentity': {'type': 'IAMUser', 'principalId': 'AIDAGENERATED000001',
                                 'arn': 'arn:aws:iam::%s:user/%s' % (account, user), 'accountId': account,
                                 'accessKeyId': g.get('AccessKeyId', 'ASIAGENERATED0000001'), 'userName': user},
                'eventSource': src, 'eventName': name, 'awsRegion': g.get('region', 'us-east-1'),
                'sourceIPAddress': '192.0.2.10', 'userAgent': 'aws-cli/2.15.0',
                'requestParameters': None, 'responseElements': None,
                'requestID': str(uuid.UUID(int=i + 1)), 'readOnly': g.get('ReadOnly', 'true') == 'true',
                'eventType': 'AwsApiCall', 'managementEvent': True, 'recipientAccountId': account,
                'eventCategory': 'Management'}}

    def _normalise_event(self, e):
        if 'EventTime' not in e and 'EventTimeAgo' in e:
            e['EventTime'] = self.loaded_at - float(e.pop('EventTimeAgo'))
        elif 'EventTimeAgo' in e:
            e.pop('EventTimeAgo')
        e['EventTime'] = int(e.get('EventTime', self.loaded_at))   # CloudTrail has second precision
        e.setdefault('EventId', str(uuid.uuid4()))
        if isinstance(e.get('ReadOnly'), bool):
            e['ReadOnly'] = 'true' if e['ReadOnly'] else 'false'
        if isinstance(e.get('CloudTrailEvent'), dict):
            # a record given as an object is made consistent with the summary
            rec = dict(e['CloudTrailEvent'])
            rec['eventTime'] = iso8601(e['EventTime'])
            rec['eventID'] = e['EventId']
            if e.get('EventName'):
                rec['eventName'] = e['EventName']
            if e.get('EventSource'):
                rec['eventSource'] = e['EventSource']
            e['CloudTrailEvent'] = json.dumps(rec)

    # stats ------------------------------------------------------------
    def reset_stats(self):
        with self.lock:
            self.calls = collections.Counter()
            self.bad_signatures = 0
            self.wrong_types = 0  # responses a wrong_type rule changed
            self.invalid_requests = 0
            self.errors_returned = collections.Counter()
            self.windows = {}
            self.max_rate = {}
            self.requests = collections.deque(maxlen=1000)

    def observe(self, service, op, account, region):
        """Counts a request as it arrives (before any check)."""
        now = time.monotonic()
        with self.lock:
            self.calls['%s.%s' % (service, op)] += 1
            key = '%s.%s/%s/%s' % (service, op, account or 'unknown', region or 'unknown')
            w = self.windows.setdefault(key, collections.deque())
            w.append(now)
            while w and w[0] <= now - 1.0:
                w.popleft()
            if len(w) > self.max_rate.get(key, 0):
                self.max_rate[key] = len(w)

    def record(self, service, op, account, region, status, code):
        with self.lock:
            if code != 'OK':
                self.errors_returned[code] += 1
            self.requests.append({'time': time.time(), 'service': service, 'operation': op,
                                  'account': account, 'region': region, 'status': status, 'code': code})

    def stats(self):
        with self.lock:
            return {'calls': dict(self.calls), 'bad_signatures': self.bad_signatures,
                    'wrong_types': self.wrong_types,
                    'invalid_requests': self.invalid_requests,
                    'errors_returned': dict(self.errors_returned), 'max_rate': dict(self.max_rate),
                    'credentials_issued': list(self.issued), 'requests': list(self.requests)}

    # faults -----------------------------------------------------------
    def set_faults(self, rules):
        if not isinstance(rules, list):
            raise ValueError('faults must be a JSON list')
        out = []
        for r in rules:
            if not isinstance(r, dict) or 'kind' not in r:
                raise ValueError('each fault rule needs a kind')
            if r['kind'] not in ('throttle', '5xx', 'slow', 'reset', 'truncate', 'malformed', 'expired',
                                 'skew', 'access_denied', 'repeat_token', 'wrong_type'):
                raise ValueError('unknown fault kind %r' % r['kind'])
            if r['kind'] == 'wrong_type' and not isinstance(r.get('field'), str):
                raise ValueError('a wrong_type rule needs a field name')
            r = dict(r)
            r.setdefault('operation', '*')
            r['_seen'] = 0
            out.append(r)
        with self.lock:
            self.faults = out

    def fault_for(self, name):
        """The rule that fires for this request (each matching rule counts it)."""
        fired = None
        with self.lock:
            for r in self.faults:
                op = r['operation']
                if op != '*' and op != name and not (op.endswith('.*') and name.startswith(op[:-1])):
                    continue
                r['_seen'] += 1
                hit = False
                if 'every' in r:
                    hit = r['_seen'] % max(1, int(r['every'])) == 0
                elif 'count' in r:
                    if r['count'] > 0:
                        r['count'] -= 1
                        hit = True
                else:
                    hit = True
                if hit and fired is None:
                    fired = r
        return fired

    # credentials ------------------------------------------------------
    def issue(self, account_id, arn, user_id, duration, source):
        akid = 'ASIA' + ''.join(secrets.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567') for _ in range(16))
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        token = 'FQoGZXIvYXdzE' + base64.b64encode(secrets.token_bytes(96)).decode()
        exp = int(time.time() + duration)
        with self.lock:
            self.creds[akid] = {'secret': secret, 'token': token, 'account_id': account_id, 'arn': arn,
                                'user_id': user_id, 'expires': exp, 'source': source}
            self.issued.append({'access_key_id': akid, 'source': source, 'account_id': account_id,
                                'arn': arn, 'issued_at': time.time(), 'expiration': exp})
        return akid, secret, token, exp

    def find_role(self, arn):
        for r in self.scenario['roles']:
            if r['arn'] == arn:
                return r
        return None


STATE = None


# --------------------------------------------------------------------------
# Pagination tokens (opaque, bound to the operation, caller and parameters)


def make_token(op, binding, pos):
    payload = json.dumps({'o': op, 'b': binding, 'p': pos}, sort_keys=True, separators=(',', ':')).encode()
    mac = hmac.new(TOKEN_KEY, payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip('=')


def read_token(tok, op, binding):
    """Returns pos, or raises ValueError when the token is not ours or was made
    for other parameters."""
    try:
        raw = base64.urlsafe_b64decode(tok + '=' * (-len(tok) % 4))
        mac, payload = raw[:12], raw[12:]
        if not hmac.compare_digest(mac, hmac.new(TOKEN_KEY, payload, hashlib.sha256).digest()[:12]):
            raise ValueError('bad mac')
        d = json.loads(payload)
    except Exception:
        raise ValueError('not a token')
    if d.get('o') != op or d.get('b') != binding:
        raise ValueError('other parameters')
    return d['p']


def binding_of(params, ignore=('NextToken', 'MaxResults'), caller=None):
    b = {k: v for k, v in params.items() if k not in ignore}
    s = json.dumps([caller, b], sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(s.encode()).hexdigest()[:24]


# --------------------------------------------------------------------------
# Organizations


def org_arns(sc):
    org = sc['organization'] or {}
    return org.get('master_account_id', ''), org.get('id', '')


def entity_path(sc, eid):
    """The AWS path of an OU or account, "o-x/r-y/ou-a/ou-b/<id>/", or None when
    its parents do not lead to a root (a scenario may leave parent_id out)."""
    chain, seen = [eid], {eid}
    kind, obj = find_entity(sc, eid)
    while kind in ('ORGANIZATIONAL_UNIT', 'ACCOUNT'):
        pid = obj.get('parent_id')
        if pid is None or pid in seen:
            return None
        chain.append(pid)
        seen.add(pid)
        kind, obj = find_entity(sc, pid)
    if kind != 'ROOT':
        return None
    return '/'.join([org_arns(sc)[1]] + list(reversed(chain))) + '/'


def account_out(sc, a):
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
        path = entity_path(sc, a['id'])
        if path is not None:
            out['Paths'] = [path]
    return out


def ou_out(sc, o):
    master, oid = org_arns(sc)
    out = {'Id': o['id'], 'Arn': o.get('arn') or 'arn:aws:organizations::%s:ou/%s/%s' % (master, oid, o['id']),
           'Name': o.get('name', o['id'])}
    if not sc['options'].get('omit_paths'):
        path = entity_path(sc, o['id'])
        if path is not None:
            out['Path'] = path
    return out


def root_out(sc, r):
    master, oid = org_arns(sc)
    return {'Id': r['id'], 'Arn': r.get('arn') or 'arn:aws:organizations::%s:root/%s/%s' % (master, oid, r['id']),
            'Name': r.get('name', 'Root'),
            'PolicyTypes': [{'Type': p['type'], 'Status': p.get('status', 'ENABLED')} for p in r.get('policy_types', [])]}


def policy_summary(sc, p):
    master, oid = org_arns(sc)
    ptype = p.get('type', 'SERVICE_CONTROL_POLICY')
    if p.get('arn'):
        arn = p['arn']
    elif p.get('aws_managed'):
        arn = 'arn:aws:organizations::aws:policy/%s/%s' % (ptype.lower(), p['id'])
    else:
        arn = 'arn:aws:organizations::%s:policy/%s/%s/%s' % (master, oid, ptype.lower(), p['id'])
    return {'Id': p['id'], 'Arn': arn, 'Name': p.get('name', p['id']), 'Description': p.get('description', ''),
            'Type': ptype, 'AwsManaged': bool(p.get('aws_managed', False))}


def find_entity(sc, eid):
    """('ROOT'|'ORGANIZATIONAL_UNIT'|'ACCOUNT', obj) or (None, None)."""
    for r in sc['roots']:
        if r['id'] == eid:
            return 'ROOT', r
    for o in sc['ous']:
        if o['id'] == eid:
            return 'ORGANIZATIONAL_UNIT', o
    for a in sc['accounts']:
        if a['id'] == eid:
            return 'ACCOUNT', a
    return None, None


def paginate(op, params, items, caller, page_sizes=None):
    """Offset pagination; page_sizes (list, cycled, may hold 0) forces short or
    empty pages the way the real API sometimes returns them."""
    limit = params.get('MaxResults', 20)
    binding = binding_of(params, caller=caller)
    start, page_no = 0, 0
    if 'NextToken' in params:
        try:
            start, page_no = read_token(params['NextToken'], op, binding)
        except ValueError:
            raise AwsError('InvalidInputException', 'You provided an invalid value for a parameter: NextToken.',
                           extra={'Reason': 'INVALID_NEXT_TOKEN'}, invalid=True)
    n = limit
    if page_sizes:
        n = min(limit, int(page_sizes[page_no % len(page_sizes)]))
    page = items[start:start + n]
    end = start + len(page)
    token = make_token(op, binding, [end, page_no + 1]) if end < len(items) else None
    return page, token


def org_dispatch(op, params, caller):
    sc = STATE.scenario
    org = sc['organization']
    if not org:
        raise AwsError('AWSOrganizationsNotInUseException',
                       "Your account is not a member of an organization.")
    acct = caller['account_id']
    members = {a['id'] for a in sc['accounts']}
    if acct != org['master_account_id']:
        if acct not in members:
            raise AwsError('AWSOrganizationsNotInUseException', "Your account is not a member of an organization.")
        # A delegated administrator reads what the exporter reads; other
        # members only DescribeOrganization.
        if op not in ('DescribeOrganization',) and acct not in org.get('delegated_administrators', []):
            raise AwsError('AccessDeniedException', "You don't have permissions to access this resource.")
    who = caller['akid']

    if op == 'DescribeOrganization':
        return {'Organization': {
            'Id': org['id'],
            'Arn': org.get('arn') or 'arn:aws:organizations::%s:organization/%s' % (org['master_account_id'], org['id']),
            'FeatureSet': org.get('feature_set', 'ALL'),
            'MasterAccountArn': org.get('master_account_arn') or 'arn:aws:organizations::%s:account/%s/%s' % (
                org['master_account_id'], org['id'], org['master_account_id']),
            'MasterAccountId': org['master_account_id'],
            'MasterAccountEmail': org.get('master_account_email', 'management@example.com'),
            'AvailablePolicyTypes': [{'Type': 'SERVICE_CONTROL_POLICY', 'Status': 'ENABLED'}]}}
    if op == 'ListAccounts':
        ps = sc['options'].get('list_accounts_page_size')
        if isinstance(ps, int):
            ps = [ps]
        page, tok = paginate(op, params, [account_out(sc, a) for a in sc['accounts']], who, ps)
        return _with_token({'Accounts': page}, tok)
    if op == 'DescribeAccount':
        for a in sc['accounts']:
            if a['id'] == params['AccountId']:
                return {'Account': account_out(sc, a)}
        raise AwsError('AccountNotFoundException', "You specified an account that doesn't exist.")
    if op == 'ListRoots':
        page, tok = paginate(op, params, [root_out(sc, r) for r in sc['roots']], who)
        return _with_token({'Roots': page}, tok)
    if op == 'ListPolicies':
        pols = [policy_summary(sc, p) for p in sc['policies'] if p.get('type', 'SERVICE_CONTROL_POLICY') == params['Filter']]
        page, tok = paginate(op, params, pols, who)
        return _with_token({'Policies': page}, tok)
    if op == 'DescribePolicy':
        for p in sc['policies']:
            if p['id'] == params['PolicyId']:
                return {'Policy': {'PolicySummary': policy_summary(sc, p), 'Content': p.get('content', '')}}
        raise AwsError('PolicyNotFoundException', "We can't find a policy with the PolicyId that you specified.")
    if op == 'ListTargetsForPolicy':
        pol = next((p for p in sc['policies'] if p['id'] == params['PolicyId']), None)
        if pol is None:
            raise AwsError('PolicyNotFoundException', "We can't find a policy with the PolicyId that you specified.")
        out = []
        for t in pol.get('targets', []):
            kind, obj = find_entity(sc, t)
            if kind is None:
                continue
            o = {'ROOT': root_out, 'ORGANIZATIONAL_UNIT': ou_out, 'ACCOUNT': account_out}[kind](sc, obj)
            out.append({'TargetId': o['Id'], 'Arn': o['Arn'], 'Name': o['Name'], 'Type': kind})
        page, tok = paginate(op, params, out, who)
        return _with_token({'Targets': page}, tok)
    if op == 'ListPoliciesForTarget':
        kind, _ = find_entity(sc, params['TargetId'])
        if kind is None:
            raise AwsError('TargetNotFoundException', "We can't find a root, OU, account, or email that you specified.")
        pols = [policy_summary(sc, p) for p in sc['policies']
                if params['TargetId'] in p.get('targets', []) and p.get('type', 'SERVICE_CONTROL_POLICY') == params['Filter']]
        page, tok = paginate(op, params, pols, who)
        return _with_token({'Policies': page}, tok)
    if op in ('ListOrganizationalUnitsForParent', 'ListAccountsForParent'):
        kind, _ = find_entity(sc, params['ParentId'])
        if kind not in ('ROOT', 'ORGANIZATIONAL_UNIT'):
            raise AwsError('ParentNotFoundException', "We can't find a root or OU with the ParentId that you specified.")
        if op == 'ListAccountsForParent':
            items = [account_out(sc, a) for a in sc['accounts'] if a.get('parent_id') == params['ParentId']]
            page, tok = paginate(op, params, items, who)
            return _with_token({'Accounts': page}, tok)
        items = [ou_out(sc, o) for o in sc['ous'] if o.get('parent_id') == params['ParentId']]
        page, tok = paginate(op, params, items, who)
        return _with_token({'OrganizationalUnits': page}, tok)
    if op == 'ListParents':
        kind, obj = find_entity(sc, params['ChildId'])
        if kind not in ('ORGANIZATIONAL_UNIT', 'ACCOUNT'):
            raise AwsError('ChildNotFoundException', "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
        pk, _ = find_entity(sc, obj.get('parent_id'))
        parents = [{'Id': obj['parent_id'], 'Type': pk}] if pk else []
        page, tok = paginate(op, params, parents, who)
        return _with_token({'Parents': page}, tok)
    raise AwsError('UnknownOperationException', 'The fake does not implement %s' % op)


def wrong_type(v):
    """A value of another JSON type than v's."""
    if isinstance(v, bool):
        return 'true'
    if isinstance(v, str):
        return 7
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, list):
        return {'0': v[0] if v else None}
    if isinstance(v, dict):
        return [v]
    return {}


def retype(doc, field):
    """Gives every member called field, at any depth, a value of the wrong JSON
    type, inside a CloudTrailEvent's JSON string too. True when one was found."""
    found = False
    if isinstance(doc, dict):
        for k in list(doc):
            if k == field:
                doc[k] = wrong_type(doc[k])
                found = True
            elif k == 'CloudTrailEvent' and isinstance(doc[k], str):
                try:
                    inner = json.loads(doc[k])
                except ValueError:
                    continue
                if retype(inner, field):
                    doc[k] = json.dumps(inner)
                    found = True
            else:
                found = retype(doc[k], field) or found
    elif isinstance(doc, list):
        for x in doc:
            found = retype(x, field) or found
    return found


def _with_token(d, tok):
    if tok:
        d['NextToken'] = tok
    return d


# --------------------------------------------------------------------------
# CloudTrail


LOOKUP_KEYS = {'EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName',
               'EventSource', 'AccessKeyId'}


def _event_matches(e, key, value):
    if key in ('ResourceType', 'ResourceName'):
        return any(r.get(key) == value for r in e.get('Resources') or [])
    return str(e.get(key)) == value


def lookup_events(params, caller, region):
    attrs = params.get('LookupAttributes', [])
    if len(attrs) > 1:
        raise AwsError('InvalidLookupAttributesException',
                       'You cannot specify more than one lookup attribute.', invalid=True)
    for a in attrs:
        if a['AttributeKey'] not in LOOKUP_KEYS:
            raise AwsError('InvalidLookupAttributesException',
                           'The attribute key %s is not valid.' % a['AttributeKey'], invalid=True)
    now = time.time()
    start = params.get('StartTime', now - 90 * 86400)
    end = params.get('EndTime', now)
    if isinstance(start, str) or isinstance(end, str):
        raise AwsError('SerializationException', 'Timestamps must be epoch seconds numbers.', invalid=True)
    if start > end:
        raise AwsError('InvalidTimeRangeException',
                       'Occurs if the timestamp values are not valid. Either the start time occurs after the end time, '
                       'or the time range is outside the range of possible values.', invalid=True)
    if 'EventCategory' in params:
        raise AwsError('InvalidEventCategoryException', 'The fake has no Insights events.', invalid=True)
    limit = params.get('MaxResults', 50)
    binding = binding_of(params, ignore=('NextToken', 'MaxResults'), caller=[caller['account_id'], region])
    evs = STATE.scenario['cloudtrail']['events'].get(caller['account_id'], {}).get(region, [])
    sel = [e for e in evs if start <= e['EventTime'] <= end
           and all(_event_matches(e, a['AttributeKey'], a['AttributeValue']) for a in attrs)]
    sel.sort(key=lambda e: (-e['EventTime'], e['EventId']))
    if 'NextToken' in params:
        try:
            cur = read_token(params['NextToken'], 'LookupEvents', binding)
        except ValueError:
            raise AwsError('InvalidNextTokenException', 'Invalid NextToken', invalid=True)
        ct, cid = cur
        sel = [e for e in sel if (-e['EventTime'], e['EventId']) > (-ct, cid)]
    page = sel[:limit]
    out = []
    for e in page:
        o = {'EventId': e['EventId'], 'EventName': e.get('EventName', ''), 'ReadOnly': e.get('ReadOnly', 'false'),
             'EventTime': e['EventTime'], 'EventSource': e.get('EventSource', ''),
             'Resources': e.get('Resources') or [], 'CloudTrailEvent': e.get('CloudTrailEvent', '{}')}
        if e.get('AccessKeyId'):
            o['AccessKeyId'] = e['AccessKeyId']
        if e.get('Username'):
            o['Username'] = e['Username']
        out.append(o)
    res = {'Events': out}
    if len(sel) > limit:
        last = page[-1]
        res['NextToken'] = make_token('LookupEvents', binding, [last['EventTime'], last['EventId']])
    return res


# --------------------------------------------------------------------------
# STS

ROLE_SESSION_RE = re.compile(r'^[\w+=,.@-]{2,64}$')


def sts_params(form, op):
    p = {k: v[0] for k, v in form.items()}
    errs = []
    for req in ('RoleArn', 'RoleSessionName') + (('WebIdentityToken',) if op == 'AssumeRoleWithWebIdentity' else ()):
        if op != 'GetCallerIdentity' and not p.get(req):
            errs.append("Value null at '%s%s' failed to satisfy constraint: Member must not be null" % (req[0].lower(), req[1:]))
    if op != 'GetCallerIdentity':
        if p.get('RoleSessionName') and not ROLE_SESSION_RE.match(p['RoleSessionName']):
            errs.append("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular "
                        "expression pattern: [\\w+=,.@-]*" % p['RoleSessionName'])
        if 'DurationSeconds' in p:
            try:
                d = int(p['DurationSeconds'])
            except ValueError:
                d = -1
            if not 900 <= d <= 43200:
                errs.append("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value "
                            "between 900 and 43200" % p['DurationSeconds'])
    if errs:
        raise AwsError('ValidationError', '%d validation error%s detected: %s'
                       % (len(errs), '' if len(errs) == 1 else 's', '; '.join(errs)), invalid=True)
    return p


def _role_session(role, session, duration_req, source):
    account = role['account_id']
    name = role['arn'].split('/')[-1]
    role_id = role.get('role_id') or 'AROA' + hashlib.sha1(role['arn'].encode()).hexdigest()[:17].upper()
    arn = 'arn:aws:sts::%s:assumed-role/%s/%s' % (account, name, session)
    dur = role.get('session_duration_seconds') or duration_req or 3600
    akid, secret, token, exp = STATE.issue(account, arn, '%s:%s' % (role_id, session), dur, source)
    return ('<AssumedRoleUser><AssumedRoleId>%s:%s</AssumedRoleId><Arn>%s</Arn></AssumedRoleUser>'
            '<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>'
            '<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>'
            % (role_id, xml_escape(session), xml_escape(arn), akid, xml_escape(secret), xml_escape(token), iso8601(exp)))


def sts_dispatch(op, form, caller):
    p = sts_params(form, op)
    sc = STATE.scenario
    if op == 'GetCallerIdentity':
        body = ('<GetCallerIdentityResult><Arn>%s</Arn><UserId>%s</UserId><Account>%s</Account></GetCallerIdentityResult>'
                % (xml_escape(caller['arn']), xml_escape(caller['user_id']), caller['account_id']))
    elif op == 'AssumeRole':
        role = STATE.find_role(p['RoleArn'])
        if role is None or (role.get('trusted_accounts') and caller['account_id'] not in role['trusted_accounts']):
            raise AwsError('AccessDenied', 'User: %s is not authorized to perform: sts:AssumeRole on resource: %s'
                           % (caller['arn'], p['RoleArn']), status=403)
        if role.get('external_id') is not None and p.get('ExternalId') != role['external_id']:
            raise AwsError('AccessDenied', 'User: %s is not authorized to perform: sts:AssumeRole on resource: %s'
                           % (caller['arn'], p['RoleArn']), status=403)
        body = '<AssumeRoleResult>%s<PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>' % _role_session(
            role, p['RoleSessionName'], int(p['DurationSeconds']) if 'DurationSeconds' in p else None, 'AssumeRole')
    else:  # AssumeRoleWithWebIdentity
        role = STATE.find_role(p['RoleArn'])
        if p['WebIdentityToken'] not in sc['web_identity_tokens']:
            raise AwsError('InvalidIdentityToken', 'Incorrect token audience', status=400)
        if role is None or not role.get('web_identity', True):
            raise AwsError('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity', status=403)
        body = ('<AssumeRoleWithWebIdentityResult><Audience>sts.amazonaws.com</Audience>'
                '<SubjectFromWebIdentityToken>system:serviceaccount:default:aws-org-exporter</SubjectFromWebIdentityToken>'
                '%s<Provider>arn:aws:iam::%s:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/FAKE</Provider>'
                '</AssumeRoleWithWebIdentityResult>' % (
                    _role_session(role, p['RoleSessionName'],
                                  int(p['DurationSeconds']) if 'DurationSeconds' in p else None, 'AssumeRoleWithWebIdentity'),
                    role['account_id']))
    return ('<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>'
            % (op, STS_NS, body, uuid.uuid4(), op))


# --------------------------------------------------------------------------
# HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'FakeAWS/1.0'

    def version_string(self):
        return 'FakeAWS/1.0'

    def log_message(self, fmt, *args):
        if os.environ.get('FAKE_AWS_VERBOSE'):
            sys.stderr.write('fake_aws: ' + (fmt % args) + '\n')

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # body ---------------------------------------------------------------
    def read_body(self):
        te = (self.headers.get('Transfer-Encoding') or '').lower()
        if 'chunked' in te:
            out = b''
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b'\r\n', b'\n', b''):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(16)
                if len(out) > MAX_BODY:
                    raise AwsError('RequestEntityTooLarge', 'Request body too large', status=413)
        n = int(self.headers.get('Content-Length') or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise AwsError('RequestEntityTooLarge', 'Request body too large', status=413)
        return self.rfile.read(n) if n else b''

    # output -------------------------------------------------------------
    def send(self, status, body, ctype, extra_headers=None, truncate=False):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('x-amzn-RequestId', str(uuid.uuid4()))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        if truncate:
            self.send_header('Connection', 'close')
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body[:len(body) // 2] if truncate else body)
        self.wfile.flush()
        if truncate:
            self.close_connection = True
            self._hard_close()

    def _hard_close(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def send_json(self, status, obj):
        self.send(status, json.dumps(obj), 'application/x-amz-json-1.1')

    def aws_error(self, proto, err):
        if proto == 'sts':
            body = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>'
                    '<RequestId>%s</RequestId></ErrorResponse>'
                    % (STS_NS, 'Receiver' if err.status >= 500 else 'Sender', xml_escape(err.code),
                       xml_escape(err.message), uuid.uuid4()))
            self.send(err.status, body, 'text/xml')
        else:
            d = {'__type': err.code, 'message': err.message}
            d.update(err.extra)
            headers = {'x-amzn-ErrorType': err.code}
            query = d.pop('_query', None)
            if query:   # SQS: the query protocol's code, for SDKs of either protocol
                headers['x-amzn-query-error'] = '%s;Sender' % query
            self.send(err.status, json.dumps(d), 'application/x-amz-json-1.1', extra_headers=headers)

    # routing ------------------------------------------------------------
    def do_GET(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def route(self):
        try:
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith('/_fake/'):
                return self.control(path)
            if path == '/' and self.command == 'POST':
                return self.aws()
            return self.metadata(path)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except AwsError as e:   # from read_body outside aws()
            self.aws_error('json', e)

    # control ------------------------------------------------------------
    def control(self, path):
        body = self.read_body()
        try:
            if path == '/_fake/stats' and self.command == 'GET':
                return self.send_json(200, STATE.stats())
            if path == '/_fake/sqs' and self.command == 'GET':
                return self.send_json(200, SQS.stats())
            if self.command != 'POST':
                return self.send_json(405, {'error': 'method not allowed'})
            data = json.loads(body or b'null')
            if path == '/_fake/reset':
                STATE.reset_stats()
                if isinstance(data, dict) and data.get('faults'):
                    STATE.set_faults([])
                return self.send_json(200, {'ok': True})
            if path == '/_fake/scenario':
                STATE.load_scenario(data)
                return self.send_json(200, {'ok': True})
            if path == '/_fake/patch':
                apply_patch(data if isinstance(data, list) else [data])
                return self.send_json(200, {'ok': True})
            if path == '/_fake/sqs':
                return self.send_json(200, SQS.control(data))
            if path == '/_fake/faults':
                STATE.set_faults(data)
                return self.send_json(200, {'ok': True})
            if path == '/_fake/expire':
                # makes every issued credential (or one) expire now
                with STATE.lock:
                    for k, c in STATE.creds.items():
                        if c['source'] != 'static' and (not data or data.get('access_key_id') in (None, k)):
                            c['expires'] = int(time.time()) - 1
                return self.send_json(200, {'ok': True})
            return self.send_json(404, {'error': 'no such control endpoint'})
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
            return self.send_json(400, {'error': '%s: %s' % (type(e).__name__, e)})

    # AWS ----------------------------------------------------------------
    def aws(self):
        body = self.read_body()
        target = self.headers.get('X-Amz-Target', '')
        if target.startswith(ORG_TARGET_PREFIX):
            service, proto, op, form = 'organizations', 'json', target[len(ORG_TARGET_PREFIX):], None
        elif target.startswith(CT_TARGET_PREFIX):
            service, proto, op, form = 'cloudtrail', 'json', target[len(CT_TARGET_PREFIX):], None
        elif target.startswith(sqs_service.TARGET_PREFIX) and \
                target[len(sqs_service.TARGET_PREFIX):] in sqs_service.OPERATIONS:
            service, proto, op, form = 'sqs', 'json', target[len(sqs_service.TARGET_PREFIX):], None
        elif target:
            self.record_unidentified(target)
            return self.aws_error('json', AwsError('UnknownOperationException', 'Unknown target %s' % target))
        else:
            form = urllib.parse.parse_qs(body.decode('utf-8', 'replace'), keep_blank_values=True)
            op = (form.get('Action') or [''])[0]
            service, proto = 'sts', 'sts'
            if op not in ('AssumeRole', 'AssumeRoleWithWebIdentity', 'GetCallerIdentity'):
                self.record_unidentified(op or '(none)')
                return self.aws_error('sts', AwsError('InvalidAction', 'Could not find operation %s for version %s'
                                                      % (op, (form.get('Version') or [''])[0])))
            if (form.get('Version') or [''])[0] != '2011-06-15':
                self.record_unidentified(op)
                return self.aws_error('sts', AwsError('InvalidAction', 'Could not find operation %s for version %s'
                                                      % (op, (form.get('Version') or [''])[0])))

        # who is calling (for stats), before any check
        auth = AUTH_RE.match(self.headers.get('Authorization', '') or '')
        akid = region = account = None
        if auth:
            scope = auth.group(1).split('/')
            akid = scope[0]
            region = scope[2] if len(scope) == 5 else None
            c = STATE.creds.get(akid)
            account = c['account_id'] if c else None
        STATE.observe(service, op, account, region)
        status, code = 200, 'OK'
        try:
            caller = None
            if op != 'AssumeRoleWithWebIdentity':
                caller = self.verify(service, proto, body, auth)
                account, region = caller['account_id'], caller['region']
            rule = STATE.fault_for('%s.%s' % (service, op))
            if rule and rule['kind'] == 'slow':
                time.sleep(float(rule.get('delay_seconds', 2)))
                rule = None
            if rule and rule['kind'] not in ('repeat_token', 'truncate', 'malformed', 'wrong_type'):
                raise Fault(rule)
            if proto == 'json':
                try:
                    params = json.loads(body.decode('utf-8')) if body else {}
                except ValueError:
                    raise AwsError('SerializationException', 'Unable to parse request body as JSON.', invalid=True)
                validate_params(service, op, params)
                if service == 'sqs':
                    return self.sqs(op, params, rule)
                with STATE.lock:
                    if service == 'organizations':
                        res = org_dispatch(op, params, caller)
                    else:
                        res = lookup_events(params, caller, region)
                if rule and rule['kind'] == 'repeat_token' and op in ('ListAccounts', 'LookupEvents'):
                    if 'NextToken' in params:
                        res['NextToken'] = params['NextToken']
                if rule and rule['kind'] == 'malformed':
                    return self.send(200, '{"Accounts": [{"Id": "1234<html>not json', 'application/x-amz-json-1.1')
                if rule and rule['kind'] == 'wrong_type':
                    res = copy.deepcopy(res)  # members may be the scenario's own objects
                if rule and rule['kind'] == 'wrong_type' and retype(res, rule['field']):
                    with STATE.lock:
                        STATE.wrong_types += 1
                self.send(200, json.dumps(res), 'application/x-amz-json-1.1',
                          truncate=bool(rule and rule['kind'] == 'truncate'))
            else:
                with STATE.lock:
                    res = sts_dispatch(op, form, caller)
                if rule and rule['kind'] == 'malformed':
                    return self.send(200, '<%sResponse><html>not xml' % op, 'text/xml')
                self.send(200, res, 'text/xml', truncate=bool(rule and rule['kind'] == 'truncate'))
        except Fault as f:
            kind = f.rule['kind']
            if kind == 'reset':
                status, code = 0, 'reset'
                self._hard_close()
                return
            err = fault_error(service, kind, f.rule)
            status, code = err.status, err.code
            self.aws_error(proto, err)
        except AwsError as e:
            status, code = e.status, e.code
            with STATE.lock:
                if e.bad_signature:
                    STATE.bad_signatures += 1
                if e.invalid:
                    STATE.invalid_requests += 1
            self.aws_error(proto, e)
        finally:
            STATE.record(service, op, account, region, status, code)

    def sqs(self, op, params, rule):
        """An SQS call (outside STATE.lock: a long poll waits here)."""
        try:
            res = SQS.dispatch(op, params)
        except sqs_service.SqsError as e:
            raise AwsError(e.code, e.message, status=e.status,
                           extra={'__type': 'com.amazonaws.sqs#' + e.code, '_query': e.query_code})
        if rule and rule['kind'] == 'malformed':
            return self.send(200, '{"Messages": [{"Body": "1234<html>not json', sqs_service.CONTENT_TYPE)
        self.send(200, json.dumps(res), sqs_service.CONTENT_TYPE)

    def record_unidentified(self, op):
        STATE.observe('unknown', op, None, None)
        STATE.record('unknown', op, None, None, 400, 'UnknownOperationException')

    def verify(self, service, proto, body, m):
        """Checks the SigV4 signature; returns the caller."""
        sts = proto == 'sts'

        def err(json_code, sts_code, msg, status=400, sts_status=403, bad=False):
            return AwsError(sts_code if sts else json_code, msg, status=sts_status if sts else status, bad_signature=bad)

        if not self.headers.get('Authorization'):
            raise err('MissingAuthenticationTokenException', 'MissingAuthenticationToken',
                      'Missing Authentication Token', status=400, sts_status=403)
        if not m:
            raise err('IncompleteSignatureException', 'IncompleteSignature',
                      "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
                      bad=True)
        scope = m.group(1).split('/')
        if len(scope) != 5 or scope[4] != 'aws4_request':
            raise err('IncompleteSignatureException', 'IncompleteSignature',
                      'Credential should be scoped to a valid region.', bad=True)
        akid, date, region, svc, _ = scope
        signed = m.group(2).split(';')
        amz_date = self.headers.get('X-Amz-Date', '')
        if 'host' not in signed or 'x-amz-date' not in [s.lower() for s in signed] and 'date' not in signed:
            raise err('IncompleteSignatureException', 'IncompleteSignature',
                      "'Host' and 'X-Amz-Date' must be signed.", bad=True)
        try:
            t = calendar.timegm(time.strptime(amz_date, SIGV4_TIMESTAMP))
        except ValueError:
            raise err('IncompleteSignatureException', 'IncompleteSignature',
                      'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.',
                      bad=True)
        if svc != service:
            raise err('InvalidSignatureException', 'SignatureDoesNotMatch',
                      "Credential should be scoped to correct service: '%s'." % service, bad=True)
        want_region = STATE.scenario['options'].get('organizations_signing_region', 'us-east-1')
        if service == 'organizations' and want_region and region != want_region:
            raise err('InvalidSignatureException', 'SignatureDoesNotMatch',
                      "Credential should be scoped to a valid region, not '%s'. " % region, bad=True)
        if date != amz_date[:8]:
            raise err('InvalidSignatureException', 'SignatureDoesNotMatch',
                      "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                      "'%s' != '%s', from '%s'." % (date, amz_date[:8], amz_date), bad=True)
        now = time.time()
        if t < now - SKEW_SECONDS:
            raise err('InvalidSignatureException', 'SignatureDoesNotMatch', skew_message(amz_date, now), bad=True)
        if t > now + SKEW_SECONDS:
            raise err('InvalidSignatureException', 'SignatureDoesNotMatch',
                      'Signature not yet current: %s is still later than %s (%s + 15 min.)'
                      % (amz_date, time.strftime(SIGV4_TIMESTAMP, time.gmtime(now + SKEW_SECONDS)),
                         time.strftime(SIGV4_TIMESTAMP, time.gmtime(now))), bad=True)
        with STATE.lock:
            cred = STATE.creds.get(akid)
            cred = dict(cred) if cred else None
        if cred is None:
            raise err('UnrecognizedClientException', 'InvalidClientTokenId',
                      'The security token included in the request is invalid.')
        token = self.headers.get('X-Amz-Security-Token')
        if cred['token'] != token:
            raise err('UnrecognizedClientException', 'InvalidClientTokenId',
                      'The security token included in the request is invalid.')
        if token and 'x-amz-security-token' not in signed and not sts:
            # AWS accepts an unsigned token for most services; still warn by code.
            pass
        sig = compute_signature(self.command, self.headers.get('Host', ''),
                                urllib.parse.urlsplit(self.path).path,
                                urllib.parse.urlsplit(self.path).query,
                                self.headers, signed, body, akid, cred['secret'], token, svc, region, amz_date)
        if not hmac.compare_digest(sig, m.group(3).lower()):
            raise err('InvalidSignatureException', 'SignatureDoesNotMatch',
                      'The request signature we calculated does not match the signature you provided. '
                      'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
                      bad=True)
        if cred.get('expires') is not None and now >= cred['expires']:
            raise err('ExpiredTokenException', 'ExpiredToken', 'The security token included in the request is expired',
                      sts_status=400)
        return {'akid': akid, 'account_id': cred['account_id'], 'arn': cred['arn'],
                'user_id': cred.get('user_id') or akid, 'region': region}

    # metadata endpoints --------------------------------------------------
    def metadata(self, path):
        self.read_body()
        sc = STATE.scenario
        cc = sc.get('container_credentials')
        imds = sc.get('imds')
        if cc and path == cc.get('path'):
            return self.meta_op('container', 'GetCredentials', self.container_creds)
        if imds and path == '/latest/api/token':
            return self.meta_op('imds', 'GetToken', self.imds_token)
        if imds and path.startswith('/latest/meta-data/iam/security-credentials'):
            return self.meta_op('imds', 'GetCredentials', lambda: self.imds_creds(path))
        STATE.observe('metadata', 'NotFound', None, None)
        STATE.record('metadata', 'NotFound', None, None, 404, 'NotFound')
        self.send(404, 'Not Found', 'text/plain')

    def meta_op(self, service, op, fn):
        STATE.observe(service, op, None, None)
        rule = STATE.fault_for('%s.%s' % (service, op))
        status, code = 200, 'OK'
        try:
            if rule and rule['kind'] == 'slow':
                time.sleep(float(rule.get('delay_seconds', 2)))
                rule = None
            if rule and rule['kind'] == 'reset':
                status, code = 0, 'reset'
                return self._hard_close()
            if rule and rule['kind'] in ('5xx', 'throttle'):
                status = int(rule.get('status', 500 if rule['kind'] == '5xx' else 429))
                code = 'fault-%s' % rule['kind']
                return self.send(status, 'Internal Server Error', 'text/plain')
            status, ctype, body = fn()
            if status != 200:
                code = 'http-%d' % status
            if rule and rule['kind'] == 'malformed' and status == 200:
                body = '{"AccessKeyId": "<html>'
            self.send(status, body, ctype, truncate=bool(rule and rule['kind'] == 'truncate' and status == 200))
        finally:
            STATE.record(service, op, None, None, status, code)

    def _issue_json(self, cfg, source, imds_style):
        account = cfg.get('account_id') or (STATE.scenario['organization'] or {}).get('master_account_id', '000000000000')
        role = cfg.get('role_name', 'fake-role')
        akid, secret, token, exp = STATE.issue(account, 'arn:aws:sts::%s:assumed-role/%s/%s' % (account, role, source),
                                               'AROAFAKE:%s' % source,
                                               int(cfg.get('session_duration_seconds', 3600)), source)
        d = {}
        if imds_style:
            d.update({'Code': 'Success', 'LastUpdated': iso8601(time.time()), 'Type': 'AWS-HMAC'})
        d.update({'AccessKeyId': akid, 'SecretAccessKey': secret, 'Token': token, 'Expiration': iso8601(exp)})
        if not imds_style:
            d['RoleArn'] = 'arn:aws:iam::%s:role/%s' % (account, role)
        return json.dumps(d, indent=2)

    def container_creds(self):
        cc = STATE.scenario['container_credentials']
        if self.command != 'GET':
            return 405, 'text/plain', 'Method Not Allowed'
        want = cc.get('authorization_token')
        if want is not None and self.headers.get('Authorization') != want:
            return 401, 'application/json', json.dumps({'message': 'Unauthorized'})
        return 200, 'application/json', self._issue_json(cc, 'container', False)

    def imds_token(self):
        if self.command != 'PUT':
            return 405, 'text/plain', 'Method Not Allowed'
        if self.headers.get('X-Forwarded-For'):
            return 403, 'text/plain', 'Forbidden'
        try:
            ttl = int(self.headers.get('X-aws-ec2-metadata-token-ttl-seconds', ''))
        except ValueError:
            return 400, 'text/plain', 'Bad Request'
        if not 1 <= ttl <= 21600:
            return 400, 'text/plain', 'Bad Request'
        tok = base64.b64encode(secrets.token_bytes(40)).decode()
        with STATE.lock:
            STATE.imds_tokens[tok] = time.time() + ttl
        return 200, 'text/plain', tok

    def imds_creds(self, path):
        if self.command != 'GET':
            return 405, 'text/plain', 'Method Not Allowed'
        tok = self.headers.get('X-aws-ec2-metadata-token')
        with STATE.lock:
            exp = STATE.imds_tokens.get(tok or '')
        if exp is None or exp < time.time():
            return 401, 'text/plain', 'Unauthorized'
        imds = STATE.scenario['imds']
        role = imds.get('role_name', 'fake-role')
        rest = path[len('/latest/meta-data/iam/security-credentials'):].strip('/')
        if rest == '':
            return 200, 'text/plain', role
        if rest != role:
            return 404, 'text/plain', 'Not Found'
        return 200, 'text/plain', self._issue_json(imds, 'imds', True)


def skew_message(amz_date, now):
    return ('Signature expired: %s is now earlier than %s (%s - 15 min.)'
            % (amz_date, time.strftime(SIGV4_TIMESTAMP, time.gmtime(now - SKEW_SECONDS)),
               time.strftime(SIGV4_TIMESTAMP, time.gmtime(now))))


def fault_error(service, kind, rule):
    sts = service == 'sts'
    if kind == 'throttle':
        if service == 'organizations':
            return AwsError('TooManyRequestsException',
                            'AWS Organizations can\'t complete your request because another request is already in '
                            'progress. Try again later.', extra={'Type': 'client'})
        if sts:
            return AwsError('Throttling', 'Rate exceeded')
        return AwsError('ThrottlingException', 'Rate exceeded')
    if kind == '5xx':
        status = int(rule.get('status', 500))
        if status == 503:
            return AwsError('ServiceUnavailable', 'Service is unavailable', status=503)
        return AwsError('InternalFailure', 'We encountered an internal error. Please try again.', status=status)
    if kind == 'expired':
        if sts:
            return AwsError('ExpiredToken', 'The security token included in the request is expired')
        return AwsError('ExpiredTokenException', 'The security token included in the request is expired')
    if kind == 'skew':
        amz = time.strftime(SIGV4_TIMESTAMP, time.gmtime(time.time() - 20 * 60))
        return AwsError('SignatureDoesNotMatch' if sts else 'InvalidSignatureException',
                        skew_message(amz, time.time()), status=403 if sts else 400)
    if kind == 'access_denied':
        if sts:
            return AwsError('AccessDenied', 'User is not authorized to perform this action', status=403)
        return AwsError('AccessDeniedException', "You don't have permissions to access this resource.")
    return AwsError('InternalFailure', 'unknown fault %s' % kind, status=500)


# --------------------------------------------------------------------------
# Scenario patches


def apply_patch(ops):
    with STATE.lock:
        sc = STATE.scenario
        for p in ops:
            op = p['op']
            if op == 'add_account':
                a = dict(p['account'])
                sc['accounts'] = [x for x in sc['accounts'] if x['id'] != a['id']] + [a]
            elif op == 'remove_account':
                sc['accounts'] = [x for x in sc['accounts'] if x['id'] != p['id']]
            elif op == 'update_account':
                for x in sc['accounts']:
                    if x['id'] == p['id']:
                        x.update(p['set'])
            elif op == 'add_event':
                e = dict(p['event'])
                if 'EventTime' not in e and 'EventTimeAgo' not in e:
                    e['EventTime'] = time.time()
                elif 'EventTimeAgo' in e:
                    e['EventTime'] = time.time() - float(e.pop('EventTimeAgo'))
                STATE._normalise_event(e)
                sc['cloudtrail']['events'].setdefault(p['account'], {}).setdefault(p.get('region', 'us-east-1'), []).append(e)
            elif op in ('detach_policy', 'attach_policy'):
                pol = next(x for x in sc['policies'] if x['id'] == p['policy_id'])
                tg = pol.setdefault('targets', [])
                if op == 'detach_policy':
                    pol['targets'] = [t for t in tg if t != p['target_id']]
                elif p['target_id'] not in tg:
                    tg.append(p['target_id'])
            elif op == 'add_policy':
                sc['policies'] = [x for x in sc['policies'] if x['id'] != p['policy']['id']] + [dict(p['policy'])]
            elif op == 'remove_policy':
                sc['policies'] = [x for x in sc['policies'] if x['id'] != p['id']]
            elif op == 'set_option':
                sc['options'][p['name']] = p['value']
            elif op == 'set':
                # {"op":"set","path":["organization","feature_set"],"value":"ALL"}
                cur = sc
                for k in p['path'][:-1]:
                    cur = cur[k]
                cur[p['path'][-1]] = p['value']
            else:
                raise ValueError('unknown patch op %r' % op)


# --------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def get_request(self):
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


def main(argv=None):
    global STATE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--scenario', required=True)
    ap.add_argument('--port', type=int, default=0)
    args = ap.parse_args(argv)
    with open(args.scenario, encoding='utf-8') as f:
        STATE = State(json.load(f))
    # load the models before the first request
    service_model('organizations')
    service_model('cloudtrail')
    service_model('sqs')
    srv = Server(('127.0.0.1', args.port), Handler)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write('listening port=%d\n' % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
