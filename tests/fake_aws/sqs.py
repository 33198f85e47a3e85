"""Amazon SQS for the fake AWS: standard queues over SQS's JSON protocol
(X-Amz-Target: AmazonSQS.<Operation>, application/x-amz-json-1.0).

What it keeps of SQS's behaviour, because the exporter's delivery guarantees
rest on it:
  - long polls: ReceiveMessage waits up to WaitTimeSeconds (0-20) for a
    visible message, and returns as soon as one is sent;
  - visibility timeouts: a received message is hidden for the queue's (or
    the call's) VisibilityTimeout, then delivered again, with a new receipt
    handle and ApproximateReceiveCount one higher, until it is deleted;
  - redrive: a message received more than maxReceiveCount times is moved to
    the dead-letter queue instead of being delivered again;
  - DeleteMessageBatch answers per entry (a stale receipt handle fails that
    entry only), and refuses empty, oversized or duplicate-Id batches whole;
  - a missing queue is QueueDoesNotExist, with the query-compatible error
    header that the SDKs read.

Debian 12's botocore carries SQS's model of the query protocol; the JSON
protocol uses the same input shapes and member names, so requests are
validated against it like every other service's. State lives in the
scenario's "sqs" key: {"queues": [{"account": "...", "name": "...",
"visibility_timeout": 30, "retention": 345600, "redrive": {"dead_letter":
"<name>", "max_receive_count": 3}}]}. This module holds its own lock and
condition: a long poll never holds the fake's state lock.
"""
import hashlib
import threading
import time
import urllib.parse
import uuid

TARGET_PREFIX = 'AmazonSQS.'
CONTENT_TYPE = 'application/x-amz-json-1.0'
OPERATIONS = ('ReceiveMessage', 'DeleteMessageBatch', 'GetQueueAttributes', 'SendMessage')


