"""The AWS client against the fake AWS: every credential source, refresh
before expiry, retries under throttling, the LookupEvents pace, and no
secret in the log even at debug level. The fake recomputes every signature
with botocore; each test asserts that none failed."""
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (MGMT_KEY, PROBE, RUN_FAILED, TESTING, Exporter, FakeAWS, clean_env,
                     env_keys, log_lines, metric_values, run_failed, wait_until)

WEB_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.fake-irsa-token.signature'
CONTAINER_TOKEN = 'fake-container-token'
ROLE = 'arn:aws:iam::111111111111:role/aws-org-exporter'
SHORT_ROLE = 'arn:aws:iam::111111111111:role/aws-org-exporter-short'
SESSION_READY = ('level=info caller=aws_session.c module=aws msg="AWS session ready" '
                 'region=us-east-1 credentials=%s role_arn=%s')
SECRETS = [MGMT_KEY[1], WEB_TOKEN, CONTAINER_TOKEN, 'fakeMemberSecretKey/22222222222222222222']


class CredentialSourcesTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeAWS()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.fake.stop()
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def run_exporter(self, env, *args, expect_source=None, role_arn='""'):
        """Starts the exporter on the fake; waits for a good listing; returns its log."""
        with Exporter('--aws.endpoint-url=' + self.fake.url, '--log.level=debug',
                      '--no-collector.testing', *args,
                      binary=TESTING, aws=['organizations'], env=env) as x:
            ok = wait_until(lambda: b'aws_org_collector_up{collector="organizations"} 1\n'
                            in x.get()[2], 20)
            body = x.get()[2]
            log = x.stderr()
        self.assertTrue(ok, log[-3000:])
        self.assertEqual(metric_values(body, 'aws_org_accounts')['{state="ACTIVE"}'], 23)
        stats = self.fake.stats()
        self.assertEqual(stats['bad_signatures'], 0, stats['requests'][-5:])
        self.assertEqual(stats['invalid_requests'], 0)
        if expect_source:
            self.assertEqual(log_lines(log, 'AWS session ready'),
                             [SESSION_READY % (expect_source, role_arn)])
        for secret in SECRETS:
            self.assertNotIn(secret, log)
        return stats, log

    def test_environment(self):
        self.run_exporter(env_keys(), expect_source='environment')

    def test_profile_with_role_and_source_profile(self):
        cfg = self.write('config', '[profile base]\nregion = us-east-1\n\n'
                         '[profile exporter]\nrole_arn = %s\nsource_profile = base\n'
                         'role_session_name = exporter-test\nduration_seconds = 1800\n' % ROLE)
        creds = self.write('credentials', '[base]\naws_access_key_id = %s\n'
                           'aws_secret_access_key = %s\n' % MGMT_KEY)
        stats, _ = self.run_exporter({'AWS_PROFILE': 'exporter', 'AWS_CONFIG_FILE': cfg,
                                      'AWS_SHARED_CREDENTIALS_FILE': creds},
                                     expect_source='profile')
        self.assertEqual(stats['calls'].get('sts.AssumeRole'), 1)
        self.assertEqual([c['arn'].split('/')[1] for c in stats['credentials_issued']],
                         ['aws-org-exporter'])

    def test_credential_process(self):
        doc = self.write('creds.json', '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s",'
                         ' "Expiration": "2099-01-01T00:00:00Z"}' % MGMT_KEY)
        cfg = self.write('config', '[profile proc]\ncredential_process = /bin/cat %s\n' % doc)
        self.run_exporter({'AWS_PROFILE': 'proc', 'AWS_CONFIG_FILE': cfg},
                          expect_source='process')

    def test_missing_profile_is_reported(self):
        with Exporter('--aws.endpoint-url=' + self.fake.url, binary=TESTING, aws=['organizations'],
                      env={'AWS_PROFILE': 'nope'}) as x:
            self.assertTrue(self.wait_run_failed(
                x, 'profile "nope" not found in the AWS config or credentials files'), x.stderr())

    @staticmethod
    def wait_run_failed(x, err):
        """True once the organizations collector's failed runs logged err, and only err."""
        want = {run_failed('organizations', err)}
        return wait_until(lambda: set(log_lines(x.stderr(), RUN_FAILED)) == want, 10)

    def test_web_identity(self):
        token = self.write('token', WEB_TOKEN + '\n')
        stats, _ = self.run_exporter({'AWS_ROLE_ARN': ROLE, 'AWS_WEB_IDENTITY_TOKEN_FILE': token,
                                      'AWS_ROLE_SESSION_NAME': 'irsa-test'},
                                     expect_source='web_identity')
        self.assertEqual(stats['calls'].get('sts.AssumeRoleWithWebIdentity'), 1)

    def test_container_full_uri_with_token_file(self):
        token = self.write('ctoken', CONTAINER_TOKEN)
        stats, _ = self.run_exporter({
            'AWS_CONTAINER_CREDENTIALS_FULL_URI': self.fake.url + '/v2/credentials/fake-task',
            'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE': token,
            'AWS_CONTAINER_AUTHORIZATION_TOKEN': 'wrong-token-the-file-wins'},
            expect_source='container')
        self.assertEqual(stats['calls'].get('container.GetCredentials'), 1)

    def test_container_full_uri_host_not_allowed(self):
        # http to a host that is neither loopback nor a container endpoint is
        # refused before any request is made.
        with Exporter('--aws.endpoint-url=' + self.fake.url, binary=TESTING, aws=['organizations'],
                      env={'AWS_CONTAINER_CREDENTIALS_FULL_URI': 'http://example.com/creds'}) as x:
            self.assertTrue(self.wait_run_failed(
                x, 'AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http to loopback, '
                '169.254.170.2, 169.254.170.23 or fd00:ec2::23'), x.stderr())
            self.assertEqual(metric_values(x.get()[2], 'aws_org_collector_up')
                             ['{collector="organizations"}'], 0)

    def test_imdsv2(self):
        stats, _ = self.run_exporter({'AWS_EC2_METADATA_SERVICE_ENDPOINT': self.fake.url,
                                      'AWS_EC2_METADATA_DISABLED': 'false'},
                                     expect_source='imds')
        self.assertEqual(stats['calls'].get('imds.GetToken'), 1)
        self.assertEqual(stats['calls'].get('imds.GetCredentials'), 2)  # role name, then keys

    def test_role_arn_flag_on_environment(self):
        stats, log = self.run_exporter(env_keys(), '--aws.role-arn=' + ROLE,
                                       expect_source='environment', role_arn=ROLE)
        self.assertEqual(stats['calls'].get('sts.AssumeRole'), 1)

    def test_role_arn_with_external_id(self):
        stats, _ = self.run_exporter(
            env_keys(), '--aws.role-arn=arn:aws:iam::111111111111:role/aws-org-exporter-external',
            '--aws.external-id=fake-external-id-1')
        self.assertEqual(stats['calls'].get('sts.AssumeRole'), 1)

    def test_short_lived_credentials_refresh_before_expiry(self):
        # 20 s credentials, a listing every second: a new set must be taken
        # while the old one is still valid, and AWS never sees an expired one.
        with Exporter('--aws.endpoint-url=' + self.fake.url, '--aws.role-arn=' + SHORT_ROLE,
                      '--collector.organizations.interval=1s', binary=TESTING, aws=['organizations'],
                      env=env_keys()) as x:
            ok = wait_until(lambda: len(self.fake.stats()['credentials_issued']) >= 2, 30, 0.5)
            body = x.get()[2]
        stats = self.fake.stats()
        self.assertTrue(ok, stats['credentials_issued'])
        first, second = stats['credentials_issued'][:2]
        self.assertLess(second['issued_at'], first['expiration'])
        self.assertEqual(stats['bad_signatures'], 0)
        self.assertEqual(stats['errors_returned'], {})  # no expired token, no other error
        expiry = metric_values(body, 'aws_org_credentials_expiry_timestamp_seconds')
        self.assertEqual(list(expiry), ['{source="assume_role"}'])

    def test_expired_token_forces_refresh_and_one_retry(self):
        with Exporter('--aws.endpoint-url=' + self.fake.url, '--aws.role-arn=' + ROLE,
                      '--collector.organizations.interval=1s', binary=TESTING, aws=['organizations'],
                      env=env_keys()) as x:
            self.assertTrue(wait_until(lambda: b'collector="organizations"} 1\n' in x.get()[2], 20))
            self.fake.control('expire', {})
            ok = wait_until(lambda: len(self.fake.stats()['credentials_issued']) >= 2, 20, 0.5)
            self.assertTrue(ok)
            time.sleep(1.5)
            self.assertEqual(metric_values(x.get()[2], 'aws_org_collector_up')
                             ['{collector="organizations"}'], 1)
        # One call met the expired token; its retry, on fresh credentials, did not.
        self.assertEqual(self.fake.stats()['errors_returned'], {'ExpiredTokenException': 1})

    def test_no_credentials_is_reported_not_fatal(self):
        with Exporter('--aws.endpoint-url=' + self.fake.url, binary=TESTING, aws=['organizations']) as x:
            self.assertTrue(self.wait_run_failed(
                x, 'no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, '
                'web identity or container variables (IMDS is disabled)'), x.stderr())
            status, _, body = x.get()
            self.assertEqual(status, 200)
            self.assertEqual(metric_values(body, 'aws_org_collector_up')
                             ['{collector="organizations"}'], 0)
        self.assertEqual(self.fake.stats()['calls'], {})


