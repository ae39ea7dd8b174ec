// node bench.mjs <bullmq|bullmqpg|pgboss|graphile> <test> [samples]
// tests: latency-idle, latency-busy, hammer, delay, hol, recovery, recovery-coalesce, longrun
// env: VIA_PGBOUNCER=1 (Postgres engines through pgbouncer :6543), HEARTBEAT=1 (graphile liveness sweep),
//      PGBOSS_EXPIRE=<s>. Prints one JSON line and appends it to results/results.jsonl.
import { fork } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { hostname, cpus } from 'node:os';
import IORedis from 'ioredis';
import { ENGINES, REDIS_URL } from './engines.mjs';

const [engineName, test, samplesArg] = process.argv.slice(2);
const engine = ENGINES[engineName];
if (!engine || !test) { console.error('usage: node bench.mjs <bullmq|bullmqpg|pgboss|graphile> <test> [samples]'); process.exit(2); }

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const redis = new IORedis(REDIS_URL);
const workers = new Set();
const listeners = new Set();
const errors = [];

function spawnWorker(conc = 4) {
  const child = fork(new URL('./worker.mjs', import.meta.url), [engineName, String(conc)], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  child.stderr.on('data', (b) => { const s = b.toString(); errors.push(s.trim().slice(0, 300)); process.stderr.write(`[w${child.pid}] ${s}`); });
  child.on('message', (m) => { for (const l of listeners) l(m); });
  workers.add(child);
  child.on('exit', () => workers.delete(child));
  return new Promise((resolve, reject) => {
    const to = setTimeout(() => reject(new Error('worker not ready in 30 s')), 30000);
    const l = (m) => { if (m.pid === child.pid && m.ev === 'ready') { clearTimeout(to); listeners.delete(l); resolve(child); } };
    listeners.add(l);
  });
}
function waitFor(pred, timeoutMs) {
  return new Promise((resolve) => {
    const to = setTimeout(() => { listeners.delete(l); resolve(null); }, timeoutMs);
    const l = (m) => { if (pred(m)) { clearTimeout(to); listeners.delete(l); resolve(m); } };
    listeners.add(l);
  });
}
async function stopWorkers() {
  await Promise.all([...workers].map((c) => new Promise((r) => {
    const to = setTimeout(() => { c.kill('SIGKILL'); r(); }, 10000);
    c.once('exit', () => { clearTimeout(to); r(); });
    c.send('stop');
  })));
}
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length ? +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(1) : null; };
const summary = (xs) => ({ n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), max: pct(xs, 100) });

// Sequential probes: add to a fresh key, wait for its handler to start, record the gap.
async function probes(producer, n, prefix) {
  const lat = []; let timeouts = 0;
  for (let i = 0; i < n; i++) {
    const key = `${prefix}-${i}`;
    const started = waitFor((m) => m.ev === 'start' && m.key === key, 30000);
    const t0 = now();
    await producer.add(key, { key, t0, kind: 'probe' });
    const m = await started;
    if (m) lat.push(m.t - t0); else timeouts++;
    await sleep(5 + Math.random() * 10);
  }
  return { ...summary(lat), timeouts };
}

