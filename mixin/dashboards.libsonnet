// The Grafana dashboard "AWS Organization — Leave watch"
// (dashboards/grafana/leave-watch.json), in plain jsonnet (no grafonnet).
// It queries raw metrics only, so it works without the recording rules; its
// data source, job and instance are variables, so it imports into any Grafana.
local promql = import 'lib/promql.libsonnet';

// Every query's data source: the dashboard's "datasource" variable.
local DS = { type: 'prometheus', uid: '${datasource}' };
// Every query's selector: the dashboard's job and instance variables.
local S = 'job=~"$job", instance=~"$instance"';
local LEAVE = 'LeaveOrganization|RemoveAccountFromOrganization|AccountDepartedOrganization';
local TAMPER = 'DetachPolicy|DeletePolicy|UpdatePolicy|AttachPolicy|DisablePolicyType|EnablePolicyType|DeleteOrganization';
// Policy types that are guardrails against leaving (empty: not a policy call,
// unknown: the exporter could not resolve the policy).
local GUARD_TYPES = 'SERVICE_CONTROL_POLICY|unknown|';
// Stat and gauge panels show each series' last value.
local LAST_VALUE = { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } };

// A query; its refId is given by panel().
local target(expr, legend='', instant=false, table=false) =
  { datasource: DS, expr: expr, legendFormat: if legend == '' then '__auto' else legend }
  + (if instant || table then { instant: true, range: false } else {})
  + (if table then { format: 'table' } else {});

// A panel without its place (id, gridPos: layout() adds them).
local panel(kind,
            title,
            desc,
            targets,
            unit=null,
            mappings=null,
            thresholds=null,
            overrides=[],
            options={},
            transformations=null) = {
  type: kind,
  title: title,
  description: desc,
  datasource: DS,
  targets: [targets[i] { refId: std.char(65 + i) } for i in std.range(0, std.length(targets) - 1)],
  fieldConfig: {
    defaults: (if unit != null then { unit: unit } else {})
              + (if mappings != null then { mappings: mappings } else {})
              + (if thresholds != null then { thresholds: { mode: 'absolute', steps: thresholds } } else {}),
    overrides: overrides,
  },
  options: options,
} + (if transformations != null then { transformations: transformations } else {});

// Threshold steps from [value, color] pairs.
local steps(pairs) = [{ color: p[1], value: p[0] } for p in pairs];

// Value mappings of a 0/1 gauge: 0 in red as off, 1 in green as on.
local redGreen(off, on) = [{ type: 'value', options: {
  '0': { text: off, color: 'red', index: 0 },
  '1': { text: on, color: 'green', index: 1 },
} }];

local colorOverride(name, color) = {
  matcher: { id: 'byRegexp', options: name },
  properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: color } }],
};

// A table panel: hide and rename columns; timeField shown as a date.
local table(title, desc, targets, hide, rename, timeField=null) =
  panel('table',
        title,
        desc,
        targets,
        transformations=[{ id: 'organize', options: {
          excludeByName: { [h]: true for h in hide },
          renameByName: rename,
        } }],
        overrides=if timeField == null then [] else [{
          matcher: { id: 'byName', options: timeField },
          properties: [{ id: 'unit', value: 'dateTimeAsIso' }],
        }]);

// [title, [[panel, width, height]]] -> the dashboard's panels: a row panel per
// row, then its panels left to right, wrapping at 24 columns; ids from 1.
local layout(rows) =
  std.foldl(function(st, row)
              local start = {
                panels: st.panels + [{
                  type: 'row',
                  title: row[0],
                  id: st.id,
                  collapsed: false,
                  gridPos: { h: 1, w: 24, x: 0, y: st.y },
                  panels: [],
                }],
                id: st.id + 1,
                x: 0,
                y: st.y + 1,
                rowH: 0,
              };
              local done = std.foldl(function(s, item)
                local wrap = s.x + item[1] > 24;
                local x = if wrap then 0 else s.x;
                local y = if wrap then s.y + s.rowH else s.y;
                local rowH = if wrap then 0 else s.rowH;
                s {
                  panels: s.panels + [item[0] { id: s.id, gridPos: { h: item[2], w: item[1], x: x, y: y } }],
                  id: s.id + 1,
                  x: x + item[1],
                  y: y,
                  rowH: std.max(rowH, item[2]),
                }, row[1], start);
              { panels: done.panels, id: done.id, y: done.y + done.rowH },
            rows,
            { panels: [], id: 1, y: 0 }).panels;

local statOptions(colorMode, textMode=null) =
  { colorMode: colorMode, graphMode: 'none' }
  + (if textMode != null then { textMode: textMode } else {}) + LAST_VALUE;

