"""The checkers our users run, on what we ship:

  shellcheck     every shell script tracked by git (found by its #! line)
  yamllint       every YAML file tracked by git, with the repository's .yamllint
  validate-ecs   deploy/ecs/task-definition.json against the input shape of ECS
                 RegisterTaskDefinition in botocore's model (tests/deploy/validate-ecs.py)
  validate-k8s   deploy/kubernetes/**/*.yaml against the Kubernetes OpenAPI schemas and
                 the prometheus-operator CRD schemas (tests/deploy/validate-k8s.mjs)
  docker-compose deploy/compose/docker-compose.yml: `docker-compose config` (Debian's
                 docker-compose 1.29) checks it against the Compose schema and
                 resolves what it references (the image test runs the stack)
  validate-grafana  dashboards/grafana/*.json against the Dashboard type of
                 @grafana/schema, with TypeScript's compiler, and every panel's
                 data source the ${datasource} variable (tests/deploy/validate-grafana.mjs)

Each one runs on the real files, which must pass, and on broken copies, which
it must reject with the expected report: a checker that accepts everything
would pass the first half alone. Nothing is skipped: a missing tool fails the
test with the command that installs it (scripts/deps.sh test, make deps-node)."""
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from harness import ROOT

DEPLOY_TESTS = os.path.join(ROOT, 'tests', 'deploy')
COMPOSE_DIR = os.path.join(ROOT, 'deploy', 'compose')
COMPOSE_FILE = os.path.join('deploy', 'compose', 'docker-compose.yml')
VALIDATE_ECS = os.path.join(DEPLOY_TESTS, 'validate-ecs.py')
VALIDATE_K8S = os.path.join(DEPLOY_TESTS, 'validate-k8s.mjs')
VALIDATE_GRAFANA = os.path.join(DEPLOY_TESTS, 'validate-grafana.mjs')
DASHBOARD = os.path.join('dashboards', 'grafana', 'leave-watch.json')
TASK_DEFINITION = os.path.join('deploy', 'ecs', 'task-definition.json')
SHEBANG_SHELL = re.compile(rb'^#!\s*(/usr/bin/env\s+)?(\S*/)?(sh|bash|dash|ksh)(\s|$)')

# The scripts the discovery must find (and more, as they are added).
KNOWN_SCRIPTS = {'.ci/run', 'scripts/demo.sh', 'scripts/deps.sh', 'tests/run',
                 'tests/image/run', 'tests/fuzz/run'}


def need(tool, how):
    """The path of tool; fails the calling test when it is not installed."""
    path = shutil.which(tool)
    if path is None:
        raise AssertionError('%s is not installed: %s' % (tool, how))
    return path


def run(argv, cwd=ROOT, env=None):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)
    return r.returncode, r.stdout, r.stderr


def need_node_packages():
    """The path of node; fails the calling test unless the npm packages of
    tests/deploy are installed at their pinned versions."""
    node = need('node', 'run scripts/deps.sh test (apt-get install nodejs)')
    with open(os.path.join(DEPLOY_TESTS, 'package.json'), encoding='utf-8') as f:
        pinned = json.load(f)['dependencies']
    installed = {}
    for pkg in pinned:
        try:
            with open(os.path.join(DEPLOY_TESTS, 'node_modules', pkg, 'package.json'),
                      encoding='utf-8') as f:
                installed[pkg] = json.load(f)['version']
        except OSError:
            installed[pkg] = None
    if installed != pinned:
        raise AssertionError('npm packages of tests/deploy: %s installed, %s pinned: run make deps-node'
                             % (installed, pinned))
    return node


def tracked_files():
    rc, out, err = run(['git', 'ls-files', '-z'])
    if rc != 0:
        raise AssertionError('git ls-files: ' + err)
    return [f for f in out.split('\0') if f and os.path.isfile(os.path.join(ROOT, f))]


def shell_scripts():
    out = []
    for f in tracked_files():
        with open(os.path.join(ROOT, f), 'rb') as fh:
            first = fh.readline()
        if SHEBANG_SHELL.match(first) or f.endswith(('.sh', '.bash')):
            out.append(f)
    return out


