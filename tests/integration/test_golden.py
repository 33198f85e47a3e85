"""The whole /metrics body, end to end, against a golden file (as
node_exporter's end-to-end-test.sh does).

The release exporter (./aws-org-exporter) runs every collector with its
default flags, plus the member fan-out (--collector.cloudtrail.member-role),
against the fake AWS's scenarios/basic.json. Once every collector has
completed a run (/-/ready), the body passes promtool check metrics and
tests/check_exposition.py; then, with the volatile values masked, it must
equal tests/data/golden/metrics.txt byte for byte: every family, HELP and
TYPE line, series, label and stable value.

To rewrite the golden file after a deliberate change of the output (then
read its diff before committing it):

    make golden-update

which builds the exporter and runs
GOLDEN_UPDATE=1 /usr/bin/python3 tests/integration/run.py test_golden.py

What varies from run to run, and how it is pinned or masked (nothing else is):

- CloudTrail event times: basic.json gives them as ages at the moment the
  fake loads it. The test pins them to T0, a whole second it picks, and
  writes such a time as <T0-age>: aws_org_cloudtrail_recent_event_info and
  aws_org_cloudtrail_event_last_timestamp_seconds stay exact, relative to T0.
- The delay histogram: every age in basic.json is one of the bucket bounds
  and each event is first seen a few seconds after T0, so each lands in the
  next bucket: the buckets and counts are exact. Only _sum is masked; it is
  checked to lie between the events' ages and their ages plus the time to
  the scrape.
- Wall-clock and run-time values: aws_org_collector_duration_seconds,
  aws_org_collector_last_success_timestamp_seconds,
  aws_org_credentials_expiry_timestamp_seconds and every process_* value.
  Each is masked only when it is a number in its plausible range; otherwise
  it stays, and the diff shows it.
- aws_org_exporter_build_info: the version, the revision and the libraries'
  versions (the host's, not the exporter's output), when they have a
  version's shape.
- The order of aws_org_api_requests_total and aws_org_api_retries_total
  samples: the exporter lists them as first made, which races between the
  collectors' threads; they are sorted. Their counts are exact: every
  collector has run once, and the next run (CloudTrail's, a minute after
  its first) has not begun.

A timing the test relies on: the SCP collector lists the organization's
policies (about 1 s after start) before the CloudTrail collector, paced at
two LookupEvents a second, reaches DetachPolicy and AttachPolicy (the 12th
and 15th watched names, after about 5.5 and 7 s). Otherwise CloudTrail asks
DescribePolicy once more, and the AttachPolicy event's policy_type says
unknown instead of not_found. Both margins are the client's pacing, not CPU.
"""
import difflib
import json
import os
import re
import tempfile
import time
import unittest

from harness import (RELEASE, ROOT, SCENARIOS, Exporter, FakeAWS, check_exposition, env_keys,
                     wait_until)

GOLDEN = os.path.join(ROOT, 'tests', 'data', 'golden', 'metrics.txt')
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')

# Samples whose value is a time relative to the pinned T0.
EVENT_TIMES = ('aws_org_cloudtrail_recent_event_info',
               'aws_org_cloudtrail_event_last_timestamp_seconds')
# Samples whose order is the order of first use (sorted).
UNORDERED = ('aws_org_api_requests_total', 'aws_org_api_retries_total')
BUILD_INFO = 'aws_org_exporter_build_info'
VERSION_LABELS = {
    'version': r'\d+\.\d+\.\d+(?:[-+.][0-9A-Za-z.-]+)?',
    'revision': r'[0-9a-f]{12}|unknown',
    'libcurl': r'\d+\.\d+\.\d+', 'libmicrohttpd': r'\d+\.\d+\.\d+', 'jansson': r'\d+\.\d+(?:\.\d+)?',
}


def pinned_scenario(t0):
    """basic.json with every CloudTrail event's age turned into a time, t0 - age."""
    with open(os.path.join(SCENARIOS, 'basic.json'), encoding='utf-8') as f:
        doc = json.load(f)
    for regions in doc['cloudtrail']['events'].values():
        for events in regions.values():
            for e in events:
                if 'EventTimeAgo' in e:
                    e['EventTime'] = t0 - int(e.pop('EventTimeAgo'))
    return doc


