"""A real Prometheus server (Debian's package) scrapes the real exporter and
stores what it serves: the end-to-end proof that the exposition is accepted."""
import unittest

from harness import RELEASE, Exporter, Prometheus, parse_exposition, wait_until


class PrometheusScrapeTest(unittest.TestCase):
    def test_prometheus_scrapes_exporter(self):
        with Exporter(binary=RELEASE) as x, Prometheus(['127.0.0.1:%d' % x.port]) as prom:
            up = wait_until(lambda: prom.query('up{job="aws-org-exporter"} == 1'), 60, 0.5)
            self.assertTrue(up, prom.logs()[-3000:])
            info = wait_until(lambda: prom.query('aws_org_exporter_build_info'), 30, 0.5)
            self.assertTrue(info)
            # Stored as served, with the target's labels added.
            served = parse_exposition(x.get()[2])
            build = [l for n, l, v in served if n == 'aws_org_exporter_build_info']
            self.assertEqual(info, [{'metric': dict(build[0], __name__='aws_org_exporter_build_info',
                                                    job='aws-org-exporter',
                                                    instance='127.0.0.1:%d' % x.port),
                                     'value': [info[0]['value'][0], '1']}])
            # Nothing the scrape returned was dropped as invalid: with no
            # collector, every scrape serves the same number of samples.
            samples = prom.query('scrape_samples_post_metric_relabeling{job="aws-org-exporter"}')
            self.assertEqual([s['value'][1] for s in samples], [str(len(served))])


if __name__ == '__main__':
    unittest.main()
