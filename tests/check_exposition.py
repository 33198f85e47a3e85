#!/usr/bin/python3
"""Checks a Prometheus text exposition for what promtool does not:
every family has '# HELP name ' and '# TYPE name type' (with the space),
families are contiguous and appear once, no series appears twice, label
values use only the escapes \\\\, \\" and \\n, and no sample has a timestamp.

Usage: check_exposition.py FILE (or - for stdin). Exits 1 with the problems."""
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*'
VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(r'^(%s)(\{(?:%s=%s(?:,%s=%s)*)?\})? (\S+)$' % (NAME, LABEL, VALUE, LABEL, VALUE))
PAIR = re.compile(r'(%s)=(%s)' % (LABEL, VALUE))
FLOAT = re.compile(r'^(NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$')


def sample_names(family, kind):
    """The names a family's samples may have: a histogram's _bucket, _sum and
    _count; a summary's quantiles, _sum and _count."""
    if kind == 'histogram':
        return (family + '_bucket', family + '_sum', family + '_count')
    if kind == 'summary':
        return (family, family + '_sum', family + '_count')
    return (family,)


def check(text):
    problems = []
    if text and not text.endswith('\n'):
        problems.append('the body does not end with a newline')
    seen_families = set()
    family = None
    typed = False
    kind_of = None
    series = set()
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith('#'):
            m = re.match(r'^# (HELP|TYPE) (%s) (.*)$' % NAME, line)
            if not m:
                if line.startswith('#HELP') or line.startswith('#TYPE'):
                    problems.append('line %d: no space after #' % n)
                continue
            kind, name, rest = m.groups()
            if kind == 'HELP':
                if name in seen_families:
                    problems.append('line %d: family %s appears twice' % (n, name))
                seen_families.add(name)
                family, typed = name, False
                if re.search(r'\\[^\\n]', rest.replace('\\\\', '')):
                    problems.append('line %d: HELP has an escape other than \\\\ and \\n' % n)
            else:
                if name != family or typed:
                    problems.append('line %d: TYPE of %s is not right after its HELP' % (n, name))
                if rest not in ('counter', 'gauge', 'untyped', 'summary', 'histogram'):
                    problems.append('line %d: unknown type %r' % (n, rest))
                typed, kind_of = True, rest
            continue
        if not line:
            problems.append('line %d: empty line' % n)
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append('line %d: not a sample without timestamp: %r' % (n, line[:200]))
            continue
        name, labels, value = m.group(1), m.group(2) or '', m.group(3)
        if name not in sample_names(family, kind_of) or not typed:
            problems.append('line %d: sample %s outside its family (HELP and TYPE first)' % (n, name))
        if not FLOAT.match(value):
            problems.append('line %d: bad value %r' % (n, value))
        pairs = PAIR.findall(labels)
        names = [p[0] for p in pairs]
        if len(set(names)) != len(names):
            problems.append('line %d: a label name repeats' % n)
        key = (name, tuple(sorted(pairs)))
        if key in series:
            problems.append('line %d: duplicate series %s%s' % (n, name, labels))
        series.add(key)
    return problems


def main():
    src = sys.stdin if sys.argv[1:] in ([], ['-']) else open(sys.argv[1], encoding='utf-8')
    problems = check(src.read())
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == '__main__':
    main()
