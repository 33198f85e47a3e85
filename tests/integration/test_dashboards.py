"""Dashboards and alerting (dashboards/, rendered from mixin/: test_mixin.py
checks that they are a fresh render): the Grafana dashboard's structure, every
PromQL expression parsed by promtool and naming only metrics the exporter serves
or the contract (../shared/DESIGN.md) promises, promtool's checks and unit tests
of the rules, and end to end: the exporter on the fake AWS, scraped by a real
Prometheus that loads the rules, fires AwsOrgAccountDeparted for a departure,
and the dashboard's queries return data."""
import glob
import json
import os
import re
import subprocess
import tempfile
import unittest
import urllib.request

import yaml

from harness import (RELEASE, ROOT, Exporter, FakeAWS, Prometheus, env_keys,
                     parse_exposition, wait_until)

DASH_DIR = os.path.join(ROOT, 'dashboards')
DASHBOARDS = sorted(glob.glob(os.path.join(DASH_DIR, 'grafana', '*.json')))
PROM_DIR = os.path.join(DASH_DIR, 'prometheus')
RULE_FILES = [os.path.join(PROM_DIR, 'rules.yml'), os.path.join(PROM_DIR, 'alerts.yml')]
UNIT_TESTS = sorted(glob.glob(os.path.join(PROM_DIR, 'tests', '*.yml')))
DESIGN = os.path.join(ROOT, '..', 'shared', 'DESIGN.md')
ROWS = ['Organization', 'Leave attempts and activity', 'Guardrails', 'Exporter health']
PANEL_TYPES = {'row', 'stat', 'timeseries', 'table', 'bargauge', 'piechart', 'gauge', 'text'}
DEPARTED = '100000000007'
# Grafana's built-in variables, as Grafana would expand them on a 1h view.
BUILTINS = {'$__rate_interval': '1m', '$__interval': '15s', '$__range': '1h'}
PROMQL_WORDS = {'and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left',
                'group_right', 'offset', 'bool', 'inf', 'nan'}
# Targets whose metrics the default scenario serves but which legitimately
# return nothing in it.
EMPTY_OK = {('Retries and throttles', 'B'): 'the default scenario has no throttling',
            ('Watched events by outcome', 'A'): 'shows only increases; none during the test'}


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return p.returncode, p.stdout + p.stderr