def yaml_files():
    return [f for f in tracked_files()
            if f.endswith(('.yml', '.yaml')) or os.path.basename(f) == '.yamllint']


def line_of(text, needle):
    """The 1-based number of the one line of text that contains needle."""
    hits = [i for i, l in enumerate(text.splitlines(), 1) if needle in l]
    if len(hits) != 1:
        raise AssertionError('%r is on lines %s' % (needle, hits))
    return hits[0]


def replace_once(text, old, new):
    if text.count(old) != 1:
        raise AssertionError('%r occurs %d times' % (old, text.count(old)))
    return text.replace(old, new)


def read(rel):
    with open(os.path.join(ROOT, rel), encoding='utf-8') as f:
        return f.read()


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return path


class ShellCheck(unittest.TestCase):

    # In setUp, not setUpClass: a missing tool fails each test (counted).
    def setUp(self):
        self.shellcheck = need('shellcheck', 'run scripts/deps.sh test (apt-get install shellcheck)')

    def test_discovery_finds_the_scripts(self):
        found = set(shell_scripts())
        self.assertEqual(KNOWN_SCRIPTS - found, set())
        # A Python script named "run" is no shell script.
        self.assertNotIn('tests/bench/run', found)

    def test_every_script_is_clean(self):
        scripts = shell_scripts()
        self.assertGreaterEqual(len(scripts), len(KNOWN_SCRIPTS))
        self.assertEqual(run([self.shellcheck, '-f', 'gcc'] + scripts)[:2], (0, ''))

    def test_an_unquoted_variable_is_rejected(self):
        # scripts/deps.sh with its package name unquoted: a word-splitting bug.
        text = read('scripts/deps.sh')
        old = """status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"""
        broken = replace_once(text, old, old.replace('"$p"', '$p'))
        with tempfile.TemporaryDirectory() as d:
            path = write(d, 'deps.sh', broken)
            rc, out, err = run([self.shellcheck, '-f', 'json', path])
        self.assertEqual((rc, err), (1, ''))
        found = [(c['line'], c['code'], c['level']) for c in json.loads(out)]
        self.assertEqual(found, [(line_of(broken, old.replace('"$p"', '$p')), 2086, 'info')])


class YamlLint(unittest.TestCase):

    def setUp(self):
        self.yamllint = need('yamllint', 'run scripts/deps.sh test (apt-get install yamllint)')
        self.config = os.path.join(ROOT, '.yamllint')

    def test_every_yaml_file_is_clean(self):
        files = yaml_files()
        for f in ('.yamllint', 'deploy/kubernetes/deployment.yaml', 'dashboards/prometheus/alerts.yml',
                  'deploy/compose/docker-compose.yml'):
            self.assertIn(f, files)
        self.assertEqual(run([self.yamllint, '--strict', '-c', self.config, '-f', 'parsable']
                             + files)[:2], (0, ''))

    def test_a_duplicate_key_and_a_long_line_are_rejected(self):
        # service.yaml with its spec's type given twice (the first one would be
        # lost without a word), and a line over the 100 columns that deploy/
        # keeps to.
        text = read('deploy/kubernetes/service.yaml')
        broken = replace_once(text, '  type: ClusterIP\n', '  type: ClusterIP\n  type: NodePort\n')
        broken = replace_once(broken, '  selector:\n', '  selector:  # ' + 'x' * 90 + '\n')
        with tempfile.TemporaryDirectory() as d:
            path = write(d, 'service.yaml', broken)
            rc, out, err = run([self.yamllint, '--strict', '-c', self.config, '-f', 'parsable', path])
        self.assertEqual((rc, err), (1, ''))
        long_line = broken.splitlines()[line_of(broken, 'xxx') - 1]
        self.assertEqual(out.splitlines(), [
            '%s:%d:3: [error] duplication of key "type" in mapping (key-duplicates)'
            % (path, line_of(broken, 'NodePort')),
            '%s:%d:101: [error] line too long (%d > 100 characters) (line-length)'
            % (path, line_of(broken, 'xxx'), len(long_line)),
        ])