class SqsError(Exception):
    """An SQS error: code (the __type's short name), message, status, and the
    legacy query code for the x-amzn-query-error header."""

    def __init__(self, code, message, query_code=None, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.query_code = query_code or code


def queue_does_not_exist():
    return SqsError('QueueDoesNotExist', 'The specified queue does not exist.',
                    'AWS.SimpleQueueService.NonExistentQueue')


class Queue:
    def __init__(self, spec):
        self.account = spec['account']
        self.name = spec['name']
        self.visibility_timeout = int(spec.get('visibility_timeout', 30))
        self.retention = int(spec.get('retention', 345600))
        self.redrive = spec.get('redrive')
        self.messages = []          # oldest first: dicts, see send()
        self.received = 0           # receives that returned messages, for tests
        self.deleted = 0

    def arn(self, region='us-east-1'):
        return 'arn:aws:sqs:%s:%s:%s' % (region, self.account, self.name)


class Sqs:
    def __init__(self):
        self.cond = threading.Condition()
        self.queues = {}            # (account, name) -> Queue
        self.waiting = 0            # ReceiveMessage calls waiting now

    def load(self, spec):
        with self.cond:
            self.queues = {}
            for q in (spec or {}).get('queues', []):
                self.queues[(q['account'], q['name'])] = Queue(q)
            self.cond.notify_all()

    # helpers ----------------------------------------------------------------
    def _queue(self, url):
        path = urllib.parse.urlsplit(url or '').path.strip('/').split('/')
        if len(path) != 2:
            raise queue_does_not_exist()
        q = self.queues.get((path[0], path[1]))
        if q is None:
            raise queue_does_not_exist()
        return q

    def _redrive(self, q, now):
        """Moves the visible messages received maxReceiveCount times to the
        dead-letter queue (SQS does this when such a message would be
        received once more)."""
        if not q.redrive:
            return
        dlq = self.queues.get((q.account, q.redrive['dead_letter']))
        limit = int(q.redrive['max_receive_count'])
        keep = []
        for m in q.messages:
            if m['visible_at'] <= now and m['receive_count'] >= limit and dlq is not None:
                m = dict(m, receive_count=0, visible_at=now, receipt=None)
                dlq.messages.append(m)
            else:
                keep.append(m)
        q.messages = keep

    def send(self, q, body, delay=0):
        now = time.time()
        m = {'id': str(uuid.uuid4()), 'body': body, 'md5': hashlib.md5(body.encode()).hexdigest(),
             'sent': now, 'visible_at': now + delay, 'receive_count': 0, 'receipt': None}
        q.messages.append(m)
        self.cond.notify_all()
        return m

    # operations ---------------------------------------------------------------
    def dispatch(self, op, params):
        if op == 'SendMessage':
            with self.cond:
                q = self._queue(params.get('QueueUrl'))
                body = params.get('MessageBody', '')
                if not body:
                    raise SqsError('MissingParameter', 'The request must contain the parameter MessageBody.')
                m = self.send(q, body, int(params.get('DelaySeconds', 0)))
                return {'MessageId': m['id'], 'MD5OfMessageBody': m['md5']}
        if op == 'GetQueueAttributes':
            with self.cond:
                q = self._queue(params.get('QueueUrl'))
                return {'Attributes': self._attributes(q, params.get('AttributeNames') or [])}
        if op == 'ReceiveMessage':
            return self._receive(params)
        if op == 'DeleteMessageBatch':
            return self._delete_batch(params)
        raise SqsError('UnsupportedOperation', 'The fake does not implement %s.' % op)

    def _attributes(self, q, names):
        now = time.time()
        attrs = {
            'QueueArn': q.arn(),
            'VisibilityTimeout': str(q.visibility_timeout),
            'MessageRetentionPeriod': str(q.retention),
            'ApproximateNumberOfMessages': str(sum(1 for m in q.messages if m['visible_at'] <= now)),
            'ApproximateNumberOfMessagesNotVisible': str(sum(1 for m in q.messages if m['visible_at'] > now)),
            'SqsManagedSseEnabled': 'true',
        }
        if q.redrive:
            attrs['RedrivePolicy'] = '{"deadLetterTargetArn":"%s","maxReceiveCount":%d}' % (
                q.arn().rsplit(':', 1)[0] + ':' + q.redrive['dead_letter'], int(q.redrive['max_receive_count']))
        if 'All' in names:
            return attrs
        return {k: v for k, v in attrs.items() if k in names}

    def _receive(self, params):
        n = int(params.get('MaxNumberOfMessages', 1))
        wait = int(params.get('WaitTimeSeconds', 0))
        if not 1 <= n <= 10:
            raise SqsError('InvalidParameterValue',
                           'Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, '
                           'if provided.' % n)
        if not 0 <= wait <= 20:
            raise SqsError('InvalidParameterValue',
                           'Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, '
                           'if provided.' % wait)
        names = set(params.get('AttributeNames') or [])
        deadline = time.time() + wait
        with self.cond:
            # Long polls in progress, for tests: one whose client is gone (a
            # killed consumer) still takes the next message, as SQS does.
            self.waiting += 1
            try:
                while True:
                    q = self._queue(params.get('QueueUrl'))   # a queue deleted meanwhile is an error
                    now = time.time()
                    self._redrive(q, now)
                    ready = [m for m in q.messages if m['visible_at'] <= now][:n]
                    if ready or now >= deadline:
                        break
                    self.cond.wait(min(deadline - now, 0.5))
            finally:
                self.waiting -= 1
            hide = int(params.get('VisibilityTimeout', q.visibility_timeout))
            out = []
            for m in ready:
                m['receive_count'] += 1
                m['visible_at'] = now + hide
                m['receipt'] = uuid.uuid4().hex + uuid.uuid4().hex
                attrs = {'ApproximateReceiveCount': str(m['receive_count']),
                         'SentTimestamp': str(int(m['sent'] * 1000))}
                e = {'MessageId': m['id'], 'ReceiptHandle': m['receipt'], 'MD5OfBody': m['md5'], 'Body': m['body']}
                if names:
                    e['Attributes'] = attrs if 'All' in names else {k: v for k, v in attrs.items() if k in names}
                out.append(e)
            if out:
                q.received += 1
            return {'Messages': out} if out else {}

    def _delete_batch(self, params):
        entries = params.get('Entries') or []
        if not entries:
            raise SqsError('EmptyBatchRequest', 'There should be at least one DeleteMessageBatchRequestEntry in the '
                                                'request.', 'AWS.SimpleQueueService.EmptyBatchRequest')
        if len(entries) > 10:
            raise SqsError('TooManyEntriesInBatchRequest', 'Maximum number of entries per request are 10. You have '
                           'sent %d.' % len(entries), 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest')
        ids = [e.get('Id') for e in entries]
        if len(set(ids)) != len(ids):
            raise SqsError('BatchEntryIdsNotDistinct', 'Id %s repeated.' % ids[0],
                           'AWS.SimpleQueueService.BatchEntryIdsNotDistinct')
        ok, failed = [], []
        with self.cond:
            q = self._queue(params.get('QueueUrl'))
            for e in entries:
                hit = [m for m in q.messages if m['receipt'] is not None and m['receipt'] == e.get('ReceiptHandle')]
                if hit:
                    q.messages.remove(hit[0])
                    q.deleted += 1
                    ok.append({'Id': e['Id']})
                else:
                    failed.append({'Id': e['Id'], 'SenderFault': True, 'Code': 'ReceiptHandleIsInvalid',
                                   'Message': 'The input receipt handle is invalid.'})
        return {'Successful': ok, 'Failed': failed}

    # for tests (the control endpoint) -----------------------------------------
    def stats(self):
        """Per queue ("account/name"): visible, in flight, received, deleted,
        receive counts; and "waiting": the long polls in progress."""
        now = time.time()
        with self.cond:
            out = {'%s/%s' % k: {'visible': sum(1 for m in q.messages if m['visible_at'] <= now),
                                 'in_flight': sum(1 for m in q.messages if m['visible_at'] > now),
                                 'received': q.received, 'deleted': q.deleted,
                                 'receive_counts': [m['receive_count'] for m in q.messages]}
                   for k, q in self.queues.items()}
            out['waiting'] = self.waiting
            return out

    def control(self, data):
        """{"op": "send", "account", "name", "body"}: SendMessage without a
        signature; {"op": "delete_queue", ...}; {"op": "expire", ...}: every
        in-flight message of the queue visible now (a consumer killed)."""
        with self.cond:
            key = (data['account'], data['name'])
            if data['op'] == 'delete_queue':
                self.queues.pop(key, None)
                self.cond.notify_all()
                return {'ok': True}
            if data['op'] == 'create_queue':
                self.queues[key] = Queue(data)
                return {'ok': True}
            q = self.queues.get(key)
            if q is None:
                raise KeyError('no queue %s/%s' % key)
            if data['op'] == 'send':
                m = self.send(q, data['body'])
                return {'MessageId': m['id']}
            if data['op'] == 'expire':
                for m in q.messages:
                    m['visible_at'] = min(m['visible_at'], time.time())
                self.cond.notify_all()
                return {'ok': True}
            raise KeyError('no such op %s' % data['op'])
