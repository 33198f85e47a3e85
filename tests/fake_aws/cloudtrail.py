"""CloudTrail LookupEvents for the fake AWS: the events of the caller's
account in the region of its credential scope, newest first (ties by
EventId), at most MaxResults, one lookup attribute at most, with a NextToken
cursor bound to the caller, region and every parameter but MaxResults. Also
how a scenario's events are normalised and filler events generated.

Events live in the scenario under cloudtrail.events[account][region]; the
Index keeps each (account, region) list sorted once, and each
(account, region, attribute) selection once, per generation of the state.
"""
import hashlib
import json
import time
import uuid

from common import AwsError, iso8601
from paging import binding_of, make_token, read_token

TARGET_PREFIX = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.'
LOOKUP_KEYS = {'EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName',
               'EventSource', 'AccessKeyId'}


def generated_event(g, i):
    """The i-th filler event of a scenario's "generate" entry g."""
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


def normalise_event(e, now):
    """Makes a scenario event what LookupEvents serves, in place: EventTime in
    whole epoch seconds (EventTimeAgo counts back from now), an EventId,
    ReadOnly a string, a CloudTrailEvent object serialised in agreement with
    the summary fields."""
    if 'EventTime' not in e and 'EventTimeAgo' in e:
        e['EventTime'] = now - float(e.pop('EventTimeAgo'))
    elif 'EventTimeAgo' in e:
        e.pop('EventTimeAgo')
    e['EventTime'] = int(e.get('EventTime', now))   # CloudTrail has second precision
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


def _order(e):
    return (-e['EventTime'], e['EventId'])


def _event_matches(e, key, value):
    if key in ('ResourceType', 'ResourceName'):
        return any(r.get(key) == value for r in e.get('Resources') or [])
    return str(e.get(key)) == value


def _selection(sc, ix, account, region, attrs):
    """The events of account/region that match attrs (at most one), newest
    first; shared, read-only."""
    def ordered():
        evs = sc['cloudtrail']['events'].get(account, {}).get(region, [])
        return sorted(evs, key=_order)
    events = ix.memoised(('events', account, region), ordered)
    if not attrs:
        return events
    key, value = attrs[0]['AttributeKey'], attrs[0]['AttributeValue']
    return ix.memoised(('events', account, region, key, value),
                       lambda: [e for e in events if _event_matches(e, key, value)])


def _summary(e):
    o = {'EventId': e['EventId'], 'EventName': e.get('EventName', ''), 'ReadOnly': e.get('ReadOnly', 'false'),
         'EventTime': e['EventTime'], 'EventSource': e.get('EventSource', ''),
         'Resources': e.get('Resources') or [], 'CloudTrailEvent': e.get('CloudTrailEvent', '{}')}
    if e.get('AccessKeyId'):
        o['AccessKeyId'] = e['AccessKeyId']
    if e.get('Username'):
        o['Username'] = e['Username']
    return o


def lookup_events(state, params, caller, region):
    """LookupEvents (call with state.lock held); the answer's members may be
    the scenario's own objects: read-only."""
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
    cursor = None
    if 'NextToken' in params:
        try:
            ct, cid = read_token(params['NextToken'], 'LookupEvents', binding)
        except ValueError:
            raise AwsError('InvalidNextTokenException', 'Invalid NextToken', invalid=True)
        cursor = (-ct, cid)
    sel = _selection(state.scenario, state.index(), caller['account_id'], region, attrs)
    page, more = [], False
    for e in sel:   # newest first: the page is the first limit past the cursor
        if not start <= e['EventTime'] <= end or (cursor is not None and _order(e) <= cursor):
            continue
        if len(page) == limit:
            more = True
            break
        page.append(e)
    res = {'Events': [_summary(e) for e in page]}
    if more:
        last = page[-1]
        res['NextToken'] = make_token('LookupEvents', binding, [last['EventTime'], last['EventId']])
    return res
