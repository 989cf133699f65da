// Prints the WardCRF (SQLite, PostgreSQL) and PouchDB sync figures side by side, with ratios.
// Usage: node compare.js target/bench/sync-wardcrf.json target/bench/sync-pouchdb.json
'use strict';
const fs = require('fs');

const [wardPath, pouchPath] = process.argv.slice(2);
if (!wardPath || !pouchPath) {
  console.error('usage: node compare.js sync-wardcrf.json sync-pouchdb.json');
  process.exit(2);
}
const ward = JSON.parse(fs.readFileSync(wardPath, 'utf8'));
const pouch = JSON.parse(fs.readFileSync(pouchPath, 'utf8'));
const sqlite = ward.backends.sqlite;
const pg = ward.backends.postgres;
if (!sqlite) throw new Error(`${wardPath} has no SQLite figures`);

const find = (runs, name, cases) => (runs || []).find((r) => r.name === name && r.cases === cases);
const secs = (r) => (r ? (r.seconds < 1 ? `${(r.seconds * 1000).toFixed(1)} ms` : `${r.seconds.toFixed(2)} s`) : 'n/a');
const bytes = (r) => {
  if (!r) return 'n/a';
  const b = r.bytes_total;
  if (b >= 1e6) return `${(b / 1e6).toFixed(2)} MB`;
  if (b >= 1e4) return `${(b / 1e3).toFixed(1)} KB`;
  return `${b} B`;
};
const rate = (r) => (r && r.changed ? `${r.cases_per_s.toFixed(0)}/s` : '');
const ratio = (a, b) => (a && b && b > 0 ? a / b : NaN);
const fmtRatio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');

const sizes = [...new Set(sqlite.runs.map((r) => r.cases))].sort((a, b) => a - b);
const names = ['initial', 'incremental_1', 'incremental_10pct', 'noop', 'new_tablet_pull'];
const cols = [
  ['scenario', 20], ['cases', 6], ['changed', 7],
  ['SQLite time', 11], ['rate', 7], ['bytes', 9],
  ['PostgreSQL time', 15], ['rate', 7], ['bytes', 9],
  ['PouchDB time', 12], ['rate', 7], ['bytes', 9],
  ['speed SQLite/Pouch', 18], ['bytes Pouch/SQLite', 18],
];
const line = (cells) => cells.map((c, i) => String(c).padStart(cols[i][1])).join('  ');
console.log(line(cols.map((c) => c[0])));
console.log(line(cols.map((c) => '-'.repeat(c[1]))));
for (const n of sizes) {
  for (const name of names) {
    const s = find(sqlite.runs, name, n);
    const p = pg && find(pg.runs, name, n);
    const q = find(pouch.runs, name, n);
    if (!s) continue;
    console.log(line([
      name, n, s.changed,
      secs(s), rate(s), bytes(s),
      secs(p), rate(p), bytes(p),
      secs(q), rate(q), bytes(q),
      fmtRatio(ratio(q && q.seconds, s.seconds)),
      fmtRatio(ratio(q && q.bytes_total, s.bytes_total)),
    ]));
  }
}
console.log('(speed SQLite/Pouch = PouchDB time ÷ WardCRF SQLite time: above 1 means WardCRF is faster; ' +
  'bytes Pouch/SQLite = PouchDB bytes ÷ WardCRF bytes: above 1 means WardCRF sends fewer; bytes are both ' +
  'directions on the wire, HTTP headers included)');
console.log();
for (const [label, b] of [['SQLite', sqlite], ['PostgreSQL', pg]]) {
  if (!b || !b.concurrent) continue;
  const c = b.concurrent;
  console.log(`concurrent, WardCRF ${label}: ${c.devices} devices at ${c.sites} sites × ${c.rounds} rounds ` +
    `(edit 1 case, sync): ${c.syncs_per_s.toFixed(1)} syncs/s, latency p50 ${c.p50_ms.toFixed(1)} ms, ` +
    `p99 ${c.p99_ms.toFixed(1)} ms, max ${c.max_ms.toFixed(1)} ms; the server's own time per exchange ` +
    `(its histogram): p50 ≤ ${c.server_exchange_p50_ms_at_most} ms, p99 ≤ ${c.server_exchange_p99_ms_at_most} ms`);
  const serverMet = c.server_exchange_p99_ms_at_most !== null && c.server_exchange_p99_ms_at_most <= 1000;
  console.log(`target (storm on ${label}: p99 ≤ 1 s): the server's own p99 ${serverMet ? 'met' : 'NOT MET'}; ` +
    `as the devices saw it (their own work included, on the same 2 cores) ${c.p99_ms <= 1000 ? 'met' : 'NOT MET'}`);
}
const big = sizes[sizes.length - 1];
const s = find(sqlite.runs, 'initial', big);
const q = find(pouch.runs, 'initial', big);
if (s && q) {
  const speed = q.seconds / s.seconds;
  const fewer = s.bytes_total < q.bytes_total;
  const met = speed >= 2 && fewer;
  console.log();
  console.log(`target (initial sync of ${big} cases, WardCRF on SQLite vs PouchDB): at least 2× faster (aim 3×) ` +
    `with fewer bytes — ${speed.toFixed(2)}× ${speed >= 1 ? 'faster' : 'as fast'}, ` +
    `${(s.bytes_total / q.bytes_total).toFixed(2)}× the bytes: ${met ? 'met' : 'NOT MET'}`);
}
const sp = find(sqlite.runs, 'new_tablet_pull', big);
const qp = find(pouch.runs, 'new_tablet_pull', big);
if (sp && qp) {
  const speed = qp.seconds / sp.seconds;
  console.log(`target (new tablet pulling ${big} cases, WardCRF on SQLite vs PouchDB): at least 3× faster — ` +
    `${speed.toFixed(2)}× ${speed >= 1 ? 'faster' : 'as fast'}, ` +
    `${(sp.bytes_total / qp.bytes_total).toFixed(2)}× the bytes: ${speed >= 3 ? 'met' : 'NOT MET'}`);
}
