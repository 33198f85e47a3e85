#!/usr/bin/python3
"""The compose demo's fake AWS: runs tests/fake_aws/server.py on a fixed port
and, like `make demo`, removes one account from the organization a minute
after start, so that the exporter and the dashboards see a departure.

Environment: FAKE_AWS_SERVER (default: server.py beside this file, as in
the image), FAKE_AWS_SCENARIO (default: scenarios/basic.json beside it),
FAKE_AWS_PORT (4566; 0 = any), DEMO_DEPARTING_ACCOUNT (100000000007; empty =
none), DEMO_DEPARTURE_AFTER (seconds, 60). SIGTERM/SIGINT stop the fake and
exit with its status."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    server = os.environ.get('FAKE_AWS_SERVER') or os.path.join(HERE, 'server.py')
    scenario = os.environ.get('FAKE_AWS_SCENARIO') or os.path.join(
        os.path.dirname(server), 'scenarios', 'basic.json')
    port = os.environ.get('FAKE_AWS_PORT', '4566')
    account = os.environ.get('DEMO_DEPARTING_ACCOUNT', '100000000007')
    after = float(os.environ.get('DEMO_DEPARTURE_AFTER', '60'))
    proc = subprocess.Popen([sys.executable, server, '--scenario', scenario, '--port', port],
                            stdout=subprocess.PIPE, text=True)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    line = proc.stdout.readline()
    sys.stdout.write(line)
    sys.stdout.flush()
    m = re.match(r'listening port=(\d+)', line)
    if not m:
        proc.wait()
        return proc.returncode or 1
    url = 'http://127.0.0.1:%s/_fake/patch' % m.group(1)

    def depart():
        if not account or stop.wait(after):
            return
        req = urllib.request.Request(url, method='POST', data=json.dumps(
            {'op': 'remove_account', 'id': account}).encode())
        try:
            urllib.request.urlopen(req, timeout=5).read()
            print('demo: account %s just left the organization' % account, flush=True)
        except OSError as e:
            print('demo: removing account %s failed: %s' % (account, e), flush=True)

    threading.Thread(target=depart, daemon=True).start()
    rc = proc.wait()
    stop.set()
    return rc


if __name__ == '__main__':
    sys.exit(main())
