// What a user of the mixin may change, as kube-prometheus mixins do:
//   (import 'mixin.libsonnet') + { _config+:: { exporterSelector: 'job="aws-org-exporter"' } }
// The defaults render the files shipped in dashboards/ and deploy/kubernetes/.
{
  _config+:: {
    // Label matchers that select the exporter's series in every rule, alert
    // and dashboard variable, e.g. 'job="aws-org-exporter"' or
    // 'job=~"aws-org.*",cluster="prod"'. Empty: any job that serves them
    // (their names are the exporter's own).
    exporterSelector: '',

    // How long a condition holds before its alert fires ("for").
    memberUnreadableFor: '10m',
    accountsUnprotectedFor: '1h',
    protectionUnknownFor: '30m',
    exporterDownFor: '5m',
    collectorFailingFor: '15m',
    collectorStaleFor: '5m',
    apiErrorsFor: '15m',
    credentialsExpiringFor: '5m',

    // Thresholds.
    collectorStaleSeconds: 1800,  // since a collector's last success
    apiErrorRatio: 0.5,  // failed share of an operation's calls over 15 minutes
    credentialsExpirySeconds: 300,  // left on temporary credentials

    // Every alert's "runbook" annotation: this prefix and the alert's name in
    // lower case (a section of dashboards/README.md#runbook).
    runbookBase: 'dashboards/README.md#',

    // The dashboard.
    dashboardUid: 'aws-org-leave-watch',
    dashboardTitle: 'AWS Organization — Leave watch',
    dashboardTags: ['aws', 'organizations', 'security', 'aws-org-exporter'],
    dashboardRefresh: '1m',
    dashboardFrom: 'now-24h',

    // Grafana-managed alert rules (lib/grafana-alert-rules.libsonnet): the
    // uid of the Prometheus data source that holds the recording rules, and
    // the folder and evaluation interval of the rule groups.
    grafanaDatasourceUid: 'prometheus',
    grafanaFolder: 'AWS Organization',
    grafanaInterval: '1m',
  },
}