def load_dashboard(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def rule_docs():
    out = []
    for path in RULE_FILES:
        with open(path) as f:
            out.append(yaml.safe_load(f))
    return out


def all_rules():
    return [r for doc in rule_docs() for g in doc['groups'] for r in g['rules']]


def alerts():
    return [r for r in all_rules() if 'alert' in r]


def substitute(expr, job='.+', instance='.+'):
    for k, v in BUILTINS.items():
        expr = expr.replace(k, v)
    return expr.replace('$job', job).replace('$instance', instance)


def dashboard_targets():
    """[(dashboard file, panel title, refId, expr)] of every panel query."""
    out = []
    for path in DASHBOARDS:
        for p in load_dashboard(path)['panels']:
            for t in p.get('targets', []):
                out.append((os.path.basename(path), p['title'], t['refId'], t['expr']))
    return out


def metric_names(expr):
    """The metric names an expression selects: identifiers that are neither
    functions, keywords, label names nor inside strings."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r'\{[^}]*\}', '', e)                          # label matchers
    e = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', e)
    e = re.sub(r'\[[^\]]*\]', '', e)                         # ranges
    e = re.sub(r'\boffset\s+\w+', ' ', e)
    names = set()
    for m in re.finditer(r'[a-zA-Z_:][a-zA-Z0-9_:]*', e):
        word, rest = m.group(0), e[m.end():].lstrip()
        if rest.startswith('(') or word.lower() in PROMQL_WORDS:
            continue
        if re.fullmatch(r'\d+[smhdwy]?', word):
            continue
        names.add(word)
    return names


def contract_metrics():
    """Metric names of the contract table in DESIGN.md; a trailing * is a prefix."""
    with open(DESIGN, encoding='utf-8') as f:
        text = f.read()
    table = text[text.index('## Metric contract'):]
    return set(re.findall(r'^\| `([a-z_*]+)` \|', table, re.M))


def in_contract(name, contract):
    return name in contract or any(c.endswith('*') and name.startswith(c[:-1]) for c in contract)


class DashboardFilesTest(unittest.TestCase):
    def test_dashboard_structure(self):
        self.assertEqual([os.path.basename(p) for p in DASHBOARDS], ['leave-watch.json'])
        d = load_dashboard(DASHBOARDS[0])
        self.assertEqual(d['uid'], 'aws-org-leave-watch')
        self.assertEqual(d['title'], 'AWS Organization \u2014 Leave watch')
        self.assertEqual(d['schemaVersion'], 39)
        self.assertNotIn('__inputs', d)
        self.assertNotIn('__requires', d)
        self.assertIsNone(d.get('id'))
        variables = {v['name']: v for v in d['templating']['list']}
        self.assertEqual(list(variables), ['datasource', 'job', 'instance'])
        self.assertEqual((variables['datasource']['type'], variables['datasource']['query']),
                         ('datasource', 'prometheus'))
        self.assertEqual(variables['job']['query']['query'],
                         'label_values(aws_org_exporter_build_info, job)')
        self.assertEqual(variables['instance']['query']['query'],
                         'label_values(aws_org_exporter_build_info{job=~"$job"}, instance)')
        for name in ('job', 'instance'):
            self.assertEqual(variables[name]['datasource'], {'type': 'prometheus', 'uid': '${datasource}'})
        panels = d['panels']
        self.assertEqual([p['title'] for p in panels if p['type'] == 'row'], ROWS)
        ids = [p['id'] for p in panels]
        self.assertEqual(len(ids), len(set(ids)), 'panel ids are not unique')
        cells = {}
        for p in panels:
            self.assertIn(p['type'], PANEL_TYPES, p['title'])
            g = p['gridPos']
            self.assertTrue(g['x'] >= 0 and g['w'] > 0 and g['x'] + g['w'] <= 24 and g['h'] > 0, p['title'])
            for x in range(g['x'], g['x'] + g['w']):
                for y in range(g['y'], g['y'] + g['h']):
                    self.assertNotIn((x, y), cells, '%s overlaps %s' % (p['title'], cells.get((x, y))))
                    cells[(x, y)] = p['title']
            if p['type'] == 'row':
                self.assertEqual((g['w'], g['h'], p['collapsed'], p['panels']), (24, 1, False, []))
                continue
            self.assertGreater(len(p['description']), 40, p['title'])
            self.assertEqual(p['datasource'], {'type': 'prometheus', 'uid': '${datasource}'})
            self.assertTrue(p['targets'], p['title'])
            refs = [t['refId'] for t in p['targets']]
            self.assertEqual(len(refs), len(set(refs)), p['title'])
            for t in p['targets']:
                self.assertTrue(t['expr'].strip(), p['title'])
                self.assertEqual(t['datasource'], p['datasource'])
                self.assertIn('job=~"$job"', t['expr'], p['title'])
                self.assertIn('instance=~"$instance"', t['expr'], p['title'])
        # Panels sit below their row and above the next one.
        row_y = [p['gridPos']['y'] for p in panels if p['type'] == 'row']
        self.assertEqual(row_y, sorted(row_y))

    def test_every_expression_parses(self):
        """Dashboard queries (variables substituted) and the rule files' own
        expressions, in one generated rule file checked by promtool."""
        rules = [{'record': 'dashboard:query_%d' % i, 'expr': substitute(expr)}
                 for i, (_, _, _, expr) in enumerate(dashboard_targets())]
        self.assertGreater(len(rules), 20)
        rules += [{'record': 'rules:expr_%d' % i, 'expr': r['expr']} for i, r in enumerate(all_rules())]
        with tempfile.NamedTemporaryFile('w', suffix='.yml') as f:
            yaml.safe_dump({'groups': [{'name': 'all', 'rules': rules}]}, f)
            f.flush()
            rc, out = run(['promtool', 'check', 'rules', f.name])
        self.assertEqual(rc, 0, out)
        self.assertIn('SUCCESS: %d rules found' % len(rules), out)  # promtool's wording

    def test_promtool_check_and_unit_tests(self):
        rc, out = run(['promtool', 'check', 'rules'] + RULE_FILES)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.count('SUCCESS'), 2, out)
        self.assertEqual([os.path.basename(p) for p in UNIT_TESTS],
                         ['cloudtrail.yml', 'guardrails.yml', 'health.yml', 'membership.yml'])
        rc, out = run(['promtool', 'test', 'rules'] + UNIT_TESTS)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.count('SUCCESS'), len(UNIT_TESTS), out)

    def test_every_alert_is_tested_firing_and_silent(self):
        fires, silent = set(), set()
        for path in UNIT_TESTS:
            with open(path) as f:
                doc = yaml.safe_load(f)
            for t in doc['tests']:
                for a in t.get('alert_rule_test', []):
                    (fires if a.get('exp_alerts') else silent).add(a['alertname'])
        names = [a['alert'] for a in alerts()]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(sorted(n for n in names if n not in fires), [])
        self.assertEqual(sorted(n for n in names if n not in silent), [])

    def test_alerts_carry_severity_summary_description_runbook(self):
        with open(os.path.join(DASH_DIR, 'README.md'), encoding='utf-8') as f:
            readme = f.read()
        for a in alerts():
            name = a['alert']
            self.assertIn(a['labels']['severity'], ('critical', 'high', 'warning', 'info'), name)
            # details: the Prometheus-only annotation that looks up the evidence.
            self.assertIn(sorted(a['annotations']), (['description', 'runbook', 'summary'],
                                                     ['description', 'details', 'runbook', 'summary']),
                          name)
            self.assertEqual(a['annotations']['runbook'], 'dashboards/README.md#' + name.lower())
            self.assertIn('\n### %s\n' % name, readme, 'no runbook section for ' + name)

    def test_grafana_rules_match_prometheus_alerts(self):
        with open(os.path.join(DASH_DIR, 'grafana', 'alert-rules.yml')) as f:
            doc = yaml.safe_load(f)
        self.assertEqual(doc['apiVersion'], 1)
        got = {r['title']: r for g in doc['groups'] for r in g['rules']}
        self.assertEqual(sorted(got), sorted(a['alert'] for a in alerts()))
        uids = [r['uid'] for r in got.values()]
        self.assertEqual(len(uids), len(set(uids)))
        for a in alerts():
            r = got[a['alert']]
            self.assertEqual(r['data'][0]['model']['expr'], a['expr'].strip())
            self.assertEqual(r['labels'], a['labels'])
            self.assertEqual(r['for'], a.get('for', '0s'))
            self.assertEqual(r['condition'], 'B')
            self.assertEqual(r['noDataState'], 'OK')

    def test_provisioning_examples(self):
        prov = os.path.join(DASH_DIR, 'grafana', 'provisioning')
        with open(os.path.join(prov, 'datasources', 'prometheus.yml')) as f:
            ds = yaml.safe_load(f)['datasources']
        self.assertEqual([(d['uid'], d['type']) for d in ds], [('prometheus', 'prometheus')])
        with open(os.path.join(prov, 'dashboards', 'aws-org-exporter.yml')) as f:
            providers = yaml.safe_load(f)['providers']
        self.assertEqual([p['type'] for p in providers], ['file'])


class PromServer(Prometheus):
    """The harness's Prometheus, loading rule files (evaluated every second)."""

    def __init__(self, targets, rule_files, job='aws-org-exporter'):
        super().__init__(targets, job=job, rule_files=rule_files)

    def api(self, path):
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d/api/v1/%s' % (self.port, path),
                                        timeout=5) as r:
                return json.load(r)['data']
        except OSError:
            return None

    def firing(self):
        data = self.api('alerts')
        return [a for a in (data or {}).get('alerts', []) if a['state'] == 'firing']


