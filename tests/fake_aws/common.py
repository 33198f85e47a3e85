"""What every module of the fake AWS shares: the error a service answers
with, and the timestamp format of its XML and JSON documents."""
import time


class AwsError(Exception):
    """An error answered to the client in the service's own format: code,
    message, HTTP status, extra members of the JSON error body; invalid and
    bad_signature say which statistic it counts in."""

    def __init__(self, code, message, status=400, extra=None, invalid=False, bad_signature=False):
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra or {}
        self.invalid = invalid
        self.bad_signature = bad_signature


def iso8601(t):
    """Epoch seconds as AWS writes them: 2026-01-02T03:04:05Z."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))