class Mask:
    """Masks the volatile values of one body; see the module's docstring.
    t0: the pinned time; started, scraped: wall-clock bounds of the run."""

    def __init__(self, t0, started, scraped):
        self.t0, self.started, self.scraped = t0, started, scraped
        self.ranges = {
            'aws_org_collector_duration_seconds': ('<duration>', 0, scraped - started),
            'aws_org_collector_last_success_timestamp_seconds': ('<now>', started, scraped),
            'aws_org_credentials_expiry_timestamp_seconds': ('<now+ttl>', started,
                                                             scraped + 43200),
            'process_start_time_seconds': ('<now>', started, scraped),
        }

    def value(self, name, value):
        """The masked value of one sample, or value itself when it is not to be
        masked or is out of its range."""
        try:
            v = float(value)
        except ValueError:
            return value
        if name in EVENT_TIMES:
            age = self.t0 - v
            return '<T0-%d>' % age if v == int(v) and 0 < age <= 86400 else value
        if name in self.ranges:
            token, lo, hi = self.ranges[name]
            return token if lo - 1 <= v <= hi + 1 else value
        if name.startswith('process_'):
            return '<process>' if v >= 0 else value
        if name == 'aws_org_cloudtrail_event_delay_seconds_sum':
            return '<delay sum>' if v >= 0 else value
        return value

    @staticmethod
    def labels(name, labels):
        if name != BUILD_INFO:
            return labels

        def one(m):
            shape = VERSION_LABELS.get(m.group(1))
            if shape is None or not re.fullmatch(shape, m.group(2)):
                return m.group(0)
            return '%s="<%s>"' % (m.group(1), 'revision' if m.group(1) == 'revision' else 'version')
        return re.sub(r'([a-z_]+)="([^"\\]*)"', one, labels)

    def body(self, text):
        out, unordered = [], []
        for line in text.split('\n'):
            m = SAMPLE.match(line)
            if m and m.group(1) in UNORDERED:
                unordered.append(line)
                continue
            out.extend(sorted(unordered))
            unordered = []
            if not m:
                out.append(line)
                continue
            name, labels, value = m.group(1), m.group(2) or '', m.group(3)
            out.append('%s%s %s' % (name, self.labels(name, labels), self.value(name, value)))
        out.extend(sorted(unordered))
        return '\n'.join(out)


def delay_sums(body, t0, scraped):
    """{source: (sum, lowest, highest)} of the delay histogram: its _sum, and
    the bounds the recent events' times give it (the ages at T0, plus up to
    the time to the scrape for each event)."""
    sums, ages, counts = {}, {}, {}
    for line in body.split('\n'):
        m = SAMPLE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or '', float(m.group(3))
        source = re.search(r'source="([^"]*)"', labels)
        if source is None:
            continue
        s = source.group(1)
        if name == 'aws_org_cloudtrail_event_delay_seconds_sum':
            sums[s] = value
        elif name == 'aws_org_cloudtrail_event_delay_seconds_count':
            counts[s] = value
        elif name == 'aws_org_cloudtrail_recent_event_info':
            ages[s] = ages.get(s, 0) + t0 - value
    return {s: (sums[s], ages.get(s, 0), ages.get(s, 0) + counts[s] * (scraped - t0))
            for s in sums}


class GoldenTest(unittest.TestCase):
    def test_metrics_body_matches_golden_file(self):
        t0 = int(time.time())
        with tempfile.NamedTemporaryFile('w', prefix='golden-', suffix='.json') as f:
            json.dump(pinned_scenario(t0), f)
            f.flush()
            with FakeAWS(f.name) as fake:
                started = time.time()
                with Exporter('--aws.endpoint-url=' + fake.url,
                              '--collector.cloudtrail.member-role=aws-org-exporter-member',
                              binary=RELEASE, aws=True, env=env_keys()) as x:
                    ready = wait_until(lambda: x.get('/-/ready')[0] == 200, 45, 0.1)
                    self.assertTrue(ready, x.stderr())
                    status, _, body = x.get()
                    scraped = time.time()
        self.assertEqual(status, 200)
        # CloudTrail's second run starts a minute (less 5% jitter) after its first.
        self.assertLess(scraped - started, 50, 'too slow: a collector may have run twice')
        check_exposition(self, body)
        text = body.decode('utf-8')
        for source, (total, lo, hi) in delay_sums(text, t0, scraped).items():
            self.assertTrue(lo <= total <= hi + 1, 'delay sum of %s: %r not in [%r, %r]'
                            % (source, total, lo, hi))
        masked = Mask(t0, started, scraped).body(text)
        if os.environ.get('GOLDEN_UPDATE'):
            os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
            with open(GOLDEN, 'w', encoding='utf-8') as f:
                f.write(masked)
            print('\nrewrote %s' % os.path.relpath(GOLDEN, ROOT))
        with open(GOLDEN, encoding='utf-8') as f:
            golden = f.read()
        if masked != golden:
            diff = difflib.unified_diff(golden.splitlines(True), masked.splitlines(True),
                                        'tests/data/golden/metrics.txt', 'this run (masked)')
            self.fail('the /metrics body differs from the golden file (make golden-update '
                      'rewrites it):\n' + ''.join(diff))


if __name__ == '__main__':
    unittest.main()
