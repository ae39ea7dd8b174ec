// pg-boss 10 'stately' head-of-line check: key A active, a second A queued, then B queued.
// Can a worker fetch B while A is still active?
import PgBoss from 'pg-boss';
import pg from 'pg';
const url = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const c = new pg.Client({ connectionString: url }); await c.connect();
await c.query('drop schema if exists pgboss_hol cascade'); await c.end();
const boss = new PgBoss({ connectionString: url, schema: 'pgboss_hol', supervise: false, schedule: false });
await boss.start();
await boss.createQueue('q', { policy: 'stately' });
const log = (...a) => console.log(...a);
await boss.send('q', { n: 'A1' }, { singletonKey: 'A' });
const [a1] = await boss.fetch('q'); log('fetch 1 ->', a1?.data);
log('send A2 ->', !!(await boss.send('q', { n: 'A2' }, { singletonKey: 'A' })));
log('send A3 (collapsed?) ->', !!(await boss.send('q', { n: 'A3' }, { singletonKey: 'A' })));
log('send B1 ->', !!(await boss.send('q', { n: 'B1' }, { singletonKey: 'B' })));
for (let i = 0; i < 3; i++) log(`fetch while A1 active #${i + 1} ->`, (await boss.fetch('q')).map((j) => j.data.n));
log('fetch batchSize 5 while A1 active ->', (await boss.fetch('q', { batchSize: 5 })).map((j) => j.data.n));
await boss.complete('q', a1.id);
log('after A1 completes, fetch ->', (await boss.fetch('q')).map((j) => j.data.n));
log('fetch ->', (await boss.fetch('q')).map((j) => j.data.n));
await boss.stop({ graceful: false, wait: true });
