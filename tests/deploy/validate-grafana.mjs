#!/usr/bin/env node
// Checks Grafana dashboards (JSON) against Grafana's own schema: the
// `Dashboard` type of npm's @grafana/schema, with TypeScript's compiler (npm
// typescript), both pinned in package.json and package-lock.json here; and
// checks that every panel and query reads the data source variable, so that
// the dashboard imports into any Grafana.
//
//   node tests/deploy/validate-grafana.mjs FILE...
//
// (make deps-node installs the packages into tests/deploy/node_modules.)
// Prints "ok FILE" for each valid dashboard, "FILE:LINE:COL: PATH: PROBLEM"
// for each type error and "FILE: PROBLEM" for the rest; exits 1 if there was
// any problem, 2 on a usage error.
//
// How: each file becomes, in memory, the TypeScript module
//     import type { Dashboard } from '@grafana/schema';
//     export const dashboard: Json<Dashboard> = <the file's JSON>;
// and the compiler (strict) reports what Grafana's types refuse: a wrong
// type, a missing required field, a value outside a union, and - because the
// JSON is an object literal assigned to a declared type - a field that the
// type does not declare (excess-property checking), at any depth where the
// schema lists the fields: the dashboard, its panels, gridPos, fieldConfig,
// thresholds, mappings, templating variables. A key given twice is an error
// of its own (TS1117). Where the schema itself is open, nothing is checked:
// a panel's options and its queries (targets) are Record<string, unknown>,
// typed by each panel and data source plugin, not by the dashboard schema.
//
// Json<T>, the one wrapper: the schema declares some fields with TypeScript
// string enums (ThresholdsMode, MappingType, FieldColorModeId, ...), and a
// JSON string such as "absolute" is not assignable to an enum type, only the
// enum member is. Json<T> replaces each string type S by `${S}`, which for a
// string enum is the union of its values ("absolute" | "percentage") and for
// any other string type is that type unchanged; it maps object types
// property by property (keeping their optional flags, so excess-property
// checking still applies) and arrays element by element. Numeric enums
// accept their numbers already and are left alone.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const VARIABLE = 'datasource';
const VARIABLE_REF = { type: 'prometheus', uid: '${' + VARIABLE + '}' };
const PRELUDE = [
    "import type { Dashboard } from '@grafana/schema';",
    'type Json<T> = T extends string ? `${T}`',
    '    : T extends readonly (infer U)[] ? Json<U>[]',
    '    : T extends object ? { [K in keyof T]: Json<T[K]> }',
    '    : T;',
    'export const dashboard: Json<Dashboard> = ',
].join('\n');
const PRELUDE_LINES = PRELUDE.split('\n').length - 1;
const PRELUDE_LAST = PRELUDE.split('\n').pop().length;
// TS2353: Object literal may only specify known properties, and ... does not
// exist in type ...
const EXCESS_PROPERTY = 2353;
const OPTIONS = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
    lib: ['lib.es2022.d.ts'],
};

