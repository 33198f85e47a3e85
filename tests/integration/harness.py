"""Starting and stopping the exporter (and other servers) for tests.

Every process started here listens on 127.0.0.1, on a port the kernel chose
(the exporter is started with port 0 and logs the port it bound), and is
stopped by its PID when the test ends, even when it fails."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import http.client

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
RELEASE = os.path.join(ROOT, 'aws-org-exporter')
TESTING = os.path.join(ROOT, 'build', 'aws-org-exporter-testing')
# EXPORTER_UNDER_TEST and EXPORTER_RELEASE_UNDER_TEST run the exporters of a
# test module from other builds (tests/run: the ThreadSanitizer pass over the
# HTTP tests). Such builds are several times slower: TIME_SCALE stretches the
# few bounds that tests put on the exporter's own deadlines.
TESTING = os.environ.get('EXPORTER_UNDER_TEST') or TESTING
RELEASE = os.environ.get('EXPORTER_RELEASE_UNDER_TEST') or RELEASE
TIME_SCALE = 2.0 if os.environ.get('EXPORTER_UNDER_TEST') else 1.0
SANITIZER_REPORT = re.compile(r'^(WARNING: ThreadSanitizer|ERROR: AddressSanitizer|'
                              r'ERROR: LeakSanitizer|SUMMARY: UndefinedBehaviorSanitizer|'
                              r'\S+:\d+:\d+: runtime error: )', re.M)
CHECKER = os.path.join(ROOT, 'tests', 'check_exposition.py')
AWS_COLLECTORS = ['organizations', 'cloudtrail', 'scp']


def clean_env():
    """The environment for a process under test: no AWS settings of this
    machine's, and never the instance metadata service (link-local, not
    loopback: no test may send a packet there)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith('AWS_')}
    e['AWS_EC2_METADATA_DISABLED'] = 'true'
    e['AWS_CONFIG_FILE'] = '/nonexistent/aws-config'
    e['AWS_SHARED_CREDENTIALS_FILE'] = '/nonexistent/aws-credentials'
    e.setdefault('ASAN_OPTIONS', 'detect_leaks=0:abort_on_error=0')
    return e


