// Health check of a nagaya container (Dockerfile HEALTHCHECK, docker-compose.yml).
// An API (NAGAYA_ROLE api or all) is healthy when GET /healthz answers 200 (Postgres and Redis
// up). A worker has no port: it is healthy when its node's heartbeat in Postgres is fresh.

const role = process.env.NAGAYA_ROLE || 'all';
const fail = (why) => {
  console.error(`unhealthy: ${why}`);
  process.exit(1);
};

if (role !== 'worker') {
  const port = process.env.PORT || '8080';
  const tls = Boolean(process.env.NAGAYA_TLS_CERT);
  // our own process on loopback: whether it answers, not whose certificate it shows
  require(tls ? 'node:https' : 'node:http')
    .get(`${tls ? 'https' : 'http'}://127.0.0.1:${port}/healthz`, { rejectUnauthorized: false, timeout: 4000 }, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => (r.statusCode === 200 ? process.exit(0) : fail(`/healthz ${r.statusCode} ${body}`)));
    })
    .on('timeout', () => fail('/healthz did not answer within 4 s'))
    .on('error', (e) => fail(e.message));
} else {
  const pg = require('pg');
  const node = process.env.NAGAYA_NODE_NAME || require('node:os').hostname().toLowerCase();
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 4000 });
  client
    .connect()
    .then(() => client.query('SELECT extract(epoch FROM now() - heartbeat_at) * 1000 AS age FROM node WHERE name = $1', [node]))
    .then(
      ({ rows }) => {
        const limit = Number(process.env.NAGAYA_NODE_OFFLINE_MS || 20000);
        if (!rows[0]) fail(`node ${node} has no heartbeat yet`);
        if (Number(rows[0].age) > limit) fail(`node ${node}'s last heartbeat is ${Math.round(rows[0].age)} ms old`);
        process.exit(0);
      },
      (e) => fail(e.message),
    );
}
