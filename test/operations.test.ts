/**
 * The bot as an operator runs it, with real processes on Postgres: a dropped database connection
 * does not kill a worker, SIGTERM in the middle of a pass hands the job to another worker at once,
 * /readyz follows the database, and two instances that could not see each other's media are not
 * allowed to share a database. Postgres only (TEST_DATABASE_URL, set by CI).
 */
import http from "node:http";
import net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../bot/config.js";
import { createApp } from "../bot/app.js";
import { InstanceConflictError } from "../store/instances.js";
import { createWorld, type World } from "./helpers/world.js";
import { spawnBot, waitUntil, type BotProcess } from "./helpers/processes.js";
import { brandImage, OWNER } from "./helpers/pipeline.js";
import { createSupabaseStorageStandin } from "./standins/supabase-storage.js";

const url = process.env.TEST_DATABASE_URL;

describe.skipIf(!url)("operating the bot (real processes, Postgres)", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });
  const reviewsOpen = async (w: World, jobId: string) =>
    (await w.ingress.runner.view(jobId))?.scenes.filter((s) => s.awaiting === "review").length === 3;
  const passStarts = (p: BotProcess, jobId: string) => p.logs.filter((l) => l.msg === "pass started" && l.jobId === jobId).length;

  it("survives its database connections being terminated mid-pass, and the job goes on", async () => {
    const w = (world = await createWorld(url!));
    w.fal.setPollsBeforeDone(1_000_000); // the pass waits on the style reference
    const { jobId } = await w.ingress.runner.start({ actor: OWNER, file: { bytes: await brandImage(41), filename: "brand.png" } });
    const worker = w.spawnWorker({ LOG_LEVEL: "debug" });
    await waitUntil("the style reference queued at fal", () => w.fal.submissions.some((s) => s.model.includes("image-to-image") && s.requestId));
    const killed = await w.admin(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'reelbot-worker-1'",
    );
    expect(killed.rowCount).toBeGreaterThan(0);
    w.fal.setPollsBeforeDone(0);
    w.fal.completeQueued();
    await waitUntil("the previews after the connections came back", () => reviewsOpen(w, jobId), 60_000);
    expect(worker.child.exitCode).toBeNull(); // still the same process
    expect(worker.logs.some((l) => l.msg === "database connection failed")).toBe(true);
    expect(w.fal.submissions.filter((s) => s.model.includes("image-to-image"))).toHaveLength(1);
  });

  it("SIGTERM in the middle of a pass: the pass goes back at once and another worker finishes it; exit 0", async () => {
    const w = (world = await createWorld(url!, { lockMs: 10_000 }));
    const a = w.spawnWorker({ LOG_LEVEL: "debug" });
    const b = w.spawnWorker({ LOG_LEVEL: "debug" });
    await Promise.all([a.healthPort(), b.healthPort()]);
    w.fal.setPollsBeforeDone(1_000_000);
    const { jobId } = await w.ingress.runner.start({ actor: OWNER, file: { bytes: await brandImage(42), filename: "brand.png" } });
    await waitUntil("the style reference queued at fal", () => w.fal.submissions.some((s) => s.model.includes("image-to-image") && s.requestId));
    const [holder, other] = passStarts(a, jobId) > 0 ? [a, b] : [b, a];
    const before = passStarts(other, jobId);
    const stoppedAt = Date.now();
    const exit = holder.terminate();
    // Handed back, not left to a lock that takes 10 s to expire.
    await waitUntil("the other worker taking the pass", () => passStarts(other, jobId) > before, w.lockMs);
    expect(Date.now() - stoppedAt).toBeLessThan(w.lockMs);
    expect(await exit).toBe(0);
    expect(holder.logs.some((l) => l.msg === "pass interrupted; it will run again" && l.stopped === true)).toBe(true);
    w.fal.setPollsBeforeDone(0);
    w.fal.completeQueued();
    await waitUntil("the previews", () => reviewsOpen(w, jobId), 60_000);
    expect(w.fal.submissions.filter((s) => s.model.includes("image-to-image"))).toHaveLength(1);
  });

  it("a burst of jobs through a separate ingress process waits in line with its place shown; each finishes once, nothing paid twice", async () => {
    const w = (world = await createWorld(url!));
    // The passes hold on their style reference until the test lets fal answer.
    w.fal.setPollsBeforeDone(1_000_000);
    const ingress = spawnBot({ ...w.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "debug" }, ["--role", "ingress"]);
    const workers = [1, 2].map(() => w.spawnWorker({ WORKER_CONCURRENCY: "1", LOG_LEVEL: "debug" }));
    try {
      const [port] = await Promise.all([ingress.healthPort(), ...workers.map((p) => p.healthPort())]);
      const page = `http://127.0.0.1:${port}`;
      const owners = Array.from({ length: 6 }, (_, i) => `uid=burst-owner-${i}-${"x".repeat(16)}`);
      const api = async (cookie: string, route: string, init: RequestInit = {}) => {
        const res = await fetch(`${page}${route}`, { ...init, headers: { cookie, ...init.headers } });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const jobs: string[] = [];
      for (const [i, cookie] of owners.entries()) {
        const uploaded = await api(cookie, "/api/jobs", { method: "POST", body: new Uint8Array(await brandImage(90 + i)), headers: { "x-filename": "brand.png", "content-type": "image/png" } });
        expect(uploaded.status).toBe(201);
        jobs.push(uploaded.body.jobId as string);
      }
      const viewOf = async (i: number) => (await api(owners[i], `/api/jobs/${jobs[i]}`)).body as { stage: string; statusLine: string; queue: { ahead: number; estimateMs: number | null } | null; scenes: { awaiting: string | null }[] };

      // Two slots (two workers, one pass each): two jobs run, four wait, each told its place.
      await waitUntil("two passes at fal", () => w.fal.submissions.filter((s) => s.model.includes("image-to-image") && s.requestId).length === 2);
      const views = await Promise.all(jobs.map((_, i) => viewOf(i)));
      const waiting = views.filter((v) => v.queue);
      expect(waiting.map((v) => v.queue!.ahead).sort()).toEqual([0, 1, 2, 3]);
      expect(waiting.map((v) => /^(\d)(st|nd|rd|th) in line/.exec(v.statusLine)?.[1]).sort()).toEqual(["1", "2", "3", "4"]);

      w.fal.setPollsBeforeDone(0);
      w.fal.completeQueued();
      const atReview = async (i: number) => (await viewOf(i)).scenes.filter((s) => s.awaiting === "review").length === 3;
      await waitUntil("every job at review", async () => (await Promise.all(jobs.map((_, i) => atReview(i)))).every(Boolean), 90_000);
      for (const [i, cookie] of owners.entries()) {
        expect((await api(cookie, `/api/jobs/${jobs[i]}/approve-all`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } })).status).toBe(200);
      }
      await waitUntil("every job done", async () => (await Promise.all(jobs.map((_, i) => viewOf(i)))).every((v) => v.stage === "done"), 90_000);

      // Each job finished once, and every paid call went out once per job.
      const completed = await w.ingress.db.query<{ entity_id: string }>("SELECT entity_id FROM audit_logs WHERE action = 'job.completed'");
      expect(completed.rows.map((r) => r.entity_id).sort()).toEqual([...jobs].sort());
      const models = w.fal.submissions.map((s) => s.model);
      expect(models.filter((m) => m.includes("image-to-image"))).toHaveLength(6);
      expect(models.filter((m) => m.includes("flux/schnell"))).toHaveLength(18);
      expect(models.filter((m) => m.includes("video"))).toHaveLength(18);
      expect(w.gemini.requests).toHaveLength(6);
      expect(w.deepseek.requests).toHaveLength(6);

      // A second burst, now that passes have a history: the wait is estimated for all the
      // workers' slots together, so 1st and 2nd in line (both go with the next pair) wait alike.
      w.fal.setPollsBeforeDone(1_000_000);
      for (const [i, cookie] of owners.slice(0, 4).entries()) {
        const uploaded = await api(cookie, "/api/jobs", { method: "POST", body: new Uint8Array(await brandImage(100 + i)), headers: { "x-filename": "brand.png", "content-type": "image/png" } });
        jobs.push(uploaded.body.jobId as string);
        owners.push(cookie);
      }
      await waitUntil("two more passes at fal", () => w.fal.submissions.filter((s) => s.model.includes("image-to-image") && s.requestId).length === 8);
      const second = (await Promise.all([6, 7, 8, 9].map(viewOf))).filter((v) => v.queue).sort((a, b) => a.queue!.ahead - b.queue!.ahead);
      expect(second.map((v) => v.queue!.ahead)).toEqual([0, 1]);
      expect(second[0].queue!.estimateMs).toBeGreaterThan(0);
      expect(second[1].queue!.estimateMs).toBe(second[0].queue!.estimateMs);
      expect(second[0].statusLine).toMatch(/^1st in line · about \d+ (s|min)/);

      // The ingress never ran a pass; both workers did.
      expect(ingress.logs.some((l) => l.msg === "pass started")).toBe(false);
      expect(workers.every((p) => p.logs.some((l) => l.msg === "pass started"))).toBe(true);
    } finally {
      await ingress.terminate();
    }
  }, 180_000);

  it("holds a provider's account-wide limit across two worker processes", async () => {
    // Gemini behind a proxy that takes 300 ms per call and counts the calls in flight at once.
    let inFlight = 0, most = 0;
    const gemini = http.createServer(async (req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      const body = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c)).on("end", () => resolve(Buffer.concat(chunks)));
      });
      await new Promise((r) => setTimeout(r, 300));
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !["host", "content-length", "connection"].includes(k))) as Record<string, string>;
      const upstream = await fetch(`${w.gemini.url}${req.url}`, { method: req.method, headers, body: req.method === "GET" ? undefined : new Uint8Array(body) });
      res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" }).end(Buffer.from(await upstream.arrayBuffer()));
      inFlight--;
    });
    await new Promise<void>((r) => gemini.listen(0, "127.0.0.1", r));
    const w = (world = await createWorld(url!, {
      extraEnv: { GEMINI_BASE_URL: `http://127.0.0.1:${(gemini.address() as net.AddressInfo).port}`, PROVIDER_LIMITS: '{"GEMINI":{"concurrency":2}}' },
    }));
    try {
      const a = w.spawnWorker({ LOG_LEVEL: "debug" });
      const b = w.spawnWorker({ LOG_LEVEL: "debug" });
      await Promise.all([a.healthPort(), b.healthPort()]);
      const jobs = await Promise.all(Array.from({ length: 6 }, async (_, i) =>
        (await w.ingress.runner.start({ actor: { ...OWNER, userId: `owner-${i}` }, file: { bytes: await brandImage(70 + i), filename: "brand.png" } })).jobId));
      await waitUntil("every job at review", async () => (await Promise.all(jobs.map((j) => reviewsOpen(w, j)))).every(Boolean), 90_000);
      // Eight passes could run at once (two workers × four); the account allows two Gemini calls.
      expect(most).toBe(2);
      expect(w.gemini.requests.length).toBe(6);
      // Both processes did part of the work.
      expect(jobs.some((j) => passStarts(a, j) > 0) && jobs.some((j) => passStarts(b, j) > 0)).toBe(true);
    } finally {
      gemini.close();
    }
  }, 120_000);

  it("/readyz answers 503 naming the database while it is away, and 200 again when it is back", async () => {
    const target = new URL(url!);
    const proxy = tcpProxy(target.hostname, Number(target.port || 5432));
    const port = await proxy.start();
    const through = new URL(url!);
    through.host = `127.0.0.1:${port}`;
    const w = (world = await createWorld(url!));
    const worker = w.spawnWorker({ DATABASE_URL: through.toString() });
    const health = await worker.healthPort();
    const ready = () => fetch(`http://127.0.0.1:${health}/readyz`).then(async (r) => ({ status: r.status, text: await r.text() }));
    expect(await ready()).toEqual({ status: 200, text: "ready\n" });
    expect((await fetch(`http://127.0.0.1:${health}/healthz`)).status).toBe(200);
    proxy.block(true);
    await waitUntil("readiness to fail", async () => (await ready()).status === 503, 20_000);
    expect((await ready()).text).toContain("database");
    expect((await fetch(`http://127.0.0.1:${health}/healthz`)).status).toBe(200); // alive, only not ready
    proxy.block(false);
    await waitUntil("readiness to return", async () => (await ready()).status === 200, 30_000);
    expect(worker.child.exitCode).toBeNull();
    await proxy.stop();
  });

  it("refuses a second instance whose media the first cannot see, and allows instances on shared storage", async () => {
    const w = (world = await createWorld(url!));
    const elsewhere = mkdtempSync(path.join(tmpdir(), "reelbot-other-"));
    const storage = await createSupabaseStorageStandin({ serviceRoleKey: "service-key", buckets: ["media"] });
    try {
      // The ingress of this world keeps media on this disk; another instance with its own disk is refused.
      const refused = await createApp(loadConfig({ ...w.env, DATA_DIR: elsewhere }), { serve: false, logger: pino({ level: "silent" }) })
        .then(() => null, (err: unknown) => err);
      expect(refused).toBeInstanceOf(InstanceConflictError);
      expect((refused as Error).message).toMatch(/SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY/);
      // The same disk (two roles on one machine) is fine.
      const sameDisk = await createApp(loadConfig(w.env), { serve: false, logger: pino({ level: "silent" }) });
      await sameDisk.close();
      await w.ingress.close();
      // On shared storage, instances on different disks share one database.
      const shared = { SUPABASE_URL: storage.url, SUPABASE_SERVICE_ROLE_KEY: "service-key" };
      const one = await createApp(loadConfig({ ...w.env, ...shared }), { serve: false, logger: pino({ level: "silent" }) });
      const two = await createApp(loadConfig({ ...w.env, ...shared, DATA_DIR: elsewhere }), { serve: false, logger: pino({ level: "silent" }) });
      await two.close();
      await one.close();
    } finally {
      await storage.close();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

/** A TCP proxy to Postgres that the test can cut: while blocked it refuses and drops every connection. */
function tcpProxy(host: string, port: number) {
  const sockets = new Set<net.Socket>();
  let blocked = false;
  const server = net.createServer((client) => {
    if (blocked) return void client.destroy();
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  return {
    start: () => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))),
    block(on: boolean) {
      blocked = on;
      if (on) for (const s of sockets) s.destroy();
    },
    stop: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
