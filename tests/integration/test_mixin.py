"""The monitoring mixin (mixin/): the single source of the dashboard, the
Grafana alert rules, the Prometheus rules and the PrometheusRule.

  - the committed files are a fresh render of it (scripts/mixin.sh --check,
    with Debian's jsonnet), and its sources are as jsonnetfmt writes them;
  - the check rejects a copy whose rendered file was edited by hand, or is
    missing, or whose source is not formatted, and a mixin that does not
    evaluate;
  - its _config works as a user of kube-prometheus uses it: a selector
    reaches every raw metric of every rule, a threshold reaches the alert and
    the words of its description.

Nothing is skipped: without jsonnet the tests fail with the command that
installs it."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import ROOT

MIXIN_SH = os.path.join('scripts', 'mixin.sh')
RENDERED = ['dashboards/grafana/alert-rules.yml', 'dashboards/grafana/leave-watch.json',
            'dashboards/prometheus/alerts.yml', 'dashboards/prometheus/rules.yml',
            'deploy/kubernetes/prometheusrule.yaml']
STALE = 'mixin: %s differs from a fresh render of mixin/: run make mixin'


def run(argv, cwd=ROOT):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def need_jsonnet():
    for tool in ('jsonnet', 'jsonnetfmt'):
        if shutil.which(tool) is None:
            raise AssertionError('%s is not installed: run scripts/deps.sh test '
                                 '(apt-get install jsonnet)' % tool)


def evaluate(snippet):
    """The JSON value of a jsonnet snippet that sees the mixin as m."""
    code = 'local m = import "mixin/mixin.libsonnet"; ' + snippet
    rc, out, err = run(['jsonnet', '-e', code])
    if rc != 0:
        raise AssertionError(err)
    return json.loads(out)


def copy_tree(dst):
    """A copy of what scripts/mixin.sh reads and writes, under dst."""
    shutil.copytree(os.path.join(ROOT, 'mixin'), os.path.join(dst, 'mixin'))
    os.makedirs(os.path.join(dst, 'scripts'))
    shutil.copy2(os.path.join(ROOT, MIXIN_SH), os.path.join(dst, MIXIN_SH))
    for f in RENDERED:
        os.makedirs(os.path.join(dst, os.path.dirname(f)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, f), os.path.join(dst, f))


def replace_once(path, old, new):
    with open(path, encoding='utf-8') as f:
        text = f.read()
    if text.count(old) != 1:
        raise AssertionError('%r occurs %d times in %s' % (old, text.count(old), path))
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text.replace(old, new))


class Render(unittest.TestCase):

    def setUp(self):
        need_jsonnet()

    def test_committed_files_are_a_fresh_render(self):
        self.assertEqual(run([MIXIN_SH, '--check']), (0, '', ''))

    def test_render_lists_the_shipped_files(self):
        rc, out, err = run(['jsonnet', '-S', '-e',
                            "std.join('\\n', std.objectFields(import 'mixin/render.jsonnet'))"])
        self.assertEqual((rc, out.splitlines(), err), (0, RENDERED, ''))

    def test_mixin_fields(self):
        # The kube-prometheus convention: hidden fields that a user's jsonnet
        # reads, with the rule groups and one dashboard.
        got = evaluate('{ rules: [g.name for g in m.prometheusRules.groups], '
                       'alerts: [g.name for g in m.prometheusAlerts.groups], '
                       'dashboards: std.objectFields(m.grafanaDashboards), '
                       'config: std.objectHas(m._config, "exporterSelector") }')
        self.assertEqual(got, {'rules': ['aws-org-leave-watch.records'],
                               'alerts': ['aws-org-leave-watch.alerts'],
                               'dashboards': ['leave-watch.json'], 'config': True})

    def test_edited_missing_and_unformatted_copies_are_rejected(self):
        with tempfile.TemporaryDirectory() as d:
            copy_tree(d)
            # A threshold edited in the rendered file instead of the mixin.
            replace_once(os.path.join(d, 'dashboards/prometheus/alerts.yml'),
                         'aws_org:api_request_errors:ratio15m > 0.5',
                         'aws_org:api_request_errors:ratio15m > 0.9')
            os.unlink(os.path.join(d, 'dashboards/grafana/leave-watch.json'))
            # A source not as jsonnetfmt writes it (double quotes).
            replace_once(os.path.join(d, 'mixin/config.libsonnet'),
                         "grafanaFolder: 'AWS Organization',", 'grafanaFolder: "AWS Organization",')
            self.assertEqual(run([os.path.join(d, MIXIN_SH), '--check'], cwd=d), (1, '', ''.join(
                m + '\n' for m in [STALE % 'dashboards/grafana/leave-watch.json',
                                   STALE % 'dashboards/prometheus/alerts.yml',
                                   'mixin: mixin/config.libsonnet is not formatted: '
                                   'run jsonnetfmt -i mixin/config.libsonnet'])))
            # Rendering puts back what the check named, and then it passes.
            rc, out, err = run([os.path.join(d, MIXIN_SH)], cwd=d)
            self.assertEqual((rc, out.splitlines(), err),
                             (0, ['wrote dashboards/grafana/leave-watch.json',
                                  'wrote dashboards/prometheus/alerts.yml',
                                  'formatted mixin/config.libsonnet'], ''))
            self.assertEqual(run([os.path.join(d, MIXIN_SH), '--check'], cwd=d), (0, '', ''))
            for f in RENDERED:
                with open(os.path.join(d, f), 'rb') as a, open(os.path.join(ROOT, f), 'rb') as b:
                    self.assertEqual(a.read(), b.read(), f)

    def test_a_mixin_that_does_not_evaluate_is_rejected(self):
        with tempfile.TemporaryDirectory() as d:
            copy_tree(d)
            # A threshold of the config misspelt where an alert uses it.
            replace_once(os.path.join(d, 'mixin/alerts.libsonnet'),
                         "'for': c.exporterDownFor,", "'for': c.exporterDownFr,")
            rc, out, err = run([os.path.join(d, MIXIN_SH), '--check'], cwd=d)
        self.assertEqual((rc, out), (1, ''))
        self.assertEqual(err.splitlines()[0], 'RUNTIME ERROR: field does not exist: exporterDownFr')


class Config(unittest.TestCase):
    """_config as a user changes it."""

    def setUp(self):
        need_jsonnet()

    def test_selector_reaches_every_raw_metric(self):
        sel = 'job="aws-org",cluster="c1"'
        got = evaluate('local s = m + { _config+:: { exporterSelector: %s } }; '
                       '{ exprs: [r.expr for g in s.prometheusRules.groups + s.prometheusAlerts.groups '
                       'for r in g.rules], variables: [v.query.query for v in '
                       's.grafanaDashboards["leave-watch.json"].templating.list if v.type == "query"] }'
                       % json.dumps(sel))
        self.assertEqual(len(got['exprs']), 36)
        # A raw metric is the exporter's (aws_org_...) or up; recorded series
        # (aws_org:...) are made of selected ones.
        raw = re.compile(r'\b(aws_org_[a-z_]+|up)\b(\{[^}]*\})?')
        unselected = [(e, m.group(0)) for e in got['exprs'] for m in raw.finditer(e)
                      if not (m.group(2) or '').startswith('{' + sel)]
        self.assertEqual(unselected, [])
        self.assertEqual(got['variables'], [
            'label_values(aws_org_exporter_build_info{%s}, job)' % sel,
            'label_values(aws_org_exporter_build_info{%s,job=~"$job"}, instance)' % sel])

    def test_a_threshold_reaches_the_alert_and_its_words(self):
        got = evaluate('local s = m + { _config+:: { memberUnreadableFor: "1h", '
                       'collectorStaleSeconds: 3600 } }; '
                       '{ [r.alert]: r for g in s.prometheusAlerts.groups for r in g.rules }')
        unreadable, stale = got['AwsOrgMemberUnreadable'], got['AwsOrgCollectorStale']
        self.assertEqual(unreadable['for'], '1h')
        # The same words as the default's, with the threshold's.
        default = evaluate('{ [r.alert]: r.annotations.description for g in '
                           'm.prometheusAlerts.groups for r in g.rules }')['AwsOrgMemberUnreadable']
        self.assertEqual(default[:len('For 10 minutes ')], 'For 10 minutes ')
        self.assertEqual(unreadable['annotations']['description'],
                         'For 1 hour ' + default[len('For 10 minutes '):])
        self.assertEqual(stale['expr'],
                         'time() - aws_org_collector_last_success_timestamp_seconds > 3600\n'
                         '  and aws_org_collector_last_success_timestamp_seconds > 0\n')
        self.assertEqual(stale['annotations']['summary'],
                         'Collector {{ $labels.collector }} of {{ $labels.instance }} has not '
                         'succeeded for 1 hour')


if __name__ == '__main__':
    unittest.main()
