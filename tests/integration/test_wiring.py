"""What one collector consumes of another's, wired at start-up: the SCP
collector and the CloudTrail member fan-out read the organizations
collector's account listing. With --no-collector.organizations the exporter
refuses to start, at once, naming the flags that fix it (it used to run, wait
two minutes and fail); a collector that makes do without the listing (the
CloudTrail collector without a member role) runs."""
import re
import subprocess
import time
import unittest

from harness import TESTING, Exporter, FakeAWS, clean_env, env_keys, metric_values, wait_until

MEMBER_ROLE = '--collector.cloudtrail.member-role=aws-org-exporter-member'
SCP_NEEDS = ('collector scp needs the account listing (for the leave protection of every '
             'account), which the organizations collector provides, and it is disabled: enable '
             'it with --collector.organizations, or disable scp with --no-collector.scp')
CLOUDTRAIL_NEEDS = ('collector cloudtrail needs the account listing (for the member fan-out of '
                    '--collector.cloudtrail.member-role), which the organizations collector '
                    'provides, and it is disabled: enable it with --collector.organizations, or '
                    'disable cloudtrail with --no-collector.cloudtrail')


class ListingWiringTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeAWS()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def test_a_consumer_without_its_provider_is_a_startup_error(self):
        cases = [
            (('--no-collector.organizations',), SCP_NEEDS),  # the defaults otherwise
            (('--no-collector.organizations', '--no-collector.cloudtrail'), SCP_NEEDS),
            (('--no-collector.organizations', '--no-collector.scp', MEMBER_ROLE),
             CLOUDTRAIL_NEEDS),
        ]
        calls = self.fake.stats()['calls']
        for args, reason in cases:
            started = time.monotonic()
            p = subprocess.run(
                [TESTING, '--web.listen-address=127.0.0.1:0', '--no-collector.testing',
                 '--aws.endpoint-url=' + self.fake.url] + list(args),
                capture_output=True, env=dict(clean_env(), **env_keys()), timeout=60)
            took = time.monotonic() - started
            err = p.stderr.decode()
            self.assertEqual((p.returncode, p.stdout), (1, b''), (args, err))
            errors = [l for l in err.split('\n') if ' level=error ' in l]
            self.assertEqual(len(errors), 1, (args, err))
            self.assertIsNotNone(re.fullmatch(
                r'ts=\S+ level=error caller=main\.c:\d+ module=main '
                r'msg="cannot wire the collectors" err="%s"' % re.escape(reason), errors[0]),
                (args, errors[0]))
            self.assertNotIn('msg=listening', err, args)  # refused before serving
            self.assertLess(took, 30, args)  # at once: no wait for a listing
        self.assertEqual(self.fake.stats()['calls'], calls)  # nothing asked of AWS

    def test_a_consumer_that_makes_do_runs_without_the_provider(self):
        # The CloudTrail collector without a member role: it would name the
        # management account from the listing, and asks DescribeOrganization.
        with Exporter('--aws.endpoint-url=' + self.fake.url, '--no-collector.testing',
                      aws=['cloudtrail'], env=env_keys()) as x:
            self.assertTrue(wait_until(lambda: x.get('/-/ready')[0] == 200, 30), x.stderr())
            body = x.get()[2]
            log = x.stderr()
        self.assertEqual(metric_values(body, 'aws_org_collector_up'),
                         {'{collector="cloudtrail"}': 1.0})
        self.assertEqual(len(re.findall(
            r'\n?ts=\S+ level=info caller=registry\.c:\d+ module=registry '
            r'msg="collector runs without what it would consume: its provider is disabled" '
            r'collector=cloudtrail product="the account listing"\n', log)), 1, log)


if __name__ == '__main__':
    unittest.main()
