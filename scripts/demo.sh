#!/usr/bin/env bash
# make demo: the exporter on a demo organization served by the bundled fake
# AWS (tests/fake_aws), so that no AWS account is needed. Ctrl-C stops both.
#   DEMO_LISTEN=127.0.0.1:9813 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
listen=${DEMO_LISTEN:-:9813}
scenario=${DEMO_SCENARIO:-tests/fake_aws/scenarios/demo.json}
fake_pid='' exporter_pid='' patch_pid='' queue_pid=''

stop() {
    trap - INT TERM EXIT
    # Ctrl-C reached the whole process group: give the exporter and the fake
    # a moment to stop by themselves (a second signal would cut them short).
    for _ in $(seq 20); do
        kill -0 $exporter_pid $fake_pid 2>/dev/null || break
        sleep 0.1
    done
    for pid in $queue_pid $patch_pid $exporter_pid $fake_pid; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    echo "demo stopped"
}
trap stop INT TERM EXIT

out=$(mktemp)
/usr/bin/python3 tests/fake_aws/server.py --scenario "$scenario" --port 0 >"$out" &
fake_pid=$!
for _ in $(seq 100); do grep -q 'listening port=' "$out" && break; sleep 0.1; done
port=$(sed -n 's/^listening port=\([0-9]*\)$/\1/p' "$out")
rm -f "$out"
[ -n "$port" ] || { echo "the fake AWS did not start" >&2; exit 1; }
fake="http://127.0.0.1:$port"

# The demo's credentials are the fake's; nothing of this machine's AWS
# configuration is used, and the instance metadata service is never asked.
env -u AWS_PROFILE -u AWS_ROLE_ARN -u AWS_WEB_IDENTITY_TOKEN_FILE \
    -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -u AWS_CONTAINER_CREDENTIALS_FULL_URI \
    AWS_ACCESS_KEY_ID=AKIAFAKEMANAGEMENT01 \
    AWS_SECRET_ACCESS_KEY=fakeManagementSecretKey/0000000000000000 \
    AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    ./aws-org-exporter --web.listen-address="$listen" --aws.endpoint-url="$fake" \
    --collector.organizations.interval=30s --collector.cloudtrail.interval=30s \
    --collector.cloudtrail.member-role=aws-org-exporter-member \
    --collector.eventbridge.queue-url="$fake/111111111111/aws-org-exporter-events" &
exporter_pid=$!

host=${listen%:*}
[ -z "$host" ] && host=localhost
# Half a minute after start, a member tries to leave: EventBridge's rule puts
# the denied call on the queue, and the exporter counts it within a second.
(sleep 30 && /usr/bin/python3 scripts/demo-queue-event.py "$fake" \
    "$fake/111111111111/aws-org-exporter-events" "http://$host:${listen##*:}/metrics" 100000000005) &
queue_pid=$!

# A minute after start, an account leaves the organization.
(sleep 60 && /usr/bin/python3 -c "
import json, urllib.request
req = urllib.request.Request('$fake/_fake/patch', method='POST',
    data=json.dumps({'op': 'remove_account', 'id': '100000000007'}).encode())
urllib.request.urlopen(req, timeout=5).read()
" && echo "demo: account 100000000007 just left the organization") &
patch_pid=$!
cat <<MSG

aws-org-exporter demo: a fake organization of 25 accounts ($scenario)
  metrics:   http://$host:${listen##*:}/metrics
  look for:  aws_org_accounts{state=...}          accounts per state
             aws_org_account_info{name=...}         one series per account
             aws_org_account_departures_total      {last_state="ACTIVE"} goes to 1 after a minute
             aws_org_departed_account_info         names the account that left
             aws_org_cloudtrail_events_total       watched events: a denied leave attempt in
                                                   member 222222222222, guardrail tampering;
                                                   after 30 s another, from member 100000000005,
                                                   through the EventBridge queue (the fast path)
             aws_org_eventbridge_messages_total    what the queue delivered
             aws_org_account_leave_protection      protected / conditional / unprotected per account
             aws_org_collector_up, aws_org_api_requests_total
Ctrl-C stops the demo.

MSG
wait "$exporter_pid"
