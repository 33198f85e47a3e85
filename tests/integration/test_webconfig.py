"""--web.config.file: basic auth with bcrypt, TLS with a minimum version and
client certificates, strict parsing, extra headers, and SIGHUP reloading the
users without dropping connections."""
import base64
import crypt
import http.client
import os
import signal
import ssl
import subprocess
import tempfile
import unittest

from harness import RELEASE, Exporter, clean_env, wait_until

CA_SUBJ = '/CN=aws-org-exporter test CA'


def openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1, a client certificate."""
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out',
            'ca.crt', '-days', '2', '-subj', CA_SUBJ, cwd=d)
    for name, ext in (('server', 'subjectAltName=IP:127.0.0.1'), ('client', 'extendedKeyUsage=clientAuth')):
        openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', name + '.key', '-out',
                name + '.csr', '-subj', '/CN=' + name, cwd=d)
        with open(os.path.join(d, name + '.ext'), 'w') as f:
            f.write(ext + '\n')
        openssl('x509', '-req', '-in', name + '.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
                '-CAcreateserial', '-out', name + '.crt', '-days', '2', '-extfile', name + '.ext',
                cwd=d)


def bcrypt(password):
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))


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
            ctx.load_cert_chain(os.path.join(self.tmp.name, 'client.crt'),
                                os.path.join(self.tmp.name, 'client.key'))
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
            self.assertTrue(body.startswith(b'# HELP '))
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
            self.assertIn(status, (403, 'refused'))

    def test_strict_parsing(self):
        cases = [
            ('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  foo: 1\n',
             ':4: unknown key tls_server_config.foo'),
            ('basic_auth_users:\n  alice: plaintext\n',
             ':2: basic_auth_users.alice must be a bcrypt hash ($2y$...)'),
            ('basic_auth_users:\n  alice: $2y$30$' + 'a' * 53 + '\n',
             ':2: basic_auth_users.alice: bcrypt cost 30 is above 14'),
            ('basic_auth_users:\n  alice: $2y$10$' + 'a' * 52 + '!\n',
             ':2: basic_auth_users.alice must be a bcrypt hash ($2y$...)'),
            ('basic_auth_users:\n  alice: $2y$03$' + 'a' * 53 + '\n',
             ':2: basic_auth_users.alice must be a bcrypt hash ($2y$...)'),
            ('tls_server_config:\n  cert_file: server.crt\n',
             ':2: tls_server_config needs both cert_file and key_file'),
            ('tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n',
             ':2: cannot read '),
            ('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
             '  min_version: TLS14\n', ':4: min_version must be TLS10, TLS11, TLS12 or TLS13'),
            ('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
             '  cipher_suites: [TLS_AES_128_GCM_SHA256]\n',
             ':4: cipher_suites is not supported by this exporter (GnuTLS): set min_version'),
            ('http_server_config:\n  http2: true\n', ':2: http2: true is not supported'),
            ('basic_auth_user:\n  alice: x\n', ':1: unknown key basic_auth_user'),
            ('a: [unclosed\n', ': not YAML: '),
        ]
        for text, msg in cases:
            path = self.config(text, 'bad.yml')
            p = subprocess.run([RELEASE, '--web.config.file=' + path,
                                '--web.listen-address=127.0.0.1:0'], capture_output=True,
                               text=True, timeout=10, env=clean_env())
            self.assertEqual(p.returncode, 1, text)
            self.assertIn('msg="invalid web configuration file" err="%s' % path, p.stderr)
            self.assertIn(msg, p.stderr, text)

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
            self.assertTrue(wait_until(lambda: 'web configuration reloaded' in x.stderr(), 5))
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
            self.assertTrue(wait_until(lambda: 'keeping the running one' in x.stderr(), 5))
            self.assertEqual(x.get(headers=auth('alice', 'new'))[0], 200)
            self.assertIsNone(x.proc.poll())


if __name__ == '__main__':
    unittest.main()
