"""--web.config.file: basic auth with bcrypt, TLS with a minimum version and
client certificates, strict parsing, extra headers, and SIGHUP reloading the
users without dropping connections."""
import base64
import crypt
import http.client
import os
import signal
import socket
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
import unittest

from harness import RELEASE, Exporter, clean_env, log_lines, wait_until

# With no collector, the body starts with the build info.
FIRST_FAMILY = [b'# HELP aws_org_exporter_build_info A metric with a constant \'1\' value labeled by '
                b'the exporter\'s version, revision and the versions of the libraries it runs with.',
                b'# TYPE aws_org_exporter_build_info gauge']
INVALID_CONFIG = ('level=error caller=main.c module=main msg="invalid web configuration file" '
                  'err="%s"')

CA_SUBJ = '/CN=aws-org-exporter test CA'


def openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1, a client certificate."""
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out',
            'ca.crt', '-days', '2', '-subj', CA_SUBJ, cwd=d)
    for name, ext in (('server', 'subjectAltName=IP:127.0.0.1'),
                      ('client', 'extendedKeyUsage=clientAuth'),
                      ('serveronly', 'extendedKeyUsage=serverAuth')):
        openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', name + '.key', '-out',
                name + '.csr', '-subj', '/CN=' + name, cwd=d)
        with open(os.path.join(d, name + '.ext'), 'w') as f:
            f.write(ext + '\n')
        openssl('x509', '-req', '-in', name + '.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
                '-CAcreateserial', '-out', name + '.crt', '-days', '2', '-extfile', name + '.ext',
                cwd=d)


def bcrypt(password, cost=4):
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << cost))


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for %d' % pid)


def half_sent(port, source='127.0.0.1', tls_context=None):
    """A connection that sent the headers of a GET announcing a body, and
    then nothing: the request stays open until the server's idle timeout."""
    sock = socket.create_connection(('127.0.0.1', port), timeout=10, source_address=(source, 0))
    if tls_context is not None:
        sock = tls_context.wrap_socket(sock, server_hostname='127.0.0.1')
    sock.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n')
    return sock


def auth(user, password):
    return {'Authorization': 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()}


class WebConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        make_pki(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def config(self, text, name='web.yml'):
        path = os.path.join(self.tmp.name, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def tls_context(self, client_cert=False, max_version=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp.name, 'ca.crt'))
        if client_cert:
            name = client_cert if isinstance(client_cert, str) else 'client'
            ctx.load_cert_chain(os.path.join(self.tmp.name, name + '.crt'),
                                os.path.join(self.tmp.name, name + '.key'))
        if max_version:
            ctx.maximum_version = max_version
        return ctx

    def https_get(self, x, path='/metrics', headers=None, **ctx):
        c = http.client.HTTPSConnection('127.0.0.1', x.port, timeout=10,
                                        context=self.tls_context(**ctx))
        try:
            c.request('GET', path, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def test_basic_auth(self):
        path = self.config('basic_auth_users:\n  alice: %s\n' % bcrypt('s3cret'))
        with Exporter('--web.config.file=' + path, binary=RELEASE) as x:
            status, headers, body = x.get()
            self.assertEqual((status, body), (401, b'401 unauthorized\n'))
            self.assertEqual(headers['www-authenticate'], 'Basic realm="aws-org-exporter"')
            self.assertEqual(x.get(headers=auth('alice', 'wrong'))[0], 401)
            self.assertEqual(x.get(headers=auth('bob', 's3cret'))[0], 401)
            self.assertEqual(x.get(headers=auth('alice', 's3cret'))[0], 200)
            self.assertEqual(x.get('/-/healthy')[0], 401)  # probes need auth unless opted in
            self.assertNotIn('s3cret', x.stderr())

    def test_401_is_built_once(self):
        """Every 401 once added a WWW-Authenticate header to one shared
        response: memory grew per request, and after ~650 the 401s were
        empty replies."""
        path = self.config('basic_auth_users:\n  alice: %s\n' % bcrypt('s3cret'), 'many401.yml')
        with Exporter('--web.config.file=' + path, binary=RELEASE) as x:
            c = x.conn()
            def unauthenticated(n):
                for _ in range(n):
                    c.request('GET', '/metrics')
                    r = c.getresponse()
                    self.assertEqual((r.status, r.read()), (401, b'401 unauthorized\n'))
            unauthenticated(200)  # warm up the allocator
            before = rss_kib(x.proc.pid)
            unauthenticated(2000)
            grown = rss_kib(x.proc.pid) - before
            c.request('GET', '/metrics')
            r = c.getresponse()
            r.read()
            c.close()
            self.assertEqual(r.status, 401)
            self.assertEqual(r.msg.get_all('WWW-Authenticate'), ['Basic realm="aws-org-exporter"'])
            self.assertLess(grown, 1024, 'VmRSS grew by %d KiB over 2,000 401s' % grown)
            self.assertEqual(x.get(headers=auth('alice', 's3cret'))[0], 200)

    def test_unauthenticated_clients_cannot_take_scrape_slots(self):
        """--web.max-requests (40) counts authorized scrapes only."""
        path = self.config('basic_auth_users:\n  alice: %s\n' % bcrypt('s3cret'), 'slots.yml')
        with Exporter('--web.config.file=' + path, binary=RELEASE) as x:
            held = [half_sent(x.port) for _ in range(40)]
            try:
                time.sleep(0.3)  # let the server read every request's headers
                status, _, body = x.get(headers=auth('alice', 's3cret'))
                self.assertEqual(status, 200)
                self.assertEqual(body.split(b'\n', 2)[:2], FIRST_FAMILY)
            finally:
                for h in held:
                    h.close()

    def test_unverified_tls_clients_cannot_take_scrape_slots(self):
        path = self.config('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
                           '  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n',
                           'mtls-slots.yml')
        with Exporter('--web.config.file=' + path, binary=RELEASE) as x:
            ctx = self.tls_context()
            held = [half_sent(x.port, tls_context=ctx) for _ in range(40)]
            try:
                time.sleep(0.3)
                self.assertEqual(self.https_get(x, client_cert=True)[0], 200)
            finally:
                for h in held:
                    h.close()

    def test_connections_per_client_address(self):
        """One address cannot hold every connection: past
        --web.max-connections-per-ip its new connections are closed, while
        another address is still served."""
        with Exporter('--web.max-connections-per-ip=5', binary=RELEASE) as x:
            held = [half_sent(x.port) for _ in range(5)]
            try:
                time.sleep(0.3)
                extra = socket.create_connection(('127.0.0.1', x.port), timeout=10)
                extra.sendall(b'GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n')
                try:
                    answer = extra.recv(100)
                except ConnectionResetError:
                    answer = b''
                extra.close()
                self.assertEqual(answer, b'')  # closed without an answer
                c = http.client.HTTPConnection('127.0.0.1', x.port, timeout=10,
                                               source_address=('127.0.0.2', 0))
                c.request('GET', '/-/healthy')
                r = c.getresponse()
                self.assertEqual((r.status, r.read()), (200, b'healthy\n'))
                c.close()
            finally:
                for h in held:
                    h.close()
            # The default leaves room for 64 from one address.
        with Exporter(binary=RELEASE) as x:
            self.assertEqual(subprocess.run([RELEASE, '--help'], capture_output=True,
                                            text=True).stdout.splitlines().count(
                '  --web.max-connections-per-ip=N'), 1)
            held = [half_sent(x.port) for _ in range(63)]
            try:
                time.sleep(0.3)
                self.assertEqual(x.get('/-/healthy')[::2], (200, b'healthy\n'))
            finally:
                for h in held:
                    h.close()

    def test_user_names_do_not_show_in_timing(self):
        """An unknown user costs one bcrypt run too (against a dummy hash of
        the configured cost), as a known user with a wrong password does."""
        path = self.config('basic_auth_users:\n  alice: %s\n' % bcrypt('s3cret', 11),
                           'timing.yml')
        with Exporter('--web.config.file=' + path, binary=RELEASE) as x:
            def took(user):
                t0 = time.monotonic()
                self.assertEqual(x.get(headers=auth(user, 'wrong'))[0], 401)
                return time.monotonic() - t0
            known, unknown = [], []
            for _ in range(5):
                known.append(took('alice'))
                unknown.append(took('mallory'))
            k, u = statistics.median(known), statistics.median(unknown)
            # Before: ~1 ms against ~100 ms. Same order of time now.
            self.assertGreater(u, k / 3, 'unknown %.4f s, known %.4f s' % (u, k))
            self.assertLess(u, k * 3, 'unknown %.4f s, known %.4f s' % (u, k))

    def test_wrong_passwords_do_not_stall_authorized_scrapes(self):
        """bcrypt runs on the auth thread, not on the HTTP event thread: with
        one event thread and a stream of wrong passwords (each a full bcrypt
        run), an authorized scraper, whose password is remembered, is served
        at once. Before, each scrape waited behind the wrong passwords."""
        path = self.config('basic_auth_users:\n  alice: %s\n' % bcrypt('s3cret', 12),
                           'stall.yml')
        with Exporter('--web.config.file=' + path, '--web.threads=1', binary=RELEASE) as x:
            self.assertEqual(x.get(headers=auth('alice', 's3cret'))[0], 200)  # remembered now
            t0 = time.monotonic()
            self.assertEqual(x.get(headers=auth('alice', 'wrong'))[0], 401)
            one_bcrypt = time.monotonic() - t0
            stop = threading.Event()
            def attacker():
                while not stop.is_set():
                    try:
                        x.get(headers=auth('alice', 'wrong-%f' % time.monotonic()), timeout=30)
                    except OSError:
                        pass
            attackers = [threading.Thread(target=attacker) for _ in range(4)]
            for a in attackers:
                a.start()
            try:
                time.sleep(one_bcrypt)  # the attackers' checks are queued or running
                waits = []
                for _ in range(10):
                    t0 = time.monotonic()
                    self.assertEqual(x.get('/-/healthy', headers=auth('alice', 's3cret'))[0], 200)
                    waits.append(time.monotonic() - t0)
            finally:
                stop.set()
                for a in attackers:
                    a.join()
            # Behind four queued bcrypt runs a scrape would wait several of
            # them; served beside them, its median stays well under one.
            self.assertLess(statistics.median(waits), one_bcrypt / 2,
                            'authorized waits %s, one bcrypt %.3f s' % (waits, one_bcrypt))

    def test_unauthenticated_probes(self):
        path = self.config('basic_auth_users:\n  alice: %s\n' % bcrypt('pw'), 'probes.yml')
        with Exporter('--web.config.file=' + path, '--web.unauthenticated-probes',
                      binary=RELEASE) as x:
            self.assertEqual(x.get('/-/healthy')[::2], (200, b'healthy\n'))
            self.assertEqual(x.get('/-/ready')[0], 200)
            self.assertEqual(x.get('/metrics')[0], 401)
            self.assertEqual(x.get('/')[0], 401)

    def test_tls_with_minimum_version_and_headers(self):
        path = self.config('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
                           '  min_version: TLS13\nhttp_server_config:\n  headers:\n'
                           '    Strict-Transport-Security: max-age=31536000\n', 'tls.yml')
        with Exporter('--web.config.file=' + path, binary=RELEASE) as x:
            status, headers, body = self.https_get(x)
            self.assertEqual(status, 200)
            self.assertEqual(headers['strict-transport-security'], 'max-age=31536000')
            self.assertEqual(body.split(b'\n', 2)[:2], FIRST_FAMILY)
            with self.assertRaises(ssl.SSLError):
                self.https_get(x, max_version=ssl.TLSVersion.TLSv1_2)
            with self.assertRaises((http.client.HTTPException, OSError)):
                x.get()  # plain HTTP to the TLS port

    def test_client_certificates(self):
        path = self.config('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
                           '  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n',
                           'mtls.yml')
        with Exporter('--web.config.file=' + path, binary=RELEASE) as x:
            self.assertEqual(self.https_get(x, client_cert=True)[0], 200)
            try:
                status = self.https_get(x)[0]
            except (ssl.SSLError, ConnectionError):
                status = 'refused'
            # Refused in the handshake or answered 403: GnuTLS's choice, by timing.
            self.assertIn(status, (403, 'refused'))
            # Same CA, but the certificate is for servers only (no clientAuth
            # in its extended key usage): not a client credential.
            status, _, body = self.https_get(x, client_cert='serveronly')
            self.assertEqual((status, body), (403, b'403 a client certificate for client '
                                                   b'authentication, signed by the configured '
                                                   b'CA, is required\n'))

    def test_strict_parsing(self):
        cases = [
            ('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  foo: 1\n',
             ':4: unknown key tls_server_config.foo'),
            ('basic_auth_users:\n  alice: plaintext\n',
             ':2: basic_auth_users.alice must be a bcrypt hash ($2y$...)'),
            ('basic_auth_users:\n  alice: $2y$30$' + 'a' * 53 + '\n',
             ':2: basic_auth_users.alice: bcrypt cost 30 is above 14; every wrong password '
             'would cost seconds of CPU (use htpasswd -B -C 10)'),
            ('basic_auth_users:\n  alice: $2y$10$' + 'a' * 52 + '!\n',
             ':2: basic_auth_users.alice must be a bcrypt hash ($2y$...)'),
            ('basic_auth_users:\n  alice: $2y$03$' + 'a' * 53 + '\n',
             ':2: basic_auth_users.alice must be a bcrypt hash ($2y$...)'),
            ('tls_server_config:\n  cert_file: server.crt\n',
             ':2: tls_server_config needs both cert_file and key_file'),
            ('tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n',
             ':2: cannot read %s/nope.crt: No such file or directory' % self.tmp.name),
            ('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
             '  min_version: TLS14\n', ':4: min_version must be TLS10, TLS11, TLS12 or TLS13'),
            ('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
             '  cipher_suites: [TLS_AES_128_GCM_SHA256]\n',
             ':4: cipher_suites is not supported by this exporter (GnuTLS): set min_version'),
            ('http_server_config:\n  http2: true\n',
             ':2: http2: true is not supported (HTTP/1.1 only)'),
            ('basic_auth_user:\n  alice: x\n', ':1: unknown key basic_auth_user'),
            ('a: [unclosed\n', ':2: not YAML: '),
        ]
        for text, msg in cases:
            path = self.config(text, 'bad.yml')
            p = subprocess.run([RELEASE, '--web.config.file=' + path,
                                '--web.listen-address=127.0.0.1:0'], capture_output=True,
                               text=True, timeout=10, env=clean_env())
            self.assertEqual(p.returncode, 1, text)
            want = INVALID_CONFIG % (path + msg)
            lines = log_lines(p.stderr, 'invalid web configuration file')
            if msg.endswith(' not YAML: '):  # libyaml's own wording follows
                self.assertEqual(len(lines), 1, p.stderr)
                self.assertTrue(lines[0].startswith(want[:-1]), lines)
            else:
                self.assertEqual(lines, [want], text)

    def test_config_that_never_ends_is_refused(self):
        """A device or FIFO as the web configuration (or as a PEM file named
        in it) would never end: refused at once, not read."""
        fifo = os.path.join(self.tmp.name, 'fifo.yml')
        os.mkfifo(fifo)
        pem = self.config('tls_server_config:\n  cert_file: /dev/zero\n  key_file: server.key\n',
                          'zero-pem.yml')
        for path, err in (('/dev/zero', 'cannot read /dev/zero: not a regular file'),
                          (fifo, 'cannot read %s: not a regular file' % fifo),
                          (pem, pem + ':2: cannot read /dev/zero: not a regular file')):
            p = subprocess.run([RELEASE, '--web.config.file=' + path,
                                '--web.listen-address=127.0.0.1:0'], capture_output=True,
                               text=True, timeout=10, env=clean_env())
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertEqual(log_lines(p.stderr, 'invalid web configuration file'),
                             [INVALID_CONFIG % err])

    def test_sighup_reloads_users_without_dropping_connections(self):
        path = self.config('basic_auth_users:\n  alice: %s\n' % bcrypt('old'), 'reload.yml')
        with Exporter('--web.config.file=' + path, binary=RELEASE) as x:
            c = x.conn()
            c.request('GET', '/-/healthy', headers=auth('alice', 'old'))
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
            self.config('basic_auth_users:\n  alice: %s\n' % bcrypt('new'), 'reload.yml')
            os.kill(x.proc.pid, signal.SIGHUP)
            reloaded = ['level=info caller=main.c module=main msg="SIGHUP: web configuration '
                        'reloaded (basic auth users)" file=' + path]
            self.assertTrue(wait_until(lambda: log_lines(
                x.stderr(), 'SIGHUP: web configuration reloaded (basic auth users)') == reloaded,
                5), x.stderr())
            # The same keep-alive connection goes on, under the new users.
            c.request('GET', '/-/healthy', headers=auth('alice', 'new'))
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
            c.close()
            self.assertEqual(x.get(headers=auth('alice', 'old'))[0], 401)
            # A broken file on SIGHUP changes nothing.
            self.config('basic_auth_users: [\n', 'reload.yml')
            os.kill(x.proc.pid, signal.SIGHUP)
            # The reason after "not YAML: " is libyaml's wording.
            kept = ('level=error caller=main.c module=main msg="SIGHUP: the web configuration '
                    'file is invalid; keeping the running one" err="%s:2: not YAML: ' % path)
            self.assertTrue(wait_until(lambda: [l[:len(kept)] for l in log_lines(
                x.stderr(), 'SIGHUP: the web configuration file is invalid; keeping the running '
                'one')] == [kept], 5), x.stderr())
            self.assertEqual(x.get(headers=auth('alice', 'new'))[0], 200)
            self.assertIsNone(x.proc.poll())


if __name__ == '__main__':
    unittest.main()
