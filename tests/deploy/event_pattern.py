"""EventBridge event pattern matching, for the subset that deploy/eventbridge/
uses, to check the rules' patterns against the records the exporter watches
(tests/integration/test_deploy_eventbridge.py).

As EventBridge matches (user guide, "Amazon EventBridge event patterns"):
- a pattern is a JSON object; every key of it must match (AND); a key whose
  value is an object matches the object of the same key in the event, key by
  key (nested keys);
- a leaf is an array: it matches when the event's value (or, when the event's
  value is an array, any element of it) matches any element of the array (OR):
  a string, number, boolean or null by exact equality, or a content filter:
  {"prefix": "..."}, {"anything-but": [...]}, {"exists": true|false};
- a key the event does not have matches nothing, but {"exists": false}.
Anything else (a leaf that is not an array, another content filter) raises
PatternError rather than guess.

Patterns taken from a CloudFormation template may hold {"Ref": NAME}:
resolve() replaces it by the value of NAME from a context (the pseudo
parameters a test deploys with, e.g. {"AWS::AccountId": "222222222222"})."""

MISSING = object()
FILTERS = ('prefix', 'anything-but', 'exists')


class PatternError(ValueError):
    pass


def resolve(value, context):
    """value with every {"Ref": NAME} replaced by context[NAME] (a new object)."""
    if isinstance(value, dict):
        if list(value) == ['Ref']:
            if value['Ref'] not in context:
                raise PatternError('Ref %r: no value in the context' % value['Ref'])
            return context[value['Ref']]
        if any(k == 'Ref' or k.startswith('Fn::') for k in value):
            raise PatternError('an intrinsic function other than Ref in a pattern: %r' % value)
        return {k: resolve(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, context) for v in value]
    return value


def _leaf_matches(element, value):
    """Whether one element of a pattern's array matches the event's value
    (MISSING when the event has no such key)."""
    if isinstance(element, dict):
        if len(element) != 1 or next(iter(element)) not in FILTERS:
            raise PatternError('unsupported content filter %r' % element)
        (op, arg), = element.items()
        if op == 'exists':
            if not isinstance(arg, bool):
                raise PatternError('exists takes true or false')
            return (value is not MISSING) == arg
        if value is MISSING:
            return False
        values = value if isinstance(value, list) else [value]
        if op == 'prefix':
            if not isinstance(arg, str):
                raise PatternError('prefix takes a string')
            return any(isinstance(v, str) and v.startswith(arg) for v in values)
        excluded = arg if isinstance(arg, list) else [arg]
        return all(v not in excluded for v in values)
    if isinstance(element, (list, dict)):
        raise PatternError('an array element is a value or a content filter: %r' % element)
    if value is MISSING:
        return False
    values = value if isinstance(value, list) else [value]
    # EventBridge compares JSON values: the string "5" is not the number 5,
    # and True is not 1.
    return any(type(v) is type(element) and v == element for v in values)


def matches(pattern, event):
    """Whether event (a decoded JSON object) matches pattern."""
    if not isinstance(pattern, dict) or not pattern:
        raise PatternError('a pattern is a non-empty JSON object')
    for key, want in pattern.items():
        got = event.get(key, MISSING) if isinstance(event, dict) else MISSING
        if isinstance(want, dict):
            if not isinstance(got, dict) or not matches(want, got):
                return False
        elif isinstance(want, list):
            if not want:
                raise PatternError('%s: an empty array matches nothing' % key)
            if not any(_leaf_matches(e, got) for e in want):
                return False
        else:
            raise PatternError('%s: a leaf of a pattern is an array, not %r' % (key, want))
    return True
