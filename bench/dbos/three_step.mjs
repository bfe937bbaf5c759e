// The baseline of bench/engine_three_step: DBOS Transact running the same
// workflow (three no-op steps) durably in PostgreSQL, on the same server.
//
// K concurrent callers each run the workflow and wait for its result, back to
// back, for --duration seconds after --warmup, --runs times per K. The
// workflow is invoked directly (DBOS runs it in this process, checkpointing
// each step in its system database), DBOS's usual and fastest path.
//
// Commits per workflow: pg_stat_database.xact_commit of the system database
// over the whole run (warm-up included, sampled after --settle quiet seconds
// on each side: an idle backend may hold its counts back for 10 s) over the
// workflows completed. The WAL positions around the run let bench/driver.py
// count the write transactions exactly (COMMIT records), as for ours.
//
//   node three_step.mjs --url postgresql://.../cantdo_bench_dbos \
//        --inflight 1,8,32 --duration 10 --warmup 2 --runs 3
// Output: one JSON document on stdout; progress on stderr.
import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';

const opts = { inflight: [1, 8, 32], duration: 10, warmup: 2, runs: 3, settle: 11, url: '' };
for (let i = 2; i + 1 < process.argv.length; i += 2) {
  const [k, v] = [process.argv[i], process.argv[i + 1]];
  if (k === '--url') opts.url = v;
  else if (k === '--inflight') opts.inflight = v.split(',').map(Number);
  else if (k === '--duration') opts.duration = Number(v);
  else if (k === '--warmup') opts.warmup = Number(v);
  else if (k === '--runs') opts.runs = Number(v);
  else if (k === '--settle') opts.settle = Number(v);
  else { console.error(`three_step.mjs: unknown option ${k}`); process.exit(2); }
}
if (!opts.url) { console.error('three_step.mjs: --url is required'); process.exit(2); }

const noop = DBOS.registerStep(async (x) => x, { name: 'noop' });
const threeStep = DBOS.registerWorkflow(async (x) => {
  const a = await noop(x);
  const b = await noop(a);
  return await noop(b);
}, { name: 'three_step' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const percentile = (v, p) => {
  if (v.length === 0) return 0;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
};
const median = (v) => percentile(v, 0.5);

DBOS.setConfig({ name: 'cantdo-bench', systemDatabaseUrl: opts.url, logLevel: 'warn' });
await DBOS.launch();
const stats = new pg.Client({ connectionString: opts.url });
await stats.connect();
const walLsn = async () => (await stats.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
const commits = async () =>
  Number((await stats.query('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0].xact_commit);

const results = [];
let seq = 0;
for (const k of opts.inflight) {
  const runs = [];
  for (let run = 0; run < opts.runs; run++) {
    await sleep(opts.settle * 1000);
    const c0 = await commits();
    const wal0 = await walLsn();
    let measuring = false, stop = false, completed = 0;
    const lat = [];
    const callers = Array.from({ length: k }, async () => {
      while (!stop) {
        const counted = measuring;
        const t0 = performance.now();
        await threeStep(seq++);
        completed++;
        if (counted) lat.push(performance.now() - t0);
      }
    });
    await sleep(opts.warmup * 1000);
    measuring = true;
    const start = performance.now();
    await sleep(opts.duration * 1000);
    measuring = false;
    const seconds = (performance.now() - start) / 1000;
    stop = true;
    await Promise.all(callers);
    const wal1 = await walLsn();
    await sleep(opts.settle * 1000);
    const c1 = await commits();
    const r = {
      inflight: k, seconds, workflows: lat.length, workflows_per_s: lat.length / seconds,
      p50_ms: percentile(lat, 0.5), p99_ms: percentile(lat, 0.99),
      commits_per_workflow: completed ? (c1 - c0 - 3) / completed : 0,  // minus the first sample, two WAL reads
      completed, wal_start: wal0, wal_end: wal1,
    };
    console.error(`dbos_three_step: inflight=${k} run=${run + 1} workflows/s=${r.workflows_per_s.toFixed(1)} ` +
                  `p50=${r.p50_ms.toFixed(2)}ms p99=${r.p99_ms.toFixed(2)}ms commits/workflow=${r.commits_per_workflow.toFixed(2)}`);
    runs.push(r);
  }
  const m = (f) => median(runs.map((r) => r[f]));
  results.push({ inflight: k, workflows_per_s: m('workflows_per_s'), p50_ms: m('p50_ms'), p99_ms: m('p99_ms'),
                 commits_per_workflow: m('commits_per_workflow'), runs });
}
await stats.end();
await DBOS.shutdown();
const version = (await import('@dbos-inc/dbos-sdk/package.json', { with: { type: 'json' } }).catch(() => null))?.default?.version;
console.log(JSON.stringify({ benchmark: 'dbos_three_step', dbos_version: version ?? '5.3.0', ...opts, results }, null, 2));
