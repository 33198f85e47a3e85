"""deploy/: every YAML and JSON file parses; the Kubernetes manifests carry
the security context, probes and resources (walked from the parsed objects);
the ECS task definition and the compose stack hold together; the exporter's
IAM policy lists exactly the actions the exporter called in a full run
against the fake AWS, and the member role's policy exactly those it called
with the member role; the deny-leave SCP is what the SCP collector counts as
protection; the PrometheusRule holds the groups of the rule files (both are
rendered from mixin/: test_mixin.py checks that they are a fresh render);
every exporter command line in deploy/ is accepted by the binary.

Needs PyYAML (Debian: python3-yaml)."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

import yaml

from harness import (RELEASE, ROOT, SCENARIOS, Exporter, FakeAWS, env_keys, parse_exposition,
                     wait_until)

DEPLOY = os.path.join(ROOT, 'deploy')
K8S = os.path.join(DEPLOY, 'kubernetes')
IAM = os.path.join(DEPLOY, 'iam')
COMPOSE = os.path.join(DEPLOY, 'compose')
MEMBER_ROLE = 'aws-org-exporter-member'
MEMBER = '222222222222'
PORT = 9813
STATE_DIR = '/var/lib/aws-org-exporter'

EXPECTED_FILES = [
    'README.md',
    'kubernetes/deployment.yaml', 'kubernetes/service.yaml', 'kubernetes/servicemonitor.yaml',
    'kubernetes/prometheusrule.yaml', 'kubernetes/serviceaccount.yaml',
    'kubernetes/irsa/serviceaccount.yaml', 'kubernetes/sidecar/sidecar.yaml',
    'ecs/task-definition.json',
    'compose/docker-compose.yml', 'compose/fake-aws/Dockerfile', 'compose/fake-aws/demo.py',
    'compose/prometheus/prometheus.yml', 'compose/prometheus/Dockerfile',
    'iam/exporter-policy.json', 'iam/member-role-policy.json',
    'iam/member-role-trust-policy.json', 'iam/deny-leave-organization-scp.json',
]

# Calls of the fake's log that are no IAM action: metadata and container
# credential endpoints, AssumeRoleWithWebIdentity (IRSA: authorised by the
# role's trust policy, not by an identity policy), and GetCallerIdentity (STS
# API reference: "No permissions are required to perform this operation";
# even an explicit deny does not stop it).
NOT_IAM = {'sts.AssumeRoleWithWebIdentity', 'sts.GetCallerIdentity'}
# Called by later runs than this test's first ones: the SCP collector's
# read of a new OU's or account's own policies (test_scp.py shows it).
LATER_RUNS = {'organizations:ListPoliciesForTarget'}
NOT_IAM_SERVICES = {'imds', 'container', 'metadata'}

EXACT_SECURITY_CONTEXT = {
    'runAsNonRoot': True,
    'readOnlyRootFilesystem': True,
    'allowPrivilegeEscalation': False,
    'capabilities': {'drop': ['ALL']},
    'seccompProfile': {'type': 'RuntimeDefault'},
}


def deploy_files(*exts):
    out = []
    for d, _, names in os.walk(DEPLOY):
        out += [os.path.join(d, n) for n in names if n.endswith(exts)]
    return sorted(out)


def load_yaml_docs(path):
    with open(path, encoding='utf-8') as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def k8s_files(d=K8S, recursive=True):
    """The manifests of d, as kubectl apply -f reads a directory (.yaml, .yml,
    .json), with its subdirectories when recursive (kubectl's -R)."""
    pattern = os.path.join(d, '**', '*') if recursive else os.path.join(d, '*')
    return sorted(p for p in glob.glob(pattern, recursive=recursive)
                  if p.endswith(('.yaml', '.yml', '.json')) and os.path.isfile(p))


def k8s_objects(d=K8S, recursive=True):
    out = []
    for path in k8s_files(d, recursive):
        out += [(os.path.relpath(path, ROOT), d) for d in load_yaml_docs(path)]
    return out


def pod_spec(obj):
    """The pod spec of a workload object, or None."""
    kind, spec = obj.get('kind'), obj.get('spec') or {}
    if kind == 'Pod':
        return spec
    if kind in ('Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job',
                'ReplicationController'):
        return spec['template']['spec']
    if kind == 'CronJob':
        return spec['jobTemplate']['spec']['template']['spec']
    return None


def is_exporter(container):
    return 'aws-org-exporter' in container.get('image', '')


def flag_value(args, name):
    vals = [a.split('=', 1)[1] for a in args if a.startswith(name + '=')]
    return vals[-1] if vals else None


def policy_actions(doc, effect='Allow'):
    out = set()
    for st in doc['Statement']:
        if st['Effect'] != effect:
            continue
        a = st['Action']
        out |= {a} if isinstance(a, str) else set(a)
    return out


def call_to_action(call):
    """'organizations.ListAccounts' -> 'organizations:ListAccounts'."""
    service, op = call.split('.', 1)
    return '%s:%s' % (service, op)


def compose_interpolate(s):
    """${VAR:-default} and ${VAR} as compose expands them with VAR unset."""
    return re.sub(r'\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}', lambda m: m.group(1) or '', s)


class Files(unittest.TestCase):

    def test_expected_files_exist(self):
        missing = [f for f in EXPECTED_FILES if not os.path.isfile(os.path.join(DEPLOY, f))]
        self.assertEqual(missing, [])

    def test_every_yaml_and_json_file_parses(self):
        yamls = deploy_files('.yaml', '.yml')
        jsons = deploy_files('.json')
        self.assertGreaterEqual(len(yamls), 9)
        self.assertGreaterEqual(len(jsons), 5)
        for path in yamls:
            with self.subTest(path=os.path.relpath(path, ROOT)):
                docs = load_yaml_docs(path)
                self.assertGreater(len(docs), 0)
                for d in docs:
                    self.assertIsInstance(d, dict)
        for path in jsons:
            with self.subTest(path=os.path.relpath(path, ROOT)):
                self.assertIsInstance(load_json(path), dict)


class Kubernetes(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.objects = k8s_objects()
        cls.workloads = [(p, o, pod_spec(o)) for p, o in cls.objects if pod_spec(o) is not None]

    def test_every_object_is_well_formed(self):
        for path, o in self.objects:
            with self.subTest(path=path, kind=o.get('kind')):
                self.assertIn('apiVersion', o)
                self.assertIn('kind', o)
                self.assertTrue(o['metadata']['name'])
                self.assertEqual(o['metadata'].get('namespace'), 'monitoring')

    def test_workloads_found(self):
        kinds = sorted((p, o['kind'], o['metadata']['name']) for p, o, _ in self.workloads)
        self.assertEqual(kinds, [('deploy/kubernetes/deployment.yaml', 'Deployment', 'aws-org-exporter'),
                                 ('deploy/kubernetes/sidecar/sidecar.yaml', 'Deployment', 'security-tools')])
        exporters = [(p, c['name']) for p, _, s in self.workloads for c in s['containers']
                     if is_exporter(c)]
        self.assertEqual(exporters, [('deploy/kubernetes/deployment.yaml', 'aws-org-exporter'),
                                     ('deploy/kubernetes/sidecar/sidecar.yaml', 'aws-org-exporter')])
        # The sidecar example has the workload beside the exporter.
        sidecar = [s for p, _, s in self.workloads if p.endswith('sidecar.yaml')][0]
        self.assertEqual([c['name'] for c in sidecar['containers']], ['app', 'aws-org-exporter'])

    def test_pod_security_context(self):
        for path, o, spec in self.workloads:
            with self.subTest(path=path):
                sc = spec['securityContext']
                self.assertIs(sc['runAsNonRoot'], True)
                self.assertNotEqual(sc.get('runAsUser'), 0)
                self.assertEqual(sc['seccompProfile'], {'type': 'RuntimeDefault'})
                self.assertNotIn('hostNetwork', spec)
                self.assertNotIn('hostPID', spec)

    def test_every_container_security_context(self):
        n = 0
        for path, o, spec in self.workloads:
            for c in spec.get('initContainers', []) + spec['containers']:
                n += 1
                with self.subTest(path=path, container=c['name']):
                    sc = c['securityContext']
                    for k, v in EXACT_SECURITY_CONTEXT.items():
                        self.assertEqual(sc.get(k), v, k)
                    self.assertIs(type(sc['runAsNonRoot']), bool)
                    self.assertIs(sc.get('privileged', False), False)
                    self.assertNotEqual(sc.get('runAsUser', 65534), 0)
                    self.assertNotIn('add', sc['capabilities'])
        self.assertEqual(n, 3)

    def test_every_container_resources(self):
        for path, o, spec in self.workloads:
            for c in spec.get('initContainers', []) + spec['containers']:
                with self.subTest(path=path, container=c['name']):
                    r = c['resources']
                    self.assertTrue(r['requests']['cpu'])
                    self.assertTrue(r['requests']['memory'])
                    self.assertTrue(r['limits']['memory'])
                    if is_exporter(c):
                        self.assertEqual(r['requests']['memory'], '64Mi')
                        self.assertEqual(r['limits']['memory'], '256Mi')

    def _port(self, container, port):
        """A probe's port (number or name) resolved to a number."""
        if isinstance(port, int):
            return port
        named = {p['name']: p['containerPort'] for p in container.get('ports', []) if 'name' in p}
        self.assertIn(port, named)
        return named[port]

    def test_exporter_probes(self):
        for path, o, spec in self.workloads:
            for c in spec['containers']:
                if not is_exporter(c):
                    continue
                with self.subTest(path=path, container=c['name']):
                    self.assertEqual([p['containerPort'] for p in c['ports']], [PORT])
                    live, ready = c['livenessProbe']['httpGet'], c['readinessProbe']['httpGet']
                    self.assertEqual(live['path'], '/-/healthy')
                    self.assertEqual(ready['path'], '/-/ready')
                    self.assertEqual(self._port(c, live['port']), PORT)
                    self.assertEqual(self._port(c, ready['port']), PORT)
                    self.assertEqual(live.get('scheme', 'HTTP'), 'HTTP')
                    self.assertEqual(ready.get('scheme', 'HTTP'), 'HTTP')

    def test_exporter_state_file_on_a_volume(self):
        for path, o, spec in self.workloads:
            volumes = {v['name']: v for v in spec.get('volumes', [])}
            for c in spec['containers']:
                if not is_exporter(c):
                    continue
                with self.subTest(path=path, container=c['name']):
                    state = flag_value(c['args'], '--state.file')
                    self.assertEqual(state, STATE_DIR + '/state.json')
                    mounts = {m['mountPath']: m for m in c['volumeMounts']}
                    m = mounts[STATE_DIR]
                    self.assertFalse(m.get('readOnly', False))
                    v = volumes[m['name']]
                    self.assertTrue('emptyDir' in v or 'persistentVolumeClaim' in v, v)

    def test_service_accounts(self):
        sas = [(p, o) for p, o in self.objects if o['kind'] == 'ServiceAccount']
        self.assertEqual(sorted(p for p, _ in sas),
                         ['deploy/kubernetes/irsa/serviceaccount.yaml',
                          'deploy/kubernetes/serviceaccount.yaml'])
        for p, o in sas:
            self.assertEqual(o['metadata']['name'], 'aws-org-exporter')
            ann = o['metadata'].get('annotations', {})
            if p.endswith('irsa/serviceaccount.yaml'):
                self.assertRegex(ann['eks.amazonaws.com/role-arn'],
                                 r'^arn:aws:iam::\d{12}:role/aws-org-exporter$')
            else:
                self.assertEqual(ann, {})
        for path, o, spec in self.workloads:
            self.assertEqual(spec['serviceAccountName'], 'aws-org-exporter', path)

    def test_service_and_monitors_select_the_exporter(self):
        by_kind = {}
        for p, o in self.objects:
            by_kind.setdefault(o['kind'], []).append(o)
        deployment = [o for p, o, s in self.workloads if p.endswith('deployment.yaml')][0]
        pod_labels = deployment['spec']['template']['metadata']['labels']
        container = [c for c in pod_spec(deployment)['containers'] if is_exporter(c)][0]
        (svc,) = by_kind['Service']
        for k, v in svc['spec']['selector'].items():
            self.assertEqual(pod_labels.get(k), v)
        for k, v in deployment['spec']['selector']['matchLabels'].items():
            self.assertEqual(pod_labels.get(k), v)
        (sp,) = svc['spec']['ports']
        self.assertEqual(sp['port'], PORT)
        self.assertEqual(self._port(container, sp['targetPort']), PORT)
        (sm,) = by_kind['ServiceMonitor']
        for k, v in sm['spec']['selector']['matchLabels'].items():
            self.assertEqual(svc['metadata']['labels'].get(k), v)
        self.assertEqual([(e['port'], e['path']) for e in sm['spec']['endpoints']],
                         [(sp['name'], '/metrics')])
        # The sidecar: a PodMonitor on the sidecar's named port.
        (pm,) = by_kind['PodMonitor']
        sidecar = [o for p, o, s in self.workloads if p.endswith('sidecar.yaml')][0]
        labels = sidecar['spec']['template']['metadata']['labels']
        for k, v in pm['spec']['selector']['matchLabels'].items():
            self.assertEqual(labels.get(k), v)
        exp = [c for c in pod_spec(sidecar)['containers'] if is_exporter(c)][0]
        (ep,) = pm['spec']['podMetricsEndpoints']
        self.assertEqual(self._port(exp, ep['port']), PORT)
        self.assertEqual(ep['path'], '/metrics')



class KubernetesLayout(unittest.TestCase):
    """`kubectl apply -f deploy/kubernetes/`, the quick start, reads the top
    directory only (no -R): it must hold exactly one coherent set. The
    variants live in subdirectories, which that command leaves alone."""

    def test_default_directory_is_one_set(self):
        objs = k8s_objects(recursive=False)
        self.assertEqual(sorted((os.path.relpath(p, 'deploy/kubernetes'), o['kind'], o['metadata']['name'])
                                for p, o in objs), [
            ('deployment.yaml', 'Deployment', 'aws-org-exporter'),
            ('prometheusrule.yaml', 'PrometheusRule', 'aws-org-exporter'),
            ('service.yaml', 'Service', 'aws-org-exporter'),
            ('serviceaccount.yaml', 'ServiceAccount', 'aws-org-exporter'),
            ('servicemonitor.yaml', 'ServiceMonitor', 'aws-org-exporter'),
        ])
        by_kind = {o['kind']: o for _, o in objs}
        self.assertEqual(pod_spec(by_kind['Deployment'])['serviceAccountName'],
                         by_kind['ServiceAccount']['metadata']['name'])
        # EKS Pod Identity: nothing to fill in on the ServiceAccount.
        self.assertNotIn('annotations', by_kind['ServiceAccount']['metadata'])

    def test_variants_in_subdirectories(self):
        self.assertEqual(sorted(d for d in os.listdir(K8S) if os.path.isdir(os.path.join(K8S, d))),
                         ['irsa', 'sidecar'])
        (sa,) = [o for _, o in k8s_objects(recursive=False) if o['kind'] == 'ServiceAccount']
        # IRSA: the same ServiceAccount, with the role's annotation and nothing else.
        (irsa,) = [o for _, o in k8s_objects(os.path.join(K8S, 'irsa'))]
        annotations = irsa['metadata'].pop('annotations')
        self.assertEqual(list(annotations), ['eks.amazonaws.com/role-arn'])
        self.assertEqual(irsa, sa)
        # The sidecar example: its workload and PodMonitor, with the ServiceAccount of the set.
        sidecar = k8s_objects(os.path.join(K8S, 'sidecar'))
        self.assertEqual([o['kind'] for _, o in sidecar], ['Deployment', 'PodMonitor'])
        self.assertEqual(pod_spec(sidecar[0][1])['serviceAccountName'], sa['metadata']['name'])

    def test_readme_commands_name_existing_paths(self):
        # Every path given to kubectl apply -f in README.md and deploy/README.md.
        found = []
        for readme in ('README.md', os.path.join('deploy', 'README.md')):
            with open(os.path.join(ROOT, readme), encoding='utf-8') as f:
                text = f.read().replace('\\\n', ' ')
            for line in text.splitlines():
                if re.match(r'\s*kubectl apply ', line):
                    found += [(readme, p) for p in re.findall(r'-f (\S+)', line)]
        self.assertIn(('README.md', 'deploy/kubernetes/'), found)
        self.assertEqual([(r, p) for r, p in found if not os.path.exists(os.path.join(ROOT, p))], [])

class PrometheusRule(unittest.TestCase):

    def test_groups_equal_the_rule_files(self):
        # Independent of the mixin's render: the parsed spec holds every group of
        # every rule file of dashboards/prometheus/, unchanged, in name order.
        expected = []
        files = sorted(glob.glob(os.path.join(ROOT, 'dashboards', 'prometheus', '*.yml')))
        for path in files:
            with open(path, encoding='utf-8') as f:
                doc = yaml.safe_load(f)
            if isinstance(doc, dict) and 'groups' in doc:
                expected += doc['groups']
        self.assertGreater(len(expected), 0)
        (obj,) = load_yaml_docs(os.path.join(K8S, 'prometheusrule.yaml'))
        self.assertEqual(obj['apiVersion'], 'monitoring.coreos.com/v1')
        self.assertEqual(obj['kind'], 'PrometheusRule')
        self.assertEqual(obj['spec']['groups'], expected)
        if os.path.exists(os.path.join(ROOT, 'dashboards', 'prometheus', 'alerts.yml')):
            alerts = [r['alert'] for g in obj['spec']['groups'] for r in g['rules'] if 'alert' in r]
            self.assertIn('AwsOrgAccountDeparted', alerts)

    @unittest.skipUnless(shutil.which('promtool'), 'Debian package prometheus is not installed')
    def test_promtool_accepts_the_spec(self):
        (obj,) = load_yaml_docs(os.path.join(K8S, 'prometheusrule.yaml'))
        with tempfile.NamedTemporaryFile('w', suffix='.yml') as f:
            yaml.safe_dump({'groups': obj['spec']['groups']}, f)
            f.flush()
            r = subprocess.run(['promtool', 'check', 'rules', f.name], capture_output=True,
                               text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class Ecs(unittest.TestCase):

    def test_task_definition(self):
        td = load_json(os.path.join(DEPLOY, 'ecs', 'task-definition.json'))
        self.assertRegex(td['taskRoleArn'], r'^arn:aws:iam::\d{12}:role/aws-org-exporter$')
        containers = {c['name']: c for c in td['containerDefinitions']}
        self.assertEqual(sorted(containers), ['app', 'aws-org-exporter'])
        c = containers['aws-org-exporter']
        self.assertIn('aws-org-exporter', c['image'])
        self.assertIs(c['essential'], False)          # a sidecar: never stops the workload
        self.assertIs(c['readonlyRootFilesystem'], True)
        self.assertIs(c.get('privileged', False), False)
        self.assertEqual(c['user'], '65534:65534')
        self.assertEqual(c['linuxParameters']['capabilities'], {'drop': ['ALL']})
        self.assertEqual([p['containerPort'] for p in c['portMappings']], [PORT])
        self.assertEqual(c['memoryReservation'], 64)
        self.assertEqual(c['memory'], 256)
        self.assertEqual(flag_value(c['command'], '--state.file'), STATE_DIR + '/state.json')
        (mp,) = c['mountPoints']
        self.assertEqual(mp['containerPath'], STATE_DIR)
        self.assertIn(mp['sourceVolume'], [v['name'] for v in td['volumes']])
        self.assertEqual(c['healthCheck']['command'],
                         ['CMD', '/usr/bin/aws-org-exporter',
                          '--health-probe=http://127.0.0.1:%d/-/healthy' % PORT])
        # Credentials come from the task role, never from the definition.
        self.assertEqual([e for e in c.get('environment', [])
                          if e['name'].startswith(('AWS_ACCESS', 'AWS_SECRET', 'AWS_SESSION'))], [])


class Compose(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        (cls.doc,) = load_yaml_docs(os.path.join(COMPOSE, 'docker-compose.yml'))
        cls.services = cls.doc['services']

    def test_services_and_profiles(self):
        self.assertEqual(sorted(self.services),
                         ['exporter', 'exporter-demo', 'fake-aws', 'grafana', 'prometheus'])
        self.assertEqual(self.services['exporter']['profiles'], ['aws'])
        self.assertEqual(self.services['exporter-demo']['profiles'], ['demo'])
        self.assertEqual(self.services['fake-aws']['profiles'], ['demo'])
        self.assertNotIn('profiles', self.services['prometheus'])
        self.assertNotIn('profiles', self.services['grafana'])
        self.assertEqual(self.services['exporter-demo']['network_mode'], 'service:fake-aws')

    def test_exporters_hardened(self):
        for name in ('exporter', 'exporter-demo'):
            s = self.services[name]
            with self.subTest(service=name):
                self.assertEqual(s['user'], '65534:65534')
                self.assertIs(s['read_only'], True)
                self.assertEqual(s['cap_drop'], ['ALL'])
                self.assertIn('no-new-privileges:true', s['security_opt'])
                self.assertEqual(flag_value(s['command'], '--state.file'), STATE_DIR + '/state.json')
                vols = [v.split(':') for v in s['volumes']]
                self.assertEqual([v[1] for v in vols], [STATE_DIR])
                self.assertIn(vols[0][0], self.doc['volumes'])
        self.assertNotEqual(self.services['exporter']['volumes'],
                            self.services['exporter-demo']['volumes'])

    def test_paths_exist(self):
        for name, s in self.services.items():
            b = s.get('build')
            if b:
                ctx = os.path.normpath(os.path.join(COMPOSE, b['context']))
                self.assertTrue(os.path.isdir(ctx), name)
                self.assertTrue(os.path.isfile(os.path.join(ctx, b['dockerfile'])), name)
            for v in s.get('volumes', []):
                src = v.split(':')[0]
                if src.startswith('.'):
                    with self.subTest(service=name, volume=v):
                        self.assertTrue(os.path.exists(os.path.normpath(os.path.join(COMPOSE, src))))

    def test_prometheus_loads_the_rule_files(self):
        with open(os.path.join(COMPOSE, 'prometheus', 'prometheus.yml')) as f:
            cfg = yaml.safe_load(f)
        mounts = {v.split(':')[1]: v.split(':')[0] for v in self.services['prometheus']['volumes']}
        loaded = set()
        for pattern in cfg['rule_files']:
            d = os.path.dirname(pattern)
            host = os.path.normpath(os.path.join(COMPOSE, mounts[d]))
            loaded |= {os.path.basename(p) for p in
                       glob.glob(os.path.join(host, os.path.basename(pattern)))}
        rule_files = {os.path.basename(p) for p in
                      glob.glob(os.path.join(ROOT, 'dashboards', 'prometheus', '*.yml'))}
        self.assertEqual(loaded, rule_files)
        self.assertIn('rules.yml', loaded)
        targets = [t for sc in cfg['scrape_configs'] for s in sc['static_configs']
                   for t in s['targets']]
        self.assertEqual(targets, ['aws-org-exporter:%d' % PORT])
        # Both exporters answer to that name.
        for service in ('exporter', 'fake-aws'):
            self.assertEqual(self.services[service]['networks']['default']['aliases'],
                             ['aws-org-exporter'], service)

    @unittest.skipUnless(shutil.which('promtool'), 'Debian package prometheus is not installed')
    def test_promtool_accepts_the_config(self):
        # promtool resolves rule_files relative to the config: check a copy
        # whose rule_files point at the repository's files.
        with open(os.path.join(COMPOSE, 'prometheus', 'prometheus.yml')) as f:
            cfg = yaml.safe_load(f)
        cfg['rule_files'] = [os.path.join(ROOT, 'dashboards', 'prometheus', os.path.basename(p))
                             for p in cfg['rule_files']]
        with tempfile.NamedTemporaryFile('w', suffix='.yml') as f:
            yaml.safe_dump(cfg, f)
            f.flush()
            r = subprocess.run(['promtool', 'check', 'config', f.name], capture_output=True,
                               text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_grafana_provisioning(self):
        mounts = {v.split(':')[1]: os.path.normpath(os.path.join(COMPOSE, v.split(':')[0]))
                  for v in self.services['grafana']['volumes'] if v.startswith('.')}
        dash = os.path.join(ROOT, 'dashboards', 'grafana')
        self.assertEqual(mounts['/etc/grafana/provisioning/datasources'],
                         os.path.join(dash, 'provisioning', 'datasources'))
        self.assertEqual(mounts['/etc/grafana/provisioning/dashboards'],
                         os.path.join(dash, 'provisioning', 'dashboards'))
        self.assertEqual(mounts['/etc/grafana/provisioning/alerting/aws-org-exporter.yml'],
                         os.path.join(dash, 'alert-rules.yml'))
        # The dashboard provider's path is where the dashboards are mounted.
        (prov,) = load_yaml_docs(os.path.join(dash, 'provisioning', 'dashboards',
                                              'aws-org-exporter.yml'))
        path = prov['providers'][0]['options']['path']
        self.assertEqual(mounts[path], dash)
        self.assertTrue(glob.glob(os.path.join(dash, '*.json')))

    def test_demo_fake_aws_runner(self):
        # deploy/compose/fake-aws/demo.py, the fake-aws image's entry point:
        # it serves the scenario, removes the departing account, stops on SIGTERM.
        env = dict(os.environ, FAKE_AWS_SERVER=os.path.join(ROOT, 'tests', 'fake_aws', 'server.py'),
                   FAKE_AWS_PORT='0', DEMO_DEPARTURE_AFTER='0.2')
        p = subprocess.Popen(['/usr/bin/python3', os.path.join(COMPOSE, 'fake-aws', 'demo.py')],
                             stdout=subprocess.PIPE, text=True, env=env)
        try:
            first = p.stdout.readline()
            second = p.stdout.readline()
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(10)
            p.stdout.close()
        self.assertRegex(first, r'^listening port=\d+\n$')
        self.assertEqual(second, 'demo: account 100000000007 just left the organization\n')
        self.assertEqual(rc, 0)


def exporter_command_lines():
    """(where, args) of every exporter command line in deploy/."""
    out = []
    for path, o in k8s_objects():
        spec = pod_spec(o)
        for c in (spec or {}).get('containers', []):
            if is_exporter(c):
                out.append(('%s %s' % (path, c['name']), c.get('args', [])))
    td = load_json(os.path.join(DEPLOY, 'ecs', 'task-definition.json'))
    for c in td['containerDefinitions']:
        if 'aws-org-exporter' in c['image']:
            out.append(('ecs ' + c['name'], c.get('command', [])))
    (doc,) = load_yaml_docs(os.path.join(COMPOSE, 'docker-compose.yml'))
    for name in ('exporter', 'exporter-demo'):
        out.append(('compose ' + name, [compose_interpolate(a) for a in doc['services'][name]['command']]))
    return out


class CommandLines(unittest.TestCase):

    def test_binary_accepts_every_command_line(self):
        lines = exporter_command_lines()
        self.assertEqual(len(lines), 5)
        with tempfile.TemporaryDirectory() as d:
            for where, args in lines:
                with self.subTest(where=where):
                    args = [a for a in args if not a.startswith('--web.listen-address')]
                    args = [('--state.file=' + os.path.join(d, 'state.json')
                             if a.startswith('--state.file=') else a) for a in args]
                    # No credentials and a closed port as the endpoint: nothing leaves this machine.
                    with Exporter(*args, binary=RELEASE, aws=True,
                                  env={'AWS_ENDPOINT_URL': 'http://127.0.0.1:9'}) as x:
                        status, _, body = x.get('/-/healthy')
                        self.assertEqual(status, 200)
                        self.assertEqual(x.stop(), 0)


class Iam(unittest.TestCase):
    """A full run of the release build against the fake's default scenario:
    every collector, the member fan-out (the member role exists in
    222222222222 only), static keys of the management account. The accounts
    come without Paths, as the API gave them before 2026-03-31, so the SCP
    collector walks the OU tree: the policy must allow that walk too."""

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeAWS()
        try:
            with open(os.path.join(SCENARIOS, 'basic.json')) as f:
                doc = json.load(f)
            doc.setdefault('options', {})['omit_paths'] = True
            cls.fake.scenario(doc)
            with Exporter('--aws.endpoint-url=' + cls.fake.url,
                          '--collector.cloudtrail.member-role=' + MEMBER_ROLE,
                          '--collector.organizations.interval=1s',
                          binary=RELEASE, aws=True, env=env_keys()) as x:
                ready = wait_until(lambda: x.get('/-/ready')[0] == 200, 40)
                member = wait_until(lambda: ('aws_org_cloudtrail_member_up{account_id="%s"} 1'
                                             % MEMBER).encode() in x.get()[2], 30)
                # A departure: it is confirmed with DescribeAccount, so the
                # policy must allow that call too.
                cls.fake.patch({'op': 'remove_account', 'id': '100000000007'})
                departed = wait_until(
                    lambda: b'\naws_org_account_departures_total{last_state="ACTIVE"} 1\n' in x.get()[2], 30)
                cls.body = x.get()[2]
                cls.log = x.stderr()
            cls.ok = bool(ready and member and departed)
            cls.stats = cls.fake.stats()
        except BaseException:
            cls.fake.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        os.unlink(cls.fake.err.name)

    def test_full_run_completed(self):
        self.assertTrue(self.ok, self.log[-3000:])
        self.assertEqual(self.stats['bad_signatures'], 0)
        self.assertEqual(self.stats['invalid_requests'], 0)
        up = {l['collector']: v for n, l, v in parse_exposition(self.body)
              if n == 'aws_org_collector_up'}
        self.assertEqual(up, {'organizations': 1, 'cloudtrail': 1, 'scp': 1})

    def test_exporter_policy_is_exactly_the_actions_called(self):
        called = {call_to_action(c) for c, n in self.stats['calls'].items()
                  if n > 0 and c not in NOT_IAM and c.split('.')[0] not in NOT_IAM_SERVICES}
        policy = load_json(os.path.join(IAM, 'exporter-policy.json'))
        self.assertEqual(policy['Version'], '2012-10-17')
        self.assertEqual(policy_actions(policy), called | LATER_RUNS)
        self.assertEqual(policy_actions(policy, 'Deny'), set())
        for st in policy['Statement']:
            actions = [st['Action']] if isinstance(st['Action'], str) else st['Action']
            for a in actions:
                self.assertNotIn('*', a)
            if 'sts:AssumeRole' in actions:
                # Only the member role, in any account (the member fan-out).
                self.assertEqual(actions, ['sts:AssumeRole'])
                self.assertEqual(st['Resource'], 'arn:aws:iam::*:role/' + MEMBER_ROLE)

    def test_member_role_policy_is_exactly_the_actions_called_as_member(self):
        as_member = {'%s:%s' % (r['service'], r['operation']) for r in self.stats['requests']
                     if r['account'] == MEMBER and r['code'] == 'OK'}
        self.assertEqual(as_member, {'cloudtrail:LookupEvents'})
        policy = load_json(os.path.join(IAM, 'member-role-policy.json'))
        self.assertEqual(policy_actions(policy), as_member)
        trust = load_json(os.path.join(IAM, 'member-role-trust-policy.json'))
        (st,) = trust['Statement']
        self.assertEqual((st['Effect'], st['Action']), ('Allow', 'sts:AssumeRole'))
        self.assertRegex(st['Principal']['AWS'], r'^arn:aws:iam::\d{12}:role/aws-org-exporter$')

    def test_deny_leave_scp_protects_every_member(self):
        # The shipped SCP, attached at the root in place of the scenario's
        # leave denies: the SCP collector counts every member as protected.
        scp = load_json(os.path.join(IAM, 'deny-leave-organization-scp.json'))
        self.assertEqual(policy_actions(scp, 'Deny'), {'organizations:LeaveOrganization'})
        with open(os.path.join(SCENARIOS, 'basic.json')) as f:
            doc = json.load(f)
        root = doc['roots'][0]['id']
        doc['policies'] = [p for p in doc['policies']
                           if 'LeaveOrganization' not in p['content']] + [
            {'id': 'p-shippeddeny1', 'name': 'DenyLeaveOrganization', 'description': 'deploy/iam',
             'type': 'SERVICE_CONTROL_POLICY', 'aws_managed': False,
             'content': json.dumps(scp), 'targets': [root]}]
        self.fake.scenario(doc)
        with Exporter('--aws.endpoint-url=' + self.fake.url, '--collector.scp.protected-details',
                      binary=RELEASE, aws=['organizations', 'scp'], env=env_keys()) as x:
            ready = wait_until(lambda: x.get('/-/ready')[0] == 200, 30)
            body = x.get()[2]
        self.assertTrue(ready)
        samples = parse_exposition(body)
        status = {l['account_id']: l['status'] for n, l, v in samples
                  if n == 'aws_org_account_leave_protection' and v == 1}
        mgmt = doc['organization']['master_account_id']
        self.assertEqual(len(status), len(doc['accounts']))
        self.assertEqual(status, {a['id']: ('not_applicable' if a['id'] == mgmt else 'protected')
                                  for a in doc['accounts']})
        reasons = {(l['reason'], l['policy_id']) for n, l, v in samples
                   if n == 'aws_org_account_leave_protection_info' and l['account_id'] != mgmt}
        self.assertEqual(reasons, {('explicit_deny', 'p-shippeddeny1')})


if __name__ == '__main__':
    unittest.main()
