#!/usr/bin/python3
"""Generates the Grafana files of dashboards/ from one description:
  grafana/leave-watch.json   the dashboard "AWS Organization - Leave watch"
  grafana/alert-rules.yml    Grafana-managed alert rules, from prometheus/alerts.yml
Run it after editing this file or alerts.yml; tests/integration/test_dashboards.py
fails when the committed files differ from what it generates.
  /usr/bin/python3 dashboards/generate.py [--check]
Standard library + python3-yaml (Debian) only."""
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DASHBOARD = os.path.join(HERE, 'grafana', 'leave-watch.json')
GRAFANA_RULES = os.path.join(HERE, 'grafana', 'alert-rules.yml')
PROM_ALERTS = os.path.join(HERE, 'prometheus', 'alerts.yml')
UID = 'aws-org-leave-watch'
DS = {'type': 'prometheus', 'uid': '${datasource}'}
S = 'job=~"$job", instance=~"$instance"'       # every query's selector
LEAVE = 'LeaveOrganization|RemoveAccountFromOrganization|AccountDepartedOrganization'
TAMPER = ('DetachPolicy|DeletePolicy|UpdatePolicy|AttachPolicy|DisablePolicyType|EnablePolicyType|'
          'DeleteOrganization')
# Policy types that are guardrails against leaving (empty: not a policy call,
# unknown: the exporter could not resolve the policy).
GUARD_TYPES = 'SERVICE_CONTROL_POLICY|unknown|'


# Stat and gauge panels show each series' last value.
LAST_VALUE = {'reduceOptions': {'calcs': ['lastNotNull'], 'fields': '', 'values': False}}


def target(expr, legend='', instant=False, table=False, ref='A'):
    t = {'datasource': DS, 'expr': expr, 'refId': ref, 'legendFormat': legend or '__auto'}
    if instant or table:
        t.update(instant=True, range=False)
    if table:
        t['format'] = 'table'
    return t


def panel(kind, title, desc, targets, **extra):
    p = {'type': kind, 'title': title, 'description': desc, 'datasource': DS,
         'targets': [dict(t, refId=chr(65 + i)) for i, t in enumerate(targets)],
         'fieldConfig': {'defaults': {}, 'overrides': []}, 'options': {}}
    for k, v in extra.items():
        if k == 'unit':
            p['fieldConfig']['defaults']['unit'] = v
        elif k == 'mappings':
            p['fieldConfig']['defaults']['mappings'] = v
        elif k == 'thresholds':
            p['fieldConfig']['defaults']['thresholds'] = {'mode': 'absolute', 'steps': v}
        elif k == 'overrides':
            p['fieldConfig']['overrides'] = v
        else:
            p[k] = v
    return p


def steps(*pairs):
    return [{'color': c, 'value': v} for v, c in pairs]


def red_green(off, on):
    """Value mappings of a 0/1 gauge: 0 in red as off, 1 in green as on."""
    return [{'type': 'value', 'options': {'0': {'text': off, 'color': 'red', 'index': 0},
                                          '1': {'text': on, 'color': 'green', 'index': 1}}}]


def color_override(name, color):
    return {'matcher': {'id': 'byRegexp', 'options': name},
            'properties': [{'id': 'color', 'value': {'mode': 'fixed', 'fixedColor': color}}]}


def table_opts(hide, rename, time_field=None):
    tr = [{'id': 'organize', 'options': {'excludeByName': {h: True for h in hide},
                                         'renameByName': rename}}]
    over = []
    if time_field:
        over.append({'matcher': {'id': 'byName', 'options': time_field},
                     'properties': [{'id': 'unit', 'value': 'dateTimeAsIso'}]})
    return {'transformations': tr, 'overrides': over}


