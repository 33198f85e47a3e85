"""A real Prometheus server (Debian's package) scrapes the real exporter and
stores what it serves: the end-to-end proof that the exposition is accepted."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.parse
import urllib.request

from harness import RELEASE, Exporter, free_port, wait_until


class PrometheusScrapeTest(unittest.TestCase):
    def query(self, port, q):
        url = 'http://127.0.0.1:%d/api/v1/query?%s' % (port, urllib.parse.urlencode({'query': q}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                data = json.load(r)
        except OSError:
            return []
        return data['data']['result'] if data.get('status') == 'success' else []

    def test_prometheus_scrapes_exporter(self):
        prom = shutil.which('prometheus')
        self.assertIsNotNone(prom, 'Debian package prometheus is not installed')
        with Exporter(binary=RELEASE) as x, tempfile.TemporaryDirectory() as d:
            config = os.path.join(d, 'prometheus.yml')
            with open(config, 'w') as f:
                f.write('global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
                        'scrape_configs:\n  - job_name: aws-org-exporter\n'
                        '    static_configs:\n      - targets: ["127.0.0.1:%d"]\n' % x.port)
            port = free_port()
            log = open(os.path.join(d, 'prometheus.log'), 'w')
            p = subprocess.Popen([prom, '--config.file=' + config, '--storage.tsdb.path=' + d + '/data',
                                  '--web.listen-address=127.0.0.1:%d' % port],
                                 stdout=log, stderr=subprocess.STDOUT)
            try:
                up = wait_until(lambda: self.query(port, 'up{job="aws-org-exporter"} == 1'), 60, 0.5)
                self.assertTrue(up, open(log.name).read()[-3000:])
                info = wait_until(lambda: self.query(port, 'aws_org_exporter_build_info'), 30, 0.5)
                self.assertTrue(info)
                labels = info[0]['metric']
                self.assertEqual(labels['job'], 'aws-org-exporter')
                self.assertEqual(info[0]['value'][1], '1')
                for key in ('version', 'revision', 'libcurl', 'libmicrohttpd', 'jansson'):
                    self.assertIn(key, labels)
                # Nothing the scrape returned was dropped as invalid.
                samples = self.query(port, 'scrape_samples_post_metric_relabeling{job="aws-org-exporter"}')
                self.assertTrue(samples and int(samples[0]['value'][1]) > 5)
            finally:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
                log.close()


if __name__ == '__main__':
    unittest.main()
