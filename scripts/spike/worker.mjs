// Child worker process: node worker.mjs <engine> <concurrency>
// Reports every handler start/end to the parent over IPC; uses Redis counters to detect
// overlapping runs of one key (INCR run:<key> > 1) and to read the key's add-version at start.
import IORedis from 'ioredis';
import { ENGINES, REDIS_URL } from './engines.mjs';

const [engineName, conc = '4'] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();
const redis = new IORedis(REDIS_URL);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const send = (m) => process.send?.({ pid: process.pid, ...m });

async function handler(data, meta) {
  const t = now();
  const { key, t0, ms = 0, kind } = data;
  if (kind !== 'hammer') {
    send({ ev: 'start', key, t, t0, id: String(meta.id), kind });
    if (ms) await sleep(ms);
    send({ ev: 'end', key, t: now(), id: String(meta.id), kind });
    return;
  }
  const running = await redis.incr(`spike:run:${key}`);
  const seen = Number(await redis.get(`spike:ver:${key}`));
  send({ ev: 'start', key, t, t0, id: String(meta.id), kind, running, seen });
  await sleep(ms);
  await redis.decr(`spike:run:${key}`);
  send({ ev: 'end', key, t: now(), id: String(meta.id), kind });
}

const w = await ENGINES[engineName].worker({ concurrency: Number(conc), handler });
send({ ev: 'ready' });
process.on('message', async (m) => {
  if (m === 'stop') { await w.close(); await redis.quit(); process.exit(0); }
});
process.on('disconnect', () => process.exit(0));