def rows():
    """[(row title, [(panel, width, height)])]"""
    org = [
        (panel('stat', 'Organization',
               'The organization this exporter watches, its management account and feature set. '
               'Empty: the organizations collector has not completed a run; see Exporter health.',
               [target('aws_org_info{%s}' % S,
                       '{{organization_id}} - management {{management_account_id}} - {{feature_set}}',
                       instant=True)],
               options={'textMode': 'name', 'colorMode': 'none', 'graphMode': 'none', **LAST_VALUE}),
         10, 4),
        (panel('stat', 'Accounts by state',
               'Accounts listed by the organization now, per state. A drop in ACTIVE without a '
               'rise in SUSPENDED/CLOSED means accounts left: check "Recently departed accounts".',
               [target('sum by (state) (aws_org_accounts{%s})' % S, '{{state}}', instant=True)],
               options={'colorMode': 'none', 'graphMode': 'none', 'textMode': 'value_and_name', **LAST_VALUE}),
         14, 4),
        (panel('timeseries', 'Accounts by state over time',
               'Accounts per state over time. Steps down are departures or closures.',
               [target('sum by (state) (aws_org_accounts{%s})' % S, '{{state}}')]), 12, 8),
        (panel('timeseries', 'Arrivals and departures',
               'Accounts that appeared in or disappeared from the listing, per interval. Any '
               'departure is the technique succeeding (alert AwsOrgAccountDeparted): find who in '
               'the activity row and re-invite or investigate the account.',
               [target('sum(increase(aws_org_account_departures_total{%s}[$__rate_interval]))' % S,
                       'departures'),
                target('sum(increase(aws_org_account_arrivals_total{%s}[$__rate_interval]))' % S,
                       'arrivals')],
               overrides=[color_override('departures', 'red'), color_override('arrivals', 'blue')]),
         12, 8),
        (panel('table', 'Recently departed accounts',
               'Accounts that were listed and are gone, with their last listed state and when the '
               'exporter saw them go (kept for --collector.organizations.departed-retention). Each '
               'one is outside every SCP now: confirm with the account owner, check CloudTrail for '
               'the principal. A last state of CLOSED, PENDING_CLOSURE or SUSPENDED is AWS '
               'removing a closed account (no page).',
               [target('aws_org_departed_account_info{%s} * 1000' % S, table=True)],
               **table_opts(['Time', '__name__', 'job'],
                            {'Value': 'departed at', 'account_id': 'account', 'name': 'name',
                             'last_state': 'last state'},
                            'departed at')), 24, 7),
    ]
    activity = [
        (panel('timeseries', 'Watched events by outcome',
               'CloudTrail events the exporter watches, per name and outcome. Denied (red) and '
               'failed (orange) LeaveOrganization calls are attempts that were stopped: find the '
               'principal in "Newest events" and contain that account.',
               [target('sum by (event_name, outcome) (increase(aws_org_cloudtrail_events_total{%s}'
                       '[$__rate_interval])) > 0' % S, '{{event_name}} {{outcome}}')],
               overrides=[color_override('.* denied', 'red'), color_override('.* failed', 'orange')],
               options={'legend': {'displayMode': 'table', 'placement': 'right', 'calcs': ['sum']}}),
         16, 8),
        (panel('stat', 'Leave attempts stopped',
               'LeaveOrganization calls denied or failed in the selected range. Above 0: someone '
               'holding a member account tried to leave (alert AwsOrgLeaveAttemptDenied).',
               [target('sum(increase(aws_org_cloudtrail_events_total{%s, event_name="LeaveOrganization", '
                       'outcome=~"denied|failed"}[$__range]))' % S, instant=True)],
               thresholds=steps((None, 'green'), (1, 'red')),
               options={'colorMode': 'background', 'graphMode': 'none', **LAST_VALUE}),
         8, 4),
        (panel('stat', 'Leaves and removals',
               'Successful LeaveOrganization, RemoveAccountFromOrganization and '
               'AccountDepartedOrganization events in the selected range (alert '
               'AwsOrgAccountDeparted). Above 0: an account is out of the organization.',
               [target('sum(increase(aws_org_cloudtrail_events_total{%s, event_name=~"%s", '
                       'outcome="success"}[$__range]))' % (S, LEAVE), instant=True)],
               thresholds=steps((None, 'green'), (1, 'red')),
               options={'colorMode': 'background', 'graphMode': 'none', **LAST_VALUE}),
         8, 4),
        (panel('table', 'Member accounts whose history cannot be read',
               'Members whose own CloudTrail history the member fan-out cannot read (the member '
               'role is missing, or no longer trusts the exporter): a LeaveOrganization or transfer '
               'attempt there would go unseen (alert AwsOrgMemberUnreadable). Recreate the role '
               '(StackSet with RetainStacksOnAccountRemoval), and find out who deleted it.',
               [target('(aws_org_cloudtrail_member_up{%s} == 0) * on (job, instance, account_id) '
                       'group_left (name, state) aws_org_account_info{%s}' % (S, S), table=True)],
               **table_opts(['Time', 'Value', '__name__', 'job', 'joined_method'],
                            {'account_id': 'account', 'name': 'name', 'state': 'state'})),
         24, 6),
        (panel('table', 'Newest events',
               'The newest watched CloudTrail events: when, what, outcome, the affected account, '
               'who called it and from where. Investigate unknown principals or addresses first.',
               [target('aws_org_cloudtrail_recent_event_info{%s} * 1000' % S, table=True)],
               **table_opts(['Time', '__name__', 'job'],
                            {'Value': 'time', 'event_name': 'event', 'account_id': 'account',
                             'principal_arn': 'principal', 'source_ip': 'source IP',
                             'error_code': 'error', 'event_id': 'event id',
                             'departure_method': 'departure', 'policy_id': 'policy',
                             'target_id': 'target', 'policy_type': 'policy type'}, 'time')), 24, 9),
    ]
    guard = [
        (panel('stat', 'SCPs enabled',
               'Whether Service Control Policies are enabled on the root. DISABLED: no SCP applies '
               'and every member can leave (alert AwsOrgScpDisabled): re-enable the policy type.',
               [target('aws_org_scp_enabled{%s}' % S, '{{instance}}', instant=True)],
               mappings=red_green('DISABLED', 'enabled'),
               options={'colorMode': 'background', 'graphMode': 'none', **LAST_VALUE}),
         6, 6),
        (panel('bargauge', 'Accounts by leave protection',
               'Member accounts per protection status: protected (an unconditional SCP deny of '
               'LeaveOrganization), conditional (a deny with exceptions), unprotected, unknown '
               '(policies unreadable). Attach the deny SCP to close the unprotected ones.',
               [target('sum by (status) (aws_org_accounts_leave_protection{%s})' % S, '{{status}}',
                       instant=True)],
               overrides=[color_override('^protected$', 'green'), color_override('conditional', 'yellow'),
                          color_override('unprotected', 'red'), color_override('unknown', 'orange'),
                          color_override('not_applicable', 'text')],
               options={'displayMode': 'basic', 'orientation': 'horizontal', **LAST_VALUE}),
         8, 6),
        (panel('table', 'Guardrail tampering events',
               'The newest calls that detach, delete, edit, attach or disable SCPs, or delete the '
               'organization (alert AwsOrgGuardrailTampering); other policy types (tag, backup, '
               '...) are left out. Check each against a change ticket, then check the protection '
               'table for accounts it exposed.',
               [target('aws_org_cloudtrail_recent_event_info{%s, event_name=~"%s", policy_type=~"%s"} '
                       '* 1000' % (S, TAMPER, GUARD_TYPES), table=True)],
               **table_opts(['Time', '__name__', 'job', 'departure_method'],
                            {'Value': 'time', 'event_name': 'event', 'account_id': 'account',
                             'principal_arn': 'principal', 'source_ip': 'source IP',
                             'error_code': 'error', 'event_id': 'event id', 'policy_id': 'policy',
                             'target_id': 'target', 'policy_type': 'policy type'}, 'time')),
         10, 6),
        (panel('table', 'Accounts that can leave',
               'Unprotected, conditional and unknown accounts with their names. Unprotected: '
               'attach an SCP denying organizations:LeaveOrganization at the account, its OU or '
               'the root. Conditional: review the condition\'s exceptions.',
               [target('aws_org_account_leave_protection{%s, status=~"unprotected|conditional|unknown"} '
                       '* on (job, instance, account_id) group_left (name) aws_org_account_info{%s}'
                       % (S, S), table=True)],
               **table_opts(['Time', 'Value', '__name__', 'job'],
                            {'account_id': 'account', 'status': 'status', 'name': 'name'})),
         24, 8),
    ]
    health = [
        (panel('stat', 'Collector up',
               'Whether each collector\'s last run succeeded. Down: the collector serves its last '
               'good data; read the exporter log for the AWS error (alert AwsOrgCollectorFailing).',
               [target('aws_org_collector_up{%s}' % S, '{{collector}}', instant=True)],
               mappings=red_green('down', 'up'),
               options={'colorMode': 'background', 'graphMode': 'none', 'textMode': 'value_and_name', **LAST_VALUE}),
         8, 4),
        (panel('stat', 'Last success age',
               'Time since each collector last succeeded. Much more than its interval: it is '
               'failing or stuck (alert AwsOrgCollectorStale).',
               [target('time() - aws_org_collector_last_success_timestamp_seconds{%s}' % S,
                       '{{collector}}', instant=True)], unit='s',
               thresholds=steps((None, 'green'), (900, 'orange'), (1800, 'red')),
               options={'colorMode': 'value', 'graphMode': 'none', 'textMode': 'value_and_name', **LAST_VALUE}),
         8, 4),
        (panel('stat', 'Credentials expire in',
               'Time left on temporary AWS credentials, per source (absent for long-term keys). '
               'They are refreshed ahead of expiry; near 0: the refresh fails (alert '
               'AwsOrgCredentialsExpiring): check the role or token file.',
               [target('aws_org_credentials_expiry_timestamp_seconds{%s} - time()' % S, '{{source}}',
                       instant=True)], unit='s',
               thresholds=steps((None, 'red'), (300, 'orange'), (900, 'green')),
               options={'colorMode': 'value', 'graphMode': 'none', 'textMode': 'value_and_name', **LAST_VALUE}),
         8, 4),
        (panel('timeseries', 'Collector duration',
               'How long each collector\'s last run took. Growing toward the interval: raise the '
               'interval or look at throttling.',
               [target('aws_org_collector_duration_seconds{%s}' % S, '{{collector}}')], unit='s'),
         8, 8),
        (panel('timeseries', 'AWS calls by code',
               'AWS API calls per second by operation and result code. Codes other than OK that '
               'persist (AccessDenied, ExpiredToken, Timeout) need action (alert AwsOrgAwsApiErrors).',
               [target('sum by (service, operation, code) (rate(aws_org_api_requests_total{%s}'
                       '[$__rate_interval]))' % S, '{{service}} {{operation}} {{code}}')],
               unit='reqps'), 8, 8),
        (panel('timeseries', 'Retries and throttles',
               'Retried calls and throttling errors per second. Sustained throttling: lengthen '
               'the collector intervals or lower concurrency.',
               [target('sum by (service, operation) (rate(aws_org_api_retries_total{%s}'
                       '[$__rate_interval]))' % S, 'retries {{service}} {{operation}}'),
                target('sum by (service, operation) (rate(aws_org_api_requests_total{%s, '
                       'code=~".*Throttl.*|TooManyRequestsException|RequestLimitExceeded"}'
                       '[$__rate_interval]))' % S, 'throttled {{service}} {{operation}}')],
               unit='reqps'), 8, 8),
        (panel('stat', 'Exporter',
               'Version of each exporter and how long it has been running. A recent restart '
               're-reads the CloudTrail lookback window (without --state.file).',
               [target('time() - process_start_time_seconds{%s}' % S, '{{instance}}', instant=True),
                target('aws_org_exporter_build_info{%s}' % S, '{{version}} ({{revision}})',
                       instant=True)],
               overrides=[{'matcher': {'id': 'byFrameRefID', 'options': 'A'},
                           'properties': [{'id': 'unit', 'value': 's'}]}],
               options={'colorMode': 'none', 'graphMode': 'none', 'textMode': 'value_and_name', **LAST_VALUE}),
         24, 4),
    ]
    return [('Organization', org), ('Leave attempts and activity', activity),
            ('Guardrails', guard), ('Exporter health', health)]


