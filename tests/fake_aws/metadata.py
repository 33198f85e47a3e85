"""The credential endpoints of the fake AWS: the container-credentials
endpoint (ECS / EKS Pod Identity) and IMDSv2 (token, role name,
credentials). endpoint() finds the one a path names; each answers
(status, content type, body) and the HTTP front applies faults around it."""
import base64
import json
import secrets
import time

from common import iso8601

IMDS_TOKEN_PATH = '/latest/api/token'
IMDS_CREDS_PATH = '/latest/meta-data/iam/security-credentials'


def endpoint(state, path):
    """(service, operation, fn(state, method, headers, path)) for path, or
    None when no endpoint of the scenario is there."""
    sc = state.scenario
    cc = sc.get('container_credentials')
    imds = sc.get('imds')
    if cc and path == cc.get('path'):
        return 'container', 'GetCredentials', container_creds
    if imds and path == IMDS_TOKEN_PATH:
        return 'imds', 'GetToken', imds_token
    if imds and path.startswith(IMDS_CREDS_PATH):
        return 'imds', 'GetCredentials', imds_creds
    return None


def _issue_json(state, cfg, source, imds_style):
    account = cfg.get('account_id') or (state.scenario['organization'] or {}).get('master_account_id', '000000000000')
    role = cfg.get('role_name', 'fake-role')
    akid, secret, token, exp = state.issue(account, 'arn:aws:sts::%s:assumed-role/%s/%s' % (account, role, source),
                                           'AROAFAKE:%s' % source,
                                           int(cfg.get('session_duration_seconds', 3600)), source)
    d = {}
    if imds_style:
        d.update({'Code': 'Success', 'LastUpdated': iso8601(time.time()), 'Type': 'AWS-HMAC'})
    d.update({'AccessKeyId': akid, 'SecretAccessKey': secret, 'Token': token, 'Expiration': iso8601(exp)})
    if not imds_style:
        d['RoleArn'] = 'arn:aws:iam::%s:role/%s' % (account, role)
    return json.dumps(d, indent=2)


def container_creds(state, method, headers, path):
    cc = state.scenario['container_credentials']
    if method != 'GET':
        return 405, 'text/plain', 'Method Not Allowed'
    want = cc.get('authorization_token')
    if want is not None and headers.get('Authorization') != want:
        return 401, 'application/json', json.dumps({'message': 'Unauthorized'})
    return 200, 'application/json', _issue_json(state, cc, 'container', False)


def imds_token(state, method, headers, path):
    if method != 'PUT':
        return 405, 'text/plain', 'Method Not Allowed'
    if headers.get('X-Forwarded-For'):
        return 403, 'text/plain', 'Forbidden'
    try:
        ttl = int(headers.get('X-aws-ec2-metadata-token-ttl-seconds', ''))
    except ValueError:
        return 400, 'text/plain', 'Bad Request'
    if not 1 <= ttl <= 21600:
        return 400, 'text/plain', 'Bad Request'
    tok = base64.b64encode(secrets.token_bytes(40)).decode()
    with state.lock:
        state.imds_tokens[tok] = time.time() + ttl
    return 200, 'text/plain', tok


def imds_creds(state, method, headers, path):
    if method != 'GET':
        return 405, 'text/plain', 'Method Not Allowed'
    tok = headers.get('X-aws-ec2-metadata-token')
    with state.lock:
        exp = state.imds_tokens.get(tok or '')
    if exp is None or exp < time.time():
        return 401, 'text/plain', 'Unauthorized'
    imds = state.scenario['imds']
    role = imds.get('role_name', 'fake-role')
    rest = path[len(IMDS_CREDS_PATH):].strip('/')
    if rest == '':
        return 200, 'text/plain', role
    if rest != role:
        return 404, 'text/plain', 'Not Found'
    return 200, 'text/plain', _issue_json(state, imds, 'imds', True)