class EcsTaskDefinition(unittest.TestCase):

    def test_task_definition_is_valid(self):
        self.assertEqual(run(['/usr/bin/python3', VALIDATE_ECS, TASK_DEFINITION]),
                         (0, 'ok %s\n' % TASK_DEFINITION, ''))

    def test_broken_copies_are_rejected(self):
        td = json.loads(read(TASK_DEFINITION))

        def unknown_field(d):
            # The spelling of the Kubernetes field, not ECS's readonlyRootFilesystem.
            c = d['containerDefinitions'][1]
            c['readOnlyRootFilesystem'] = c.pop('readonlyRootFilesystem')

        def wrong_type(d):
            d['containerDefinitions'][1]['memory'] = '256'

        def missing_required(d):
            del d['family']

        def not_in_enum(d):
            d['networkMode'] = 'vpc'

        # (file, change, report); the unknown field's report goes on with the
        # members of the model (which a botocore update may add to): its start.
        cases = [
            ('unknown-field.json', unknown_field,
             'Unknown parameter in containerDefinitions[1]: "readOnlyRootFilesystem", must be one of: '
             'name, image, '),
            ('wrong-type.json', wrong_type,
             "Invalid type for parameter containerDefinitions[1].memory, value: 256, "
             "type: <class 'str'>, valid types: <class 'int'>"),
            ('missing-required.json', missing_required,
             'Missing required parameter in input: "family"'),
            ('not-in-enum.json', not_in_enum,
             "Value 'vpc' at 'networkMode' failed to satisfy constraint: Member must satisfy "
             "enum value set: [bridge, host, awsvpc, none]"),
        ]
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for name, mutate, _ in cases:
                doc = copy.deepcopy(td)
                mutate(doc)
                paths.append(write(d, name, json.dumps(doc, indent=2)))
            # A key given twice: json.load would keep the second one silently.
            paths.append(write(d, 'duplicate-key.json', replace_once(
                read(TASK_DEFINITION), '"family": "security-tools",',
                '"family": "security-tools",\n  "family": "other",')))
            rc, out, err = run(['/usr/bin/python3', VALIDATE_ECS] + paths)
        self.assertEqual((rc, err), (1, ''))
        lines = out.splitlines()
        self.assertEqual(len(lines), len(paths))
        for (name, _, message), path, line in zip(cases, paths, lines):
            with self.subTest(case=name):
                if name == 'unknown-field.json':
                    self.assertTrue(line.startswith('%s: %s' % (path, message)), line)
                    self.assertIn(', readonlyRootFilesystem, ', line)
                else:
                    self.assertEqual(line, '%s: %s' % (path, message))
        self.assertEqual(lines[-1], '%s: duplicate key "family"' % paths[-1])


class NodeChecker(unittest.TestCase):
    """A checker of tests/deploy run by Node.js: CHECKER on files."""
    CHECKER = None

    def setUp(self):
        self.node = need_node_packages()

    def validate(self, *paths):
        return run([self.node, self.CHECKER] + list(paths))


