// pouchdb-server's core: express-pouchdb over on-disk (leveldb) PouchDB databases, on loopback.
// Usage: node server.js DATA_DIR  → prints "listening on http://127.0.0.1:PORT" once ready.
'use strict';
const path = require('path');
const fs = require('fs');
const express = require('express');
const PouchDB = require('pouchdb');

const dataDir = process.argv[2];
if (!dataDir) {
  console.error('usage: node server.js DATA_DIR');
  process.exit(2);
}
fs.mkdirSync(dataDir, { recursive: true });
const ServerPouch = PouchDB.defaults({ prefix: path.join(dataDir, path.sep) });
const app = express();
// The routes PouchDB replication needs (pouchdb-server's "minimumForPouchDB" mode), config kept
// in memory so nothing is written outside DATA_DIR.
app.use(require('express-pouchdb')(ServerPouch, {
  mode: 'minimumForPouchDB',
  inMemoryConfig: true,
  logPath: path.join(dataDir, 'log.txt'),
}));
const server = app.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
