#!/usr/bin/python3
"""A fake AWS for the exporter's tests: Organizations, CloudTrail LookupEvents,
STS, SQS, the container-credentials endpoint and IMDSv2, served from a
scenario file.

This file is the HTTP front: it reads the request, tells which service it
is for, verifies the signature (signing.py), applies fault rules
(faults.py), validates the body (validation.py), hands the call to the
service's module (organizations.py, cloudtrail.py, sts.py, sqs.py,
metadata.py) and writes the answer in the service's format. The scenario,
credentials, indexes and statistics live in state.py; /_fake/patch is
patches.py.

Run: /usr/bin/python3 tests/fake_aws/server.py --scenario FILE.json [--port 0]
See README.md next to this file for the scenario format and the control API.
"""
import argparse
import copy
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cloudtrail
import faults
import metadata
import organizations
import patches
import signing
import sqs as sqs_service
import sts
from common import AwsError
from state import State
from validation import service_model, validate_params  # noqa: F401  (validate_params: tests/deploy/validate-ecs.py)

MAX_BODY = 1 << 20
JSON_11 = 'application/x-amz-json-1.1'

SQS = sqs_service.Sqs()   # its own lock: a long poll never holds STATE.lock
FAULTS = faults.FaultRules()
STATE = None


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
        self.send(status, json.dumps(obj), JSON_11)

    def aws_error(self, proto, err):
        if proto == 'sts':
            self.send(err.status, sts.error_body(err), 'text/xml')
        else:
            d = {'__type': err.code, 'message': err.message}
            d.update(err.extra)
            headers = {'x-amzn-ErrorType': err.code}
            query = d.pop('_query', None)
            if query:   # SQS: the query protocol's code, for SDKs of either protocol
                headers['x-amzn-query-error'] = '%s;Sender' % query
            self.send(err.status, json.dumps(d), JSON_11, extra_headers=headers)

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
                    FAULTS.set([])
                return self.send_json(200, {'ok': True})
            if path == '/_fake/scenario':
                STATE.load_scenario(data)
                return self.send_json(200, {'ok': True})
            if path == '/_fake/patch':
                patches.apply_patch(STATE, data if isinstance(data, list) else [data])
                return self.send_json(200, {'ok': True})
            if path == '/_fake/sqs':
                return self.send_json(200, SQS.control(data))
            if path == '/_fake/faults':
                FAULTS.set(data)
                return self.send_json(200, {'ok': True})
            if path == '/_fake/expire':
                STATE.expire(data.get('access_key_id') if data else None)
                return self.send_json(200, {'ok': True})
            return self.send_json(404, {'error': 'no such control endpoint'})
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
            return self.send_json(400, {'error': '%s: %s' % (type(e).__name__, e)})

    # AWS ----------------------------------------------------------------
    def aws(self):
        body = self.read_body()
        target = self.headers.get('X-Amz-Target', '')
        if target.startswith(organizations.TARGET_PREFIX):
            service, proto, op, form = 'organizations', 'json', target[len(organizations.TARGET_PREFIX):], None
        elif target.startswith(cloudtrail.TARGET_PREFIX):
            service, proto, op, form = 'cloudtrail', 'json', target[len(cloudtrail.TARGET_PREFIX):], None
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
            if op not in sts.OPERATIONS:
                self.record_unidentified(op or '(none)')
                return self.aws_error('sts', AwsError('InvalidAction', 'Could not find operation %s for version %s'
                                                      % (op, (form.get('Version') or [''])[0])))
            if (form.get('Version') or [''])[0] != sts.VERSION:
                self.record_unidentified(op)
                return self.aws_error('sts', AwsError('InvalidAction', 'Could not find operation %s for version %s'
                                                      % (op, (form.get('Version') or [''])[0])))

        # who is calling (for stats), before any check
        auth = signing.AUTH_RE.match(self.headers.get('Authorization', '') or '')
        akid = region = account = None
        if auth:
            scope = auth.group(1).split('/')
            akid = scope[0]
            region = scope[2] if len(scope) == 5 else None
            c = STATE.credential(akid)
            account = c['account_id'] if c else None
        STATE.observe(service, op, account, region)
        status, code = 200, 'OK'
        try:
            caller = None
            if op != 'AssumeRoleWithWebIdentity':
                caller = signing.verify(STATE, self.command, self.path, self.headers, service, proto, body, auth)
                account, region = caller['account_id'], caller['region']
            rule = FAULTS.fault_for('%s.%s' % (service, op))
            if rule and rule['kind'] == 'slow':
                time.sleep(float(rule.get('delay_seconds', 2)))
                rule = None
            if rule and rule['kind'] not in ('repeat_token', 'truncate', 'malformed', 'wrong_type'):
                raise faults.Fault(rule)
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
                        res = organizations.dispatch(STATE, op, params, caller)
                    else:
                        res = cloudtrail.lookup_events(STATE, params, caller, region)
                if rule and rule['kind'] == 'repeat_token' and op in ('ListAccounts', 'LookupEvents'):
                    if 'NextToken' in params:
                        res['NextToken'] = params['NextToken']
                if rule and rule['kind'] == 'malformed':
                    return self.send(200, '{"Accounts": [{"Id": "1234<html>not json', JSON_11)
                if rule and rule['kind'] == 'wrong_type':
                    res = copy.deepcopy(res)  # members may be the scenario's own objects
                if rule and rule['kind'] == 'wrong_type' and faults.retype(res, rule['field']):
                    with STATE.lock:
                        STATE.wrong_types += 1
                self.send(200, json.dumps(res), JSON_11,
                          truncate=bool(rule and rule['kind'] == 'truncate'))
            else:
                with STATE.lock:
                    res = sts.dispatch(STATE, op, form, caller)
                if rule and rule['kind'] == 'malformed':
                    return self.send(200, '<%sResponse><html>not xml' % op, 'text/xml')
                self.send(200, res, 'text/xml', truncate=bool(rule and rule['kind'] == 'truncate'))
        except faults.Fault as f:
            kind = f.rule['kind']
            if kind == 'reset':
                status, code = 0, 'reset'
                self._hard_close()
                return
            err = faults.fault_error(service, kind, f.rule)
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

    # metadata endpoints --------------------------------------------------
    def metadata(self, path):
        self.read_body()
        ep = metadata.endpoint(STATE, path)
        if ep is not None:
            service, op, fn = ep
            return self.meta_op(service, op, lambda: fn(STATE, self.command, self.headers, path))
        STATE.observe('metadata', 'NotFound', None, None)
        STATE.record('metadata', 'NotFound', None, None, 404, 'NotFound')
        self.send(404, 'Not Found', 'text/plain')

    def meta_op(self, service, op, fn):
        """Serves a metadata endpoint: fn() -> (status, content type, body),
        with the fault rules of "service.op" applied around it."""
        STATE.observe(service, op, None, None)
        rule = FAULTS.fault_for('%s.%s' % (service, op))
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
        STATE = State(json.load(f), SQS)
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
