"""SigV4 verification: the signature of every signed request is recomputed
with botocore's SigV4Auth over exactly the headers the client signed, and
the scope, clock skew, key and session token are checked in AWS's order
with AWS's error codes (JSON services and STS spell them differently)."""
import calendar
import hmac
import re
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from common import AwsError

SIGV4_TIMESTAMP = '%Y%m%dT%H%M%SZ'
SKEW_SECONDS = 15 * 60
AUTH_RE = re.compile(r'^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-fA-F]+)\s*$')


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
    """The hex signature AWS would compute for this request."""
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


def skew_message(amz_date, now):
    """AWS's message for a request signed more than 15 minutes ago."""
    return ('Signature expired: %s is now earlier than %s (%s - 15 min.)'
            % (amz_date, time.strftime(SIGV4_TIMESTAMP, time.gmtime(now - SKEW_SECONDS)),
               time.strftime(SIGV4_TIMESTAMP, time.gmtime(now))))


def verify(state, method, raw_path, headers, service, proto, body, m):
    """Checks the SigV4 signature of a request (m: AUTH_RE's match of its
    Authorization header, or None); returns the caller {akid, account_id,
    arn, user_id, region} or raises AwsError."""
    sts = proto == 'sts'

    def err(json_code, sts_code, msg, status=400, sts_status=403, bad=False):
        return AwsError(sts_code if sts else json_code, msg, status=sts_status if sts else status, bad_signature=bad)

    if not headers.get('Authorization'):
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
    amz_date = headers.get('X-Amz-Date', '')
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
    want_region = state.scenario['options'].get('organizations_signing_region', 'us-east-1')
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
    cred = state.credential(akid)
    if cred is None:
        raise err('UnrecognizedClientException', 'InvalidClientTokenId',
                  'The security token included in the request is invalid.')
    token = headers.get('X-Amz-Security-Token')
    if cred['token'] != token:
        raise err('UnrecognizedClientException', 'InvalidClientTokenId',
                  'The security token included in the request is invalid.')
    # AWS accepts an unsigned X-Amz-Security-Token for most services: so does the fake.
    url = urllib.parse.urlsplit(raw_path)
    sig = compute_signature(method, headers.get('Host', ''), url.path, url.query,
                            headers, signed, body, akid, cred['secret'], token, svc, region, amz_date)
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