class KubernetesManifests(NodeChecker):
    CHECKER = VALIDATE_K8S

    def test_manifests_are_valid(self):
        # The default set and the variants in its subdirectories.
        files = sorted(os.path.relpath(p, ROOT) for p in
                       glob.glob(os.path.join(ROOT, 'deploy', 'kubernetes', '**', '*.yaml'), recursive=True)
                       + glob.glob(os.path.join(ROOT, 'deploy', 'kubernetes', '**', '*.yml'), recursive=True))
        self.assertGreaterEqual(len(files), 7)
        # What to expect, read independently (PyYAML): one line per object.
        expected = []
        for f in files:
            with open(os.path.join(ROOT, f), encoding='utf-8') as fh:
                for node in yaml.compose_all(fh):
                    o = yaml.safe_load(yaml.serialize(node))
                    expected.append('ok %s:%d %s %s %s/%s' % (
                        f, node.start_mark.line + 1, o['apiVersion'], o['kind'],
                        o['metadata']['namespace'], o['metadata']['name']))
        self.assertIn('ok deploy/kubernetes/servicemonitor.yaml:7 monitoring.coreos.com/v1 '
                      'ServiceMonitor monitoring/aws-org-exporter', expected)
        rc, out, err = self.validate(*files)
        self.assertEqual((rc, out.splitlines(), err), (0, expected, ''))

    def test_broken_copies_are_rejected(self):
        deployment = read('deploy/kubernetes/deployment.yaml')
        monitor = read('deploy/kubernetes/servicemonitor.yaml')
        service = read('deploy/kubernetes/service.yaml')
        account = read('deploy/kubernetes/irsa/serviceaccount.yaml')
        with tempfile.TemporaryDirectory() as d:
            # A typo of a field deep in the pod template, and a string count.
            bad_deployment = replace_once(replace_once(
                deployment, 'readinessProbe:', 'readinesProbe:'), 'replicas: 1\n', 'replicas: "1"\n')
            # The CRD's schema: a typo of scrapeTimeout, an interval without its unit.
            bad_monitor = replace_once(replace_once(
                monitor, 'scrapeTimeout: 10s', 'scrapeTimout: 10s'), 'interval: 60s', 'interval: 60')
            # A kind that no schema models.
            bad_service = replace_once(service, 'kind: Service\n', 'kind: Servic\n')
            # A beta that Kubernetes has removed (the package still models it).
            old_api = replace_once(deployment, 'apiVersion: apps/v1\n', 'apiVersion: apps/v1beta2\n')
            # A key given twice.
            bad_account = replace_once(account, '  name: aws-org-exporter\n',
                                       '  name: aws-org-exporter\n  name: other\n')
            # YAML 1.1, as Kubernetes reads it: "yes" is a boolean, not a string.
            config_map = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  enabled: yes\n'
            paths = [write(d, 'deployment.yaml', bad_deployment),
                     write(d, 'servicemonitor.yaml', bad_monitor),
                     write(d, 'service.yaml', bad_service),
                     write(d, 'old-api.yaml', old_api),
                     write(d, 'serviceaccount.yaml', bad_account),
                     write(d, 'configmap.yaml', config_map)]
            rc, out, err = self.validate(*paths)
        dep, mon, svc, old, sa, cm = paths

        def at(path, text, needle):
            return '%s:%d' % (path, line_of(text, needle))

        self.assertEqual((rc, err), (1, ''))
        self.assertEqual(out.splitlines(), [
            '%s: apps/v1 Deployment monitoring/aws-org-exporter: spec.replicas: must be integer'
            % at(dep, bad_deployment, 'apiVersion:'),
            '%s: apps/v1 Deployment monitoring/aws-org-exporter: unknown field '
            '"spec.template.spec.containers[0].readinesProbe"' % at(dep, bad_deployment, 'apiVersion:'),
            '%s: monitoring.coreos.com/v1 ServiceMonitor monitoring/aws-org-exporter: '
            'spec.endpoints[0].interval: must be string' % at(mon, bad_monitor, 'apiVersion:'),
            '%s: monitoring.coreos.com/v1 ServiceMonitor monitoring/aws-org-exporter: '
            'unknown field "spec.endpoints[0].scrapeTimout"' % at(mon, bad_monitor, 'apiVersion:'),
            '%s: v1 Servic monitoring/aws-org-exporter: unknown kind: no model of apiVersion "v1", '
            'kind "Servic" in kubernetes-models or @kubernetes-models/prometheus-operator'
            % at(svc, bad_service, 'apiVersion:'),
            '%s: apps/v1beta2 Deployment monitoring/aws-org-exporter: deprecated apiVersion: '
            'Deployment is apps/v1' % at(old, old_api, 'apiVersion:'),
            '%s: YAML: Map keys must be unique' % at(sa, bad_account, 'name: other'),
            '%s:1: v1 ConfigMap x: data.enabled: must be string' % cm,
        ])