const tests = {
  async 'latency-idle'() {
    await spawnWorker(4);
    const p = await engine.producer();
    await probes(p, 10, 'warm');
    const r = await probes(p, Number(samplesArg ?? 300), 'idle');
    await p.close();
    return { workers: '1 process x concurrency 4, no other load', add_to_start_ms: r };
  },

  async 'latency-busy'() {
    for (let i = 0; i < 4; i++) await spawnWorker(4);
    const p = await engine.producer();
    const bg = await engine.producer();
    // background: 50 keys, 40 adds/s in total, 100 ms handlers (coalesced per key)
    let stop = false, bgAdds = 0, bgRuns = 0;
    const countBg = (m) => { if (m.ev === 'start' && m.kind === 'bg') bgRuns++; };
    listeners.add(countBg);
    const bgLoop = (async () => {
      while (!stop) {
        const key = `bg-${Math.floor(Math.random() * 50)}`;
        await bg.add(key, { key, t0: now(), ms: 100, kind: 'bg' }); bgAdds++;
        await sleep(25);
      }
    })();
    await sleep(3000);
    await probes(p, 10, 'warm');
    const t = now();
    const r = await probes(p, Number(samplesArg ?? 300), 'busy');
    const secs = (now() - t) / 1000;
    stop = true; await bgLoop; listeners.delete(countBg);
    await p.close(); await bg.close();
    return { workers: '4 processes x concurrency 4; background 50 keys, 40 adds/s, 100 ms handlers', add_to_start_ms: r, bg_adds_per_s: +(bgAdds / (secs + 3)).toFixed(1), bg_runs_per_s: +(bgRuns / (secs + 3)).toFixed(1) };
  },

  async recovery() {
    const trials = [];
    for (let trial = 0; trial < Number(samplesArg ?? 3); trial++) {
      const a = await spawnWorker(4); const b = await spawnWorker(4);
      const p = await engine.producer();
      const key = `rec-${trial}-${Date.now()}`;
      const first = waitFor((m) => m.ev === 'start' && m.key === key, 30000);
      await p.add(key, { key, t0: now(), ms: 10000, kind: 'rec' });
      const s1 = await first;
      if (!s1) { trials.push({ error: 'never started' }); await p.close(); await stopWorkers(); continue; }
      await sleep(3000); // mid-task
      const victim = [a, b].find((c) => c.pid === s1.pid);
      const again = waitFor((m) => m.ev === 'start' && m.key === key && m.pid !== s1.pid, 60000);
      const tKill = now();
      victim.kill('SIGKILL');
      const s2 = await again;
      const done = s2 ? await waitFor((m) => m.ev === 'end' && m.key === key, 15000) : null;
      trials.push(s2 ? { restart_after_kill_s: +((s2.t - tKill) / 1000).toFixed(2), completed: !!done } : { restart_after_kill_s: '>60 (not restarted)' });
      await p.close();
      await stopWorkers();
    }
    return { setup: '2 processes x concurrency 4; 10 s task; SIGKILL its process 3 s in', trials };
  },

  async hammer() {
    const keys = 20, secs = Number(samplesArg ?? 20);
    await redis.del(...Array.from({ length: keys }, (_, i) => [`spike:ver:h-${i}`, `spike:run:h-${i}`]).flat());
    await spawnWorker(4); await spawnWorker(4);
    const p = await engine.producer();
    const maxSeen = new Map(); const intervals = new Map(); const open = new Map();
    let starts = 0, counterOverlaps = 0;
    const track = (m) => {
      if (m.kind !== 'hammer') return;
      if (m.ev === 'start') {
        starts++; if (m.running > 1) counterOverlaps++;
        maxSeen.set(m.key, Math.max(maxSeen.get(m.key) ?? 0, m.seen));
        open.set(`${m.pid}:${m.id}:${m.t}`, m);
        (intervals.get(m.key) ?? intervals.set(m.key, []).get(m.key)).push({ s: m.t, e: Infinity, id: m.id, pid: m.pid });
      } else {
        const list = intervals.get(m.key) ?? [];
        const it = [...list].reverse().find((x) => x.id === m.id && x.pid === m.pid && x.e === Infinity);
        if (it) it.e = m.t;
      }
    };
    listeners.add(track);
    let adds = 0, accepted = 0, stop = false;
    const loop = async () => {
      while (!stop) {
        const key = `h-${Math.floor(Math.random() * keys)}`;
        await redis.incr(`spike:ver:${key}`); // version first, then add: a start that reads it must come after
        const r = await p.add(key, { key, t0: now(), ms: 20 + Math.floor(Math.random() * 60), kind: 'hammer' });
        adds++; if (r) accepted++;
        await sleep(Math.random() * 20);
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    await sleep(secs * 1000); stop = true; await Promise.all(loops);
    const tStop = now();
    const vers = async () => Object.fromEntries(await Promise.all(Array.from({ length: keys }, async (_, i) => [`h-${i}`, Number(await redis.get(`spike:ver:h-${i}`))])));
    let final = await vers(); let lost = [];
    for (let waited = 0; waited < 60000; waited += 250) {
      lost = Object.keys(final).filter((k) => (maxSeen.get(k) ?? 0) < final[k]);
      if (!lost.length) break;
      await sleep(250);
    }
    const drainS = +((now() - tStop) / 1000).toFixed(2);
    await sleep(1500); // let stragglers end
    listeners.delete(track);
    let intervalOverlaps = 0;
    for (const list of intervals.values()) {
      const s = [...list].sort((a, b) => a.s - b.s);
      for (let i = 1; i < s.length; i++) if (s[i].s < s[i - 1].e) intervalOverlaps++;
    }
    await p.close();
    return {
      setup: `2 processes x concurrency 4; 20 keys; 4 add loops for ${secs} s; 20-80 ms handlers`,
      adds, adds_accepted: accepted, runs: starts,
      overlaps_redis_counter: counterOverlaps, overlaps_by_interval: intervalOverlaps,
      lost_wakeups_keys: lost.length, lost_keys: lost, drain_s_after_last_add: drainS,
    };
  },

  async delay() {
    await spawnWorker(4);
    const p = await engine.producer();
    const late = []; const n = Number(samplesArg ?? 50);
    const waits = [];
    for (let i = 0; i < n; i++) {
      const key = `del-${i}`; const t0 = now();
      waits.push(waitFor((m) => m.ev === 'start' && m.key === key, 20000).then((m) => m && late.push(m.t - (t0 + 2000))));
      await p.add(key, { key, t0, kind: 'delay' }, { delayMs: 2000 });
      await sleep(40);
    }
    await Promise.all(waits);
    // a task for a key that already has a delayed (5 s) task: does the new immediate add run now?
    const key = `del-pull-${Date.now()}`;
    await p.add(key, { key, t0: now(), kind: 'delay' }, { delayMs: 5000 });
    await sleep(200);
    const t1 = now();
    const started = waitFor((m) => m.ev === 'start' && m.key === key, 10000);
    const accepted = await p.add(key, { key, t0: t1, kind: 'delay' });
    const m = await started;
    await p.close();
    return {
      delayed_2s_lateness_ms: { ...summary(late), missing: n - late.length },
      immediate_add_over_pending_5s_delayed: { accepted: !!accepted, start_after_ms: m ? +(m.t - t1).toFixed(0) : '>10000' },
    };
  },

  // crash while a follow-up for the same key is pending: is the wake-up kept, and is there still no overlap?
  async 'recovery-coalesce'() {
    const a = await spawnWorker(4); const b = await spawnWorker(4);
    const p = await engine.producer();
    const key = `recc-${Date.now()}`; const events = [];
    const l = (m) => { if (m.key === key) events.push(m); };
    listeners.add(l);
    const first = waitFor((m) => m.ev === 'start' && m.key === key, 30000);
    await p.add(key, { key, t0: now(), ms: 10000, kind: 'rec', tag: 'first' });
    const s1 = await first;
    await sleep(500);
    const accepted = await p.add(key, { key, t0: now(), ms: 200, kind: 'rec', tag: 'follow-up' });
    await sleep(2500);
    const tKill = now();
    [a, b].find((c) => c.pid === s1.pid).kill('SIGKILL');
    await sleep(30000);
    listeners.delete(l);
    await p.close();
    const starts = events.filter((m) => m.ev === 'start');
    const ivals = starts.map((s) => ({ s: s.t, e: events.find((m) => m.ev === 'end' && m.id === s.id && m.pid === s.pid && m.t >= s.t)?.t ?? (s.pid === s1.pid ? tKill : Infinity) }));
    ivals.sort((x, y) => x.s - y.s);
    let overlaps = 0; for (let i = 1; i < ivals.length; i++) if (ivals[i].s < ivals[i - 1].e) overlaps++;
    return {
      setup: '10 s task on key K; 0.5 s in, add K again; 3 s in, SIGKILL the process; watch 30 s',
      follow_up_accepted: !!accepted,
      starts_after_kill_s: starts.filter((s) => s.t > tKill).map((s) => +((s.t - tKill) / 1000).toFixed(2)),
      overlaps,
    };
  },

  // one key busy for 10 s with a follow-up queued behind it: are other keys still served?
  async hol() {
    await spawnWorker(4); await spawnWorker(4);
    const p = await engine.producer();
    const key = `hol-${Date.now()}`;
    const s1 = waitFor((m) => m.ev === 'start' && m.key === key, 30000);
    await p.add(key, { key, t0: now(), ms: 10000, kind: 'hol' });
    await s1;
    await p.add(key, { key, t0: now(), ms: 100, kind: 'hol' });
    const r = await probes(p, Number(samplesArg ?? 20), 'holp');
    await p.close();
    return { setup: '2 processes x concurrency 4; key K runs 10 s with a follow-up for K queued; sequential probes on other keys', add_to_start_ms: r };
  },

  // a legitimate run longer than the engine's expiry/lock: does anything else start the same key meanwhile?
  async longrun() {
    await spawnWorker(4); await spawnWorker(4);
    const p = await engine.producer();
    const key = `long-${Date.now()}`; const starts = [];
    const l = (m) => { if (m.key === key && m.ev === 'start') starts.push({ pid: m.pid, t: m.t }); };
    listeners.add(l);
    await p.add(key, { key, t0: now(), ms: 8000, kind: 'long' });
    await sleep(12000);
    listeners.delete(l);
    await p.close();
    const t0 = starts[0]?.t ?? 0;
    return { setup: '8 s task, 2 processes', starts_s: starts.map((s) => +((s.t - t0) / 1000).toFixed(2)) };
  },
};

let result;
try {
  await engine.reset();
  const t = now();
  result = await tests[test]();
  result.wall_s = +((now() - t) / 1000).toFixed(1);
} catch (e) {
  result = { error: String(e?.stack ?? e).slice(0, 500) };
} finally {
  await stopWorkers();
  await redis.quit();
}
const line = {
  engine: engineName, test, via: process.env.VIA_PGBOUNCER === '1' ? 'pgbouncer-transaction' : 'direct',
  heartbeat: process.env.HEARTBEAT === '1' || undefined, pgboss_expire: process.env.PGBOSS_EXPIRE,
  machine: `${hostname()} ${cpus().length} cores ${cpus()[0]?.model} node ${process.version}`,
  ...result, worker_stderr: [...new Set(errors)].slice(0, 8),
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
appendFileSync(new URL('./results/results.jsonl', import.meta.url), JSON.stringify(line) + '\n');
console.log(JSON.stringify(line, null, 1));
process.exit(0);