class EndToEndTest(unittest.TestCase):
    """One exporter on the fake AWS (organizations every second), one
    Prometheus with the rules: names, departure alert, panel data."""

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeAWS()
        try:
            cls.x = Exporter('--aws.endpoint-url=' + cls.fake.url,
                             '--collector.organizations.interval=1s',
                             '--collector.scp.interval=1s',
                             '--collector.cloudtrail.member-role=aws-org-exporter-member',
                             binary=RELEASE, aws=True, env=env_keys())
        except Exception:
            cls.fake.stop()
            raise
        # Ready: every enabled collector has completed once.
        ok = wait_until(lambda: cls.x.get('/-/ready')[0] == 200, 30, 0.1)
        cls.scrape = cls.x.get()[2]
        if not ok:
            cls.tearDownClass()
            raise RuntimeError('exporter never became ready')

    @classmethod
    def tearDownClass(cls):
        cls.x.stop()
        os.unlink(cls.x.log.name)
        cls.fake.stop()

    def test_metric_names_are_served_or_in_the_contract(self):
        served = {n for n, _, _ in parse_exposition(self.scrape)}
        served |= {m.decode() for m in re.findall(rb'^# TYPE (\S+) ', self.scrape, re.M)}
        contract = contract_metrics()
        self.assertIn('aws_org_cloudtrail_recent_event_info', contract)
        self.assertIn('process_*', contract)
        recorded = {r['record'] for r in all_rules() if 'record' in r}
        exprs = [('dashboard ' + title, e) for _, title, _, e in dashboard_targets()]
        exprs += [('rule ' + r.get('record', r.get('alert', '')), r['expr']) for r in all_rules()]
        unknown = []
        for where, e in exprs:
            for name in metric_names(substitute(e)):
                if name in recorded or name == 'up' or name in served or in_contract(name, contract):
                    continue
                unknown.append((where, name))
        self.assertEqual(unknown, [])

    def test_departure_fires_and_panels_have_data(self):
        target = '127.0.0.1:%d' % self.x.port
        with PromServer([target], RULE_FILES) as prom:
            self.assertTrue(wait_until(lambda: prom.query('aws_org_account_info{account_id="%s"}'
                                                          % DEPARTED), 30, 0.2), prom.logs()[-3000:])
            groups = prom.api('rules')['groups']
            self.assertEqual(sorted(g['name'] for g in groups),
                             ['aws-org-leave-watch.alerts', 'aws-org-leave-watch.records'])
            self.assertTrue(all(r['health'] == 'ok' for g in groups for r in g['rules']),
                            [(r['name'], r.get('lastError')) for g in groups for r in g['rules']])
            # A fresh Prometheus sees the CloudTrail lookback window's events as
            # new (first samples fire): only those may fire before the departure,
            # among them the removal of 777777777777 the scenario's history holds.
            def departed():
                return [a for a in prom.firing() if a['labels']['alertname'] == 'AwsOrgAccountDeparted']
            self.assertEqual({a['labels'].get('account_id') for a in departed()} - {'777777777777'},
                             set())
            before = {a['labels']['alertname'] for a in prom.firing()}
            self.assertEqual(before - EVENT_ALERTS - STATE_ALERTS - {'AwsOrgAccountDeparted'}, set())
            self.fake.patch({'op': 'remove_account', 'id': DEPARTED})

            mine = lambda: [a for a in departed() if a['labels'].get('account_id') == DEPARTED]
            firing = wait_until(mine, 30, 0.2)
            self.assertEqual([(a['labels'].get('account_id'), a['labels']['severity'])
                              for a in firing], [(DEPARTED, 'critical')],
                             [l for l in self.x.stderr().split('\n') if 'level=warn' in l])
            self.assertEqual(firing[0]['annotations']['description'],
                             'Account %s is no longer a member of the organization seen by %s: it '
                             'left or was removed, and no Service Control Policy of the '
                             'organization applies to it any more.' % (DEPARTED, target))
            self.assertEqual(firing[0]['annotations']['details'],
                             'Listed as member-07, last ACTIVE.')
            others = {a['labels']['alertname'] for a in prom.firing()} - {'AwsOrgAccountDeparted'}
            self.assertEqual(others - EVENT_ALERTS - STATE_ALERTS, set())
            # The denied leave attempt recorded in member 222222222222 (seen
            # through the member fan-out) fires with its account and principal.
            denied = wait_until(lambda: [a for a in prom.firing()
                                         if a['labels']['alertname'] == 'AwsOrgLeaveAttemptDenied'
                                         and a['labels'].get('account_id') == '222222222222'], 30, 0.5)
            self.assertTrue(denied, prom.firing())
            self.assertEqual(denied[0]['labels']['outcome'], 'denied')
            self.assertEqual(denied[0]['labels'].get('principal_arn'),
                             'arn:aws:sts::222222222222:assumed-role/stratus-red-team-leave-org-role/'
                             'aws-go-sdk-1722587398902687000')  # demo.json's record
            # The leave guardrail on the Production OU is detached: its
            # accounts become unprotected, and the alert names them.
            self.fake.patch({'op': 'detach_policy', 'policy_id': 'p-denyleave01',
                             'target_id': 'ou-a1b2-prod0001'})
            lost = wait_until(lambda: [a for a in prom.firing() if a['labels']['alertname'] ==
                                       'AwsOrgAccountProtectionWeakened'], 40, 0.5)
            # The Production OU's other accounts may fire a moment later: one is enough here.
            self.assertIn('222222222222', {a['labels'].get('account_id') for a in lost}, lost)
            # Every panel query whose metrics the exporter serves now returns data.
            served = {n for n, _, _ in parse_exposition(self.x.get()[2])}
            empty, pending = [], []
            for _, title, ref, expr in dashboard_targets():
                q = substitute(expr, job='aws-org-exporter', instance=target)
                names = metric_names(q)
                if not names <= served:
                    pending.append((title, sorted(names - served)))
                    continue
                if (title, ref) in EMPTY_OK:
                    continue
                if not wait_until(lambda: prom.query(q), 10, 0.5):
                    empty.append((title, ref, q))
            self.assertEqual(empty, [])
            # The panels still waiting for collectors (CloudTrail, SCP) are known.
            self.assertEqual(sorted({t for t, _ in pending} - set(PENDING_PANELS)), [], pending)


# Panels allowed to lack their metrics in the default scenario: the SCP and
# CloudTrail collectors' (while they land), credentials (absent with
# long-term keys), retries (none). A panel whose metrics are served is
# always checked for data. The CloudTrail events a fresh Prometheus fires
# for (the lookback window) are EVENT_ALERTS.
EVENT_ALERTS = {'AwsOrgLeaveAttemptDenied', 'AwsOrgGuardrailTampering',
                'AwsOrgAccountCreatedOrInvited'}
PENDING_PANELS = ['Credentials expire in', 'Retries and throttles']
# Alerts on states of the default scenario (an unprotected suspended account,
# accounts whose protection is conditional) may fire at any time.
STATE_ALERTS = {'AwsOrgAccountsUnprotected', 'AwsOrgAccountProtectionWeakened'}


if __name__ == '__main__':
    unittest.main()