class ComposeConfig(unittest.TestCase):

    def setUp(self):
        self.compose = need('docker-compose', 'run scripts/deps.sh test '
                            '(apt-get install --no-install-recommends docker-compose)')

    def config(self, path, *args, **env):
        # Only PATH and what the case sets: no variable of the caller's shell
        # (PROMETHEUS_IMAGE, AWS_*...) changes what compose resolves.
        return run([self.compose, '--project-directory', COMPOSE_DIR, '-f', path, 'config'] + list(args),
                   env=dict(env, PATH=os.environ.get('PATH', '/usr/bin:/bin')))

    def test_compose_file_is_valid(self):
        self.assertEqual(self.config(COMPOSE_FILE, '-q'), (0, '', ''))
        rc, out, err = self.config(COMPOSE_FILE, '--services')
        self.assertEqual((rc, sorted(out.split()), err),
                         (0, ['exporter', 'exporter-demo', 'fake-aws', 'grafana', 'prometheus'], ''))

    def test_prometheus_image_default_and_local(self):
        # The upstream image by default; a local one (deploy/compose/prometheus/
        # Dockerfile, what the image test builds) when PROMETHEUS_IMAGE names it.
        for env, want in (({}, 'prom/prometheus:v2.53.3'),
                          ({'PROMETHEUS_IMAGE': 'aws-org-exporter-prometheus:local'},
                           'aws-org-exporter-prometheus:local')):
            with self.subTest(env=env):
                rc, out, err = self.config(COMPOSE_FILE, **env)
                self.assertEqual((rc, err), (0, ''))
                self.assertEqual(yaml.safe_load(out)['services']['prometheus']['image'], want)

    def test_broken_copies_are_rejected(self):
        text = read(COMPOSE_FILE)
        # (name, broken text, docker-compose's report after "is invalid because:" or alone)
        cases = [
            # A misspelt option of the fake's service (read_only).
            ('unknown-option.yml', replace_once(text, '    read_only: true\n', '    readonly: true\n'),
             ["Unsupported config option for services.fake-aws: 'readonly'"]),
            # A string where the schema wants a list.
            ('wrong-type.yml', replace_once(text, '    cap_drop: [ALL]\n', '    cap_drop: ALL\n'),
             ['services.fake-aws.cap_drop contains an invalid type, it should be an array']),
            # The demo exporter joins the network stack of a service that does not exist.
            ('no-such-service.yml', replace_once(text, 'service:fake-aws', 'service:fake-awz'),
             ["Service 'exporter-demo' uses the network stack of service 'fake-awz' which is undefined."]),
            # A named volume that the volumes section does not declare.
            ('undeclared-volume.yml',
             replace_once(text, '      - exporter-demo-state:/', '      - exporter-demo-stat:/'),
             ['Named volume "exporter-demo-stat:/var/lib/aws-org-exporter:rw" is used in service '
              '"exporter-demo" but no declaration was found in the volumes section.']),
            # A build context that is not there.
            ('no-build-context.yml', replace_once(text, '  build:\n    context: ../..\n',
                                                            '  build:\n    context: ../../nowhere\n'),
             ['build path %s either does not exist, is not accessible, or is not a valid URL.'
              % os.path.join(ROOT, 'nowhere')]),
        ]
        with tempfile.TemporaryDirectory() as d:
            for name, broken, report in cases:
                with self.subTest(case=name):
                    path = write(d, name, broken)
                    rc, out, err = self.config(path, '-q')
                    lines = err.splitlines()
                    if lines and lines[0] == "The Compose file '%s' is invalid because:" % path:
                        lines = lines[1:]
                    self.assertEqual((rc, out, lines), (1, '', report))


