#!/usr/bin/env node
// Validates CloudFormation templates (YAML or JSON) against the CloudFormation
// resource specification that npm's @aws-cdk/cfnspec carries
// (spec/specification.json: resource types, their properties and attributes,
// the property types), pinned in package.json and package-lock.json here.
//
//   node tests/deploy/validate-cfn.mjs FILE...
//
// (make deps-node installs the packages into tests/deploy/node_modules.)
// Prints "ok FILE:LINE LOGICALID TYPE" for each resource without a problem and
// "FILE:LINE: WHERE: PROBLEM" for each problem (WHERE is the path in the
// template, e.g. Resources.Queue.Properties.VisibilityTimeout); exits 1 if
// there was any problem, 2 on a usage error.
//
// Rejected, as CloudFormation rejects them when it creates the stack (cfn-lint
// is not in Debian 12, so this is the project's own reading of the spec):
//  - YAML that does not parse, or has a duplicate key; an unknown top-level
//    section, resource attribute, parameter, output or rule key;
//  - a resource type that the spec does not know, a property that its type
//    does not have, a required property missing, a value of the wrong kind
//    (a mapping for a string, a word for an integer or a boolean, a scalar for
//    a list), in nested property types too;
//  - a Ref to no parameter, resource or pseudo parameter; a Fn::GetAtt of no
//    resource or of an attribute its type does not have; a ${...} of Fn::Sub
//    that names neither; a condition (Fn::If, Condition:) that is not
//    declared; a DependsOn on no resource; an unknown Fn:: function;
//  - a Ref or Fn::GetAtt of a resource that has a Condition, from a place
//    where that condition is not known to hold (outside a Fn::If on it, or a
//    resource or output with the same Condition): the stack would fail with
//    "unresolved resource dependencies" when the condition is false;
//  - a parameter default outside its AllowedValues, AllowedPattern or range.
// An intrinsic function is accepted where a value is expected, if it can give
// that kind of value (a list from Fn::Split, Fn::GetAZs, a list parameter...);
// both branches of a Fn::If are checked as the value. Short-form tags (!Ref,
// !Sub, !GetAtt A.B, !If ...) are read as their long forms.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { LineCounter, Pair, Scalar, YAMLMap, parseAllDocuments, visit } from 'yaml';
import { checkerMain } from './checker-main.mjs';

const require = createRequire(import.meta.url);
const SPEC = JSON.parse(readFileSync(require.resolve('@aws-cdk/cfnspec/spec/specification.json'), 'utf8'));

const SECTIONS = new Set(['AWSTemplateFormatVersion', 'Description', 'Metadata', 'Parameters', 'Rules',
    'Mappings', 'Conditions', 'Transform', 'Resources', 'Outputs']);
const RESOURCE_KEYS = new Set(['Type', 'Properties', 'Condition', 'DependsOn', 'DeletionPolicy',
    'UpdateReplacePolicy', 'Metadata', 'CreationPolicy', 'UpdatePolicy']);
const DELETION_POLICIES = new Set(['Delete', 'Retain', 'RetainExceptOnCreate', 'Snapshot']);
const PARAMETER_KEYS = new Set(['Type', 'Default', 'AllowedValues', 'AllowedPattern', 'ConstraintDescription',
    'Description', 'MaxLength', 'MaxValue', 'MinLength', 'MinValue', 'NoEcho']);
const PARAMETER_TYPES = new RegExp('^(String|Number|List<Number>|CommaDelimitedList|AWS::[A-Za-z0-9:]+'
    + '|List<AWS::[A-Za-z0-9:]+>|AWS::SSM::Parameter::Value<[^>]+>)$');
const OUTPUT_KEYS = new Set(['Description', 'Value', 'Export', 'Condition']);
const PSEUDO = new Set(['AWS::AccountId', 'AWS::NotificationARNs', 'AWS::NoValue', 'AWS::Partition',
    'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix']);
