// Offline validation of rendered Kubernetes manifests and the image builds
// (scripts/validate-k8s).
//
//   node validate.mjs [--bin-dir=DIR] [--egress-table=FILE.md] [PROFILE:]FILE... [--dockerfile=FILE]...
//
// FILE is one rendered overlay (multi-document YAML). PROFILE says which
// rules apply beyond the common ones:
//   any  (default) the common checks; no Secret may be committed;
//   dev   Secrets allowed if labelled cantdo.dev/dev-only; the dev column of
//         the egress table;
//   prod  no Secret; a CloudNativePG Cluster with synchronous replication,
//         continuous backup and a ScheduledBackup, and max_connections that
//         covers every pool at the HPA maxima; the prod column of the egress
//         table.
// --bin-dir: the build directory; each container that runs a cantdo binary is
//   checked against that binary's `--help`: every CANTDO_* variable it is
//   given is one of its options, and every required option is set.
// --egress-table: the markdown file holding the egress table (the line
//   after the marker "<!-- egress-table -->"); every row must be allowed
//   by the NetworkPolicies, at the source (egress) and, for pods in the
//   namespace, at the destination (ingress).
// --dockerfile: every FROM names a stage or an image pinned by digest.
//
// 1. Every object validates against the official Kubernetes OpenAPI schemas
//    (kubernetes-models), cert-manager's (@kubernetes-models/cert-manager,
//    which also carries approver-policy and trust-manager) or the
//    Prometheus Operator's (@kubernetes-models/prometheus-operator);
//    CloudNativePG objects against the small schemas below; anything else
//    fails.
// 2. Project checks (below). Exit 0 only if every file passes; problems are
//    printed as "FILE: Kind/name: problem".
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import YAML from 'yaml';

const problems = [];
const notes = new Set();

async function schemaValidate(obj) {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [null, obj.apiVersion];
  if (group === 'postgresql.cnpg.io') return cnpgSchema(obj);
  const pkg = group && group.endsWith('cert-manager.io') ? '@kubernetes-models/cert-manager'
    : group === 'monitoring.coreos.com' ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models';
  const modPath = `${pkg}/${group ? `${group}/` : ''}${version}/${obj.kind}`;
  let mod;
  try { mod = await import(modPath); } catch { return [`no schema for ${obj.apiVersion} ${obj.kind}`]; }
  try { new mod[obj.kind](obj).validate(); return []; } catch (e) { return [`schema: ${e.message}`]; }
}

