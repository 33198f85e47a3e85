// The mixin's Prometheus alerts as Grafana-managed alert rules (file
// provisioning, dashboards/grafana/alert-rules.yml): the same PromQL (it
// needs the recording rules in the data source, like the Prometheus alerts),
// firing while it returns series, like Prometheus.
//   grafanaAlertRules(mixin) -> the provisioning document
local promql = import 'promql.libsonnet';

local kebab(s) = std.join('', [
  (if i > 0 && s[i] != std.asciiLower(s[i]) then '-' else '') + std.asciiLower(s[i])
  for i in std.range(0, std.length(s) - 1)
]);

local rule(r, c) = {
  // AwsOrgAccountDeparted -> aws-org-account-departed (Grafana's limit: 40).
  local uid = 'aws-org-' + kebab(r.alert[std.length('AwsOrg'):]),
  uid: uid[0:std.min(40, std.length(uid))],
  title: r.alert,
  condition: 'B',
  data: [
    {
      refId: 'A',
      datasourceUid: c.grafanaDatasourceUid,
      relativeTimeRange: { from: 600, to: 0 },
      model: {
        refId: 'A',
        expr: promql.strip(r.expr),
        instant: true,
        range: false,
        editorMode: 'code',
      },
    },
    // A series in the result means firing, as in Prometheus (some alerts'
    // values are 0, e.g. aws_org_scp_enabled == 0).
    {
      refId: 'B',
      datasourceUid: '__expr__',
      model: { refId: 'B', type: 'math', expression: 'is_number($A) || is_nan($A) || is_inf($A)' },
    },
  ],
  noDataState: 'OK',
  execErrState: 'Error',
  'for': if std.objectHas(r, 'for') then r['for'] else '0s',
  labels: if std.objectHas(r, 'labels') then r.labels else {},
  // Grafana's templates have no query function: annotations that look up
  // other series (the departure's details) are Prometheus's only.
  annotations: {
    [k]: std.strReplace(r.annotations[k], '$value', '$values.A.Value')
    for k in std.objectFields(r.annotations)
    if std.strReplace(r.annotations[k], '| query', '') == r.annotations[k]
  },
  isPaused: false,
};

function(mixin) {
  local c = mixin._config,
  apiVersion: 1,
  groups: [
    {
      orgId: 1,
      name: g.name,
      folder: c.grafanaFolder,
      interval: c.grafanaInterval,
      rules: [rule(r, c) for r in g.rules],
    }
    for g in mixin.prometheusAlerts.groups
  ],
}
