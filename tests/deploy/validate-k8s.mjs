#!/usr/bin/env node
// Validates Kubernetes manifests as the API server would take them: every
// object against the OpenAPI schema of its apiVersion and kind, from the npm
// packages kubernetes-models (the Kubernetes API) and
// @kubernetes-models/prometheus-operator (the CRDs: ServiceMonitor, PodMonitor,
// PrometheusRule, ...), pinned in package.json and package-lock.json here.
//
//   node tests/deploy/validate-k8s.mjs FILE...
//
// (make deps-node installs the packages into tests/deploy/node_modules.)
// Prints "ok FILE:LINE APIVERSION KIND NAMESPACE/NAME" for each valid object
// and "FILE:LINE ...: PROBLEM" for each problem; exits 1 if there was any
// problem, 2 on a usage error.
//
// Rejected, as `kubectl apply` (strict field validation) rejects them:
//  - YAML that does not parse, or has a duplicate key. YAML 1.1, as
//    Kubernetes reads it: `yes` is a boolean there and 0644 an octal number.
//  - a document that is not a mapping, an apiVersion and kind that neither
//    package models (an unknown kind), an object without metadata.name;
//  - an alpha or beta apiVersion of a kind that its group has at a GA version
//    (apps/v1beta1 Deployment): the packages keep such versions, which
//    Kubernetes deprecated when the GA one came and has mostly removed since;
//  - what the schema refuses: a wrong type, a missing required field, a
//    value outside an enum or a format;
//  - a field the schema does not declare (a typo such as "readinesProbe").
//    The packages' validators are compiled from schemas that, like the
//    Kubernetes OpenAPI itself, do not say additionalProperties: false, so
//    they accept such fields silently. They do read, on every object they
//    check, each property that its schema declares, and enumerate the keys of
//    maps (labels, annotations, resources). The object is validated through a
//    proxy that records those reads: a key that its validator neither read
//    nor enumerated is a field the schema does not know. An object whose
//    validator read none of its keys has a free-form schema (no properties,
//    x-kubernetes-preserve-unknown-fields) and is not looked into.
import { LineCounter, parseAllDocuments } from 'yaml';
import { checkerMain } from './checker-main.mjs';

