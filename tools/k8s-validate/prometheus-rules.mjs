// The alert rules of a PrometheusRule as a Prometheus rules file, and the
// checks that keep them honest (tests/prometheus/run).
//
//   node prometheus-rules.mjs RULE.yaml > cantdo.rules.yml
//   node prometheus-rules.mjs RULE.yaml --tests=A.test.yml,... --runbooks=docs/operations.md
//
// The first form prints spec of the PrometheusRule in RULE.yaml (its
// `groups`), which is exactly a rules file for `promtool check rules` and
// `promtool test rules` (and for a Prometheus run without the operator).
// The second prints nothing and exits 1 unless every alert
//   - is shown firing by some test of the `promtool test rules` files
//     (an alert_rule_test with non-empty exp_alerts) and shown not firing
//     by another (exp_alerts empty), and no test names an unknown alert;
//   - has annotations summary, description and runbook_url, the last
//     pointing at docs/operations.md#<alert name in lower case>, and that
//     file has a heading "#### <alert name>" (the anchor GitHub derives);
//   - has a severity label of critical or warning.
import fs from 'node:fs';
import YAML from 'yaml';

const die = msg => { console.error(`prometheus-rules: ${msg}`); process.exit(1); };
const [file, ...flags] = process.argv.slice(2);
if (!file) die('usage: prometheus-rules.mjs RULE.yaml [--tests=FILE,...] [--runbooks=FILE]');
const opt = name => flags.find(f => f.startsWith(`--${name}=`))?.slice(name.length + 3);

const rules = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map(d => d.toJS()).filter(o => o?.kind === 'PrometheusRule');
if (rules.length !== 1) die(`${file}: expected one PrometheusRule, found ${rules.length}`);
const spec = rules[0].spec;
if (!Array.isArray(spec?.groups)) die(`${file}: PrometheusRule without spec.groups`);

const testFiles = opt('tests');
if (testFiles === undefined) {
  process.stdout.write(YAML.stringify({ groups: spec.groups }, { lineWidth: 0 }));
  process.exit(0);
}

const problems = [];
const alerts = spec.groups.flatMap(g => g.rules || []).filter(r => r.alert);
const fires = new Set(), quiet = new Set();
for (const f of testFiles.split(',').filter(Boolean)) {
  const doc = YAML.parse(fs.readFileSync(f, 'utf8'));
  for (const t of doc.tests || []) {
    for (const a of t.alert_rule_test || []) {
      if (!alerts.some(r => r.alert === a.alertname)) problems.push(`${f}: test "${t.name}" names an unknown alert ${a.alertname}`);
      ((a.exp_alerts || []).length ? fires : quiet).add(a.alertname);
    }
  }
}
const runbooks = opt('runbooks') ? fs.readFileSync(opt('runbooks'), 'utf8') : '';
for (const r of alerts) {
  const a = r.alert;
  if (!fires.has(a)) problems.push(`${a}: no test shows it firing (an alert_rule_test with exp_alerts)`);
  if (!quiet.has(a)) problems.push(`${a}: no test shows it quiet (an alert_rule_test with exp_alerts: [])`);
  for (const k of ['summary', 'description', 'runbook_url']) if (!r.annotations?.[k]) problems.push(`${a}: no ${k} annotation`);
  const anchor = `docs/operations.md#${a.toLowerCase()}`;
  if (r.annotations?.runbook_url !== anchor) problems.push(`${a}: runbook_url must be ${anchor}`);
  if (opt('runbooks') && !new RegExp(`^#### ${a}$`, 'm').test(runbooks)) problems.push(`${a}: no runbook heading "#### ${a}" in ${opt('runbooks')}`);
  if (!['critical', 'warning'].includes(r.labels?.severity)) problems.push(`${a}: severity must be critical or warning`);
}
if (problems.length) die(`\n  ${problems.join('\n  ')}`);
console.log(`prometheus-rules: ${alerts.length} alerts, each tested firing and quiet, each with its runbook`);
