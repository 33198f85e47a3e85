"""The running exporter over HTTP: status codes, headers, gzip, HEAD, limits,
readiness, slow clients, signals, flags, and the exposition checked by
promtool and by our own checker."""
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (RELEASE, ROOT, TESTING, TIME_SCALE, Exporter, check_exposition, clean_env,
                     RUN_FAILED, family_text, log_lines, run_failed, wait_until)

with open(os.path.join(ROOT, 'VERSION'), encoding='utf-8') as f:
    VERSION = f.read().strip()
CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
NASTY = ('testing_series{name="quote \\" backslash \\\\ newline \\n tab \t utf8 \u00e9"} -0.5\n')
# The testing collector's family with its default three series, refreshed every 1h.
TESTING_SERIES = ('# HELP testing_series Synthetic series. (cached; refreshed every 1h)\n'
                  '# TYPE testing_series gauge\n' + NASTY +
                  ''.join('testing_series{name="series-%d",account_id="123456789012"} %d.25\n' % (i, i)
                          for i in range(3)))
COLLECTOR_UP = ('# HELP aws_org_collector_up 1 when the collector\'s last run succeeded, 0 when it '
                'failed or has not run yet.\n# TYPE aws_org_collector_up gauge\n'
                'aws_org_collector_up{collector="testing"} %d\n')
LANDING_PAGE = (b'<!DOCTYPE html>\n'
                b'<html><head><meta charset="utf-8"><title>AWS Organization Exporter</title></head>\n'
                b'<body><h1>AWS Organization Exporter</h1>\n'
                b'<p>Watches an AWS Organization for accounts leaving it (MITRE ATT&amp;CK T1666).</p>\n'
                b'<ul>\n<li><a href="/metrics">Metrics</a></li>\n<li><a href="/-/healthy">Health</a></li>\n'
                b'<li><a href="/-/ready">Readiness</a></li>\n</ul>\n</body></html>\n')


class HTTPTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = Exporter('--collector.testing.interval=1h')
        ok = wait_until(lambda: cls.x.get('/-/ready')[0] == 200, 20)
        assert ok, cls.x.stderr()

    @classmethod
    def tearDownClass(cls):
        cls.x.__exit__()

    def test_metrics(self):
        status, headers, body = self.x.get()
        self.assertEqual(status, 200)
        self.assertEqual(headers['content-type'], CONTENT_TYPE)
        self.assertEqual(headers['vary'], 'Accept-Encoding')
        self.assertEqual(sorted(headers), ['content-length', 'content-type', 'date', 'vary'])
        self.assertEqual(int(headers['content-length']), len(body))
        text = body.decode()
        self.assertEqual(family_text(text, 'testing_series'), TESTING_SERIES)
        self.assertEqual(family_text(text, 'aws_org_collector_up'), COLLECTOR_UP % 1)
        # The versions are this machine's libraries' and this build's.
        self.assertRegex(text, r'\naws_org_exporter_build_info\{version="[^"]+",revision="[^"]+",'
                         r'libcurl="7\.\d+\.\d+",libmicrohttpd="0\.9\.\d+",jansson="2\.\d+"\} 1\n')
        types = re.findall(r'^# TYPE (\S+) (\S+)$', text, re.M)
        for family in ('process_resident_memory_bytes', 'process_virtual_memory_bytes',
                       'process_open_fds', 'process_max_fds', 'process_start_time_seconds',
                       'aws_org_collector_duration_seconds',
                       'aws_org_collector_last_success_timestamp_seconds'):
            self.assertEqual(types.count((family, 'gauge')), 1, family)
        self.assertEqual(types.count(('process_cpu_seconds_total', 'counter')), 1)
        start = float(re.search(r'\nprocess_start_time_seconds (\S+)\n', text).group(1))
        self.assertLess(abs(start - time.time()), 120)
        check_exposition(self, body)

    def test_gzip_round_trip(self):
        # The live part (process metrics) may be rebuilt between two requests:
        # the gzip body must equal a plain one fetched around it.
        for _ in range(5):
            _, _, before = self.x.get()
            status, headers, gz = self.x.get(headers={'Accept-Encoding': 'gzip'})
            _, _, after = self.x.get()
            self.assertEqual(status, 200)
            self.assertEqual(headers['content-encoding'], 'gzip')
            self.assertEqual(headers['content-type'], CONTENT_TYPE)
            self.assertEqual(headers['vary'], 'Accept-Encoding')
            self.assertEqual(int(headers['content-length']), len(gz))
            plain = gzip.decompress(gz)
            if plain in (before, after):
                break
        # The live part may change between any two requests: the gzip body
        # equals one of the plain bodies around it.
        self.assertIn(plain, (before, after))
        self.assertLess(len(gz), len(plain))
        # q=0 refuses gzip
        _, headers, body = self.x.get(headers={'Accept-Encoding': 'gzip;q=0, identity'})
        self.assertEqual(sorted(headers), ['content-length', 'content-type', 'date', 'vary'])
        self.assertEqual(family_text(body, 'testing_series'), TESTING_SERIES)

    def test_head(self):
        _, get_headers, body = self.x.get()
        c = self.x.conn()
        c.request('HEAD', '/metrics')
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader('Content-Type'), CONTENT_TYPE)
        self.assertEqual(r.read(), b'')
        # Keep-alive: the next request on the same connection works, so no
        # body bytes were left on the wire.
        c.request('GET', '/-/healthy')
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b'healthy\n'))
        c.close()

    def test_keep_alive(self):
        c = self.x.conn()
        for _ in range(3):
            c.request('GET', '/metrics')
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertNotEqual((r.getheader('Connection') or '').lower(), 'close')
            r.read()
        c.close()

    def test_methods_and_paths(self):
        for method in ('POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'):
            for path in ('/metrics', '/', '/-/healthy', '/-/ready'):
                status, headers, body = self.x.get(path, method=method)
                self.assertEqual(status, 405, (method, path))
                self.assertEqual(headers['allow'], 'GET, HEAD')
                if method != 'HEAD':
                    self.assertEqual(body, b'405 method not allowed\n')
        for path in ('/nope', '/metrics/', '/metricsx', '/-/'):
            status, _, body = self.x.get(path)
            self.assertEqual((status, body), (404, b'404 page not found\n'), path)
        status, headers, body = self.x.get('/')
        self.assertEqual(status, 200)
        self.assertEqual(headers['content-type'], 'text/html; charset=utf-8')
        self.assertEqual(body, LANDING_PAGE)
        self.assertEqual(self.x.get('/-/healthy')[::2], (200, b'healthy\n'))
        self.assertEqual(self.x.get('/-/ready')[::2], (200, b'ready\n'))
        # Query strings do not change the route.
        self.assertEqual(self.x.get('/metrics?x=1')[0], 200)

    def test_request_body_is_ignored(self):
        c = self.x.conn()
        c.request('POST', '/metrics', body=b'x' * 100000)
        r = c.getresponse()
        self.assertEqual(r.status, 405)
        r.read()
        c.close()

    def test_slow_clients_do_not_block_scrapes(self):
        slow = []
        try:
            for i in range(60):
                s = socket.create_connection(('127.0.0.1', self.x.port))
                if i % 2 == 0:
                    s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ')  # never finished
                slow.append(s)
            for _ in range(10):
                t0 = time.monotonic()
                status, _, _ = self.x.get(timeout=5)
                self.assertEqual(status, 200)
                self.assertLess(time.monotonic() - t0, 2.0)
                for s in slow[::2]:
                    s.send(b'a')  # a byte at a time
        finally:
            for s in slow:
                s.close()