local eventColumns = {
  Value: 'time',
  event_name: 'event',
  account_id: 'account',
  principal_arn: 'principal',
  source_ip: 'source IP',
  error_code: 'error',
  event_id: 'event id',
  policy_id: 'policy',
  target_id: 'target',
  policy_type: 'policy type',
};

local rows = [
  ['Organization', [
    [panel('stat',
           'Organization',
           'The organization this exporter watches, its management account and feature set. '
           + 'Empty: the organizations collector has not completed a run; see Exporter health.',
           [target('aws_org_info{%s}' % S,
                   '{{organization_id}} - management {{management_account_id}} - {{feature_set}}',
                   instant=true)],
           options=statOptions('none', 'name')), 10, 4],
    [panel('stat',
           'Accounts by state',
           'Accounts listed by the organization now, per state. A drop in ACTIVE without a '
           + 'rise in SUSPENDED/CLOSED means accounts left: check "Recently departed accounts".',
           [target('sum by (state) (aws_org_accounts{%s})' % S, '{{state}}', instant=true)],
           options=statOptions('none', 'value_and_name')), 14, 4],
    [panel('timeseries',
           'Accounts by state over time',
           'Accounts per state over time. Steps down are departures or closures.',
           [target('sum by (state) (aws_org_accounts{%s})' % S, '{{state}}')]), 12, 8],
    [
      panel('timeseries',
            'Arrivals and departures',
            'Accounts that appeared in or disappeared from the listing, per interval. Any '
            + 'departure is the technique succeeding (alert AwsOrgAccountDeparted): find who in '
            + 'the activity row and re-invite or investigate the account.',
            [
              target('sum(increase(aws_org_account_departures_total{%s}[$__rate_interval]))' % S,
                     'departures'),
              target('sum(increase(aws_org_account_arrivals_total{%s}[$__rate_interval]))' % S,
                     'arrivals'),
            ],
            overrides=[colorOverride('departures', 'red'), colorOverride('arrivals', 'blue')]),
      12,
      8,
    ],
    [table('Recently departed accounts',
           'Accounts that were listed and are gone, with their last listed state and when the '
           + 'exporter saw them go (kept for --collector.organizations.departed-retention). Each '
           + 'one is outside every SCP now: confirm with the account owner, check CloudTrail for '
           + 'the principal. A last state of CLOSED, PENDING_CLOSURE or SUSPENDED is AWS '
           + 'removing a closed account (no page).',
           [target('aws_org_departed_account_info{%s} * 1000' % S, table=true)],
           ['Time', '__name__', 'job'],
           { Value: 'departed at', account_id: 'account', name: 'name', last_state: 'last state' },
           'departed at'), 24, 7],
  ]],
  ['Leave attempts and activity', [
    [
      panel('timeseries',
            'Watched events by outcome',
            'CloudTrail events the exporter watches, per name and outcome. Denied (red) and '
            + 'failed (orange) LeaveOrganization calls are attempts that were stopped: find the '
            + 'principal in "Newest events" and contain that account.',
            [target('sum by (event_name, outcome) (increase(aws_org_cloudtrail_events_total{%s}'
                    % S + '[$__rate_interval])) > 0', '{{event_name}} {{outcome}}')],
            overrides=[colorOverride('.* denied', 'red'), colorOverride('.* failed', 'orange')],
            options={ legend: { displayMode: 'table', placement: 'right', calcs: ['sum'] } }),
      16,
      8,
    ],
    [panel('stat',
           'Leave attempts stopped',
           'LeaveOrganization calls denied or failed in the selected range. Above 0: someone '
           + 'holding a member account tried to leave (alert AwsOrgLeaveAttemptDenied).',
           [target('sum(increase(aws_org_cloudtrail_events_total{%s, event_name="LeaveOrganization", '
                   % S + 'outcome=~"denied|failed"}[$__range]))', instant=true)],
           thresholds=steps([[null, 'green'], [1, 'red']]),
           options=statOptions('background')), 8, 4],
    [panel('stat',
           'Leaves and removals',
           'Successful LeaveOrganization, RemoveAccountFromOrganization and '
           + 'AccountDepartedOrganization events in the selected range (alert '
           + 'AwsOrgAccountDeparted). Above 0: an account is out of the organization.',
           [target('sum(increase(aws_org_cloudtrail_events_total{%s, event_name=~"%s", '
                   % [S, LEAVE] + 'outcome="success"}[$__range]))', instant=true)],
           thresholds=steps([[null, 'green'], [1, 'red']]),
           options=statOptions('background')), 8, 4],
    [table('Member accounts whose history cannot be read',
           'Members whose own CloudTrail history the member fan-out cannot read (the member '
           + 'role is missing, or no longer trusts the exporter): a LeaveOrganization or transfer '
           + 'attempt there would go unseen (alert AwsOrgMemberUnreadable). Recreate the role '
           + '(StackSet with RetainStacksOnAccountRemoval), and find out who deleted it.',
           [target('(aws_org_cloudtrail_member_up{%s} == 0) * on (job, instance, account_id) '
                   % S + 'group_left (name, state) aws_org_account_info{%s}' % S, table=true)],
           ['Time', 'Value', '__name__', 'job', 'joined_method'],
           { account_id: 'account', name: 'name', state: 'state' }), 24, 6],
    [table('Newest events',
           'The newest watched CloudTrail events: when, what, outcome, the affected account, '
           + 'who called it and from where. Investigate unknown principals or addresses first.',
           [target('aws_org_cloudtrail_recent_event_info{%s} * 1000' % S, table=true)],
           ['Time', '__name__', 'job'],
           eventColumns { departure_method: 'departure' },
           'time'), 24, 9],
  ]],
  ['Guardrails', [
    [panel('stat',
           'SCPs enabled',
           'Whether Service Control Policies are enabled on the root. DISABLED: no SCP applies '
           + 'and every member can leave (alert AwsOrgScpDisabled): re-enable the policy type.',
           [target('aws_org_scp_enabled{%s}' % S, '{{instance}}', instant=true)],
           mappings=redGreen('DISABLED', 'enabled'),
           options=statOptions('background')), 6, 6],
    [panel('bargauge',
           'Accounts by leave protection',
           'Member accounts per protection status: protected (an unconditional SCP deny of '
           + 'LeaveOrganization), conditional (a deny with exceptions), unprotected, unknown '
           + '(policies unreadable). Attach the deny SCP to close the unprotected ones.',
           [target('sum by (status) (aws_org_accounts_leave_protection{%s})' % S,
                   '{{status}}',
                   instant=true)],
           overrides=[
             colorOverride('^protected$', 'green'),
             colorOverride('conditional', 'yellow'),
             colorOverride('unprotected', 'red'),
             colorOverride('unknown', 'orange'),
             colorOverride('not_applicable', 'text'),
           ],
           options={ displayMode: 'basic', orientation: 'horizontal' } + LAST_VALUE), 8, 6],
    [table('Guardrail tampering events',
           'The newest calls that detach, delete, edit, attach or disable SCPs, or delete the '
           + 'organization (alert AwsOrgGuardrailTampering); other policy types (tag, backup, '
           + '...) are left out. Check each against a change ticket, then check the protection '
           + 'table for accounts it exposed.',
           [target('aws_org_cloudtrail_recent_event_info{%s, event_name=~"%s", policy_type=~"%s"} '
                   % [S, TAMPER, GUARD_TYPES] + '* 1000', table=true)],
           ['Time', '__name__', 'job', 'departure_method'],
           eventColumns,
           'time'), 10, 6],
    [table('Accounts that can leave',
           'Unprotected, conditional and unknown accounts with their names. Unprotected: '
           + 'attach an SCP denying organizations:LeaveOrganization at the account, its OU or '
           + "the root. Conditional: review the condition's exceptions.",
           [target('aws_org_account_leave_protection{%s, status=~"unprotected|conditional|unknown"} '
                   % S + '* on (job, instance, account_id) group_left (name) aws_org_account_info{%s}'
                         % S, table=true)],
           ['Time', 'Value', '__name__', 'job'],
           { account_id: 'account', status: 'status', name: 'name' }), 24, 8],
  ]],
  ['Exporter health', [
    [panel('stat',
           'Collector up',
           "Whether each collector's last run succeeded. Down: the collector serves its last "
           + 'good data; read the exporter log for the AWS error (alert AwsOrgCollectorFailing).',
           [target('aws_org_collector_up{%s}' % S, '{{collector}}', instant=true)],
           mappings=redGreen('down', 'up'),
           options=statOptions('background', 'value_and_name')), 8, 4],
    [panel('stat',
           'Last success age',
           'Time since each collector last succeeded. Much more than its interval: it is '
           + 'failing or stuck (alert AwsOrgCollectorStale).',
           [target('time() - aws_org_collector_last_success_timestamp_seconds{%s}' % S,
                   '{{collector}}',
                   instant=true)],
           unit='s',
           thresholds=steps([[null, 'green'], [900, 'orange'], [1800, 'red']]),
           options=statOptions('value', 'value_and_name')), 8, 4],
    [panel('stat',
           'Credentials expire in',
           'Time left on temporary AWS credentials, per source (absent for long-term keys). '
           + 'They are refreshed ahead of expiry; near 0: the refresh fails (alert '
           + 'AwsOrgCredentialsExpiring): check the role or token file.',
           [target('aws_org_credentials_expiry_timestamp_seconds{%s} - time()' % S,
                   '{{source}}',
                   instant=true)],
           unit='s',
           thresholds=steps([[null, 'red'], [300, 'orange'], [900, 'green']]),
           options=statOptions('value', 'value_and_name')), 8, 4],
    [
      panel('timeseries',
            'Collector duration',
            "How long each collector's last run took. Growing toward the interval: raise the "
            + 'interval or look at throttling.',
            [target('aws_org_collector_duration_seconds{%s}' % S, '{{collector}}')],
            unit='s'),
      8,
      8,
    ],
    [panel('timeseries',
           'AWS calls by code',
           'AWS API calls per second by operation and result code. Codes other than OK that '
           + 'persist (AccessDenied, ExpiredToken, Timeout) need action (alert AwsOrgAwsApiErrors).',
           [target('sum by (service, operation, code) (rate(aws_org_api_requests_total{%s}'
                   % S + '[$__rate_interval]))', '{{service}} {{operation}} {{code}}')],
           unit='reqps'), 8, 8],
    [panel('timeseries',
           'Retries and throttles',
           'Retried calls and throttling errors per second. Sustained throttling: lengthen '
           + 'the collector intervals or lower concurrency.',
           [
             target('sum by (service, operation) (rate(aws_org_api_retries_total{%s}'
                    % S + '[$__rate_interval]))', 'retries {{service}} {{operation}}'),
             target('sum by (service, operation) (rate(aws_org_api_requests_total{%s, '
                    % S + 'code=~".*Throttl.*|TooManyRequestsException|RequestLimitExceeded"}'
                    + '[$__rate_interval]))', 'throttled {{service}} {{operation}}'),
           ],
           unit='reqps'), 8, 8],
    [panel('stat',
           'Exporter',
           'Version of each exporter and how long it has been running. A recent restart '
           + 're-reads the CloudTrail lookback window (without --state.file).',
           [
             target('time() - process_start_time_seconds{%s}' % S, '{{instance}}', instant=true),
             target('aws_org_exporter_build_info{%s}' % S,
                    '{{version}} ({{revision}})',
                    instant=true),
           ],
           overrides=[{
             matcher: { id: 'byFrameRefID', options: 'A' },
             properties: [{ id: 'unit', value: 's' }],
           }],
           options=statOptions('none', 'value_and_name')), 24, 4],
  ]],
];

