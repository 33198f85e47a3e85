"""Pagination of list operations: opaque NextTokens, HMAC-signed and bound to
the operation, the caller and every parameter but NextToken and MaxResults,
so that a token reused elsewhere is refused as AWS refuses it."""
import base64
import hashlib
import hmac
import json
import secrets

from common import AwsError

TOKEN_KEY = secrets.token_bytes(16)   # signs pagination tokens


def make_token(op, binding, pos):
    """A token for position pos (any JSON value) of op under binding."""
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
    """What a token is bound to: the caller and the parameters but ignore."""
    b = {k: v for k, v in params.items() if k not in ignore}
    s = json.dumps([caller, b], sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(s.encode()).hexdigest()[:24]


def paginate(op, params, items, caller, page_sizes=None, render=None):
    """Offset pagination over the list items: (page, NextToken or None).
    page_sizes (list, cycled, may hold 0) forces short or empty pages the way
    the real API sometimes returns them. render, when given, turns each item
    of the page (only those) into its answer."""
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
    if render is not None:
        page = [render(x) for x in page]
    return page, token


def with_token(d, tok):
    """d with NextToken set when there is one."""
    if tok:
        d['NextToken'] = tok
    return d