class LifecycleTest(unittest.TestCase):
    def test_readiness_transition(self):
        with Exporter('--collector.testing.first-delay=2s') as x:
            status, headers, body = x.get('/-/ready')
            self.assertEqual(status, 503)
            self.assertEqual(body, b'not ready: waiting for the first run of testing\n')
            # Scrapes are served meanwhile, without the collector's families.
            status, _, body = x.get()
            self.assertEqual(status, 200)
            self.assertEqual(family_text(body, 'testing_series'), '')
            self.assertEqual(family_text(body, 'aws_org_collector_up'), COLLECTOR_UP % 0)
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 10))
            self.assertEqual(x.get('/-/ready')[2], b'ready\n')
            self.assertEqual(family_text(x.get()[2], 'testing_series'),
                             TESTING_SERIES.replace('every 1h', 'every 1s'))

    def test_failing_collector_keeps_last_snapshot(self):
        with tempfile.TemporaryDirectory() as d:
            flag = os.path.join(d, 'fail')
            with Exporter('--collector.testing.interval=1s', '--collector.testing.fail-file=' + flag) as x:
                self.assertTrue(wait_until(lambda: b'collector="testing"} 1\n' in x.get()[2], 10))
                open(flag, 'w').close()
                self.assertTrue(wait_until(
                    lambda: b'aws_org_collector_up{collector="testing"} 0\n' in x.get()[2], 10))
                body = x.get()[2]
                self.assertEqual(family_text(body, 'testing_series'),
                                 TESTING_SERIES.replace('every 1h', 'every 1s'))
                check_exposition(self, body)
                # Each failed run logs it once: a set of one line.
                self.assertEqual(set(log_lines(x.stderr(), RUN_FAILED)),
                                 {run_failed('testing', 'failing because %s exists' % flag)})
                os.unlink(flag)
                self.assertTrue(wait_until(
                    lambda: b'aws_org_collector_up{collector="testing"} 1\n' in x.get()[2], 10))

    def _stalled_scrape(self, x):
        """A scrape of a body far bigger than the socket buffers, never read."""
        s = socket.create_connection(('127.0.0.1', x.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
        time.sleep(0.5)
        return s

    def test_scrape_limit(self):
        with Exporter('--web.max-requests=1', '--collector.testing.series=400000',
                      '--collector.testing.interval=1h') as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 60))
            stalled = self._stalled_scrape(x)
            try:
                status, headers, body = x.get()
                self.assertEqual(status, 503)
                self.assertEqual(body, b'503 too many concurrent scrapes; raise --web.max-requests\n')
                self.assertEqual(headers['retry-after'], '1')
                # Other paths are not scrapes.
                self.assertEqual(x.get('/-/healthy')[0], 200)
            finally:
                stalled.close()
            self.assertTrue(wait_until(lambda: x.get(headers={'Accept-Encoding': 'gzip'})[0] == 200, 10))

    def test_sigterm_with_scrape_in_flight(self):
        x = Exporter('--collector.testing.series=400000', '--collector.testing.interval=1h')
        try:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 60))
            stalled = self._stalled_scrape(x)
            t0 = time.monotonic()
            os.kill(x.proc.pid, signal.SIGTERM)
            rc = x.proc.wait(5)
            elapsed = time.monotonic() - t0
            stalled.close()
            self.assertEqual(rc, 0, x.stderr())
            self.assertLess(elapsed, 2.0 * TIME_SCALE)
            self.assertEqual(log_lines(x.stderr(), 'stopped'),
                             ['level=info caller=main.c module=main msg=stopped'])
        finally:
            x.__exit__()

    def test_sigint_idle(self):
        x = Exporter()
        try:
            os.kill(x.proc.pid, signal.SIGINT)
            self.assertEqual(x.proc.wait(5), 0)
            self.assertEqual(log_lines(x.stderr())[-2:],
                             ['level=info caller=main.c module=main msg="stopping: finishing the '
                              'responses in flight" signal=Interrupt',
                              'level=info caller=main.c module=main msg=stopped'])
        finally:
            x.__exit__()

    def test_ipv6_loopback(self):
        if not socket.has_ipv6:
            self.fail('no IPv6 support in this Python')
        try:
            socket.socket(socket.AF_INET6).bind(('::1', 0))
        except OSError:
            self.skipTest('no IPv6 loopback on this machine')
        with Exporter(host='::1') as x:
            self.assertEqual(x.get('/-/healthy')[0], 200)

    def test_release_binary_output(self):
        with Exporter(binary=RELEASE) as x:
            status, headers, body = x.get()
            self.assertEqual(status, 200)
            check_exposition(self, body)
            self.assertEqual(x.get('/-/ready')[::2], (200, b'ready\n'))


def help_defaults(text):
    """{flag: default} of --help's text, in its order: both names of
    "-h, --help"; a boolean as --[no-]name; the default a string, True or
    False (enabled, disabled), or None when --help shows none."""
    out, flags = {}, []
    for line in text.splitlines():
        m = re.match(r'^  (-\S.*?)(?:=[A-Z]+)?$', line)
        if m:
            flags = m.group(1).split(', ')
            for f in flags:
                out[f] = None
            continue
        d = re.search(r'\(default: (?:"(.*)"|(enabled|disabled))\)$', line)
        if d and flags:
            for f in flags:
                out[f] = d.group(1) if d.group(2) is None else d.group(2) == 'enabled'
    return out


