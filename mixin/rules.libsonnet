// Recording rules (dashboards/prometheus/rules.yml): the alerts need them.
//
// The alerts must fire once for each new incident, whenever its evidence
// arrives, and never again for the same evidence: not when the exporter
// restarts and re-reads what it had already reported (the CloudTrail
// collector re-counts its --collector.cloudtrail.lookback window on start
// unless it has a --state.file, so its counters go N -> 0 -> N), and not when
// a second signal of the same incident arrives later.
// increase() does neither: it misses a series's first sample, and it counts
// "N -> 0 -> N" as an increase of N.
//
// Events are new by identity, not by time. CloudTrail delivers late and out
// of order, so an event stamped before one already seen is still new. A
// CloudTrail event is fresh while its event_id had no series between 1d15m
// and 15m ago:
//   fresh(event) = recent_event_info unless on(event_id) seen_1d_before_15m
// A departure is one incident per account, whichever signal comes first (the
// listing that lost the account, or a CloudTrail record of the leave): its
// per-account signal is fresh while the account had no signal between 1d15m
// and 15m ago, or when the listing's departure time moved past its high-water
// mark (the account rejoined and left again).
// Counters and per-account values elsewhere compare with their high-water
// mark, the largest value of the same series between 1d15m and 15m ago:
//   fresh(x) = x > hwm(x)  or  (x > 0 unless hwm(x))
// Anything fresh stays so for 15 minutes, then the window catches up and the
// alert resolves. A restart that brings back the same events is never fresh,
// as long as the exporter was down for less than the 1d window (which covers
// the default 24h lookback; widen it with the lookback).
//
// Raw metrics carry config.exporterSelector (%(b)s, %(s)s: lib/promql.libsonnet);
// recorded series (aws_org:...) are made of selected ones only.
local promql = import 'lib/promql.libsonnet';

