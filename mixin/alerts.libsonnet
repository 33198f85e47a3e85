// Alerting rules (dashboards/prometheus/alerts.yml). They use the recording
// rules of rules.libsonnet (the "fresh" rules are explained there). Runbook
// for every alert: dashboards/README.md#runbook. Raw metrics carry
// config.exporterSelector (%(b)s, %(s)s: lib/promql.libsonnet).
local promql = import 'lib/promql.libsonnet';
local fold = promql.fold;

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = promql.selectorArgs(c.exporterSelector),
    // The fields every alert has: its severity and the runbook section.
    local alert(name, severity, rule) = { alert: name } + rule + {
      labels: { severity: severity },
      annotations+: { runbook: c.runbookBase + std.asciiLower(name) },
    },

    groups+: [{
      name: 'aws-org-leave-watch.alerts',
      rules: [
        // --- the technique itself ------------------------------------------------
        // One alert per departed account, whichever evidence comes first: the
        // listing lost it, or CloudTrail recorded its LeaveOrganization,
        // RemoveAccountFromOrganization or AccountDepartedOrganization. Later
        // evidence of the same departure does not fire again; it fills in the
        // details annotation (who, from where) while the alert is active.
        // Closed accounts removed by AWS (clean-ups) are AwsOrgClosedAccountRemoved.
        alert('AwsOrgAccountDeparted', 'critical', {
          expr: 'aws_org:account_departure:fresh',
          annotations: {
            summary: 'Account {{ $labels.account_id }} left the organization',
            description: fold(|||
              Account {{ $labels.account_id }} is no longer a member of the organization seen by
              {{ $labels.instance }}: it left or was removed, and no Service Control Policy of the
              organization applies to it any more.
            |||),
            // Who and from where, as the evidence arrives (Prometheus only:
            // Grafana has no query in templates).
            details: fold(|||
              {{ range printf "aws_org_departed_account_info{job='%s',instance='%s',account_id='%s'}"
              $labels.job $labels.instance $labels.account_id | query }}Listed as {{ .Labels.name }},
              last {{ .Labels.last_state }}.{{ end }}{{ range printf
              "aws_org_cloudtrail_recent_event_info{job='%s',instance='%s',account_id='%s',outcome='success',event_name=~'LeaveOrganization|RemoveAccountFromOrganization|AccountDepartedOrganization|AcceptHandshake'}"
              $labels.job $labels.instance $labels.account_id | query }} CloudTrail: {{ .Labels.event_name
              }}{{ with .Labels.departure_method }} ({{ . }}){{ end }}{{ with .Labels.principal_arn }}
              by {{ . }}{{ end }}{{ with .Labels.source_ip }} from {{ . }}{{ end }} (event {{ .Labels.event_id }}).{{ end }}
            |||),
          },
        }),

        // Someone holding a member account tried to leave and was stopped
        // (denied: an SCP or IAM; failed: another error). The early warning.
        // A member's AcceptHandshake of another organization's invitation is a
        // transfer out, authorized as LeaveOrganization too: the same attempt.
        // One alert per event; from the counter when the event's details are
        // not in the newest-events list.
        alert('AwsOrgLeaveAttemptDenied', 'high', {
          expr: |||
            aws_org:cloudtrail_recent_event_info:fresh{event_name="LeaveOrganization",outcome=~"denied|failed"}
            or
            aws_org:cloudtrail_recent_event_info:fresh{event_name="AcceptHandshake",source="member",outcome=~"denied|failed"}
            or
            (aws_org:cloudtrail_events_total:fresh{event_name="LeaveOrganization",outcome=~"denied|failed"}
              unless on (job, instance, event_name, outcome) aws_org:cloudtrail_recent_event_info:fresh)
          |||,
          annotations: {
            summary: '{{ $labels.event_name }} attempt {{ $labels.outcome }}{{ with $labels.account_id }} in account {{ . }}{{ end }}',
            description: fold(|||
              {{ $labels.event_name }} was called and {{ $labels.outcome }}{{ with $labels.error_code }}
              ({{ . }}){{ end }}{{ with $labels.account_id }} in account {{ . }}{{ end }}{{ with $labels.principal_arn }},
              by {{ . }}{{ end }}{{ with $labels.source_ip }} from {{ . }}{{ end }}{{ with $labels.event_id }}
              (event {{ . }}){{ end }}, seen by {{ $labels.instance }}. Someone with access to a member
              account tried to take it out of the organization.
            |||),
          },
        }),

        // The member fan-out cannot read a member's own history (its role was
        // deleted or changed, or the account blocks it): a LeaveOrganization
        // or transfer attempt there would go unseen. An attacker with admin
        // rights in the member can delete the role first. Members that left,
        // or are suspended or closed, are not expected to be readable.
        alert('AwsOrgMemberUnreadable', 'high', {
          expr: |||
            (aws_org_cloudtrail_member_up%(b)s == 0)
              and on (job, instance, account_id)
            aws_org_account_info{%(s)sstate=~"ACTIVE|PENDING_CLOSURE"}
          ||| % sel,
          'for': c.memberUnreadableFor,
          annotations: {
            summary: 'The history of member account {{ $labels.account_id }} cannot be read',
            description: fold(|||
              For %s {{ $labels.instance }} could not read the CloudTrail history of member
              account {{ $labels.account_id }} through the member role: a LeaveOrganization or
              transfer attempt made there would go unseen. Its log says why (AccessDenied on
              sts:AssumeRole: the role is gone or no longer trusts the exporter).
            ||| % promql.words(c.memberUnreadableFor)),
          },
        }),

        // The CloudTrail collector would read an account that is not the
        // management account (delegated-administrator credentials): departures,
        // removals and guardrail changes are recorded only in the management
        // account, so it reads nothing and says so instead of looking healthy.
        alert('AwsOrgCloudTrailWrongAccount', 'high', {
          expr: 'aws_org_cloudtrail_wrong_account_info%(b)s == 1' % sel,
          annotations: {
            summary: 'CloudTrail is read in account {{ $labels.caller_account_id }}, not in the management account',
            description: fold(|||
              {{ $labels.instance }} reads CloudTrail with credentials of account
              {{ $labels.caller_account_id }}, but the organization's membership and guardrail events
              are recorded only in its management account {{ $labels.management_account_id }}: the
              CloudTrail collector reads nothing until --collector.cloudtrail.role-arn names a role
              in the management account (or the exporter runs with its credentials).
            |||),
          },
        }),

        // Housekeeping, not the technique: AWS removed an account closed 90
        // days earlier (departure method CLEANED), or an account last seen
        // closed or suspended left the listing. One per account.
        alert('AwsOrgClosedAccountRemoved', 'info', {
          expr: 'aws_org:account_cleanup:fresh',
          annotations: {
            summary: 'Closed account {{ $labels.account_id }} was removed from the organization',
            description: fold(|||
              Account {{ $labels.account_id }}, closed or suspended, is no longer a member of the
              organization seen by {{ $labels.instance }}. AWS removes a closed account 90 days
              after it was closed; confirm the closure was expected.
            |||),
          },
        }),

        // --- guardrails ------------------------------------------------------------
        // One alert per account whose leave protection got weaker within the
        // last hour: protected -> conditional (a Condition added to the deny:
        // someone exempted), unprotected or unknown (the deny edited into
        // something the exporter cannot evaluate), or conditional ->
        // unprotected. The status is not a label: weakening further within
        // the hour (protected -> conditional -> unprotected) is the same alert,
        // not a second page; its details annotation follows the status. While
        // SCPs are disabled on the root, AwsOrgScpDisabled is the one alert for
        // every account. Accounts never protected are AwsOrgAccountsUnprotected.
        alert('AwsOrgAccountProtectionWeakened', 'high', {
          local weakened = |||
            (
              max by (job, instance, account_id) (
                  (aws_org_account_leave_protection{%(s)sstatus=~"conditional|unprotected|unknown"} == 1)
                    and on (job, instance, account_id)
                  max_over_time(aws_org_account_leave_protection{%(s)sstatus="protected"}[1h])
                or
                  (aws_org_account_leave_protection{%(s)sstatus="unprotected"} == 1)
                    and on (job, instance, account_id)
                  max_over_time(aws_org_account_leave_protection{%(s)sstatus="conditional"}[1h])
              )
              unless on (job, instance) (aws_org_scp_enabled%(b)s == 0)
            )
          ||| % sel,
          // With the account's name where the listing has it, without where not.
          expr: weakened + '* on (job, instance, account_id) group_left (name) aws_org_account_info%(b)s\n' % sel
                + 'or on (job, instance, account_id)\n' + weakened,
          annotations: {
            summary: 'The protection of account {{ $labels.account_id }} against leaving the organization was weakened',
            description: fold(|||
              The Service Control Policies in force for account {{ $labels.account_id }}{{ with $labels.name }}
              ({{ . }}){{ end }} denied organizations:LeaveOrganization within the last hour and now deny it
              only under conditions, not at all, or in a way the exporter cannot evaluate (seen by
              {{ $labels.instance }}): a deny policy was edited (a Condition added, the statement
              removed), detached or deleted, or the account was moved to another OU.
            |||),
            // The status now and why, then what protected the account earlier
            // in the hour (Prometheus only: Grafana has no query in templates).
            details: fold(|||
              {{ range printf "aws_org_account_leave_protection{job='%s',instance='%s',account_id='%s'}"
              $labels.job $labels.instance $labels.account_id | query }}Now {{ .Labels.status }}{{ end }}
              {{- range printf "aws_org_account_leave_protection_info{job='%s',instance='%s',account_id='%s'}"
              $labels.job $labels.instance $labels.account_id | query }} ({{ .Labels.reason }}
              {{- with .Labels.policy_id }}, policy {{ . }}{{ end }}
              {{- if .Labels.level_id }} at {{ .Labels.level }} {{ .Labels.level_id }}{{ end }}){{ end }}.
              {{- range printf "max_over_time(aws_org_account_leave_protection_info{job='%[1]s',instance='%[2]s',account_id='%[3]s',reason=~'explicit_deny|no_allow|conditional_deny'}[1h]) unless aws_org_account_leave_protection_info{job='%[1]s',instance='%[2]s',account_id='%[3]s'}"
              $labels.job $labels.instance $labels.account_id | query | sortByLabel "reason" }} Earlier in the hour: {{ .Labels.reason }}
              {{- with .Labels.policy_id }}, policy {{ . }}{{ end }}
              {{- if .Labels.level_id }} at {{ .Labels.level }} {{ .Labels.level_id }}{{ end }}.{{ end }}
            |||),
          },
        }),

        alert('AwsOrgScpDisabled', 'high', {
          expr: 'aws_org_scp_enabled%(b)s == 0' % sel,
          annotations: {
            summary: 'Service Control Policies are disabled on the organization root',
            description: fold(|||
              The SERVICE_CONTROL_POLICY type is not enabled on the root of the organization seen by
              {{ $labels.instance }}: no SCP applies, every member account can leave the organization.
            |||),
          },
        }),

        // Calls that remove, weaken or replace Service Control Policies (any
        // outcome: denied ones are attempts). Policy calls count only for SCPs
        // (policy_type resolved by the exporter; "unknown" when it could not
        // tell, which pages to be safe), not for tag, backup or other policies.
        // AttachPolicy and EnablePolicyType can undo an allow-list guardrail.
        alert('AwsOrgGuardrailTampering', 'high', {
          expr: |||
            aws_org:cloudtrail_recent_event_info:fresh{event_name=~"DetachPolicy|DeletePolicy|UpdatePolicy|AttachPolicy",policy_type=~"SERVICE_CONTROL_POLICY|unknown"}
            or
            aws_org:cloudtrail_recent_event_info:fresh{event_name=~"DisablePolicyType|EnablePolicyType",policy_type=~"SERVICE_CONTROL_POLICY|"}
            or
            aws_org:cloudtrail_recent_event_info:fresh{event_name="DeleteOrganization"}
            or
            (aws_org:cloudtrail_events_total:fresh{event_name=~"DetachPolicy|DeletePolicy|UpdatePolicy|AttachPolicy|DisablePolicyType|EnablePolicyType|DeleteOrganization"}
              unless on (job, instance, event_name, outcome) aws_org:cloudtrail_recent_event_info:fresh)
          |||,
          annotations: {
            summary: 'CloudTrail: {{ $labels.event_name }} ({{ $labels.outcome }}){{ with $labels.policy_id }} on SCP {{ . }}{{ end }}',
            description: fold(|||
              {{ $labels.event_name }} was called ({{ $labels.outcome }}{{ with $labels.error_code }}, {{ . }}{{ end }}){{ with $labels.policy_id }}
              on policy {{ . }}{{ end }}{{ with $labels.target_id }} for target {{ . }}{{ end }}{{ with $labels.principal_arn }}
              by {{ . }}{{ end }}{{ with $labels.source_ip }} from {{ . }}{{ end }}{{ with $labels.event_id }}
              (event {{ . }}){{ end }}, seen by {{ $labels.instance }}. It can remove the SCP that stops
              accounts from leaving; check the Guardrails row for accounts that lost protection.
            |||),
          },
        }),

        // Standing exposure, not a change: members without a leave-deny SCP.
        alert('AwsOrgAccountsUnprotected', 'warning', {
          expr: 'aws_org_accounts_leave_protection{%(s)sstatus="unprotected"} > 0' % sel,
          'for': c.accountsUnprotectedFor,
          annotations: {
            summary: '{{ $value }} member account(s) can leave the organization',
            description: fold(|||
              {{ $value }} member account(s) of the organization seen by {{ $labels.instance }} have no
              Service Control Policy that denies organizations:LeaveOrganization. The Guardrails row
              lists them.
            |||),
          },
        }),

        alert('AwsOrgLeaveProtectionUnknown', 'warning', {
          expr: 'aws_org_accounts_leave_protection{%(s)sstatus="unknown"} > 0' % sel,
          'for': c.protectionUnknownFor,
          annotations: {
            summary: 'Leave protection of {{ $value }} account(s) cannot be evaluated',
            description: fold(|||
              The exporter {{ $labels.instance }} could not read or evaluate the SCPs of {{ $value }}
              account(s) (access denied, or a policy that does not parse): their protection is not
              proven. Its log names the policy.
            |||),
          },
        }),

        // --- arrivals ---------------------------------------------------------------
        alert('AwsOrgAccountJoined', 'info', {
          expr: |||
            aws_org:account_joined_timestamp_seconds:fresh
              * on (job, instance, account_id) group_left (name, joined_method) aws_org_account_info%(b)s
            or on (job, instance)
            aws_org:account_arrivals_total:fresh
          ||| % sel,
          annotations: {
            summary: 'An account joined the organization{{ with $labels.account_id }} ({{ . }}){{ end }}',
            description: fold(|||
              {{ if $labels.account_id }}Account {{ $labels.account_id }} ({{ $labels.name }}) joined the
              organization seen by {{ $labels.instance }} ({{ $labels.joined_method }}).{{ else }}The
              organization seen by {{ $labels.instance }} gained {{ $value }} account(s) in total.{{ end }}
              Confirm it was expected (T1666.A001) and that it is covered by the leave-deny SCP.
            |||),
          },
        }),

        // CreateAccountResult names the new account (CreateAccount itself is
        // recorded before the account exists). AcceptHandshake in the
        // management account only ever enables all features or accepts a
        // responsibility transfer: not watched here.
        alert('AwsOrgAccountCreatedOrInvited', 'warning', {
          expr: |||
            aws_org:cloudtrail_recent_event_info:fresh{event_name=~"CreateAccountResult|InviteAccountToOrganization|AccountJoinedOrganization",outcome="success"}
            or
            (aws_org:cloudtrail_events_total:fresh{event_name=~"CreateAccountResult|InviteAccountToOrganization|AccountJoinedOrganization",outcome="success"}
              unless on (job, instance, event_name, outcome) aws_org:cloudtrail_recent_event_info:fresh)
          |||,
          annotations: {
            summary: 'CloudTrail: {{ $labels.event_name }}{{ with $labels.account_id }} for account {{ . }}{{ end }}',
            description: fold(|||
              {{ $labels.event_name }} succeeded{{ with $labels.account_id }} for account {{ . }}{{ end }}{{ with $labels.principal_arn }},
              called by {{ . }}{{ end }}{{ with $labels.source_ip }} from {{ . }}{{ end }}, seen by
              {{ $labels.instance }}. Confirm the new account was expected.
            |||),
          },
        }),

        // --- the exporter -----------------------------------------------------------
        // Any scrape target that served aws_org_exporter_build_info in the last day.
        alert('AwsOrgExporterDown', 'warning', {
          expr: 'up%(b)s == 0 and on (job, instance) max_over_time(aws_org_exporter_build_info%(b)s[1d])' % sel,
          'for': c.exporterDownFor,
          annotations: {
            summary: 'aws-org-exporter {{ $labels.instance }} is down',
            description: fold(|||
              Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}) for %s:
              departures, leave attempts and guardrail changes are not being watched.
            ||| % promql.words(c.exporterDownFor)),
          },
        }),

        alert('AwsOrgCollectorFailing', 'warning', {
          expr: 'aws_org_collector_up%(b)s == 0' % sel,
          'for': c.collectorFailingFor,
          annotations: {
            summary: 'Collector {{ $labels.collector }} of {{ $labels.instance }} is failing',
            description: fold(|||
              The {{ $labels.collector }} collector's runs have failed for %s; it serves its
              last good data, which is getting old. The exporter's log says why.
            ||| % promql.words(c.collectorFailingFor)),
          },
        }),

        // The fast path's queue held a message that looked like an Organizations
        // record but could not be read: it is left for the dead-letter queue,
        // and may be a leave attempt that only the polling path will count.
        alert('AwsOrgEventBridgeMessageUnreadable', 'warning', {
          expr: 'increase(aws_org_eventbridge_messages_total{%(s)sresult="malformed"}[15m]) > 0' % sel,
          annotations: {
            summary: 'The EventBridge queue of {{ $labels.instance }} holds messages it cannot read',
            description: fold(|||
              The eventbridge collector received messages that it could not read as CloudTrail
              records of Organizations in the last 15 minutes; they stay on the queue for its
              dead-letter queue. Read them there, and check the exporter's log (it names each
              message id and why).
            |||),
          },
        }),

        alert('AwsOrgCollectorStale', 'warning', {
          expr: |||
            time() - aws_org_collector_last_success_timestamp_seconds%(b)s > %(stale)d
              and aws_org_collector_last_success_timestamp_seconds%(b)s > 0
          ||| % (sel { stale: c.collectorStaleSeconds }),
          'for': c.collectorStaleFor,
          annotations: {
            summary: 'Collector {{ $labels.collector }} of {{ $labels.instance }} has not succeeded for %s'
                     % promql.words(promql.duration(c.collectorStaleSeconds)),
            description: fold(|||
              The last successful run of the {{ $labels.collector }} collector was
              {{ $value | humanizeDuration }} ago.
            |||),
          },
        }),

        alert('AwsOrgAwsApiErrors', 'warning', {
          expr: 'aws_org:api_request_errors:ratio15m > %s' % c.apiErrorRatio,
          'for': c.apiErrorsFor,
          annotations: {
            summary: 'Most {{ $labels.service }} {{ $labels.operation }} calls fail',
            description: fold(|||
              {{ $value | humanizePercentage }} of the {{ $labels.service }} {{ $labels.operation }} calls
              of {{ $labels.instance }} failed over the last 15 minutes (throttling, permissions,
              credentials or the network). The "AWS calls by code" panel shows which error.
            |||),
          },
        }),

        alert('AwsOrgCredentialsExpiring', 'warning', {
          expr: 'aws_org_credentials_expiry_timestamp_seconds%(b)s - time() < %(left)d'
                % (sel { left: c.credentialsExpirySeconds }),
          'for': c.credentialsExpiringFor,
          annotations: {
            summary: 'AWS credentials of {{ $labels.instance }} ({{ $labels.source }}) are not being refreshed',
            description: fold(|||
              The temporary credentials from {{ $labels.source }} expire in {{ $value | humanizeDuration }}
              (negative: expired) and were not refreshed ahead of it.
            |||),
          },
        }),
      ],
    }],
  },
}