class GrafanaDashboards(NodeChecker):
    CHECKER = VALIDATE_GRAFANA

    def test_dashboards_are_valid(self):
        files = sorted(os.path.relpath(p, ROOT) for p in
                       glob.glob(os.path.join(ROOT, 'dashboards', 'grafana', '*.json')))
        self.assertEqual(files, [DASHBOARD])
        self.assertEqual(self.validate(*files), (0, 'ok %s\n' % DASHBOARD, ''))

    def test_broken_copies_are_rejected(self):
        text = read(DASHBOARD)
        real = json.loads(text)
        index = {p['title']: i for i, p in enumerate(real['panels']) if p['type'] != 'row'}
        hard_coded = {'type': 'prometheus', 'uid': 'P1809F7CD0C75ACF3'}

        def panel(d, title):
            return d['panels'][index[title]]

        def unknown_field(d):
            # A typo of a panel's field, and one of its field config.
            p = panel(d, 'Accounts by state')
            p['descripton'] = p.pop('description')
            panel(d, 'Last success age')['fieldConfig']['defaults']['units'] = 's'

        def wrong_type(d):
            # A width as a string; a refresh interval in seconds.
            panel(d, 'Collector duration')['gridPos']['w'] = '8'
            d['refresh'] = 60

        def not_in_enum(d):
            # An enum of the schema (ThresholdsMode), misspelt.
            panel(d, 'Leave attempts stopped')['fieldConfig']['defaults']['thresholds']['mode'] = 'absolut'

        def hard_coded_datasource(d):
            # An export from one Grafana: its data source's uid, in a panel
            # and in one query of another; a panel without one.
            panel(d, 'Newest events')['datasource'] = hard_coded
            panel(d, 'Retries and throttles')['targets'][1]['datasource'] = hard_coded
            del panel(d, 'Exporter')['datasource']

        with tempfile.TemporaryDirectory() as d:
            texts, paths = {}, []
            for name, mutate in [('unknown-field.json', unknown_field), ('wrong-type.json', wrong_type),
                                 ('not-in-enum.json', not_in_enum),
                                 ('hard-coded-datasource.json', hard_coded_datasource)]:
                doc = copy.deepcopy(real)
                mutate(doc)
                texts[name] = json.dumps(doc, indent=2, ensure_ascii=False) + '\n'
                paths.append(write(d, name, texts[name]))
            # A key given twice: JSON.parse would keep the second one silently.
            texts['duplicate-key.json'] = replace_once(text, '"schemaVersion": 39,',
                                                       '"schemaVersion": 39,\n  "schemaVersion": 40,')
            paths.append(write(d, 'duplicate-key.json', texts['duplicate-key.json']))
            rc, out, err = self.validate(*paths)
        unknown, wrong, enum, hard, dup = paths

        def at(path, needle):
            """path:line:column of the one line of its text holding needle."""
            t = texts[os.path.basename(path)]
            line = line_of(t, needle)
            return '%s:%d:%d' % (path, line, t.splitlines()[line - 1].index(needle) + 1)

        def ds(title, where=''):
            return 'panels[%d] "%s"%s' % (index[title], title, where)

        self.assertEqual((rc, err), (1, ''))
        self.assertEqual(out.splitlines(), [
            "%s: panels[%d].descripton: unknown field: not in Grafana's schema"
            % (at(unknown, '"descripton"'), index['Accounts by state']),
            "%s: panels[%d].fieldConfig.defaults.units: unknown field: not in Grafana's schema"
            % (at(unknown, '"units"'), index['Last success age']),
            "%s: panels[%d].gridPos.w: Type 'string' is not assignable to type 'number'."
            % (at(wrong, '"w": "8"'), index['Collector duration']),
            "%s: refresh: Type 'number' is not assignable to type 'string'." % at(wrong, '"refresh": 60'),
            "%s: panels[%d].fieldConfig.defaults.thresholds.mode: Type '\"absolut\"' is not assignable "
            "to type '\"absolute\" | \"percentage\"'. Did you mean '\"absolute\"'?"
            % (at(enum, '"mode": "absolut"'), index['Leave attempts stopped']),
            '%s: %s: datasource {"type":"prometheus","uid":"P1809F7CD0C75ACF3"}, not the variable '
            '${datasource}' % (hard, ds('Newest events')),
            '%s: %s: datasource {"type":"prometheus","uid":"P1809F7CD0C75ACF3"}, not the variable '
            '${datasource}' % (hard, ds('Retries and throttles', '.targets[1]')),
            '%s: %s: datasource missing, not the variable ${datasource}' % (hard, ds('Exporter')),
            '%s: schemaVersion: An object literal cannot have multiple properties with the same name.'
            % at(dup, '"schemaVersion": 40'),
        ])


if __name__ == '__main__':
    unittest.main()
