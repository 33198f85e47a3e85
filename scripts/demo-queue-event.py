#!/usr/bin/python3
"""make demo's fast path: sends a denied LeaveOrganization of a member, as the
EventBridge rule would, to the fake AWS's queue (a signed SendMessage), then
reads the exporter's /metrics until the event is counted and says how long
that took.

    demo-queue-event.py FAKE_URL QUEUE_URL METRICS_URL ACCOUNT
"""
import json
import re
import sys
import time
import urllib.request
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEY = ('AKIAFAKEMANAGEMENT01', 'fakeManagementSecretKey/0000000000000000')
COUNTED = re.compile(r'^aws_org_cloudtrail_events_total\{event_name="LeaveOrganization",'
                     r'outcome="denied"\} (\S+)$', re.M)


def denied(metrics_url):
    with urllib.request.urlopen(metrics_url, timeout=5) as r:
        m = COUNTED.search(r.read().decode())
    return float(m.group(1)) if m else 0.0


def main(fake, queue_url, metrics_url, account):
    now = time.time()
    when = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now))
    record = {
        'eventVersion': '1.08', 'eventID': str(uuid.uuid4()), 'eventTime': when,
        'eventSource': 'organizations.amazonaws.com', 'eventName': 'LeaveOrganization',
        'awsRegion': 'us-east-1', 'sourceIPAddress': '198.51.100.23',
        'userIdentity': {'type': 'AssumedRole', 'accountId': account,
                         'arn': 'arn:aws:sts::%s:assumed-role/Admin/mallory' % account},
        'errorCode': 'AccessDenied',
        'errorMessage': 'You don\'t have permissions to access this resource. (explicit deny in '
                        'a service control policy: organizations:LeaveOrganization)',
        'requestParameters': None, 'responseElements': None, 'recipientAccountId': account}
    event = {'version': '0', 'id': str(uuid.uuid4()), 'detail-type': 'AWS API Call via CloudTrail',
             'source': 'aws.organizations', 'account': account, 'time': when,
             'region': 'us-east-1', 'resources': [], 'detail': record}
    before = denied(metrics_url)
    body = json.dumps({'QueueUrl': queue_url, 'MessageBody': json.dumps(event)})
    req = AWSRequest(method='POST', url=fake + '/', data=body,
                     headers={'Content-Type': 'application/x-amz-json-1.0',
                              'X-Amz-Target': 'AmazonSQS.SendMessage'})
    SigV4Auth(Credentials(*KEY), 'sqs', 'us-east-1').add_auth(req)
    sent = time.time()
    urllib.request.urlopen(urllib.request.Request(fake + '/', data=body.encode(),
                                                  headers=dict(req.headers), method='POST'),
                           timeout=5).read()
    while time.time() - sent < 30:
        if denied(metrics_url) > before:
            print('demo: a denied LeaveOrganization in member %s came through the EventBridge '
                  'queue; /metrics counted it %.2f s after SendMessage' % (account, time.time() - sent))
            return 0
        time.sleep(0.02)
    print('demo: the queued LeaveOrganization was not counted within 30 s', file=sys.stderr)
    return 1


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:5]))