class Exporter:
    """A running exporter; use as a context manager."""

    def __init__(self, *args, binary=TESTING, host='127.0.0.1', env=None, aws=False):
        self.log = tempfile.NamedTemporaryFile(prefix='exporter-', suffix='.log', delete=False)
        e = clean_env()
        e.update(env or {})
        addr = '[%s]:0' % host if ':' in host else '%s:0' % host
        # aws: False (the core's tests: no AWS collector), True (all of them)
        # or the list of AWS collectors to run.
        enabled = AWS_COLLECTORS if aws is True else (aws or [])
        args = ['--no-collector.' + c for c in AWS_COLLECTORS if c not in enabled] + list(args)
        self.proc = subprocess.Popen([binary, '--web.listen-address=' + addr] + list(args),
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=e)
        self.host = host
        self.port = self._wait_port()

    def _wait_port(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = re.search(r'msg=listening .*port=(\d+)|"msg":"listening".*"port":"(\d+)"',
                          self.stderr())
            if m:
                return int(m.group(1) or m.group(2))
            if self.proc.poll() is not None:
                raise RuntimeError('exporter exited %s: %s' % (self.proc.returncode, self.stderr()))
            time.sleep(0.02)
        self.proc.kill()  # never left running: __exit__ is not reached
        self.proc.wait()
        raise RuntimeError('exporter did not report its port: ' + self.stderr())

    def stderr(self):
        with open(self.log.name, encoding='utf-8', errors='replace') as f:
            return f.read()

    def conn(self, timeout=10):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def get(self, path='/metrics', method='GET', headers=None, timeout=10):
        """Returns (status, headers as a dict of lower-case names, body bytes)."""
        c = self.conn(timeout)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        log = self.stderr()
        os.unlink(self.log.name)
        # A sanitizer's report fails the test that ran the exporter, even
        # when every answer it gave was right.
        m = SANITIZER_REPORT.search(log)
        if m and exc[0] is None:
            raise AssertionError('sanitizer report in the exporter\'s log:\n' +
                                 log[m.start():m.start() + 4000])


def check_exposition(testcase, body):
    """body (bytes) passes promtool check metrics and tests/check_exposition.py,
    and neither says anything."""
    for cmd in (['promtool', 'check', 'metrics'], ['/usr/bin/python3', CHECKER, '-']):
        p = subprocess.run(cmd, input=body, capture_output=True)
        testcase.assertEqual(p.returncode, 0, '%s: %s%s' % (cmd[0], p.stdout, p.stderr))
        # promtool's linter prints problems but may still exit 0.
        testcase.assertEqual(p.stdout + p.stderr, b'', '%s said something' % cmd[0])


def free_port():
    """A port free right now on 127.0.0.1, for servers that cannot report theirs."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


PROBE = os.path.join(ROOT, 'build', 'aws-probe')
FAKE_SERVER = os.path.join(ROOT, 'tests', 'fake_aws', 'server.py')
SCENARIOS = os.path.join(ROOT, 'tests', 'fake_aws', 'scenarios')
MGMT_KEY = ('AKIAFAKEMANAGEMENT01', 'fakeManagementSecretKey/0000000000000000')


class FakeAWS:
    """The fake AWS (tests/fake_aws) on a port of its own; a context manager."""

    def __init__(self, scenario='basic.json'):
        path = scenario if os.path.isabs(scenario) else os.path.join(SCENARIOS, scenario)
        self.err = tempfile.NamedTemporaryFile(prefix='fake-aws-', suffix='.log', delete=False)
        self.proc = subprocess.Popen(['/usr/bin/python3', FAKE_SERVER, '--scenario', path,
                                      '--port', '0'], stdout=subprocess.PIPE, stderr=self.err,
                                     text=True)
        line = self.proc.stdout.readline()
        m = re.match(r'listening port=(\d+)', line)
        if not m:
            self.stop()
            raise RuntimeError('fake AWS did not start: %r' % line)
        self.port = int(m.group(1))
        self.url = 'http://127.0.0.1:%d' % self.port

    def control(self, path, body=None, method=None):
        import json
        import urllib.request
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + '/_fake/' + path, data=data,
                                     method=method or ('POST' if data is not None else 'GET'))
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def stats(self):
        return self.control('stats')

    def faults(self, rules):
        return self.control('faults', rules)

    def patch(self, ops):
        return self.control('patch', ops)

    def scenario(self, doc):
        return self.control('scenario', doc)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        os.unlink(self.err.name)


def env_keys(key=MGMT_KEY):
    return {'AWS_ACCESS_KEY_ID': key[0], 'AWS_SECRET_ACCESS_KEY': key[1]}


def metric_values(body, name):
    """{label-string: value} of the samples of one metric name, from text."""
    out = {}
    for line in body.decode('utf-8').split('\n'):
        if line.startswith(name + '{') or line.startswith(name + ' '):
            series, value = line.rsplit(' ', 1)
            out[series[len(name):]] = float(value)
    return out


def parse_exposition(body):
    """Parses text exposition into [(name, {label: value}, float)], unescaping
    label values as Prometheus does (\\\\, \\", \\n)."""
    out = []
    text = body.decode('utf-8') if isinstance(body, bytes) else body
    for line in text.split('\n'):
        if not line or line.startswith('#'):
            continue
        i = 0
        while i < len(line) and line[i] not in '{ ':
            i += 1
        name, labels = line[:i], {}
        if i < len(line) and line[i] == '{':
            i += 1
            while line[i] != '}':
                eq = line.index('=', i)
                key = line[i:eq]
                assert line[eq + 1] == '"', line
                j, val = eq + 2, []
                while line[j] != '"':
                    if line[j] == '\\':
                        val.append({'\\': '\\', '"': '"', 'n': '\n'}[line[j + 1]])
                        j += 2
                    else:
                        val.append(line[j])
                        j += 1
                labels[key] = ''.join(val)
                i = j + 1
                if line[i] == ',':
                    i += 1
            i += 1
        out.append((name, labels, float(line[i + 1:])))
    return out


def json_quote(s):
    """A YAML-safe quoted string (JSON strings are YAML)."""
    import json
    return json.dumps(s)


class Prometheus:
    """A real Prometheus server (Debian's package) scraping targets every
    second, with a temporary data directory; a context manager."""

    def __init__(self, targets, job='aws-org-exporter', job_extra='', rule_files=()):
        """job_extra: more YAML lines of the scrape job, indented by 4;
        rule_files: rule files to load (evaluated every second)."""
        import shutil
        prom = shutil.which('prometheus')
        if prom is None:
            raise RuntimeError('Debian package prometheus is not installed')
        self.dir = tempfile.TemporaryDirectory()
        config = os.path.join(self.dir.name, 'prometheus.yml')
        with open(config, 'w') as f:
            f.write('global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
                    + ('rule_files:\n' if rule_files else '')
                    + ''.join('  - %s\n' % json_quote(r) for r in rule_files)
                    + 'scrape_configs:\n  - job_name: %s\n    static_configs:\n'
                    '      - targets: [%s]\n' % (job, ', '.join('"%s"' % t for t in targets))
                    + job_extra)
        self.port = free_port()
        self.log = open(os.path.join(self.dir.name, 'prometheus.log'), 'w')
        self.proc = subprocess.Popen(
            [prom, '--config.file=' + config, '--storage.tsdb.path=' + self.dir.name + '/data',
             '--web.listen-address=127.0.0.1:%d' % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, q):
        """The result vector of an instant query; [] while Prometheus is not up."""
        import json
        import urllib.parse
        import urllib.request
        url = 'http://127.0.0.1:%d/api/v1/query?%s' % (self.port, urllib.parse.urlencode({'query': q}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                data = json.load(r)
        except OSError:
            return []
        return data['data']['result'] if data.get('status') == 'success' else []

    def logs(self):
        with open(self.log.name) as f:
            return f.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        self.dir.cleanup()


def family_text(body, name):
    """The exact text of one metric family as the exporter wrote it: its HELP
    and TYPE lines and every sample line up to the next family; '' when the
    family is absent. body: bytes or str."""
    text = body.decode('utf-8') if isinstance(body, bytes) else body
    start = text.find('# HELP %s ' % name)
    if start < 0:
        return ''
    end = text.find('\n# HELP ', start)
    return text[start:] if end < 0 else text[start:end + 1]


# What changes from run to run (the timestamp) or from edit to edit (the
# caller's line number) in a logfmt line; the rest is compared exactly.
_LOG_VOLATILE = re.compile(r'^ts=\S+ |(?<=caller=)([\w./-]+):\d+', re.M)


def log_lines(log, msg=None):
    """The exporter's logfmt lines with the ts field dropped and the caller's
    line number masked ("caller=main.c"); with msg, only the lines of that
    message."""
    out = []
    quoted = ('msg="%s"' % msg.replace('"', '\\"')) if msg and ' ' in msg else 'msg=%s' % msg
    for line in log.split('\n'):
        if not line:
            continue
        line = _LOG_VOLATILE.sub(lambda m: m.group(1) or '', line)
        if msg is None or (' %s ' % quoted) in line + ' ':
            out.append(line)
    return out


RUN_FAILED = 'collector run failed, keeping its last good snapshot'


def run_failed(collector, err):
    """The line (as log_lines gives it) of a failed run of collector; err as
    the collector wrote it, quoted here as the log quotes it."""
    return ('level=warn caller=registry.c module=registry msg="%s" collector=%s err="%s"'
            % (RUN_FAILED, collector, err.replace('\\', '\\\\').replace('"', '\\"')))