const LIST_FNS = new Set(['Fn::Split', 'Fn::GetAZs', 'Fn::Cidr']);
const ANY_FNS = new Set(['Fn::FindInMap', 'Fn::ImportValue', 'Fn::Select', 'Fn::Transform']);
const SCALAR_FNS = new Set(['Fn::Base64', 'Fn::Join', 'Fn::Sub', 'Fn::Length', 'Fn::ToJsonString']);
const CONDITION_FNS = new Set(['Fn::Equals', 'Fn::Not', 'Fn::And', 'Fn::Or', 'Fn::Contains',
    'Fn::EachMemberEquals', 'Fn::EachMemberIn', 'Fn::RefAll', 'Fn::ValueOf', 'Fn::ValueOfAll']);
const SHORT_FORMS = ['Ref', 'Condition', 'Base64', 'Cidr', 'FindInMap', 'GetAtt', 'GetAZs', 'ImportValue',
    'Join', 'Select', 'Split', 'Sub', 'Transform', 'If', 'Equals', 'Not', 'And', 'Or', 'Length', 'ToJsonString'];
const LONG_FORM = (short) => (short === 'Ref' || short === 'Condition' ? short : `Fn::${short}`);

// Short-form tags resolve to their node unchanged (no "unresolved tag"
// warning); toLongForms then wraps each in a mapping of its long form.
const CUSTOM_TAGS = SHORT_FORMS.flatMap((n) => [
    { tag: `!${n}`, resolve: (v) => v },
    { tag: `!${n}`, collection: 'seq', resolve: (v) => v },
    { tag: `!${n}`, collection: 'map', resolve: (v) => v },
]);

function toLongForms(doc) {
    visit(doc, {
        Node(_, node) {
            const short = typeof node.tag === 'string' && node.tag.startsWith('!') ? node.tag.slice(1) : null;
            if (short === null || !SHORT_FORMS.includes(short)) {
                return undefined;
            }
            node.tag = undefined; // !GetAtt A.B stays "A.B", which getAttArgs reads
            const map = new YAMLMap();
            map.items.push(new Pair(new Scalar(LONG_FORM(short)), node));
            map.range = node.range;
            return map;
        },
    });
}

// The intrinsic function of v ("Ref", "Fn::Sub", ...), or null when v is no
// single-key mapping of one.
function intrinsic(v) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        return null;
    }
    const keys = Object.keys(v);
    if (keys.length !== 1) {
        return null;
    }
    return keys[0] === 'Ref' || keys[0] === 'Condition' || keys[0].startsWith('Fn::') ? keys[0] : null;
}

const kindOf = (v) => (Array.isArray(v) ? 'list'
    : v === null ? 'null' : typeof v === 'object' ? 'mapping' : typeof v);

// [resource, attribute] of the argument of a Fn::GetAtt ("A.B" or [A, B]).
function getAttArgs(arg) {
    if (typeof arg === 'string') {
        const dot = arg.indexOf('.');
        return dot < 0 ? [arg, undefined] : [arg.slice(0, dot), arg.slice(dot + 1)];
    }
    return Array.isArray(arg) ? arg : [undefined, undefined];
}

class Checker {
    constructor(template, report) {
        this.t = template;
        this.report = report; // (path array, message)
        this.params = isMap(template.Parameters) ? template.Parameters : {};
        this.resources = isMap(template.Resources) ? template.Resources : {};
        this.conditions = isMap(template.Conditions) ? template.Conditions : {};
    }

    specOfResource(name) {
        const r = this.resources[name];
        return r && typeof r.Type === 'string' ? SPEC.ResourceTypes[r.Type] : undefined;
    }

