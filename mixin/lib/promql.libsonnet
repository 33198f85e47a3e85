// Helpers of the rules, alerts and dashboard.
{
  // The format arguments that put config.exporterSelector into an expression
  // written with them: %(b)s after a bare metric name, %(s)s at the start of
  // a metric's own matchers ("m{%(s)sstatus="x"}"). An empty selector
  // leaves the expression as written without them.
  selectorArgs(selector):: {
    b: if selector == '' then '' else '{%s}' % selector,
    s: if selector == '' then '' else selector + ',',
  },

  // '10m' -> '10 minutes', '1h' -> '1 hour': durations as annotations say them.
  words(duration)::
    local n = std.parseInt(duration[0:std.length(duration) - 1]);
    local unit = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[duration[std.length(duration) - 1]];
    '%d %s%s' % [n, unit, if n == 1 then '' else 's'],

  // 1800 -> '30m': a number of seconds as a Prometheus duration.
  duration(seconds)::
    if seconds % 3600 == 0 then '%dh' % (seconds / 3600)
    else if seconds % 60 == 0 then '%dm' % (seconds / 60)
    else '%ds' % seconds,

  // s without the blanks and line breaks at its start and its end: what
  // Python's str.strip() leaves (std.stripChars is slow in jsonnet 0.18).
  strip(s)::
    local blank(c) = c == ' ' || c == '\n' || c == '\t';
    local n = std.length(s);
    local from(i) = if i < n && blank(s[i]) then from(i + 1) else i;
    local to(j, start) = if j > start && blank(s[j - 1]) then to(j - 1, start) else j;
    local start = from(0);
    s[start:to(n, start)],

  // A text block as one line, as YAML's ">-" folds it: each line break a space.
  fold(text):: std.strReplace(self.strip(text), '\n', ' '),
}