// CloudNativePG publishes no npm models: check the fields we rely on.
function cnpgSchema(obj) {
  notes.add('CloudNativePG Cluster and ScheduledBackup: checked by minimal schemas of the fields used, not the CRDs');
  const s = obj.spec || {}, out = [];
  if (obj.apiVersion !== 'postgresql.cnpg.io/v1') return ['only postgresql.cnpg.io/v1 is known'];
  if (obj.kind === 'ScheduledBackup') {
    if (typeof s.schedule !== 'string' || s.schedule.trim().split(/\s+/).length !== 6) {
      out.push('spec.schedule must be a six-field cron expression (CloudNativePG counts seconds)');
    }
    if (typeof s.cluster?.name !== 'string') out.push('spec.cluster.name is required');
    if (s.method !== undefined && !['barmanObjectStore', 'volumeSnapshot', 'plugin'].includes(s.method)) out.push(`unknown spec.method ${s.method}`);
    return out;
  }
  if (obj.kind !== 'Cluster') return [`unknown CloudNativePG kind ${obj.kind}`];
  if (!Number.isInteger(s.instances) || s.instances < 1) out.push('spec.instances must be an integer >= 1');
  if (typeof s.imageName !== 'string') out.push('spec.imageName must be set (pin the PostgreSQL version)');
  if (!s.storage || typeof s.storage.size !== 'string') out.push('spec.storage.size is required');
  if (!s.bootstrap?.initdb?.database) out.push('spec.bootstrap.initdb.database is required');
  const sync = s.postgresql?.synchronous;
  if (sync !== undefined) {
    if (!['any', 'first'].includes(sync.method)) out.push('spec.postgresql.synchronous.method must be any or first');
    if (!Number.isInteger(sync.number)) out.push('spec.postgresql.synchronous.number must be an integer');
    if (sync.dataDurability !== undefined && !['required', 'preferred'].includes(sync.dataDurability)) {
      out.push('spec.postgresql.synchronous.dataDurability must be required or preferred');
    }
  }
  for (const [k, v] of Object.entries(s.postgresql?.parameters || {})) {
    if (typeof v !== 'string') out.push(`spec.postgresql.parameters.${k} must be a string`);
  }
  return out;
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob']);
const LONG_RUNNING = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
const DIGEST = /@sha256:[0-9a-f]{64}$/;
const PLACEHOLDER_DIGEST = /@sha256:0{64}$/;

function podSpecOf(o) {
  if (o.kind === 'CronJob') return o.spec?.jobTemplate?.spec?.template?.spec;
  return o.spec?.template?.spec;
}
function podLabelsOf(o) {
  if (o.kind === 'CronJob') return o.spec?.jobTemplate?.spec?.template?.metadata?.labels || {};
  return o.spec?.template?.metadata?.labels || {};
}

function imageProblems(image) {
  if (!image) return ['image missing'];
  if (image.includes('@sha256:')) return DIGEST.test(image) ? [] : [`image ${image} has a malformed digest`];
  const last = image.split('/').pop();
  if (!last.includes(':')) return [`image ${image} has no tag`];
  if (last.endsWith(':latest')) return [`image ${image} uses the tag latest`];
  return [];
}

// ---- cantdo binaries and their options -------------------------------------

// The binary a container runs: its command, or the first cantdo-* word of
// a `/bin/sh -c` script.
function binaryOf(c) {
  const cmd = c.command || [];
  if (!cmd.length) return null;
  const first = path.basename(cmd[0]);
  if (first.startsWith('cantdo-')) return first;
  if (/^(ba)?sh$/.test(first)) {
    const m = /(?:^|[\s;&|(])(cantdo-[a-z-]+)/.exec(cmd.slice(1).join(' '));
    return m ? m[1] : null;
  }
  return null;
}

const helpCache = new Map();
// {options: Set of CANTDO_* names, required: Set, defaults: Map name -> default text}
// from `<binary> --help`, or null if the binary is not in the build.
function binaryOptions(binDir, binary) {
  if (helpCache.has(binary)) return helpCache.get(binary);
  const stem = binary.replace(/^cantdo-/, '');
  const candidates = [path.join(binDir, 'services', stem, binary), path.join(binDir, 'tools', stem, binary)];
  const file = candidates.find(f => fs.existsSync(f));
  let result = null;
  if (file) {
    const text = execFileSync(file, ['--help'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    // One block per option: its "  --name" line and the indented lines
    // boost wraps its description onto (it breaks long words anywhere, so
    // continuation lines are joined without a space; a wrap at a space
    // keeps that space at the end of the line).
    const blocks = [];
    for (const line of text.split('\n')) {
      if (/^ {1,4}--[a-z]/.test(line)) blocks.push(line);
      else if (blocks.length && /^ {5,}\S/.test(line)) blocks[blocks.length - 1] += line.replace(/^\s+/, '');
    }
    const options = new Set(), required = new Set(), defaults = new Map();
    for (const b of blocks) {
      const flag = /^\s+--([a-z0-9-]+)/.exec(b)[1];
      const named = [...b.matchAll(/\[(CANTDO_[A-Z0-9_]+)\]/g)].map(m => m[1]);
      const env = named.length ? named : [`CANTDO_${flag.toUpperCase().replace(/-/g, '_')}`];
      if (flag === 'help') continue;
      for (const e of env) {
        options.add(e);
        if (b.includes('(required)')) required.add(e);
        const d = /^\s+--[a-z0-9-]+ arg \(=([^)]*)\)/.exec(b);
        if (d) defaults.set(e, d[1]);
      }
    }
    result = { file, options, required, defaults };
  }
  helpCache.set(binary, result);
  return result;
}

// Name -> value (string, or {from: ...} for references) of every variable
// and flag a container sets, ConfigMaps resolved from this render.
function containerSettings(c, configMaps) {
  const out = new Map(), missing = [];
  for (const src of c.envFrom || []) {
    if (src.configMapRef) {
      const cm = configMaps.get(src.configMapRef.name);
      if (!cm) { if (!src.configMapRef.optional) missing.push(`envFrom ConfigMap ${src.configMapRef.name} is not in this render`); continue; }
      for (const [k, v] of Object.entries(cm.data || {})) out.set((src.prefix || '') + k, String(v));
    }
    if (src.secretRef) missing.push(`envFrom Secret ${src.secretRef.name}: name each variable with a secretKeyRef instead`);
  }
  for (const e of c.env || []) {
    if (e.valueFrom) {
      const ref = e.valueFrom.secretKeyRef || e.valueFrom.configMapKeyRef;
      out.set(e.name, { from: ref ? (ref.optional ? 'optional' : 'ref') : 'field' });
    } else {
      out.set(e.name, e.value ?? '');
    }
  }
  for (const a of [...(c.command || []).slice(1), ...(c.args || [])]) {
    const m = /^--([a-z0-9-]+)=(.*)$/.exec(a);
    if (m) out.set(`CANTDO_${m[1].toUpperCase().replace(/-/g, '_')}`, m[2]);
  }
  return { settings: out, missing };
}

function optionProblems(c, where, opts) {
  const out = [];
  const binary = binaryOf(c);
  const { settings, missing } = containerSettings(c, opts.configMaps);
  for (const m of missing) out.push(`${where}: ${m}`);
  if (!binary || !opts.binDir) return out;
  const known = binaryOptions(opts.binDir, binary);
  if (!known) { out.push(`${where}: runs ${binary}, which is not in the build (${opts.binDir})`); return out; }
  if (!known.options.size) return out;  // a tool without CANTDO_* options (cantdo-grpcurl)
  for (const name of settings.keys()) {
    if (name.startsWith('CANTDO_') && !known.options.has(name)) out.push(`${where}: ${name} is not an option of ${binary}`);
  }
  for (const name of known.required) {
    const v = settings.get(name);
    const set = v !== undefined && (typeof v === 'string' ? v !== '' : v.from !== 'optional');
    if (!set) out.push(`${where}: required option ${name} of ${binary} is not set`);
  }
  return out;
}

// ---- containers ------------------------------------------------------------

function containerProblems(c, pod, kind, init, opts) {
  const out = [], where = `${init ? 'init container' : 'container'} ${c.name}`;
  for (const p of imageProblems(c.image)) out.push(`${where}: ${p}`);
  if (LONG_RUNNING.has(kind) && !init) {
    if (!c.livenessProbe) out.push(`${where}: no livenessProbe`);
    if (!c.readinessProbe) out.push(`${where}: no readinessProbe`);
    // Endpoints are removed asynchronously: keep serving while callers
    // and load balancers notice, then shut down gracefully.
    if (binaryOf(c) && !c.lifecycle?.preStop) out.push(`${where}: no lifecycle.preStop pause`);
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
  out.push(...optionProblems(c, where, opts));
  return out;
}

// ---- NetworkPolicy evaluation ------------------------------------------------

function matchSelector(sel, labels) {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels || {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions || []) {
    const v = labels[e.key];
    if (e.operator === 'In' && !e.values.includes(v)) return false;
    if (e.operator === 'NotIn' && e.values.includes(v)) return false;
    if (e.operator === 'Exists' && v === undefined) return false;
    if (e.operator === 'DoesNotExist' && v !== undefined) return false;
  }
  return true;
}
function selects(np, labels) { return matchSelector(np.spec?.podSelector || {}, labels); }

function ipToInt(ip) { return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0); }
function inCidr(ip, cidr) {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipToInt(base) / size) * size;
  const x = ipToInt(ip);
  return x >= start && x < start + size;
}

// A peer: {pod: {namespace, labels}} or {ip}. Does `peer` (a NetworkPolicy
// peer object) match it, from a policy in namespace `ns`?
function peerMatches(peer, target, ns) {
  if (peer.ipBlock) {
    return target.ip !== undefined && inCidr(target.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except || []).some(c => inCidr(target.ip, c));
  }
  if (!target.pod) return false;
  if (peer.namespaceSelector) {
    if (!matchSelector(peer.namespaceSelector, { 'kubernetes.io/metadata.name': target.pod.namespace })) return false;
  } else if (target.pod.namespace !== ns) {
    return false;
  }
  return matchSelector(peer.podSelector || {}, target.pod.labels);
}

function portMatches(rulePorts, port, protocol) {
  if (!rulePorts || !rulePorts.length) return true;
  return rulePorts.some(p => (p.protocol || 'TCP') === protocol &&
    (p.port === undefined || (p.endPort ? port >= p.port && port <= p.endPort : p.port === port)));
}

// Is traffic allowed in `direction` ('Egress' from `self` to `other`, or
// 'Ingress' to `self` from `other`)? `self` is a pod in namespace `ns`.
function allowed(nps, direction, selfLabels, other, port, protocol, ns) {
  const applicable = nps.filter(n => (n.spec?.policyTypes || ['Ingress']).includes(direction) && selects(n, selfLabels));
  if (!applicable.length) return true;  // not isolated
  const key = direction === 'Egress' ? 'egress' : 'ingress';
  const peerKey = direction === 'Egress' ? 'to' : 'from';
  return applicable.some(n => (n.spec[key] || []).some(rule =>
    portMatches(rule.ports, port, protocol) &&
    (!rule[peerKey] || !rule[peerKey].length || rule[peerKey].some(p => peerMatches(p, other, ns)))));
}

// Pods this render creates (workload templates, and CloudNativePG
// instances with their inherited labels), in namespace `ns`.
function podsOf(objs, ns) {
  const pods = [];
  for (const o of objs) {
    if (WORKLOADS.has(o.kind)) pods.push({ name: `${o.kind}/${o.metadata.name}`, namespace: o.metadata.namespace || ns, labels: podLabelsOf(o) });
    if (o.kind === 'Cluster' && o.apiVersion?.startsWith('postgresql.cnpg.io')) {
      pods.push({ name: `Cluster/${o.metadata.name}`, namespace: o.metadata.namespace || ns,
        labels: { 'cnpg.io/cluster': o.metadata.name, ...(o.spec?.inheritedMetadata?.labels || {}) } });
    }
  }
  return pods;
}

// The egress table: rows of {from, to, dev, prod} after the marker line.
function readEgressTable(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex(l => l.includes('<!-- egress-table -->'));
  if (start < 0) throw new Error(`${file}: no "<!-- egress-table -->" marker`);
  const rows = [];
  let header = null;
  for (const line of lines.slice(start + 1)) {
    if (!line.trim().startsWith('|')) { if (header) break; continue; }
    const cells = line.trim().replace(/^\||\|$/g, '').split('|').map(c => c.trim().replace(/`/g, ''));
    if (!header) { header = cells.map(c => c.toLowerCase()); continue; }
    if (cells.every(c => /^-+$/.test(c))) continue;
    const row = Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
    rows.push(row);
  }
  for (const col of ['from', 'to', 'dev', 'prod']) if (!header?.includes(col)) throw new Error(`${file}: egress table lacks a "${col}" column`);
  return rows;
}

// A representative public address for "internet" (TEST-NET-3, RFC 5737:
// outside every private range the policies exclude).
const PUBLIC_ADDRESS = '203.0.113.10';

function egressProblems(objs, rows, profile, ns) {
  const out = [], nps = objs.filter(o => o.kind === 'NetworkPolicy');
  const pods = podsOf(objs, ns);
  const bySelector = spec => {
    if (spec === '*') return pods.filter(p => p.namespace === ns && p.name !== undefined && !p.name.startsWith('Cluster/'));
    const m = /^(app|label):(.+)$/.exec(spec);
    if (!m) return null;
    const [k, v] = m[1] === 'app' ? ['app.kubernetes.io/name', m[2]] : m[2].split('=');
    return pods.filter(p => p.labels[k] === v);
  };
  for (const row of rows) {
    const cell = row[profile];
    if (!cell || /^(—|-|n\/a)$/i.test(cell)) continue;
    const sources = bySelector(row.from);
    const label = `egress table "${row.from} -> ${row.to}" (${cell})`;
    if (sources === null) { out.push(['NetworkPolicy', '-', `${label}: cannot read the from cell`]); continue; }
    if (!sources.length) { out.push(['NetworkPolicy', '-', `${label}: no pod in this render matches ${row.from}`]); continue; }
    const m = /^(app:[^:]+|label:[^:]+|dns|internet|cidr:[0-9./]+):([0-9]+)$/.exec(cell);
    if (!m) { out.push(['NetworkPolicy', '-', `${label}: cannot read the destination (want app:NAME:PORT, label:K=V:PORT, dns:53, internet:PORT or cidr:A.B.C.D/N:PORT)`]); continue; }
    const port = Number(m[2]);
    let targets;
    if (m[1] === 'dns') targets = [{ pod: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } }, protocol: 'UDP', external: true }];
    else if (m[1] === 'internet') targets = [{ ip: PUBLIC_ADDRESS }];
    else if (m[1].startsWith('cidr:')) targets = [{ ip: m[1].slice(5).split('/')[0] }];
    else {
      const dest = bySelector(m[1]);
      if (!dest.length) { out.push(['NetworkPolicy', '-', `${label}: no pod in this render matches ${m[1]}`]); continue; }
      targets = dest.map(d => ({ pod: d }));
    }
    for (const src of sources) {
      for (const t of targets) {
        const protocol = t.protocol || 'TCP';
        if (!allowed(nps, 'Egress', src.labels, t, port, protocol, ns)) {
          out.push(['NetworkPolicy', '-', `${label}: egress from ${src.name} to ${t.pod ? t.pod.name || `${t.pod.namespace}/${JSON.stringify(t.pod.labels)}` : t.ip} port ${port} is not allowed`]);
        }
        if (t.pod && !t.external && t.pod.namespace === ns &&
            !allowed(nps, 'Ingress', t.pod.labels, { pod: src }, port, protocol, ns)) {
          out.push(['NetworkPolicy', '-', `${label}: ingress to ${t.pod.name} from ${src.name} port ${port} is not allowed`]);
        }
      }
    }
  }
  return out;
}

// ---- the production database -------------------------------------------------

function quantityOfReplicas(objs, deploy) {
  const hpa = objs.find(o => o.kind === 'HorizontalPodAutoscaler' && o.spec?.scaleTargetRef?.kind === 'Deployment' &&
    o.spec.scaleTargetRef.name === deploy.metadata.name);
  return hpa ? hpa.spec.maxReplicas : (deploy.spec?.replicas ?? 1);
}

function databaseProblems(objs, opts) {
  const out = [];
  const clusters = objs.filter(o => o.kind === 'Cluster' && o.apiVersion?.startsWith('postgresql.cnpg.io'));
  if (!clusters.length) return [['Cluster', '-', 'prod has no CloudNativePG Cluster (synchronous replication and backups are checked on it)']];
  for (const cl of clusters) {
    const id = ['Cluster', cl.metadata.name], s = cl.spec || {};
    // A failover may promote only a standby that has every commit the
    // primary acknowledged, or a consumed one-shot grant can come back.
    const sync = s.postgresql?.synchronous;
    const legacy = Number.isInteger(s.minSyncReplicas) && s.minSyncReplicas >= 1;
    if (!(sync && sync.number >= 1 && (sync.dataDurability ?? 'required') === 'required') && !legacy) {
      out.push([...id, 'no synchronous replication: set spec.postgresql.synchronous {method: any, number: >= 1, dataDurability: required}']);
    }
    if (sync && s.instances <= sync.number) out.push([...id, `spec.instances (${s.instances}) must exceed synchronous.number (${sync.number})`]);
    const store = s.backup?.barmanObjectStore;
    const plugin = (s.plugins || []).some(p => p.isWALArchiver);
    if (!(store?.destinationPath) && !plugin) out.push([...id, 'no continuous backup: set spec.backup.barmanObjectStore (WAL archiving for point-in-time recovery)']);
    if (!s.backup?.retentionPolicy && !plugin) out.push([...id, 'spec.backup.retentionPolicy is not set']);
    if (!objs.some(o => o.kind === 'ScheduledBackup' && o.spec?.cluster?.name === cl.metadata.name)) {
      out.push([...id, 'no ScheduledBackup for this cluster (base backups for point-in-time recovery)']);
    }
    // Every pool at the HPA maxima, plus one surge pod per Deployment
    // during a rollout, plus one connection per Job, must fit.
    const maxConnections = Number(s.postgresql?.parameters?.max_connections ?? 100);
    const reserved = Number(s.postgresql?.parameters?.superuser_reserved_connections ?? 3);
    let demand = 0;
    const parts = [];
    for (const d of objs.filter(o => o.kind === 'Deployment')) {
      const c = (podSpecOf(d)?.containers || []).find(x => binaryOf(x));
      if (!c) continue;
      const { settings } = containerSettings(c, opts.configMaps);
      if (!settings.has('CANTDO_DB_DSN')) continue;
      let pool = settings.get('CANTDO_DB_POOL_SIZE');
      if (typeof pool !== 'string' && opts.binDir) pool = binaryOptions(opts.binDir, binaryOf(c))?.defaults.get('CANTDO_DB_POOL_SIZE');
      if (pool === undefined || Number.isNaN(Number(pool))) { out.push([...id, `cannot tell the pool size of Deployment ${d.metadata.name} (set CANTDO_DB_POOL_SIZE)`]); continue; }
      const pods = quantityOfReplicas(objs, d) + 1;
      demand += pods * Number(pool);
      parts.push(`${d.metadata.name} ${pods}x${pool}`);
    }
    demand += objs.filter(o => o.kind === 'Job' || o.kind === 'CronJob').length;
    if (demand + reserved > maxConnections) {
      out.push([...id, `max_connections ${maxConnections} < ${demand + reserved} needed (${parts.join(', ')}, jobs, ${reserved} reserved)`]);
    } else {
      notes.add(`${cl.metadata.name}: ${demand + reserved} of max_connections ${maxConnections} at the HPA maxima (${parts.join(', ')})`);
    }
  }
  return out;
}

// ---- monitoring ----------------------------------------------------------------

// Every ServiceMonitor scrapes a Service of this render by one of its port
// names, over HTTPS verified against a CA for a name the service's
// Certificate holds (never insecureSkipVerify: the metrics endpoint is the
// service's own TLS), and every Service labelled cantdo.dev/metrics=true is
// scraped by one.
function monitoringProblems(objs) {
  const out = [], monitors = objs.filter(o => o.kind === 'ServiceMonitor');
  if (!monitors.length) return out;
  const services = objs.filter(o => o.kind === 'Service');
  const certs = objs.filter(o => o.kind === 'Certificate');
  const matches = (labels, sel) => Object.entries(sel || {}).every(([k, v]) => labels?.[k] === v);
  const scraped = new Set();
  for (const m of monitors) {
    const id = ['ServiceMonitor', m.metadata.name];
    const sel = m.spec?.selector?.matchLabels;
    const targets = sel && Object.keys(sel).length ? services.filter(s => matches(s.metadata?.labels, sel)) : [];
    if (!targets.length) { out.push([...id, 'selects no Service of this render (spec.selector.matchLabels)']); continue; }
    for (const t of targets) scraped.add(t.metadata.name);
    for (const e of m.spec?.endpoints || []) {
      for (const t of targets) {
        if (!(t.spec?.ports || []).some(p => p.name === e.port)) out.push([...id, `endpoint port "${e.port}" is not a port name of Service ${t.metadata.name}`]);
      }
      const tls = e.tlsConfig || {};
      if (e.scheme !== 'https') out.push([...id, 'endpoint must scrape over https (the metrics endpoint serves the service\'s own TLS)']);
      if (tls.insecureSkipVerify) out.push([...id, 'endpoint must verify the service\'s certificate (no insecureSkipVerify)']);
      if (!tls.ca) out.push([...id, 'endpoint needs tlsConfig.ca (the deployment CA bundle)']);
      if (!tls.serverName) out.push([...id, 'endpoint needs tlsConfig.serverName (a DNS name of the service\'s certificate)']);
      else if (certs.length && !certs.some(c => (c.spec?.dnsNames || []).includes(tls.serverName))) {
        out.push([...id, `tlsConfig.serverName ${tls.serverName} is a DNS name of no Certificate in this render`]);
      }
    }
  }
  for (const s of services) {
    if (s.metadata?.labels?.['cantdo.dev/metrics'] === 'true' && !scraped.has(s.metadata.name)) {
      out.push(['Service', s.metadata.name, 'labelled cantdo.dev/metrics=true but no ServiceMonitor scrapes it']);
    }
  }
  return out;
}

// ---- project checks ----------------------------------------------------------

const HASHED = /-[a-z0-9]{10}$/;

function projectChecks(objs, opts) {
  const out = [];
  const nps = objs.filter(o => o.kind === 'NetworkPolicy');
  const defaultDeny = nps.some(n => Object.keys(n.spec?.podSelector || {}).length === 0 &&
    ['Ingress', 'Egress'].every(t => (n.spec.policyTypes || []).includes(t)) && !n.spec.ingress && !n.spec.egress);
  // Needed wherever this render runs pods (deploy/k8s/pki runs none).
  if (!defaultDeny && objs.some(o => WORKLOADS.has(o.kind))) out.push(['NetworkPolicy', '-', 'no default-deny policy (empty podSelector, Ingress and Egress, no rules)']);
  const configMaps = new Map(objs.filter(o => o.kind === 'ConfigMap').map(o => [o.metadata.name, o]));
  const copts = { ...opts, configMaps };
  for (const o of objs) {
    const id = [o.kind, o.metadata?.name];
    if (JSON.stringify(o).includes('set-by-overlay')) out.push([...id, 'a value set-by-overlay was not replaced by the overlay']);
    if (o.kind === 'Secret' && opts.profile !== 'dev') out.push([...id, 'Secret committed in this overlay (create Secrets outside git)']);
    if (o.kind === 'Secret' && opts.profile === 'dev' && o.metadata?.labels?.['cantdo.dev/dev-only'] !== 'true') out.push([...id, 'Secret without the label cantdo.dev/dev-only']);
    if (o.kind === 'Cluster' && o.spec?.imageName) for (const p of imageProblems(o.spec.imageName)) out.push([...id, p]);
    // A Job's pod template is immutable: applying a new image over a
    // finished Job fails until someone deletes it. Ship a suspended
    // CronJob as the template and create each run from it.
    if (o.kind === 'Job') out.push([...id, 'a Job in the manifests cannot take a new image without being deleted by hand (ship a suspended CronJob and `kubectl create job --from=cronjob/...`)']);
    if (WORKLOADS.has(o.kind)) {
      const pod = podSpecOf(o);
      if (!pod) { out.push([...id, 'no pod template']); continue; }
      if (pod.automountServiceAccountToken !== false) out.push([...id, 'automountServiceAccountToken must be false']);
      if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push([...id, 'host namespaces']);
      for (const c of pod.containers || []) for (const p of containerProblems(c, pod, o.kind, false, copts)) out.push([...id, p]);
      for (const c of pod.initContainers || []) for (const p of containerProblems(c, pod, o.kind, true, copts)) out.push([...id, p]);
      // A ConfigMap that changes under the same name rolls no pod: every
      // ConfigMap of this render that a workload uses must be generated
      // (kustomize names it by a hash of its content).
      const used = new Set();
      for (const c of [...(pod.containers || []), ...(pod.initContainers || [])]) {
        for (const s of c.envFrom || []) if (s.configMapRef) used.add(s.configMapRef.name);
        for (const e of c.env || []) if (e.valueFrom?.configMapKeyRef) used.add(e.valueFrom.configMapKeyRef.name);
      }
      for (const v of pod.volumes || []) {
        if (v.configMap) used.add(v.configMap.name);
        for (const s of v.projected?.sources || []) if (s.configMap) used.add(s.configMap.name);
      }
      for (const name of used) {
        if (configMaps.has(name) && !HASHED.test(name)) out.push([...id, `ConfigMap ${name} is not generated with a content hash (configMapGenerator), so changing it rolls no pod`]);
      }
    }
    if (o.kind === 'Service') {
      const sel = o.spec?.selector;
      if (!sel || !Object.keys(sel).length) { out.push([...id, 'Service without a selector']); continue; }
      const own = nps.some(n => Object.keys(n.spec?.podSelector || {}).length > 0 && selects(n, sel) &&
        (n.spec.policyTypes || []).includes('Ingress'));
      if (!own) out.push([...id, 'no NetworkPolicy (with a non-empty podSelector and Ingress rules) selects this Service\'s pods']);
    }
  }
  if (opts.profile !== 'any') {
    // Whoever may read Secrets or create Certificates in the application
    // namespace must not be able to mint service identities: no CA key and
    // no CA-backed Issuer here (deploy/k8s/pki keeps them elsewhere).
    for (const o of objs) {
      if (o.kind === 'Certificate' && o.spec?.isCA) out.push([o.kind, o.metadata.name, 'a CA certificate in the application namespace (its key would live here): issue from deploy/k8s/pki']);
      if (o.kind === 'Issuer' && (o.spec?.ca || o.spec?.selfSigned)) out.push([o.kind, o.metadata.name, 'a CA or self-signed Issuer in the application namespace: use the ClusterIssuer of deploy/k8s/pki']);
    }
  }
  out.push(...monitoringProblems(objs));
  if (opts.profile === 'prod') {
    out.push(...databaseProblems(objs, copts));
    for (const [name, cm] of configMaps) {
      if (/spiffe:\/\/cantdo\/[a-z-]+\/demo-/.test(JSON.stringify(cm.data || {}))) out.push(['ConfigMap', name, 'a demo principal (spiffe://cantdo/.../demo-...) is a caller in prod']);
    }
  }
  if (opts.egressRows && opts.profile !== 'any') {
    const ns = objs.find(o => o.kind === 'Namespace')?.metadata?.name || objs.find(o => o.metadata?.namespace)?.metadata?.namespace || 'default';
    out.push(...egressProblems(objs, opts.egressRows, opts.profile, ns));
  }
  return out;
}

// ---- Dockerfiles ---------------------------------------------------------------

function dockerfileProblems(file) {
  const out = [], stages = new Set(), args = new Map();
  const text = fs.readFileSync(file, 'utf8').replace(/\\\n/g, ' ');
  for (const line of text.split('\n')) {
    const arg = /^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)/.exec(line);
    if (arg) args.set(arg[1], arg[2]);
    const m = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!m) continue;
    const image = m[1].replace(/^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/, (_, n) => args.get(n) ?? `$${n}`);
    if (!stages.has(image)) {
      if (!DIGEST.test(image)) out.push(`FROM ${m[1]}: base image not pinned by digest (name:tag@sha256:<64 hex>)`);
      else if (PLACEHOLDER_DIGEST.test(image)) notes.add(`${path.basename(file)}: ${image.split('@')[0]} carries the placeholder digest sha256:000…; replace it before building (docs/deploy.md, "Images")`);
    }
    if (m[2]) stages.add(m[2]);
  }
  if (!stages.size && !out.length && !/^\s*FROM/im.test(text)) out.push('no FROM line');
  return out;
}

// ---- main --------------------------------------------------------------------

let binDir = null, egressRows = null, failedFiles = 0;
const inputs = [];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('--bin-dir=')) binDir = arg.slice(10);
  else if (arg.startsWith('--egress-table=')) egressRows = readEgressTable(arg.slice(15));
  else inputs.push(arg);
}
for (const arg of inputs) {
  if (arg.startsWith('--dockerfile=')) {
    const file = arg.slice(13), mine = dockerfileProblems(file);
    for (const p of mine) problems.push(`${file}: ${p}`);
    if (mine.length) failedFiles++;
    console.log(`${mine.length ? 'FAIL' : 'ok  '} ${file}: ${mine.length} problems`);
    continue;
  }
  const m = /^(any|dev|prod):(.*)$/.exec(arg);
  const profile = m ? m[1] : 'any', file = m ? m[2] : arg;
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
  for (const [k, n, p] of projectChecks(objs, { profile, binDir, egressRows })) problems.push(`${file}: ${k}/${n}: ${p}`);
  const mine = problems.length - before;
  if (mine) failedFiles++;
  console.log(`${mine ? 'FAIL' : 'ok  '} ${file} (${profile}): ${objs.length} objects (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(', ')}), ${mine} problems`);
}
if (!binDir) notes.add('no --bin-dir: CANTDO_* variables were not checked against the binaries\' options');
for (const n of notes) console.log(`note: ${n}`);
for (const p of problems) console.log(`  ${p}`);
process.exit(failedFiles ? 1 : 0);
