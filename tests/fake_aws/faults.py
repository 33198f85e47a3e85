"""Fault rules (POST /_fake/faults): which request fails and how. A rule
counts the requests it matches; every: N fires on every Nth, count: N on
the next N, neither on all; the first rule that fires wins. This module
holds the rules under its own lock, the error each kind answers with, and
the wrong_type rewrite of an answer."""
import json
import threading
import time

from common import AwsError
from signing import SIGV4_TIMESTAMP, skew_message

KINDS = ('throttle', '5xx', 'slow', 'reset', 'truncate', 'malformed', 'expired',
         'skew', 'access_denied', 'repeat_token', 'wrong_type')


class Fault(Exception):
    """A fault rule fired; the handler acts on .rule."""

    def __init__(self, rule):
        super().__init__(rule.get('kind'))
        self.rule = rule


class FaultRules:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def set(self, rules):
        """Replaces the rules (a JSON list; [] clears); ValueError when one is
        not a rule."""
        if not isinstance(rules, list):
            raise ValueError('faults must be a JSON list')
        out = []
        for r in rules:
            if not isinstance(r, dict) or 'kind' not in r:
                raise ValueError('each fault rule needs a kind')
            if r['kind'] not in KINDS:
                raise ValueError('unknown fault kind %r' % r['kind'])
            if r['kind'] == 'wrong_type' and not isinstance(r.get('field'), str):
                raise ValueError('a wrong_type rule needs a field name')
            r = dict(r)
            r.setdefault('operation', '*')
            r['_seen'] = 0
            out.append(r)
        with self.lock:
            self.rules = out

    def fault_for(self, name):
        """The rule that fires for this request "service.Operation", or None
        (each matching rule counts it)."""
        fired = None
        with self.lock:
            for r in self.rules:
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


def fault_error(service, kind, rule):
    """The AwsError a fault of this kind answers with, in service's codes."""
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
    type, inside a CloudTrailEvent's JSON string too (in place: doc must be
    the caller's own copy). True when one was found."""
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
