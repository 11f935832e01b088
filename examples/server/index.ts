/**
 * The reference app (`npm start`). For now it runs the engine on the embedded default — a SQLite
 * file under ./data/ — and answers a health check; the REST router, the Socket.io binding and the
 * browser page are mounted here as they land.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { ChatEngine, configFromEnv } from 'parley';
import { SqliteStorage } from 'parley/sqlite';

const config = configFromEnv();
mkdirSync('data', { recursive: true });
const engine = new ChatEngine({ storage: new SqliteStorage({ filename: 'data/parley.db' }), ...config });
await engine.init();

const server = createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ name: 'parley', status: 'ok', storage: engine.storage.name }));
});
server.listen(config.port, () => console.log(`parley reference app on http://localhost:${config.port} (SQLite: data/parley.db)`));

async function shutdown() {
  server.close();
  await engine.close();
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