const MODEL_PACKAGES = ['kubernetes-models', '@kubernetes-models/prometheus-operator'];
const API_VERSION_RE = /^([a-z0-9]([a-z0-9.-]*[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/;
const KIND_RE = /^[A-Z][A-Za-z0-9]*$/;

// The model class of (apiVersion, kind), or null when no package has one.
async function modelClass(apiVersion, kind) {
    if (!API_VERSION_RE.test(apiVersion) || !KIND_RE.test(kind)) {
        return null;
    }
    for (const pkg of MODEL_PACKAGES) {
        let mod;
        try {
            mod = await import(`${pkg}/${apiVersion}`);
        } catch (e) {
            if (e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') { // no such apiVersion here
                continue;
            }
            throw e;
        }
        const cls = Object.prototype.hasOwnProperty.call(mod, kind) ? mod[kind] : null;
        if (cls && cls.apiVersion === apiVersion && cls.kind === kind) {
            return cls;
        }
    }
    return null;
}

// The GA apiVersion of the group of apiVersion (alpha or beta) that models
// kind, or null when there is none (apiVersion is GA, or kind exists only as
// alpha or beta).
async function gaVersion(apiVersion, kind) {
    const m = /^(?:(.+)\/)?(v[0-9]+)(alpha|beta)[0-9]+$/.exec(apiVersion);
    if (m === null) {
        return null;
    }
    for (const v of new Set([m[2], 'v2', 'v1'])) { // v2beta2: v2 first
        const ga = m[1] ? `${m[1]}/${v}` : v;
        if (await modelClass(ga, kind) !== null) {
            return ga;
        }
    }
    return null;
}

// "/spec/template/spec/containers/1/image" -> "spec.template.spec.containers[1].image"
function fieldPath(parts) {
    let out = '';
    for (const p of parts) {
        if (typeof p === 'number' || /^[0-9]+$/.test(p)) {
            out += `[${p}]`;
        } else {
            out += (out ? '.' : '') + p;
        }
    }
    return out || '(object)';
}

function instancePathParts(instancePath) {
    return instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

// Validates obj with cls's validator; returns the problems, [] when none.
function validate(cls, obj) {
    const reads = new Map(); // object or array -> { keys: Set of keys read, enumerated }
    const proxies = new WeakMap();
    const wrap = (v) => {
        if (v === null || typeof v !== 'object') {
            return v;
        }
        if (!proxies.has(v)) {
            const rec = { keys: new Set(), enumerated: false };
            reads.set(v, rec);
            proxies.set(v, new Proxy(v, {
                get(target, key, receiver) {
                    if (typeof key === 'string') {
                        rec.keys.add(key);
                    }
                    return wrap(Reflect.get(target, key, receiver));
                },
                has(target, key) {
                    if (typeof key === 'string') {
                        rec.keys.add(key);
                    }
                    return Reflect.has(target, key);
                },
                ownKeys(target) {
                    rec.enumerated = true;
                    return Reflect.ownKeys(target);
                },
            }));
        }
        return proxies.get(v);
    };

    const problems = [];
    try {
        cls.prototype.validate.call(wrap(obj));
    } catch (e) {
        if (!Array.isArray(e.errors)) {
            throw e;
        }
        for (const err of e.errors) {
            problems.push(`${fieldPath(instancePathParts(err.instancePath))}: ${err.message}`);
        }
    }

    const unknown = (v, parts) => {
        const rec = reads.get(v);
        if (rec === undefined) {
            return; // a scalar, or not reached (its parent is already reported)
        }
        if (Array.isArray(v)) {
            v.forEach((item, i) => unknown(item, [...parts, i]));
            return;
        }
        if (!rec.enumerated && rec.keys.size === 0) {
            return; // free-form
        }
        for (const key of Object.keys(v)) {
            if (rec.enumerated || rec.keys.has(key)) {
                unknown(v[key], [...parts, key]);
            } else {
                problems.push(`unknown field "${fieldPath([...parts, key])}"`);
            }
        }
    };
    unknown(obj, []);
    return [...new Set(problems)];
}

async function checkFile(path, text, report) {
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(text, { version: '1.1', uniqueKeys: true, lineCounter });
    if (!Array.isArray(docs)) { // an empty stream
        report(`${path}: no Kubernetes object`);
        return;
    }
    let objects = 0;
    for (const doc of docs) {
        const problems = [...doc.errors, ...doc.warnings];
        if (problems.length > 0) {
            objects++;
            for (const p of problems) {
                const at = p.linePos ? p.linePos[0].line : lineCounter.linePos(doc.range[0]).line;
                const message = p.message.split('\n')[0].replace(/ at line \d+, column \d+:$/, '');
                report(`${path}:${at}: YAML: ${message}`);
            }
            continue;
        }
        if (doc.contents === null) {
            continue; // an empty document: a stray "---"
        }
        objects++;
        const where = `${path}:${lineCounter.linePos(doc.contents.range[0]).line}`;
        const obj = doc.toJS({ maxAliasCount: 100 });
        if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
            report(`${where}: not a Kubernetes object (a mapping with apiVersion and kind)`);
            continue;
        }
        const { apiVersion, kind } = obj;
        const name = obj.metadata && typeof obj.metadata === 'object' ? obj.metadata.name : undefined;
        const ns = obj.metadata && typeof obj.metadata === 'object' ? obj.metadata.namespace : undefined;
        const what = `${apiVersion} ${kind} ${ns ? ns + '/' : ''}${name ?? '(no name)'}`;
        const cls = typeof apiVersion === 'string' && typeof kind === 'string'
            ? await modelClass(apiVersion, kind) : null;
        if (cls === null) {
            report(`${where}: ${what}: unknown kind: no model of apiVersion ${JSON.stringify(apiVersion)}, kind ${JSON.stringify(kind)} in ${MODEL_PACKAGES.join(' or ')}`);
            continue;
        }
        const found = validate(cls, obj);
        if (typeof name !== 'string' || name === '') {
            found.unshift('metadata.name: required');
        }
        const ga = await gaVersion(apiVersion, kind);
        if (ga !== null) {
            found.unshift(`deprecated apiVersion: ${kind} is ${ga}`);
        }
        for (const p of found) {
            report(`${where}: ${what}: ${p}`);
        }
        if (found.length === 0) {
            console.log(`ok ${where} ${what}`);
        }
    }
    if (objects === 0) {
        report(`${path}: no Kubernetes object`);
    }
}

process.exitCode = await checkerMain('node tests/deploy/validate-k8s.mjs FILE...', process.argv.slice(2), checkFile);