HELPER_STDERR = 'helper diagnostic: session=do-not-log-me-0123456789\n'
HELPER_SLEEP = ['sleep', '611']  # what a hanging helper becomes: told apart from other sleeps
HELPER_YES = ['yes', 'A' * 60]  # a helper that writes without end
# The cloudtrail collector's first call: which account's history it reads.
FIRST_CALL = 'GetCallerIdentity'


def helper_alive(pid):
    """Whether pid is still a helper of these tests (not a zombie, not a reused pid)."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmd = f.read().split(b'\0')[:-1]
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        return False
    return state != 'Z' and [c.decode() for c in cmd] in (HELPER_SLEEP, HELPER_YES)


class CredentialProcessDeadlineTest(unittest.TestCase):
    """credential_process runs with a deadline, in a process group of its own,
    with only stdin (/dev/null), stdout and stderr (pipes of the exporter's);
    a slow refresh blocks no thread that still holds valid credentials."""

    def setUp(self):
        self.fake = FakeAWS()
        self.tmp = tempfile.TemporaryDirectory()
        self.pids = self.path('pids')

    def tearDown(self):
        # The exporter kills a helper when its deadline passes; one still
        # hanging when the exporter stops is left behind: kill it by its pid.
        for pid in self.helper_pids():
            if helper_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.fake.stop()
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    @staticmethod
    def first_line(path):
        """The first whole line of path (without its newline), or None while
        the file is missing or its first line is not written out yet."""
        try:
            with open(path) as f:
                line = f.readline()
        except FileNotFoundError:
            return None
        return line[:-1] if line.endswith('\n') else None

    def write(self, name, text):
        with open(self.path(name), 'w') as f:
            f.write(text)
        return self.path(name)

    def helper_pids(self):
        try:
            with open(self.pids) as f:
                return [int(p) for p in f.read().split()]
        except FileNotFoundError:
            return []

    def profile(self, script, expiration='2099-01-01T00:00:00Z'):
        """An AWS config whose profile "helper" runs script (sh); returns the env."""
        self.write('creds.json', '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", '
                   '"Expiration": "%s"}' % (MGMT_KEY + (expiration,)))
        helper = self.write('helper.sh', '#!/bin/sh\necho $$ >> %s\n' % self.pids + script)
        cfg = self.write('config', '[profile helper]\ncredential_process = /bin/sh %s\n' % helper)
        return {'AWS_PROFILE': 'helper', 'AWS_CONFIG_FILE': cfg}

    def exporter(self, env, collectors, timeout):
        # One watched name: a CloudTrail run is then one LookupEvents (the
        # eighteen default names take ~9 s at 2 calls a second, longer than
        # these tests' windows).
        return Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                        '--aws.credential-process-timeout=' + timeout,
                        '--collector.cloudtrail.events=LeaveOrganization',
                        *['--collector.%s.interval=1s' % c for c in collectors],
                        binary=TESTING, aws=collectors, env=env)

    @staticmethod
    def up(x, collector):
        return metric_values(x.get()[2], 'aws_org_collector_up').get('{collector="%s"}' % collector)

    @staticmethod
    def failures(log, collector):
        """The err of each logged failed run of collector."""
        return re.findall(r'msg="collector run failed, keeping its last good snapshot" '
                          r'collector=%s err="([^"]*)"' % collector, log)

    def hanging_helper(self):
        """(pid, {fd: target}) of a helper hanging right now, or None."""
        for pid in self.helper_pids():
            try:
                fds = {int(fd): os.readlink('/proc/%d/fd/%s' % (pid, fd))
                       for fd in os.listdir('/proc/%d/fd' % pid)}
            except OSError:
                continue
            if helper_alive(pid):
                return pid, fds
        return None

    def test_hung_first_fetch_times_out_then_recovers(self):
        ok = self.path('ok')
        env = self.profile("printf '%%s' '%s' >&2\n"
                           'if [ -e %s ]; then exec cat %s; fi\n'
                           '%s &\necho $! >> %s\nexec %s\n'
                           % (HELPER_STDERR, ok, self.path('creds.json'), ' '.join(HELPER_SLEEP),
                              self.pids, ' '.join(HELPER_SLEEP)))
        with self.exporter(env, ['cloudtrail'], '2s') as x:
            # A hanging helper: its own process group; stdin /dev/null,
            # stdout and stderr two pipes (not the exporter's log), nothing else.
            seen = wait_until(self.hanging_helper, 10)
            self.assertIsNotNone(seen, x.stderr()[-3000:])
            pid, fds = seen
            self.assertNotEqual(os.getpgid(pid), os.getpgid(x.proc.pid))
            self.assertEqual(sorted(fds), [0, 1, 2], fds)
            self.assertEqual(fds[0], '/dev/null')
            # A pipe's inode number is the kernel's: masked.
            self.assertRegex(fds[1], r'^pipe:\[\d+\]$')
            self.assertRegex(fds[2], r'^pipe:\[\d+\]$')
            self.assertNotEqual(fds[1], fds[2])

            # The run fails after the deadline, and says why.
            failed = wait_until(lambda: self.failures(x.stderr(), 'cloudtrail'), 10)
            self.assertTrue(failed, x.stderr()[-3000:])
            self.assertEqual(failed[0], '%s: CredentialsError: credential_process '
                             'timed out after 2s and was killed' % FIRST_CALL)
            body = x.get()[2]
            self.assertEqual(self.up(x, 'cloudtrail'), 0)
            duration = metric_values(body, 'aws_org_collector_duration_seconds')
            self.assertGreaterEqual(duration['{collector="cloudtrail"}'], 2.0)
            self.assertLess(duration['{collector="cloudtrail"}'], 4.0)
            self.assertEqual(x.get('/-/ready')[0], 200)
            log = x.stderr()
            # Once per timed-out fetch: a set of one line.
            self.assertEqual(set(log_lines(log, 'credential_process timed out after 2s and was '
                                                'killed')),
                             {'level=warn caller=creds_process.c module=aws msg="credential_process timed '
                              'out after 2s and was killed" profile=helper stderr_bytes=%d'
                              % len(HELPER_STDERR)})
            # The whole group of the timed-out helper is gone: the helper and
            # the sleep it left in the background (each call logs both pids).
            first_call = self.helper_pids()[:2]
            self.assertEqual(len(first_call), 2)
            self.assertTrue(wait_until(lambda: not any(map(helper_alive, first_call)), 1))

            # The helper works again: the next run succeeds.
            open(ok, 'w').close()
            self.assertTrue(wait_until(lambda: self.up(x, 'cloudtrail') == 1, 15),
                            x.stderr()[-3000:])
            log = x.stderr()
        self.assertNotIn(HELPER_STDERR.strip(), log)
        self.assertNotIn('do-not-log-me', log)
        self.assertNotIn(MGMT_KEY[1], log)
        self.assertEqual(self.fake.stats()['bad_signatures'], 0)

    def test_refresh_that_hangs_blocks_no_one_then_fails_at_expiry(self):
        # The first call hands out 30 s credentials; every later call hangs.
        # From 15 s before expiry a refresh is tried (and times out after 5 s,
        # then again): meanwhile both collectors keep working on the valid
        # credentials; once they expire, both go down. (A 15 s window, so a
        # loaded machine's slow runs still show runs succeeding meanwhile.)
        expiration = int(time.time()) + 30
        env = self.profile('if mkdir %s 2>/dev/null; then exec cat %s; fi\n'
                           'date +%%s.%%N >> %s\nexec %s\n'
                           % (self.path('first'), self.path('creds.json'), self.path('hangs'),
                              ' '.join(HELPER_SLEEP)),
                           time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(expiration)))
        both = ['organizations', 'cloudtrail']
        with self.exporter(env, both, '5s') as x:
            self.assertTrue(wait_until(lambda: all(self.up(x, c) == 1 for c in both), 10),
                            x.stderr()[-3000:])
            # The shell creates the file before date writes its line: wait for
            # the whole line.
            self.assertTrue(wait_until(lambda: self.first_line(self.path('hangs')), 25))
            hang_start = float(self.first_line(self.path('hangs')))
            self.assertLess(hang_start, expiration - 6)
            last = 0.0
            while time.time() < expiration - 0.5:
                body = x.get()[2]
                last = max([last] + list(metric_values(
                    body, 'aws_org_collector_last_success_timestamp_seconds').values()))
                self.assertEqual([self.up(x, c) for c in both], [1, 1])
                time.sleep(0.2)
            # Runs kept succeeding while a refresh hung.
            self.assertGreater(last, hang_start + 3)
            self.assertTrue(wait_until(lambda: all(self.up(x, c) == 0 for c in both),
                                       expiration + 15 - time.time()), x.stderr()[-3000:])
            body = x.get()[2]
            log = x.stderr()
        # No run went on succeeding on expired credentials (a run signed just
        # before expiry may end a moment after it).
        last = metric_values(body, 'aws_org_collector_last_success_timestamp_seconds')
        self.assertLess(max(last.values()), expiration + 1)
        self.assertEqual(set(log_lines(log, 'refreshing credentials failed; using the current '
                                            'ones until they expire')),
                         {'level=warn caller=credentials.c module=aws msg="refreshing credentials '
                          'failed; using the current ones until they expire" source=process '
                          'code=CredentialsError err="credential_process timed out after 5s and '
                          'was killed"'})
        # Each failure names the helper's timeout: the fetch that timed out,
        # or (a thread that waited for that fetch) the wait.
        timed_out = 'CredentialsError: credential_process timed out after 5s and was killed'
        waited = 'CredentialsError: timed out after 5s waiting for process credentials being fetched'
        reasons = []
        for c in both:
            errs = self.failures(log, c)
            self.assertTrue(errs, c)
            for e in errs:
                m = re.fullmatch(r'(LookupEvents \w+|ListAccounts|DescribeOrganization): '
                                 r'(%s|%s)( \(page \d+\))?' % (timed_out, waited), e)
                self.assertIsNotNone(m, e)
                reasons.append(m.group(2))
        self.assertIn(timed_out, reasons)

    def test_output_past_the_cap_is_killed_at_once(self):
        env = self.profile('exec %s\n' % ' '.join(HELPER_YES))
        with self.exporter(env, ['cloudtrail'], '60s') as x:
            failed = wait_until(lambda: self.failures(x.stderr(), 'cloudtrail'), 15)
            self.assertTrue(failed, x.stderr()[-3000:])
            self.assertEqual(self.up(x, 'cloudtrail'), 0)
        self.assertEqual(failed[0], '%s: CredentialsError: credential_process '
                         'wrote more than 65536 bytes and was killed' % FIRST_CALL)
        self.assertEqual(self.fake.stats()['calls'], {})


class ProbeTest(unittest.TestCase):
    """The client driven directly (aws-probe), for what no collector does yet."""

    def probe(self, fake, *args):
        p = subprocess.run([PROBE, '--aws.endpoint-url=' + fake.url] + list(args),
                           capture_output=True, text=True, timeout=120,
                           env=dict(clean_env(), **env_keys()))
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.splitlines(), p.stderr

    def test_throttled_every_third_request(self):
        with FakeAWS() as fake:
            fake.faults([{'operation': '*', 'kind': 'throttle', 'every': 3}])
            lines, _ = self.probe(fake, '--probe.op=organizations.DescribeOrganization',
                                  '--probe.calls=12', '--aws.max-attempts=3')
            stats = fake.stats()
        # 12 calls in sequence, every 3rd request throttled and retried: the
        # 3rd, 6th, ..., 15th of 17.
        n_retries = 5
        self.assertEqual(lines, ['ok'] * 12 + [
            'requests organizations DescribeOrganization OK 12',
            'requests organizations DescribeOrganization TooManyRequestsException %d' % n_retries,
            'retries organizations DescribeOrganization %d' % n_retries])
        self.assertEqual(stats['calls']['organizations.DescribeOrganization'], 12 + n_retries)
        self.assertEqual(stats['bad_signatures'], 0)

    def test_lookup_events_pace_two_per_second(self):
        body = '{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"DetachPolicy"}]}'
        with FakeAWS() as fake:
            fake.faults([{'operation': '*', 'kind': 'throttle', 'every': 3}])
            t0 = time.monotonic()
            lines, _ = self.probe(fake, '--probe.op=cloudtrail.LookupEvents',
                                  '--probe.body=' + body, '--probe.calls=4', '--probe.threads=3')
            elapsed = time.monotonic() - t0
            stats = fake.stats()
        self.assertEqual(lines[:12], ['ok'] * 12)
        rates = stats['max_rate']
        self.assertEqual(rates['cloudtrail.LookupEvents/111111111111/us-east-1'], 2)
        self.assertEqual(stats['bad_signatures'], 0)
        self.assertEqual(stats['invalid_requests'], 0)
        # 12 calls and their retries, at most 2 per second.
        self.assertGreaterEqual(elapsed, (stats['calls']['cloudtrail.LookupEvents'] - 2) / 2.0)

    def test_validation_errors_are_not_retried(self):
        with FakeAWS() as fake:
            lines, _ = self.probe(fake, '--probe.op=organizations.ListAccounts',
                                  '--probe.body={"MaxResults":21}')
            stats = fake.stats()
        self.assertEqual(lines, ['ValidationException',
                                 'requests organizations ListAccounts ValidationException 1'])
        self.assertEqual(stats['calls']['organizations.ListAccounts'], 1)

    def test_5xx_retried_up_to_max_attempts(self):
        with FakeAWS() as fake:
            fake.faults([{'operation': '*', 'kind': '5xx'}])
            lines, _ = self.probe(fake, '--probe.op=organizations.DescribeOrganization',
                                  '--aws.max-attempts=2')
            stats = fake.stats()
        self.assertEqual(lines, ['InternalFailure',
                                 'requests organizations DescribeOrganization InternalFailure 2',
                                 'retries organizations DescribeOrganization 1'])
        self.assertEqual(stats['calls']['organizations.DescribeOrganization'], 2)

    def test_clock_skew_is_corrected(self):
        with FakeAWS() as fake:
            fake.faults([{'operation': '*', 'kind': 'skew', 'count': 1}])
            lines, err = self.probe(fake, '--probe.op=organizations.DescribeOrganization')
        self.assertEqual(lines, ['ok',
                                 'requests organizations DescribeOrganization '
                                 'InvalidSignatureException 1',
                                 'retries organizations DescribeOrganization 1',
                                 'requests organizations DescribeOrganization OK 1'])
        # The date is the fake's clock, skewed: masked.
        self.assertEqual([re.sub(r' date="[^"]*"$', ' date=DATE', l) for l in log_lines(
            err, "clock skew: correcting the signing time from the server's Date")],
            ['level=warn caller=client.c module=aws msg="clock skew: correcting the signing time '
             'from the server\'s Date" service=organizations date=DATE'])

    def test_transport_faults_are_classified(self):
        cases = [('reset', 'ConnectionReset'), ('truncate', 'ConnectionReset'),
                 ('malformed', 'MalformedResponse')]
        for kind, code in cases:
            with FakeAWS() as fake:
                fake.faults([{'operation': '*', 'kind': kind}])
                lines, _ = self.probe(fake, '--probe.op=organizations.DescribeOrganization',
                                      '--aws.max-attempts=2')
            self.assertEqual(lines[0], code, kind)

    def test_no_secret_at_debug_level(self):
        with FakeAWS() as fake:
            fake.faults([{'operation': '*', 'kind': 'throttle', 'every': 2}])
            _, err = self.probe(fake, '--probe.op=organizations.DescribeOrganization',
                                '--probe.calls=3', '--log.level=debug',
                                '--aws.role-arn=' + ROLE)
        self.assertIn('level=debug', err)
        for secret in SECRETS:
            self.assertNotIn(secret, err)
        # Nor any session token or secret the fake issued: nothing long and
        # base64-like appears in the log at all.
        self.assertIsNone(re.search(r'[A-Za-z0-9/+=]{40,}', err), err)


if __name__ == '__main__':
    unittest.main()
