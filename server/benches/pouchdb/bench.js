// PouchDB side of the WardCRF sync benchmark.
//
// Replicates the cases the Rust benchmark generated (target/bench/sync-dataset.json: the same
// values, the same edits) from a local on-disk PouchDB (leveldb adapter, as a tablet app would)
// to express-pouchdb (pouchdb-server's core, its own process, leveldb) on loopback, through a
// TCP proxy counting bytes in both directions, like the Rust benchmark's. Each replication is
// one-shot `PouchDB.replicate(local, remote)` with PouchDB's defaults (as a "sync now" button).
// Runs per data set: initial, incremental after 1 edited case, after 10 % edited, and no-op.
// Writes target/bench/sync-pouchdb.json.
//
// Usage: node bench.js [--dataset FILE] [--out FILE]
'use strict';
const fs = require('fs');
const os = require('os');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const PouchDB = require('pouchdb');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const targetDir = path.resolve(__dirname, '../../../target/bench');
const datasetPath = arg('--dataset', path.join(targetDir, 'sync-dataset.json'));
const outPath = arg('--out', path.join(targetDir, 'sync-pouchdb.json'));

function startServer(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    child.on('exit', (code) => reject(new Error(`pouchdb server exited (${code}) before listening`)));
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening on (http:\/\/\S+)/);
      if (m) {
        child.removeAllListeners('exit');
        resolve({ child, url: m[1] });
      }
    });
  });
}

// A TCP proxy on loopback counting bytes in both directions.
function startProxy(targetUrl) {
  const target = new URL(targetUrl);
  const counts = { up: 0, down: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (d) => { counts.up += d.length; });
    upstream.on('data', (d) => { counts.down += d.length; });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, counts, server });
    });
  });
}

function toDoc(c) {
  return { _id: c.case_id, form_id: c.form_id, status: c.status, values: c.values };
}

// Replicates `source` to `target` (a database or a URL each), timed, bytes counted.
async function timedReplication(name, source, target, proxy, cases, changed) {
  const [u0, d0] = [proxy.counts.up, proxy.counts.down];
  const t = process.hrtime.bigint();
  const result = await PouchDB.replicate(source, target);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  const up = proxy.counts.up - u0;
  const down = proxy.counts.down - d0;
  if (!result.ok || result.docs_written !== changed) {
    throw new Error(`${name}: replicated ${result.docs_written} documents, expected ${changed}`);
  }
  const run = {
    name, cases, changed, seconds,
    cases_per_s: changed / Math.max(seconds, 1e-9),
    bytes_up: up, bytes_down: down, bytes_total: up + down,
    bytes_per_changed_case: (up + down) / Math.max(changed, 1),
    docs_read: result.docs_read, docs_written: result.docs_written,
  };
  console.log(
    `  ${name.padEnd(18)} ${String(cases).padStart(6)} cases ${String(changed).padStart(6)} changed ` +
    `${seconds.toFixed(3).padStart(9)} s ${run.cases_per_s.toFixed(0).padStart(9)} cases/s ` +
    `${String(up).padStart(12)} B up ${String(down).padStart(12)} B down ` +
    `${run.bytes_per_changed_case.toFixed(0).padStart(9)} B/changed case`);
  return run;
}

async function edit(local, set, edits, field) {
  const ids = edits.map((e) => set.cases[e.index].case_id);
  const { rows } = await local.allDocs({ keys: ids, include_docs: true });
  const docs = rows.map((r, i) => {
    const doc = r.doc;
    doc.values[field] = edits[i].value;
    return doc;
  });
  const res = await local.bulkDocs(docs);
  const failed = res.filter((r) => r.error);
  if (failed.length) throw new Error(`edit failed: ${JSON.stringify(failed[0])}`);
}

async function main() {
  const dataset = JSON.parse(fs.readFileSync(datasetPath, 'utf8'));
  const field = dataset.edit_field;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wardcrf-bench-pouchdb-'));
  const versions = {
    node: process.version,
    pouchdb: require('pouchdb/package.json').version,
    'express-pouchdb': require('express-pouchdb/package.json').version,
    express: require('express/package.json').version,
  };
  console.log(`PouchDB sync benchmark: PouchDB ${versions.pouchdb} (leveldb) → express-pouchdb ` +
    `${versions['express-pouchdb']} (leveldb) on loopback, node ${versions.node}; bytes counted by a TCP proxy`);
  const { child, url } = await startServer(path.join(work, 'server'));
  const proxy = await startProxy(url);
  const runs = [];
  try {
    for (const [i, set] of dataset.sets.entries()) {
      const n = set.cases.length;
      console.log(`- local database of ${n} cases`);
      const local = new PouchDB(path.join(work, `local-${i}`));
      const t = Date.now();
      for (let k = 0; k < n; k += 500) {
        await local.bulkDocs(set.cases.slice(k, k + 500).map(toDoc));
      }
      const json = set.cases.reduce((s, c) => s + JSON.stringify(toDoc(c)).length, 0) / n;
      console.log(`  built in ${((Date.now() - t) / 1000).toFixed(1)} s (not timed); mean document ${json.toFixed(0)} B of JSON`);
      const remote = `${proxy.url}/bench-${i}`;
      runs.push(await timedReplication('initial', local, remote, proxy, n, n));
      const info = await (await fetch(`${url}/bench-${i}`)).json();
      if (info.doc_count !== n) throw new Error(`server holds ${info.doc_count} documents, not ${n}`);
      await edit(local, set, set.edit_1, field);
      runs.push(await timedReplication('incremental_1', local, remote, proxy, n, set.edit_1.length));
      await edit(local, set, set.edit_10pct, field);
      runs.push(await timedReplication('incremental_10pct', local, remote, proxy, n, set.edit_10pct.length));
      runs.push(await timedReplication('noop', local, remote, proxy, n, 0));
      await local.close();
      // A new tablet (a replaced device): the server's documents to a fresh local database.
      const fresh = new PouchDB(path.join(work, `fresh-${i}`));
      runs.push(await timedReplication('new_tablet_pull', remote, fresh, proxy, n, n));
      await fresh.close();
    }
  } finally {
    child.kill('SIGTERM');
    proxy.server.close();
  }
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  fs.writeFileSync(outPath, JSON.stringify({ tool: 'pouchdb', versions, runs }, null, 2));
  console.log(`figures written to ${outPath}`);
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(`error: ${e.stack || e}`);
  process.exit(1);
});