def readme_flag_rows(readme):
    """[(flags, default cell)] of the table under README.md's "## Flags"."""
    section = readme.split('\n## Flags\n', 1)[1].split('\n## ', 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith('| `'):
            continue
        cells = line.split('|')  # the first two cells hold no "|"
        rows.append((re.findall(r'`(-[^`]*)`', cells[1]), cells[2].strip()))
    return rows


class FlagsTest(unittest.TestCase):
    def run_bin(self, *args):
        return subprocess.run([RELEASE] + list(args), capture_output=True, text=True, timeout=10,
                              env=clean_env())

    def test_bad_flags_exit_2(self):
        cases = [
            (['--bogus'], 'unknown flag --bogus'),
            (['--web.max-requests=lots'],
             'invalid value "lots" for flag --web.max-requests: expected an integer'),
            (['--web.listen-address', 'nowhere'],
             'invalid value "nowhere" for flag --web.listen-address: expected [host]:port, '
             'such as :9813, 127.0.0.1:9813 or [::1]:9813'),
            (['--log.level=loud'],
             'invalid value "loud" for flag --log.level: expected one of debug, info, warn, error'),
            (['--log.format=xml'],
             'invalid value "xml" for flag --log.format: expected one of logfmt, json'),
            (['--web.telemetry-path'], 'flag --web.telemetry-path needs a value'),
        ]
        for args, msg in cases:
            p = self.run_bin(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(p.stderr, 'aws-org-exporter: error: %s; see --help\n' % msg)
            self.assertEqual(p.stdout, '')

    def test_help_lists_every_flag(self):
        p = self.run_bin('--help')
        self.assertEqual(p.returncode, 0)
        lines = p.stdout.splitlines()
        for flag in ('--web.listen-address=VALUE', '--web.telemetry-path=VALUE',
                     '--web.max-requests=N', '--web.max-connections=N',
                     '--web.connection-timeout=DURATION', '--log.level=VALUE',
                     '--log.format=VALUE', '-h, --help', '--version'):
            self.assertEqual(lines.count('  ' + flag), 1, flag)
        self.assertEqual(lines[lines.index('  --web.listen-address=VALUE') + 1],
                         '      Address to listen on for the web interface and telemetry: '
                         '[host]:port. (default: ":9813")')
        self.assertEqual(lines[lines.index('  --web.max-requests=N') + 1],
                         '      Maximum number of scrapes served at once; more get 503. 0 means '
                         'no limit. (default: "40")')
        # Each listed flag is one the parser knows: a bad value for it is
        # reported as a bad value, not as an unknown flag.
        listed = re.findall(r'^  --(?:\[no-\])?([a-z][a-z0-9.-]*)', p.stdout, re.M)
        # The exact list is test_readme_flag_table_matches_help's: here, only
        # that the pattern found the flags checked above.
        self.assertGreaterEqual(len(listed), 8)
        # (A flag that takes any string accepts the value; the bad listen
        # address after it is then what stops the start.)
        for name in listed:
            if name in ('help', 'version', 'web.listen-address'):
                continue
            q = self.run_bin('--%s=\x01' % name, '--web.listen-address=bad')
            self.assertEqual(q.returncode, 2)
            # What follows "expected" depends on each flag's type;
            # test_bad_flags_exit_2 checks each kind of message exactly.
            self.assertTrue(q.stderr.startswith(
                'aws-org-exporter: error: invalid value "\x01" for flag --%s: expected ' % name)
                or q.stderr.startswith(
                'aws-org-exporter: error: invalid value "bad" for flag --web.listen-address'),
                q.stderr)

    def test_readme_flag_table_matches_help(self):
        """README.md's flag table and --help agree: every flag --help lists
        has a row of its own, with the same default; every flag of the table
        exists. The rows about every collector (--collector.<name>...) stand
        for at least one flag each. A flag's default shows in the table as
        `value`; on/off for a boolean; an empty cell for an empty string;
        "the N below" for the watched events, which the README lists."""
        p = self.run_bin('--help')
        self.assertEqual(p.returncode, 0)
        helped = help_defaults(p.stdout)
        self.assertIn('--web.listen-address', helped)
        with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
            readme = f.read()
        rows = readme_flag_rows(readme)
        self.assertGreaterEqual(len(rows), len(helped) // 2)
        documented = {}
        for flags, default in rows:
            for flag in flags:
                if '<' in flag:  # a row about every collector
                    pattern = '^' + re.escape(flag).replace(re.escape('<name>'), '[a-z]+') + '$'
                    self.assertTrue([h for h in helped if re.match(pattern, h)],
                                    'README row %s matches no flag of --help' % flag)
                    continue
                self.assertNotIn(flag, documented, 'README: two rows for ' + flag)
                documented[flag] = default
        self.assertEqual(sorted(set(documented) - set(helped)), [],
                         'in the README flag table, not in --help')
        self.assertEqual(sorted(set(helped) - set(documented)), [],
                         'in --help, not in the README flag table')
        for flag, default in helped.items():
            cell = documented[flag]
            if default is None or default == '':
                want = ''
            elif default in (True, False):
                want = 'on' if default else 'off'
            else:
                m = re.match(r'^the (\d+) below$', cell)
                if m and ',' in default:
                    # The README lists them after "watched by default:".
                    listed = re.search(r'watched by default: ([^)]*)\)', readme)
                    self.assertIsNotNone(listed, 'README: no list of watched events')
                    self.assertEqual(re.findall(r'`([^`]*)`', listed.group(1)),
                                     default.split(','), flag)
                    self.assertEqual(int(m.group(1)), len(default.split(',')), flag)
                    continue
                want = '`%s`' % default
            self.assertEqual(cell, want, 'README default of ' + flag)

    def test_help_of_test_binary_has_collector_flags(self):
        p = subprocess.run([TESTING, '--help'], capture_output=True, text=True, timeout=10,
                           env=clean_env())
        lines = p.stdout.splitlines()
        at = lines.index('  --[no-]collector.testing')
        self.assertEqual(lines[at:at + 4], [
            '  --[no-]collector.testing',
            '      Enable the testing collector: synthetic series for the exporter\'s own tests. '
            '(default: enabled)',
            '  --collector.testing.interval=DURATION',
            '      How often the testing collector refreshes its cached metrics. (default: "1s")'])

    def test_version(self):
        p = self.run_bin('--version')
        self.assertEqual(p.returncode, 0)
        # The revision is the commit this tree was built from; the library
        # versions are this machine's.
        self.assertRegex(p.stdout, r'^aws-org-exporter, version %s \(revision: \S+\)\n'
                         r'  libcurl: \S+\n  libmicrohttpd: \S+\n  jansson: \S+\n\Z'
                         % re.escape(VERSION))

    def test_health_probe(self):
        with Exporter(binary=RELEASE) as x:
            ok = self.run_bin('--health-probe=http://127.0.0.1:%d/-/healthy' % x.port)
            self.assertEqual((ok.returncode, ok.stdout, ok.stderr), (0, '', ''))
            missing = self.run_bin('--health-probe=http://127.0.0.1:%d/nope' % x.port)
            self.assertEqual(missing.returncode, 1)
            self.assertEqual(missing.stderr, 'aws-org-exporter: health probe of '
                             'http://127.0.0.1:%d/nope answered 404\n' % x.port)
            port = x.port
        down = self.run_bin('--health-probe=http://127.0.0.1:%d/-/healthy' % port)
        self.assertEqual(down.returncode, 1)
        # The reason after "failed: " is libcurl's wording.
        self.assertTrue(down.stderr.startswith('aws-org-exporter: health probe of http://127.0.0.1:'
                                               '%d/-/healthy failed: ' % port), down.stderr)

    def test_port_in_use(self):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            s.listen()
            port = s.getsockname()[1]
            p = self.run_bin('--web.listen-address=127.0.0.1:%d' % port)
            self.assertEqual(p.returncode, 1)
            self.assertEqual(log_lines(p.stderr, 'cannot start the web server'),
                             ['level=error caller=main.c module=main msg="cannot start the web '
                              'server" err="cannot listen on \\"127.0.0.1:%d\\" (address in '
                              'use, or not an address of this host)"' % port])

    def test_json_logs(self):
        with Exporter('--log.format=json', binary=RELEASE) as x:
            line = json.loads(x.stderr().splitlines()[0])
            self.assertRegex(line.pop('ts'), r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
            self.assertRegex(line.pop('caller'), r'^main\.c:\d+$')
            self.assertEqual(line, {'level': 'info', 'module': 'main', 'msg': 'listening',
                                    'address': '127.0.0.1:0', 'port': str(x.port),
                                    'version': VERSION, 'telemetry_path': '/metrics'})


if __name__ == '__main__':
    unittest.main()