def dashboard():
    panels, y, pid = [], 0, 1
    for title, items in rows():
        panels.append({'type': 'row', 'title': title, 'id': pid, 'collapsed': False,
                       'gridPos': {'h': 1, 'w': 24, 'x': 0, 'y': y}, 'panels': []})
        pid += 1
        y += 1
        x, row_h = 0, 0
        for p, w, h in items:
            if x + w > 24:
                x, y, row_h = 0, y + row_h, 0
            p = dict(p, id=pid, gridPos={'h': h, 'w': w, 'x': x, 'y': y})
            pid += 1
            panels.append(p)
            x += w
            row_h = max(row_h, h)
        y += row_h
    var = {'hide': 0, 'includeAll': True, 'multi': True, 'allValue': '.+',
           'current': {'selected': True, 'text': ['All'], 'value': ['$__all']},
           'datasource': DS, 'refresh': 2, 'sort': 1, 'type': 'query', 'options': []}
    return {
        'uid': UID, 'title': 'AWS Organization \u2014 Leave watch',
        'description': 'Accounts leaving the AWS Organization (MITRE ATT&CK T1666.A002): '
                       'membership, leave attempts, SCP leave protection, exporter health.',
        'tags': ['aws', 'organizations', 'security', 'aws-org-exporter'],
        'schemaVersion': 39, 'version': 1, 'editable': True, 'graphTooltip': 1,
        'time': {'from': 'now-24h', 'to': 'now'}, 'refresh': '1m', 'timezone': '',
        'links': [], 'annotations': {'list': []}, 'panels': panels,
        'templating': {'list': [
            {'name': 'datasource', 'label': 'Data source', 'type': 'datasource',
             'query': 'prometheus', 'hide': 0, 'current': {}, 'options': [], 'refresh': 1,
             'regex': ''},
            dict(var, name='job', label='Job',
                 definition='label_values(aws_org_exporter_build_info, job)',
                 query={'query': 'label_values(aws_org_exporter_build_info, job)',
                        'refId': 'PrometheusVariableQueryEditor-VariableQuery'}),
            dict(var, name='instance', label='Instance',
                 definition='label_values(aws_org_exporter_build_info{job=~"$job"}, instance)',
                 query={'query': 'label_values(aws_org_exporter_build_info{job=~"$job"}, instance)',
                        'refId': 'PrometheusVariableQueryEditor-VariableQuery'}),
        ]},
    }


