"""STS for the fake AWS (query protocol, XML in the real format and
namespace): AssumeRole, AssumeRoleWithWebIdentity (unsigned) and
GetCallerIdentity. Roles and web identity tokens come from the scenario;
the credentials issued are kept by the state."""
import hashlib
import re
import uuid
from xml.sax.saxutils import escape as xml_escape

from common import AwsError, iso8601

NS = 'https://sts.amazonaws.com/doc/2011-06-15/'
VERSION = '2011-06-15'
OPERATIONS = ('AssumeRole', 'AssumeRoleWithWebIdentity', 'GetCallerIdentity')
ROLE_SESSION_RE = re.compile(r'^[\w+=,.@-]{2,64}$')


def sts_params(form, op):
    """The parameters of a parsed form body; AwsError ValidationError when
    they break STS's constraints."""
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


def _role_session(state, role, session, duration_req, source):
    account = role['account_id']
    name = role['arn'].split('/')[-1]
    role_id = role.get('role_id') or 'AROA' + hashlib.sha1(role['arn'].encode()).hexdigest()[:17].upper()
    arn = 'arn:aws:sts::%s:assumed-role/%s/%s' % (account, name, session)
    dur = role.get('session_duration_seconds') or duration_req or 3600
    akid, secret, token, exp = state.issue(account, arn, '%s:%s' % (role_id, session), dur, source)
    return ('<AssumedRoleUser><AssumedRoleId>%s:%s</AssumedRoleId><Arn>%s</Arn></AssumedRoleUser>'
            '<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>'
            '<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>'
            % (role_id, xml_escape(session), xml_escape(arn), akid, xml_escape(secret), xml_escape(token), iso8601(exp)))


def _duration(p):
    return int(p['DurationSeconds']) if 'DurationSeconds' in p else None


def dispatch(state, op, form, caller):
    """One STS operation (call with state.lock held): the XML answer, or
    AwsError. caller is None for AssumeRoleWithWebIdentity."""
    p = sts_params(form, op)
    sc = state.scenario
    if op == 'GetCallerIdentity':
        body = ('<GetCallerIdentityResult><Arn>%s</Arn><UserId>%s</UserId><Account>%s</Account></GetCallerIdentityResult>'
                % (xml_escape(caller['arn']), xml_escape(caller['user_id']), caller['account_id']))
    elif op == 'AssumeRole':
        role = state.find_role(p['RoleArn'])
        denied = AwsError('AccessDenied', 'User: %s is not authorized to perform: sts:AssumeRole on resource: %s'
                          % (caller['arn'], p['RoleArn']), status=403)
        if role is None or (role.get('trusted_accounts') and caller['account_id'] not in role['trusted_accounts']):
            raise denied
        if role.get('external_id') is not None and p.get('ExternalId') != role['external_id']:
            raise denied
        body = '<AssumeRoleResult>%s<PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>' % _role_session(
            state, role, p['RoleSessionName'], _duration(p), 'AssumeRole')
    else:  # AssumeRoleWithWebIdentity
        role = state.find_role(p['RoleArn'])
        if p['WebIdentityToken'] not in sc['web_identity_tokens']:
            raise AwsError('InvalidIdentityToken', 'Incorrect token audience', status=400)
        if role is None or not role.get('web_identity', True):
            raise AwsError('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity', status=403)
        body = ('<AssumeRoleWithWebIdentityResult><Audience>sts.amazonaws.com</Audience>'
                '<SubjectFromWebIdentityToken>system:serviceaccount:default:aws-org-exporter</SubjectFromWebIdentityToken>'
                '%s<Provider>arn:aws:iam::%s:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/FAKE</Provider>'
                '</AssumeRoleWithWebIdentityResult>' % (
                    _role_session(state, role, p['RoleSessionName'], _duration(p), 'AssumeRoleWithWebIdentity'),
                    role['account_id']))
    return ('<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>'
            % (op, NS, body, uuid.uuid4(), op))


def error_body(err):
    """The XML ErrorResponse of an AwsError."""
    return ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>'
            '<RequestId>%s</RequestId></ErrorResponse>'
            % (NS, 'Receiver' if err.status >= 500 else 'Sender', xml_escape(err.code),
               xml_escape(err.message), uuid.uuid4()))