    // Checks the references in v (any value), with the conditions known to
    // hold there; section says what Ref may name ("Conditions" and "Rules":
    // parameters only).
    refs(v, path, known, section) {
        if (Array.isArray(v)) {
            v.forEach((x, i) => this.refs(x, [...path, i], known, section));
            return;
        }
        if (!isMap(v)) {
            return;
        }
        const fn = intrinsic(v);
        if (fn === null) {
            for (const [k, x] of Object.entries(v)) {
                this.refs(x, [...path, k], known, section);
            }
            return;
        }
        const arg = v[fn];
        const at = [...path, fn];
        if (fn === 'Ref') {
            this.refName(arg, at, known, section);
        } else if (fn === 'Condition') {
            if (!(typeof arg === 'string' && Object.hasOwn(this.conditions, arg))) {
                this.report(at, `no condition ${JSON.stringify(arg)} in Conditions`);
            }
        } else if (fn === 'Fn::GetAtt') {
            const [res, attr] = getAttArgs(arg);
            this.getAtt(res, attr, at, known);
        } else if (fn === 'Fn::Sub') {
            this.sub(arg, at, known, section);
        } else if (fn === 'Fn::If') {
            if (!Array.isArray(arg) || arg.length !== 3) {
                this.report(at, 'Fn::If takes [condition, value if true, value if false]');
                return;
            }
            if (!(typeof arg[0] === 'string' && Object.hasOwn(this.conditions, arg[0]))) {
                this.report([...at, 0], `no condition ${JSON.stringify(arg[0])} in Conditions`);
            }
            this.refs(arg[1], [...at, 1], new Set([...known, arg[0]]), section);
            this.refs(arg[2], [...at, 2], known, section);
        } else if (LIST_FNS.has(fn) || ANY_FNS.has(fn) || SCALAR_FNS.has(fn) || CONDITION_FNS.has(fn)) {
            this.refs(arg, at, known, section);
        } else {
            this.report(at, `unknown intrinsic function ${fn}`);
        }
    }

    refName(name, at, known, section) {
        if (typeof name !== 'string') {
            this.report(at, 'Ref takes a name');
        } else if (PSEUDO.has(name) || Object.hasOwn(this.params, name)) {
            // fine
        } else if (Object.hasOwn(this.resources, name) && section !== 'Conditions' && section !== 'Rules') {
            this.conditional(name, at, known);
        } else {
            this.report(at, `Ref ${JSON.stringify(name)}: no such ${section === 'Conditions' || section === 'Rules'
                ? 'parameter' : 'parameter or resource'}`);
        }
    }

    getAtt(res, attr, at, known) {
        if (typeof res !== 'string' || !Object.hasOwn(this.resources, res)) {
            this.report(at, `Fn::GetAtt of ${JSON.stringify(res)}: no such resource`);
            return;
        }
        this.conditional(res, at, known);
        const spec = this.specOfResource(res);
        if (spec !== undefined && typeof attr === 'string' && !Object.hasOwn(spec.Attributes ?? {}, attr)) {
            this.report(at, `Fn::GetAtt ${res}.${attr}: ${this.resources[res].Type} has no attribute ${attr}`);
        } else if (typeof attr !== 'string' && !isMap(attr)) {
            this.report(at, 'Fn::GetAtt takes [resource, attribute]');
        }
    }

