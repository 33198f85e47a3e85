// The files this repository ships, rendered from the mixin with its default
// _config: { path from the repository root: text }. scripts/mixin.sh writes
// them (make mixin) or compares them with the committed ones (--check).
//   jsonnet -S -m OUTDIR mixin/render.jsonnet   (OUTDIR's subdirectories must exist)
local grafanaAlertRules = import 'lib/grafana-alert-rules.libsonnet';
local manifest = import 'lib/manifest.libsonnet';
local mixin = import 'mixin.libsonnet';

local generated = '# Generated from mixin/ by make mixin (scripts/mixin.sh); do not edit.\n';
local yaml(header, value) =
  generated + header + manifest.yaml(value);

// A Prometheus Operator PrometheusRule with every group: what kube-prometheus
// users who do not build their own from the mixin apply.
local prometheusRule = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: {
    name: 'aws-org-exporter',
    namespace: 'monitoring',
    labels: { 'app.kubernetes.io/name': 'aws-org-exporter', release: 'kube-prometheus-stack' },
  },
  spec: { groups: mixin.prometheusAlerts.groups + mixin.prometheusRules.groups },
};

{
  ['dashboards/grafana/' + name]: manifest.json(mixin.grafanaDashboards[name])
  for name in std.objectFields(mixin.grafanaDashboards)
} + {
  'dashboards/prometheus/rules.yml': yaml(
    '# Recording rules for aws-org-exporter (load together with alerts.yml);\n'
    + '# why they look the way they do: mixin/rules.libsonnet.\n',
    mixin.prometheusRules
  ),
  'dashboards/prometheus/alerts.yml': yaml(
    '# Alerting rules for aws-org-exporter. Load together with rules.yml.\n'
    + '# Runbook for every alert: dashboards/README.md#runbook.\n',
    mixin.prometheusAlerts
  ),
  'dashboards/grafana/alert-rules.yml': yaml(
    '# Grafana-managed alert rules (file provisioning). Their queries use the recording\n'
    + '# rules of dashboards/prometheus/rules.yml: load that file into the Prometheus that\n'
    + '# the data source with uid "%s" points at.\n' % mixin._config.grafanaDatasourceUid,
    grafanaAlertRules(mixin)
  ),
  'deploy/kubernetes/prometheusrule.yaml': yaml(
    '# kube-prometheus-stack selects rules by its release label by default: set\n'
    + '# "release" to your Helm release name, or adjust the ruleSelector.\n',
    prometheusRule
  ),
}
