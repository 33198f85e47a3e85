// JSON and YAML text of a value, for the files render.jsonnet writes.
//
// Why not std.manifestJsonEx and std.manifestYamlDoc: Debian's jsonnet (0.18,
// the C++ implementation) escapes each string one character at a time in
// jsonnet code, which costs about a minute for our files; here a string is
// escaped with std.strReplace (built in) and checked for other control
// characters with std.filter (built in), in a few seconds. (std.member and
// std.findSubstr on strings are as slow: not used.) And the
// keys come in a reading order (orderFirst, then alphabetical) rather than
// only alphabetical, so that a rule reads alert, expr, for, labels,
// annotations.
//
// JSON: two-space indentation, as Grafana exports a dashboard. YAML: block
// style, sequences indented under their key; a string is plain when it
// cannot be read as anything else (isPlain), a literal block ("|") when it
// has line breaks, double-quoted (JSON escapes) otherwise.
local orderFirst = [
  'apiVersion',
  'kind',
  'metadata',
  'spec',
  'name',
  'namespace',
  'alert',
  'record',
  'uid',
  'id',
  'type',
  'title',
  'expr',
  'for',
  'labels',
  'annotations',
  'summary',
  'description',
  'details',
  'runbook',
];

local fields(o) =
  local present = std.objectFields(o);
  [k for k in orderFirst if std.objectHas(o, k)]
  + [k for k in present if std.length(std.find(k, orderFirst)) == 0];

// s between double quotes: the escapes of JSON, which YAML's double-quoted
// style shares. Control characters other than \n, \r and \t are refused
// rather than written raw.
local quote(s) =
  local others = std.filter(function(c) std.codepoint(c) < 32 && c != '\n' && c != '\r' && c != '\t',
                            std.stringChars(s));
  if std.length(others) > 0 then error 'manifest: a control character in ' + std.manifestJson(s)
  else '"' + std.strReplace(std.strReplace(std.strReplace(std.strReplace(std.strReplace(
    s, '\\', '\\\\'
  ), '"', '\\"'), '\n', '\\n'), '\r', '\\r'), '\t', '\\t') + '"';

local json(v, indent) =
  local inner = indent + '  ';
  if std.isObject(v) then
    if std.length(fields(v)) == 0 then '{}'
    else '{\n' + std.join(',\n', [inner + quote(k) + ': ' + json(v[k], inner) for k in fields(v)])
         + '\n' + indent + '}'
  else if std.isArray(v) then
    if std.length(v) == 0 then '[]'
    else '[\n' + std.join(',\n', [inner + json(x, inner) for x in v]) + '\n' + indent + ']'
  else if std.isString(v) then quote(v)
  else std.manifestJson(v);  // a number, a boolean, null

// Plain: short words of letters, digits and _.-/ that start with a letter and
// are not one of the YAML words that a plain scalar must not be (YAML 1.1 booleans and null).
local reserved = ['true', 'false', 'yes', 'no', 'on', 'off', 'y', 'n', 'null'];
local plainChar(c) =
  (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' || c == '/';
local isPlain(s) =
  std.length(s) > 0 && std.length(s) <= 64
  && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))
  && std.length(std.filter(function(c) !plainChar(c), std.stringChars(s))) == 0
  && !std.member(reserved, std.asciiLower(s));

// A literal block keeps s exactly when no line has trailing blanks (yamllint
// refuses them) and the first line does not start with a blank.
local isBlock(s) =
  local lines = std.split(s, '\n');
  std.length(lines) > 1
  && s[0] != ' ' && s[0] != '\t'
  && std.length([l for l in lines if l != '' && (l[std.length(l) - 1] == ' ' || l[std.length(l) - 1] == '\t')]) == 0;

// A block scalar: its header and its lines at indent.
local block(s, indent) =
  local body = std.rstripChars(s, '\n');
  local trailing = std.length(s) - std.length(body);
  (if trailing == 0 then '|-' else if trailing == 1 then '|' else '|+') + '\n'
  + std.join('\n', [
    if l == '' then '' else indent + l
    for l in std.split(body + (if trailing > 1 then std.join('', std.repeat(['\n'], trailing - 1)) else ''), '\n')
  ]);

local scalar(v) =
  if std.isString(v) then (if isPlain(v) then v else quote(v))
  else if std.isObject(v) then '{}'
  else if std.isArray(v) then '[]'
  else std.manifestJson(v);

local empty(v) = (std.isObject(v) && std.length(fields(v)) == 0) || (std.isArray(v) && std.length(v) == 0);

// The text of v at indent: for a mapping or a sequence its lines, each
// starting with indent, but the first with first (the item's "- " when v is
// an item of a sequence); for a scalar the text after "key: " or "- ".
local yaml(v, indent, first) =
  local inner = indent + '  ';
  local lead(i) = if i == 0 then first else indent;
  if std.isObject(v) && !empty(v) then
    local keys = fields(v);
    std.join('\n', [
      local x = v[keys[i]];
      lead(i) + scalar(keys[i]) + ':'
      + (if (std.isObject(x) || std.isArray(x)) && !empty(x) then '\n' + yaml(x, inner, inner)
         else if std.isString(x) && isBlock(x) then ' ' + block(x, inner)
         else ' ' + scalar(x))
      for i in std.range(0, std.length(keys) - 1)
    ])
  else if std.isArray(v) && !empty(v) then
    std.join('\n', [
      local x = v[i];
      if (std.isObject(x) || std.isArray(x)) && !empty(x) then yaml(x, inner, lead(i) + '- ')
      else if std.isString(x) && isBlock(x) then lead(i) + '- ' + block(x, inner)
      else lead(i) + '- ' + scalar(x)
      for i in std.range(0, std.length(v) - 1)
    ])
  else if std.isObject(v) then '{}'
  else if std.isArray(v) then '[]'
  else scalar(v);

{
  // JSON text of v, without a final line break (jsonnet -m adds one).
  json(v):: json(v, ''),
  // YAML text of a mapping v, without a final line break.
  yaml(v):: yaml(v, '', ''),
}