    sub(arg, at, known, section) {
        const [text, vars] = typeof arg === 'string' ? [arg, {}]
            : Array.isArray(arg) ? arg : [undefined, undefined];
        if (typeof text !== 'string' || !isMap(vars)) {
            this.report(at, 'Fn::Sub takes a string or [string, {name: value}]');
            return;
        }
        this.refs(vars, [...at, 1], known, section);
        for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
            const name = m[1];
            if (name.startsWith('!') || Object.hasOwn(vars, name)) {
                continue;
            }
            if (name.includes('.')) {
                const [res, attr] = getAttArgs(name);
                this.getAtt(res, attr, at, known);
            } else {
                this.refName(name, at, known, section);
            }
        }
    }

    // A resource with a Condition may be named only where that condition holds.
    conditional(name, at, known) {
        const c = this.resources[name].Condition;
        if (typeof c === 'string' && !known.has(c)) {
            this.report(at, `${name} exists only when condition ${c} holds, which is not known here `
                + `(use Fn::If on ${c})`);
        }
    }

    // Checks the value v of a property against its spec (PrimitiveType, Type,
    // ItemType, ...); owner is the resource type (for its property types).
    value(v, spec, owner, path) {
        const fn = intrinsic(v);
        if (fn === 'Fn::If' && Array.isArray(v[fn]) && v[fn].length === 3) {
            for (const i of [1, 2]) {
                const b = v[fn][i];
                if (intrinsic(b) !== 'Ref' || b.Ref !== 'AWS::NoValue') {
                    this.value(b, spec, owner, [...path, fn, i]);
                }
            }
            return;
        }
        if (fn !== null) {
            // No intrinsic function gives a mapping for sure (Fn::FindInMap
            // and the like may give anything).
            const want = spec.Type === 'List' ? 'list'
                : spec.PrimitiveType !== undefined || spec.PrimitiveTypes !== undefined ? 'scalar' : 'mapping';
            const gives = this.gives(v, fn);
            if (spec.PrimitiveType === 'Json' || gives === 'any' || gives === want) {
                return;
            }
            const what = { list: 'a list', scalar: 'a single value', mapping: 'a mapping' };
            this.report(path, `${fn} gives ${what[gives]}, ${what[want]} is expected`);
            return;
        }
        if (spec.PrimitiveType !== undefined) {
            this.primitive(v, spec.PrimitiveType, path);
        } else if (spec.PrimitiveTypes !== undefined) {
            if (!spec.PrimitiveTypes.some((p) => this.primitive(v, p, null))) {
                this.report(path, `must be one of ${spec.PrimitiveTypes.join(', ')}, not ${kindOf(v)}`);
            }
        } else if (spec.Type === 'List' || spec.Type === 'Map') {
            const isList = spec.Type === 'List';
            if (isList ? !Array.isArray(v) : !isMap(v)) {
                this.report(path, `must be a ${isList ? 'list' : 'mapping'}, not ${kindOf(v)}`);
                return;
            }
            const item = spec.PrimitiveItemType !== undefined ? { PrimitiveType: spec.PrimitiveItemType }
                : spec.ItemType !== undefined ? { Type: spec.ItemType } : null;
            for (const [k, x] of Object.entries(v)) {
                if (item !== null) {
                    this.value(x, item, owner, [...path, isList ? Number(k) : k]);
                }
            }
        } else if (spec.Type !== undefined) {
            this.object(v, this.propertyType(owner, spec.Type), owner, path);
        }
    }

    // What an intrinsic function gives: 'list', 'scalar' or 'any'.
    gives(v, fn) {
        if (LIST_FNS.has(fn)) {
            return 'list';
        }
        if (fn === 'Ref') {
            const p = this.params[v.Ref];
            return p && /^(List<|CommaDelimitedList)/.test(p.Type) ? 'list'
                : v.Ref === 'AWS::NotificationARNs' ? 'list' : 'scalar';
        }
        if (fn === 'Fn::GetAtt') {
            const [res, attr] = getAttArgs(v[fn]);
            const spec = this.specOfResource(res);
            const attrSpec = spec?.Attributes?.[attr];
            return attrSpec === undefined ? 'any' : attrSpec.Type === 'List' ? 'list' : 'scalar';
        }
        return SCALAR_FNS.has(fn) ? 'scalar' : 'any';
    }

    propertyType(owner, name) {
        return SPEC.PropertyTypes[`${owner}.${name}`] ?? SPEC.PropertyTypes[name];
    }

    // Checks a literal primitive; reports at path (nothing when path is null)
    // and says whether it fits.
    primitive(v, type, path) {
        let ok;
        switch (type) {
        case 'String':
            ok = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
            break;
        case 'Integer':
        case 'Long':
            ok = Number.isInteger(v) || (typeof v === 'string' && /^-?[0-9]+$/.test(v));
            break;
        case 'Double':
            ok = typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)));
            break;
        case 'Boolean':
            ok = typeof v === 'boolean' || (typeof v === 'string' && /^(true|false)$/i.test(v));
            break;
        case 'Timestamp':
            ok = typeof v === 'string';
            break;
        case 'Json':
            ok = isMap(v) || Array.isArray(v) || typeof v === 'string';
            break;
        default:
            ok = false;
        }
        if (!ok && path !== null) {
            this.report(path, `must be ${type === 'Json' ? 'a JSON object' : type}, not ${kindOf(v)} ${shown(v)}`);
        }
        return ok;
    }

    // The properties of a resource or of a property type.
    object(v, typeSpec, owner, path) {
        if (typeSpec === undefined) {
            this.report(path, 'no property type in the specification');
            return;
        }
        if (typeSpec.Properties === undefined) { // a type that is a list or primitive itself
            this.value(v, typeSpec, owner, path);
            return;
        }
        if (!isMap(v)) {
            this.report(path, `must be a mapping, not ${kindOf(v)}`);
            return;
        }
        for (const [name, p] of Object.entries(typeSpec.Properties)) {
            if (p.Required && !Object.hasOwn(v, name)) {
                this.report(path, `required property ${name} is missing`);
            }
        }
        for (const [name, x] of Object.entries(v)) {
            const p = typeSpec.Properties[name];
            if (p === undefined) {
                this.report([...path, name], `unknown property ${name}`);
            } else {
                this.value(x, p, owner, [...path, name]);
            }
        }
    }

    run() {
        const t = this.t;
        if (!isMap(t)) {
            this.report([], 'not a CloudFormation template (a mapping with Resources)');
            return [];
        }
        for (const k of Object.keys(t)) {
            if (!SECTIONS.has(k)) {
                this.report([k], `unknown section ${k}`);
            }
        }
        this.parameters();
        for (const [name, c] of Object.entries(this.conditions)) {
            if (!CONDITION_FNS.has(intrinsic(c)) && intrinsic(c) !== 'Condition') {
                this.report(['Conditions', name], 'must be a condition function (Fn::Equals, Fn::Not, ...)');
            }
            this.refs(c, ['Conditions', name], new Set(), 'Conditions');
        }
        for (const [name, r] of Object.entries(isMap(t.Rules) ? t.Rules : {})) {
            if (!isMap(r) || !Array.isArray(r.Assertions) || r.Assertions.length === 0) {
                this.report(['Rules', name], 'a rule needs Assertions (a list)');
                continue;
            }
            this.refs(r, ['Rules', name], new Set(), 'Rules');
        }
        if (!isMap(t.Resources) || Object.keys(t.Resources).length === 0) {
            this.report(['Resources'], 'at least one resource is required');
        }
        const ok = [];
        for (const [name, r] of Object.entries(this.resources)) {
            if (this.resource(name, r)) {
                ok.push(name);
            }
        }
        for (const [name, o] of Object.entries(isMap(t.Outputs) ? t.Outputs : {})) {
            const path = ['Outputs', name];
            if (!isMap(o) || !Object.hasOwn(o, 'Value')) {
                this.report(path, 'an output needs a Value');
                continue;
            }
            for (const k of Object.keys(o)) {
                if (!OUTPUT_KEYS.has(k)) {
                    this.report([...path, k], `unknown output key ${k}`);
                }
            }
            this.refs(o, path, this.holds(o.Condition, path), 'Outputs');
        }
        return ok;
    }

    // The conditions known to hold under a Condition: key (checked to exist).
    holds(c, path) {
        if (c === undefined) {
            return new Set();
        }
        if (typeof c !== 'string' || !Object.hasOwn(this.conditions, c)) {
            this.report([...path, 'Condition'], `no condition ${JSON.stringify(c)} in Conditions`);
        }
        return new Set([c]);
    }

    parameters() {
        for (const [name, p] of Object.entries(this.params)) {
            const path = ['Parameters', name];
            if (!isMap(p) || typeof p.Type !== 'string' || !PARAMETER_TYPES.test(p.Type)) {
                this.report(path, `Type must be a parameter type (String, Number, ...), not ${shown(p?.Type)}`);
                continue;
            }
            for (const k of Object.keys(p)) {
                if (!PARAMETER_KEYS.has(k)) {
                    this.report([...path, k], `unknown parameter key ${k}`);
                }
            }
            if (!Object.hasOwn(p, 'Default')) {
                continue;
            }
            const d = String(p.Default);
            if (Array.isArray(p.AllowedValues) && !p.AllowedValues.map(String).includes(d)) {
                this.report([...path, 'Default'], `${shown(d)} is not in AllowedValues`);
            }
            if (typeof p.AllowedPattern === 'string' && !new RegExp(`^(?:${p.AllowedPattern})$`).test(d)) {
                this.report([...path, 'Default'], `${shown(d)} does not match AllowedPattern`);
            }
            if (p.Type === 'Number') {
                const n = Number(d);
                if (d.trim() === '' || Number.isNaN(n)) {
                    this.report([...path, 'Default'], `${shown(d)} is not a number`);
                } else if ((p.MinValue !== undefined && n < p.MinValue)
                           || (p.MaxValue !== undefined && n > p.MaxValue)) {
                    this.report([...path, 'Default'], `${d} is outside [${p.MinValue}, ${p.MaxValue}]`);
                }
            }
        }
    }

    // Checks one resource; true when it has no problem.
    resource(name, r) {
        const path = ['Resources', name];
        let problems = 0;
        const report = this.report;
        this.report = (p, m) => {
            problems++;
            report(p, m);
        };
        try {
            if (!/^[A-Za-z0-9]+$/.test(name)) {
                this.report(path, 'a logical id is alphanumeric');
            }
            if (!isMap(r)) {
                this.report(path, 'a resource is a mapping with a Type');
                return false;
            }
            for (const k of Object.keys(r)) {
                if (!RESOURCE_KEYS.has(k)) {
                    this.report([...path, k], `unknown resource attribute ${k}`);
                }
            }
            for (const k of ['DeletionPolicy', 'UpdateReplacePolicy']) {
                if (Object.hasOwn(r, k) && !DELETION_POLICIES.has(r[k])) {
                    this.report([...path, k], `${shown(r[k])} is not one of ${[...DELETION_POLICIES].join(', ')}`);
                }
            }
            const deps = [r.DependsOn ?? []].flat();
            deps.forEach((d) => {
                if (!Object.hasOwn(this.resources, d)) {
                    this.report([...path, 'DependsOn'], `DependsOn ${JSON.stringify(d)}: no such resource`);
                }
            });
            const known = this.holds(r.Condition, path);
            this.refs(r.Properties ?? {}, [...path, 'Properties'], known, 'Resources');
            const spec = typeof r.Type === 'string' ? SPEC.ResourceTypes[r.Type] : undefined;
            if (spec === undefined) {
                this.report([...path, 'Type'], `unknown resource type ${shown(r.Type)}`);
                return false;
            }
            this.object(r.Properties ?? {}, spec, r.Type, [...path, 'Properties']);
        } finally {
            this.report = report;
        }
        return problems === 0;
    }
}