// The path of the JSON value at pos in the module sf: panels[1].gridPos.h.
function pathAt(sf, pos) {
    let node = sf;
    for (;;) {
        const child = node.getChildren(sf).find((c) => c.getStart(sf) <= pos && pos < c.getEnd());
        if (child === undefined) {
            break;
        }
        node = child;
    }
    let out = '';
    for (let n = node; n.parent && !ts.isVariableDeclaration(n.parent); n = n.parent) {
        const p = n.parent;
        if (ts.isPropertyAssignment(p)) {
            const name = p.name.text;
            out = (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`) + out;
        } else if (ts.isArrayLiteralExpression(p)) {
            out = `[${p.elements.indexOf(n)}]` + out;
        }
    }
    return out.replace(/^\./, '') || '(dashboard)';
}

// Type errors: [[file, line, col, path, message]] of the files, in order.
function typeErrors(files, texts) {
    const virtual = new Map(files.map((f, i) => [path.join(HERE, `__dashboard_${i}.ts`), i]));
    const source = (i) => PRELUDE + texts[i] + ';\n';
    const host = ts.createCompilerHost(OPTIONS);
    const { getSourceFile, fileExists, readFile } = host;
    host.getSourceFile = (name, lang, ...rest) => (virtual.has(name)
        ? ts.createSourceFile(name, source(virtual.get(name)), lang, true)
        : getSourceFile.call(host, name, lang, ...rest));
    host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
    host.readFile = (name) => (virtual.has(name) ? source(virtual.get(name)) : readFile.call(host, name));
    const program = ts.createProgram([...virtual.keys()], OPTIONS, host);
    const out = [];
    for (const d of ts.getPreEmitDiagnostics(program)) {
        // An excess property's message spells out the whole expected type:
        // its path says enough.
        const message = d.code === EXCESS_PROPERTY ? "unknown field: not in Grafana's schema"
            : ts.flattenDiagnosticMessageText(d.messageText, ' ');
        if (d.file === undefined || !virtual.has(d.file.fileName)) {
            // The schema or the compiler itself: nothing a dashboard can fix.
            throw new Error(`validate-grafana: ${message}`);
        }
        const i = virtual.get(d.file.fileName);
        const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
        const jsonLine = line - PRELUDE_LINES + 1;
        // (Before the JSON's first character: the whole value; column 1.)
        const col = Math.max(1, character + 1 - (jsonLine === 1 ? PRELUDE_LAST : 0));
        out.push([i, jsonLine, col, pathAt(d.file, d.start), message]);
    }
    return out.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
}

function sameRef(ref) {
    return ref !== null && typeof ref === 'object' && Object.keys(ref).length === 2
        && ref.type === VARIABLE_REF.type && ref.uid === VARIABLE_REF.uid;
}

// Data source problems of a parsed dashboard: every panel (rows' panels
// included) and every query variable reads the variable; a query may leave
// its data source out (it uses the panel's), but not name another.
function datasourceProblems(d) {
    const out = [];
    const shown = (ref) => (ref === undefined ? 'missing' : JSON.stringify(ref));
    const vars = (d.templating && Array.isArray(d.templating.list)) ? d.templating.list : [];
    if (!vars.some((v) => v && v.name === VARIABLE && v.type === 'datasource' && v.query === 'prometheus')) {
        out.push(`no data source variable "${VARIABLE}" (type datasource, query prometheus)`);
    }
    vars.forEach((v, i) => {
        if (v && v.type === 'query' && !sameRef(v.datasource)) {
            out.push(`templating.list[${i}] "${v.name}": datasource ${shown(v.datasource)}, `
                + `not the variable ${VARIABLE_REF.uid}`);
        }
    });
    const walk = (panels, where) => (Array.isArray(panels) ? panels : []).forEach((p, i) => {
        const at = `${where}[${i}] "${p && p.title}"`;
        if (p === null || typeof p !== 'object') {
            return;
        }
        if ((p.type !== 'row' || p.datasource !== undefined) && !sameRef(p.datasource)) {
            out.push(`${at}: datasource ${shown(p.datasource)}, not the variable ${VARIABLE_REF.uid}`);
        }
        (Array.isArray(p.targets) ? p.targets : []).forEach((t, j) => {
            if (t && t.datasource !== undefined && !sameRef(t.datasource)) {
                out.push(`${at}.targets[${j}]: datasource ${shown(t.datasource)}, `
                    + `not the variable ${VARIABLE_REF.uid}`);
            }
        });
        walk(p.panels, `${at}.panels`);
    });
    walk(d.panels, 'panels');
    return out;
}

function main(files) {
    if (files.length === 0) {
        console.error('usage: node validate-grafana.mjs FILE...');
        return 2;
    }
    const texts = [];
    const parsed = [];
    const lines = files.map(() => []);
    files.forEach((f, i) => {
        try {
            texts.push(readFileSync(f, 'utf8'));
            const d = JSON.parse(texts[i]);
            if (d === null || typeof d !== 'object' || Array.isArray(d)) {
                throw new Error('not a JSON object');
            }
            parsed.push(d);
        } catch (e) {
            texts[i] = texts[i] === undefined ? 'null' : texts[i];
            parsed.push(undefined);
            lines[i].push(`${f}: ${e.code === 'ENOENT' ? 'no such file' : 'JSON: ' + e.message}`);
        }
    });
    const ok = parsed.map((p) => p !== undefined);
    const checked = files.filter((f, i) => ok[i]);
    const index = files.map((f, i) => i).filter((i) => ok[i]);
    for (const [k, line, col, where, message] of typeErrors(checked, index.map((i) => texts[i]))) {
        lines[index[k]].push(`${files[index[k]]}:${line}:${col}: ${where}: ${message}`);
    }
    index.forEach((i) => {
        for (const problem of datasourceProblems(parsed[i])) {
            lines[i].push(`${files[i]}: ${problem}`);
        }
    });
    let status = 0;
    files.forEach((f, i) => {
        if (lines[i].length === 0) {
            console.log(`ok ${f}`);
        } else {
            status = 1;
            lines[i].forEach((l) => console.log(l));
        }
    });
    return status;
}

process.exitCode = main(process.argv.slice(2));