def grafana_rules(alerts_path=PROM_ALERTS):
    """The Prometheus alerting rules as Grafana-managed rules: the same PromQL
    (it needs rules.yml's recording rules in the data source, like the
    Prometheus alerts), firing while it returns series, like Prometheus."""
    with open(alerts_path) as f:
        doc = yaml.safe_load(f)
    groups = []
    for g in doc['groups']:
        rules = []
        for r in g['rules']:
            name = r['alert']
            uid = 'aws-org-' + re.sub(r'(?<!^)([A-Z])', r'-\1', name[6:]).lower()
            # Grafana's templates have no query function: annotations that
            # look up other series (the departure's details) are Prometheus's.
            ann = {k: v.replace('$value', '$values.A.Value') for k, v in r['annotations'].items()
                   if '| query' not in v}
            rules.append({
                'uid': uid[:40], 'title': name, 'condition': 'B',
                'data': [
                    {'refId': 'A', 'datasourceUid': 'prometheus',
                     'relativeTimeRange': {'from': 600, 'to': 0},
                     'model': {'refId': 'A', 'expr': r['expr'].strip(), 'instant': True,
                               'range': False, 'editorMode': 'code'}},
                    # A series in the result means firing, as in Prometheus
                    # (some alerts' values are 0, e.g. aws_org_scp_enabled == 0).
                    {'refId': 'B', 'datasourceUid': '__expr__',
                     'model': {'refId': 'B', 'type': 'math',
                               'expression': 'is_number($A) || is_nan($A) || is_inf($A)'}}],
                'noDataState': 'OK', 'execErrState': 'Error', 'for': r.get('for', '0s'),
                'labels': dict(r.get('labels', {})), 'annotations': ann, 'isPaused': False})
        groups.append({'orgId': 1, 'name': g['name'], 'folder': 'AWS Organization',
                       'interval': '1m', 'rules': rules})
    return {'apiVersion': 1, 'groups': groups}


def render():
    dash = json.dumps(dashboard(), indent=2, ensure_ascii=False) + '\n'
    rules = ('# Generated by dashboards/generate.py from dashboards/prometheus/alerts.yml; do not edit.\n'
             '# Grafana-managed alert rules (file provisioning). Their queries use the recording\n'
             '# rules of dashboards/prometheus/rules.yml: load that file into the Prometheus that\n'
             '# the data source with uid "prometheus" points at.\n'
             + yaml.safe_dump(grafana_rules(), sort_keys=False, allow_unicode=True, width=100))
    return {DASHBOARD: dash, GRAFANA_RULES: rules}


def main():
    check = '--check' in sys.argv[1:]
    stale = []
    for path, text in render().items():
        old = open(path, encoding='utf-8').read() if os.path.exists(path) else None
        if old != text:
            stale.append(path)
            if not check:
                with open(path, 'w', encoding='utf-8') as f:
                    f.write(text)
    if check and stale:
        print('out of date: ' + ', '.join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
