// Offline validation of rendered Kubernetes manifests (scripts/validate-k8s).
//   node validate.mjs FILE...     one file = one rendered overlay (multi-document YAML)
// 1. Every object validates against the official Kubernetes OpenAPI schemas
//    (kubernetes-models) or cert-manager's (@kubernetes-models/cert-manager);
//    CloudNativePG Cluster against the small schema below; anything else fails.
// 2. Project checks (below). Exit 0 only if every file passes; problems are
//    printed as "FILE: Kind/name: problem".
import fs from 'node:fs';
import YAML from 'yaml';

const problems = [];
const notes = new Set();

async function schemaValidate(obj) {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [null, obj.apiVersion];
  if (group === 'postgresql.cnpg.io') return cnpgCluster(obj);
  const pkg = group && group.endsWith('cert-manager.io') ? '@kubernetes-models/cert-manager' : 'kubernetes-models';
  const path = `${pkg}/${group ? `${group}/` : ''}${version}/${obj.kind}`;
  let mod;
  try { mod = await import(path); } catch { return [`no schema for ${obj.apiVersion} ${obj.kind}`]; }
  try { new mod[obj.kind](obj).validate(); return []; } catch (e) { return [`schema: ${e.message}`]; }
}

// CloudNativePG publishes no npm models: check the fields we rely on.
function cnpgCluster(obj) {
  notes.add('CloudNativePG Cluster: checked by a minimal schema (instances, imageName, storage.size, bootstrap), not the CRD');
  const s = obj.spec || {}, out = [];
  if (obj.kind !== 'Cluster' || obj.apiVersion !== 'postgresql.cnpg.io/v1') out.push('only postgresql.cnpg.io/v1 Cluster is known');
  if (!Number.isInteger(s.instances) || s.instances < 1) out.push('spec.instances must be an integer >= 1');
  if (typeof s.imageName !== 'string') out.push('spec.imageName must be set (pin the PostgreSQL version)');
  if (!s.storage || typeof s.storage.size !== 'string') out.push('spec.storage.size is required');
  if (!s.bootstrap?.initdb?.database) out.push('spec.bootstrap.initdb.database is required');
  return out;
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob']);
const LONG_RUNNING = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function podSpecOf(o) {
  if (o.kind === 'CronJob') return o.spec?.jobTemplate?.spec?.template?.spec;
  return o.spec?.template?.spec;
}

function imageProblems(image) {
  if (!image) return ['image missing'];
  if (image.includes('@sha256:')) return [];
  const last = image.split('/').pop();
  if (!last.includes(':')) return [`image ${image} has no tag`];
  if (last.endsWith(':latest')) return [`image ${image} uses the tag latest`];
  return [];
}

function containerProblems(c, pod, kind, init) {
  const out = [], where = `${init ? 'init container' : 'container'} ${c.name}`;
  for (const p of imageProblems(c.image)) out.push(`${where}: ${p}`);
  if (LONG_RUNNING.has(kind) && !init) {
    if (!c.livenessProbe) out.push(`${where}: no livenessProbe`);
    if (!c.readinessProbe) out.push(`${where}: no readinessProbe`);
  }
  const lim = c.resources?.limits || {}, req = c.resources?.requests || {};
  if (!lim.cpu || !lim.memory) out.push(`${where}: resources.limits.cpu and .memory are required`);
  if (!req.cpu || !req.memory) out.push(`${where}: resources.requests.cpu and .memory are required`);
  const sc = c.securityContext || {}, psc = pod.securityContext || {};
  if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) out.push(`${where}: runAsNonRoot must be true`);
  if ((sc.runAsUser ?? psc.runAsUser) === 0) out.push(`${where}: runAsUser 0`);
  if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem must be true`);
  if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation must be false`);
  if (sc.privileged) out.push(`${where}: privileged`);
  const drop = sc.capabilities?.drop || [];
  if (!drop.includes('ALL')) out.push(`${where}: capabilities.drop must include ALL`);
  if ((sc.capabilities?.add || []).length) out.push(`${where}: capabilities.add must be empty`);
  if ((sc.seccompProfile?.type ?? psc.seccompProfile?.type) !== 'RuntimeDefault') out.push(`${where}: seccompProfile must be RuntimeDefault`);
  for (const e of c.env || []) {
    if (/SECRET|PASSWORD|DSN|KEY$/i.test(e.name) && typeof e.value === 'string' && e.value !== '' && !e.name.endsWith('_FILE') && !/^\//.test(e.value)) {
      out.push(`${where}: env ${e.name} has a literal value (use a secretKeyRef)`);
    }
  }
  return out;
}