{
  prometheusRules+:: {
    local sel = promql.selectorArgs($._config.exporterSelector),
    groups+: [{
      name: 'aws-org-leave-watch.records',
      rules: [
        // --- high-water marks (hwm) -------------------------------------------
        {
          record: 'aws_org:account_arrivals_total:max1d_before15m',
          expr: 'max_over_time(aws_org_account_arrivals_total%(b)s[1d] offset 15m)' % sel,
        },
        {
          record: 'aws_org:departed_account_info:max1d_before15m',
          expr: 'max by (job, instance, account_id) (max_over_time(aws_org_departed_account_info%(b)s[1d] offset 15m))' % sel,
        },
        // Join times of accounts that joined in the last 2h only: keeps the hwm
        // below cheap in organizations with thousands of accounts.
        {
          record: 'aws_org:account_joined_timestamp_seconds:last2h',
          expr: 'aws_org_account_joined_timestamp_seconds%(b)s > time() - 7200' % sel,
        },
        {
          record: 'aws_org:account_joined_timestamp_seconds:last2h_max1d_before15m',
          expr: 'max_over_time(aws_org:account_joined_timestamp_seconds:last2h[1d] offset 15m)',
        },
        {
          record: 'aws_org:cloudtrail_events_total:max1d_before15m',
          expr: 'max_over_time(aws_org_cloudtrail_events_total%(b)s[1d] offset 15m)' % sel,
        },
        // Which event ids had a series before (value irrelevant).
        {
          record: 'aws_org:cloudtrail_recent_event:seen1d_before15m',
          expr: 'max by (job, instance, event_id) (max_over_time(aws_org_cloudtrail_recent_event_info%(b)s[1d] offset 15m))' % sel,
        },

        // --- fresh: new since the high-water mark -----------------------------
        // Value: the event time; one series per newly seen event, with who
        // (principal_arn), from where (source_ip), which account and policy.
        {
          record: 'aws_org:cloudtrail_recent_event_info:fresh',
          expr: |||
            aws_org_cloudtrail_recent_event_info%(b)s
              unless on (job, instance, event_id) aws_org:cloudtrail_recent_event:seen1d_before15m
          ||| % sel,
        },
        // Value: the counter; per event_name and outcome. The alerts use it only
        // where no fresh event of that name and outcome carries the details (the
        // newest-events list, --collector.cloudtrail.recent-events, overflowed).
        {
          record: 'aws_org:cloudtrail_events_total:fresh',
          expr: |||
            aws_org_cloudtrail_events_total%(b)s > aws_org:cloudtrail_events_total:max1d_before15m
            or
            (aws_org_cloudtrail_events_total%(b)s > 0 unless aws_org:cloudtrail_events_total:max1d_before15m)
          ||| % sel,
        },
        {
          record: 'aws_org:account_arrivals_total:fresh',
          expr: |||
            aws_org_account_arrivals_total%(b)s > aws_org:account_arrivals_total:max1d_before15m
            or
            (aws_org_account_arrivals_total%(b)s > 0 unless aws_org:account_arrivals_total:max1d_before15m)
          ||| % sel,
        },
        // Value: the join time; one series per newly joined account.
        {
          record: 'aws_org:account_joined_timestamp_seconds:fresh',
          expr: |||
            aws_org:account_joined_timestamp_seconds:last2h
              > aws_org:account_joined_timestamp_seconds:last2h_max1d_before15m
            or
            (aws_org:account_joined_timestamp_seconds:last2h
              unless aws_org:account_joined_timestamp_seconds:last2h_max1d_before15m)
          |||,
        },

        // --- departures: one incident per account -------------------------------
        // Evidence that an account left (or was removed): the listing lost it,
        // or CloudTrail recorded the leave, the removal or the departure, or a
        // member accepted another organization's invitation (a transfer: the
        // exporter reads a member's AcceptHandshake only when it is one). Not
        // evidence: an account last seen CLOSED, PENDING_CLOSURE or SUSPENDED
        // leaving the listing, and a departure whose method is "cleaned" (AWS
        // removes a closed account 90 days after closure): housekeeping.
        {
          record: 'aws_org:account_departure_signal',
          expr: |||
            max by (job, instance, account_id) (
              aws_org_departed_account_info{%(s)slast_state!~"CLOSED|PENDING_CLOSURE|SUSPENDED"}
              or
              aws_org_cloudtrail_recent_event_info{%(s)sevent_name=~"LeaveOrganization|RemoveAccountFromOrganization|AccountDepartedOrganization",outcome="success",departure_method!="cleaned",account_id!=""}
              or
              aws_org_cloudtrail_recent_event_info{%(s)sevent_name="AcceptHandshake",source="member",outcome="success",account_id!=""}
            )
          ||| % sel,
        },
        {
          record: 'aws_org:account_departure_signal:seen1d_before15m',
          expr: 'max_over_time(aws_org:account_departure_signal[1d] offset 15m)',
        },
        // Value: the time of the evidence; one series per departed account.
        {
          record: 'aws_org:account_departure:fresh',
          expr: |||
            max by (job, instance, account_id) (
              (aws_org:account_departure_signal
                unless on (job, instance, account_id) aws_org:account_departure_signal:seen1d_before15m)
              or
              (max by (job, instance, account_id) (aws_org_departed_account_info{%(s)slast_state!~"CLOSED|PENDING_CLOSURE|SUSPENDED"})
                > on (job, instance, account_id) aws_org:departed_account_info:max1d_before15m)
            )
          ||| % sel,
        },
        // The same for clean-ups: a closed account leaving the listing, or a
        // "cleaned" departure event.
        {
          record: 'aws_org:account_cleanup_signal',
          expr: |||
            max by (job, instance, account_id) (
              aws_org_departed_account_info{%(s)slast_state=~"CLOSED|PENDING_CLOSURE|SUSPENDED"}
              or
              aws_org_cloudtrail_recent_event_info{%(s)sevent_name="AccountDepartedOrganization",outcome="success",departure_method="cleaned",account_id!=""}
            )
          ||| % sel,
        },
        {
          record: 'aws_org:account_cleanup_signal:seen1d_before15m',
          expr: 'max_over_time(aws_org:account_cleanup_signal[1d] offset 15m)',
        },
        {
          record: 'aws_org:account_cleanup:fresh',
          expr: |||
            aws_org:account_cleanup_signal
              unless on (job, instance, account_id) aws_org:account_cleanup_signal:seen1d_before15m
          |||,
        },

        // --- AWS API error ratio ----------------------------------------------
        {
          record: 'aws_org:api_requests:rate15m',
          expr: 'sum by (job, instance, service, operation, code) (rate(aws_org_api_requests_total%(b)s[15m]))' % sel,
        },
        {
          record: 'aws_org:api_request_errors:ratio15m',
          expr: |||
            sum by (job, instance, service, operation) (aws_org:api_requests:rate15m{code!="OK"})
              /
            sum by (job, instance, service, operation) (aws_org:api_requests:rate15m)
          |||,
        },
      ],
    }],
  },
}