function isMap(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function shown(v) {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// "Resources.Queue.Properties.Tags[0].Key"
function where(path) {
    let out = '';
    for (const p of path) {
        out += typeof p === 'number' ? `[${p}]` : (out ? '.' : '') + p;
    }
    return out || '(template)';
}

function checkFile(path, text, report) {
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(text,
        { version: '1.1', uniqueKeys: true, lineCounter, customTags: CUSTOM_TAGS });
    if (!Array.isArray(docs) || docs.length !== 1) {
        report(`${path}: a template is one YAML or JSON document`);
        return;
    }
    const [doc] = docs;
    const yamlProblems = [...doc.errors, ...doc.warnings];
    for (const p of yamlProblems) {
        const at = p.linePos ? p.linePos[0].line : 1;
        report(`${path}:${at}: YAML: ${p.message.split('\n')[0].replace(/ at line \d+, column \d+:$/, '')}`);
    }
    if (yamlProblems.length > 0) {
        return;
    }
    toLongForms(doc);
    const lineOf = (parts) => {
        for (let n = parts.length; n >= 0; n--) {
            const node = doc.getIn(parts.slice(0, n), true);
            if (node && node.range) {
                return lineCounter.linePos(node.range[0]).line;
            }
        }
        return 1;
    };
    // Every line of the file, ok or problem, in the order of the template.
    const template = doc.toJS({ maxAliasCount: 0 });
    const lines = [];
    const checker = new Checker(template, (parts, message) => lines.push(
        { line: lineOf(parts), text: `${path}:${lineOf(parts)}: ${where(parts)}: ${message}`, problem: true }));
    for (const name of checker.run()) {
        const line = lineOf(['Resources', name]);
        lines.push({ line, text: `ok ${path}:${line} ${name} ${template.Resources[name].Type}`, problem: false });
    }
    lines.sort((a, b) => a.line - b.line); // stable: a line's problems in the order found
    for (const l of lines) {
        if (l.problem) {
            report(l.text);
        } else {
            console.log(l.text);
        }
    }
}

process.exitCode = await checkerMain('node tests/deploy/validate-cfn.mjs FILE...', process.argv.slice(2),
    checkFile);