function subset(a, b) { return Object.entries(a || {}).every(([k, v]) => b?.[k] === v); }

function selects(np, labels) {
  const ps = np.spec?.podSelector || {};
  if (!subset(ps.matchLabels, labels)) return false;
  for (const e of ps.matchExpressions || []) {
    const v = labels[e.key];
    if (e.operator === 'In' && !e.values.includes(v)) return false;
    if (e.operator === 'NotIn' && e.values.includes(v)) return false;
    if (e.operator === 'Exists' && v === undefined) return false;
    if (e.operator === 'DoesNotExist' && v !== undefined) return false;
  }
  return true;
}

function projectChecks(objs, opts) {
  const out = [];
  const nps = objs.filter(o => o.kind === 'NetworkPolicy');
  const defaultDeny = nps.some(n => Object.keys(n.spec?.podSelector || {}).length === 0 &&
    ['Ingress', 'Egress'].every(t => (n.spec.policyTypes || []).includes(t)) && !n.spec.ingress && !n.spec.egress);
  if (!defaultDeny) out.push(['NetworkPolicy', '-', 'no default-deny policy (empty podSelector, Ingress and Egress, no rules)']);
  for (const o of objs) {
    const id = [o.kind, o.metadata?.name];
    if (JSON.stringify(o).includes('set-by-overlay')) out.push([...id, 'a value set-by-overlay was not replaced by the overlay']);
    if (o.kind === 'Secret' && !opts.allowSecrets) out.push([...id, 'Secret committed in this overlay (create Secrets outside git)']);
    if (o.kind === 'Secret' && opts.allowSecrets && o.metadata?.labels?.['cantdo.dev/dev-only'] !== 'true') out.push([...id, 'Secret without the label cantdo.dev/dev-only']);
    if (o.kind === 'Cluster' && o.spec?.imageName) for (const p of imageProblems(o.spec.imageName)) out.push([...id, p]);
    if (WORKLOADS.has(o.kind)) {
      const pod = podSpecOf(o);
      if (!pod) { out.push([...id, 'no pod template']); continue; }
      if (pod.automountServiceAccountToken !== false) out.push([...id, 'automountServiceAccountToken must be false']);
      if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push([...id, 'host namespaces']);
      for (const c of pod.containers || []) for (const p of containerProblems(c, pod, o.kind, false)) out.push([...id, p]);
      for (const c of pod.initContainers || []) for (const p of containerProblems(c, pod, o.kind, true)) out.push([...id, p]);
    }
    if (o.kind === 'Service') {
      const sel = o.spec?.selector;
      if (!sel || !Object.keys(sel).length) { out.push([...id, 'Service without a selector']); continue; }
      const own = nps.some(n => Object.keys(n.spec?.podSelector || {}).length > 0 && selects(n, sel) &&
        (n.spec.policyTypes || []).includes('Ingress'));
      if (!own) out.push([...id, 'no NetworkPolicy (with a non-empty podSelector and Ingress rules) selects this Service\'s pods']);
    }
  }
  return out;
}

let failedFiles = 0;
for (const arg of process.argv.slice(2)) {
  const allowSecrets = arg.startsWith('allow-secrets:');
  const file = allowSecrets ? arg.slice('allow-secrets:'.length) : arg;
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const objs = [], before = problems.length;
  for (const d of docs) {
    if (d.errors.length) { problems.push(`${file}: YAML: ${d.errors[0].message}`); continue; }
    const o = d.toJS();
    if (o) objs.push(o);
  }
  const kinds = {};
  for (const o of objs) {
    kinds[o.kind] = (kinds[o.kind] || 0) + 1;
    if (!o.apiVersion || !o.kind || !o.metadata?.name) { problems.push(`${file}: object without apiVersion/kind/metadata.name`); continue; }
    // kustomize folds long base64 Secret data over lines; the API server's
    // decoder ignores the newlines, the schema's "byte" format does not.
    if (o.kind === 'Secret' && o.data) for (const k of Object.keys(o.data)) o.data[k] = String(o.data[k]).replace(/\s+/g, '');
    for (const p of await schemaValidate(o)) problems.push(`${file}: ${o.kind}/${o.metadata.name}: ${p}`);
  }
  for (const [k, n, p] of projectChecks(objs, { allowSecrets })) problems.push(`${file}: ${k}/${n}: ${p}`);
  const mine = problems.length - before;
  if (mine) failedFiles++;
  console.log(`${mine ? 'FAIL' : 'ok  '} ${file}: ${objs.length} objects (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(', ')}), ${mine} problems`);
}
for (const n of notes) console.log(`note: ${n}`);
for (const p of problems) console.log(`  ${p}`);
process.exit(failedFiles ? 1 : 0);