{
  grafanaDashboards+:: {
    local c = $._config,
    local sel = promql.selectorArgs(c.exporterSelector),
    // The job and instance variables: every job that serves the exporter's
    // build info (and matches config.exporterSelector), then its instances.
    // No "definition" (the text Grafana's editor shows for the query, which
    // it derives) and no empty "current" on the data source variable (Grafana
    // selects its default data source): @grafana/schema's Dashboard type has
    // no such field and a "current" needs text and value
    // (tests/deploy/validate-grafana.mjs checks the dashboard against it).
    local variable(name, label, query) = {
      name: name,
      label: label,
      type: 'query',
      datasource: DS,
      query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
      hide: 0,
      includeAll: true,
      multi: true,
      allValue: '.+',
      refresh: 2,
      sort: 1,
      options: [],
      current: { selected: true, text: ['All'], value: ['$__all'] },
    },

    'leave-watch.json': {
      uid: c.dashboardUid,
      title: c.dashboardTitle,
      description: 'Accounts leaving the AWS Organization (MITRE ATT&CK T1666.A002): '
                   + 'membership, leave attempts, SCP leave protection, exporter health.',
      tags: c.dashboardTags,
      schemaVersion: 39,
      version: 1,
      editable: true,
      graphTooltip: 1,
      time: { from: c.dashboardFrom, to: 'now' },
      refresh: c.dashboardRefresh,
      timezone: '',
      links: [],
      annotations: { list: [] },
      panels: layout(rows),
      templating: { list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          hide: 0,
          options: [],
          refresh: 1,
          regex: '',
        },
        variable('job', 'Job', 'label_values(aws_org_exporter_build_info%(b)s, job)' % sel),
        variable('instance',
                 'Instance',
                 'label_values(aws_org_exporter_build_info{%(s)sjob=~"$job"}, instance)' % sel),
      ] },
    },
  },
}
