#!/usr/bin/python3
"""Validates ECS task definitions, the JSON that
`aws ecs register-task-definition --cli-input-json file://FILE` sends, against
the input shape of RegisterTaskDefinition in botocore's ECS service model: an
unknown field, a wrong type, a missing required member, a value outside an
enum or a pattern, a number out of range is an error. The validation is the
fake AWS's (tests/fake_aws/server.py: botocore's ParamValidator, plus the
ranges, enums and patterns it leaves out), so request bodies and deployment
files are held to one reading of the models. A duplicate key in the JSON is
an error too (json would keep the last one silently).

    /usr/bin/python3 tests/deploy/validate-ecs.py FILE...

Prints "ok FILE" or "FILE: PROBLEM" per file; exits 1 if any file is invalid.
Needs python3-botocore (Debian). The model is that of the installed botocore
(Debian 12: 1.29): a field that ECS added later reads as unknown."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'fake_aws'))

import server  # noqa: E402  (the fake AWS: its validate_params)


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise ValueError('duplicate key %s' % ', '.join(json.dumps(k) for k in dups))
    return dict(pairs)


def problem(path):
    """None when the file is a valid RegisterTaskDefinition input, else what is wrong."""
    try:
        with open(path, encoding='utf-8') as f:
            doc = json.load(f, object_pairs_hook=_no_duplicates)
    except (OSError, ValueError) as e:
        return str(e)
    try:
        server.validate_params('ecs', 'RegisterTaskDefinition', doc)
    except server.AwsError as e:
        return e.message
    return None


def main(argv):
    if not argv:
        print('usage: %s FILE...' % sys.argv[0], file=sys.stderr)
        return 2
    bad = 0
    for path in argv:
        p = problem(path)
        if p is None:
            print('ok %s' % path)
        else:
            bad += 1
            print('%s: %s' % (path, p))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
