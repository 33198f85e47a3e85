// The aws-org-exporter monitoring mixin (the node-mixin / kube-prometheus
// convention): recording rules, alerts and the Grafana dashboard, with the
// selectors and thresholds in _config (config.libsonnet).
//
//   local awsOrg = (import 'aws-org-exporter-mixin/mixin.libsonnet') + {
//     _config+:: { exporterSelector: 'job="aws-org-exporter"' },
//   };
//   awsOrg.prometheusRules, awsOrg.prometheusAlerts: {groups: [...]}
//   awsOrg.grafanaDashboards: {'leave-watch.json': {...}}
//
// render.jsonnet renders the files this repository ships from it (make mixin).
(import 'config.libsonnet')
+ (import 'rules.libsonnet')
+ (import 'alerts.libsonnet')
+ (import 'dashboards.libsonnet')
