"""A real Prometheus server (Debian's package) scrapes the real exporter and
stores what it serves: the end-to-end proof that the exposition is accepted."""
import unittest

from harness import RELEASE, Exporter, Prometheus, wait_until


class PrometheusScrapeTest(unittest.TestCase):
    def test_prometheus_scrapes_exporter(self):
        with Exporter(binary=RELEASE) as x, Prometheus(['127.0.0.1:%d' % x.port]) as prom:
            up = wait_until(lambda: prom.query('up{job="aws-org-exporter"} == 1'), 60, 0.5)
            self.assertTrue(up, prom.logs()[-3000:])
            info = wait_until(lambda: prom.query('aws_org_exporter_build_info'), 30, 0.5)
            self.assertTrue(info)
            labels = info[0]['metric']
            self.assertEqual(labels['job'], 'aws-org-exporter')
            self.assertEqual(info[0]['value'][1], '1')
            for key in ('version', 'revision', 'libcurl', 'libmicrohttpd', 'jansson'):
                self.assertIn(key, labels)
            # Nothing the scrape returned was dropped as invalid.
            samples = prom.query('scrape_samples_post_metric_relabeling{job="aws-org-exporter"}')
            self.assertTrue(samples and int(samples[0]['value'][1]) > 5)


if __name__ == '__main__':
    unittest.main()
