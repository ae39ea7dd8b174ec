import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { MemorySaver } from "@langchain/langgraph";
import { pino } from "pino";
import sharp from "sharp";
import type { Db } from "../../store/db.js";
import { createCheckpointer } from "../../store/migrate.js";
import { createLocalBlobs } from "../../store/blobs.js";
import { createOfflineTools } from "../../tools/offline/index.js";
import { withFaults, type FaultController } from "../../tools/faults.js";
import { createRunner, type Runner } from "../../graph/runner.js";
import { createTaskQueue } from "../../store/tasks.js";
import { DEFAULT_SONG_SETTINGS, type PipelineSettings } from "../../graph/context.js";
import type { Analyst, Director, Editor, Illustrator, ProductionEngine, SongAnalyst, SongIllustrator, Tools, VideoEngine } from "../../tools/ports.js";
import { createFfmpeg } from "../../tools/ffmpeg.js";
import type { Actor } from "../../graph/actor.js";
import type { JobEvent, SceneCard } from "../../bot/views.js";
import { waitFor } from "./waitFor.js";

export const OWNER: Actor = { platform: "cli", userId: "owner", name: "Owner" };
export const STRANGER: Actor = { platform: "slack", teamId: "T1", userId: "U-stranger", name: "Stranger" };

/** Counting (and fault-injectable) wrappers around every paid port. */
export interface Meters {
  analyst: FaultController<Analyst>;
  director: FaultController<Director>;
  illustrator: FaultController<Illustrator>;
  engines: Record<ProductionEngine, FaultController<VideoEngine>>;
  songAnalyst: FaultController<SongAnalyst>;
  songIllustrator: FaultController<SongIllustrator>;
  editor: FaultController<Editor>;
}

export interface Pipeline {
  runner: Runner;
  db: Db;
  tools: Tools;
  meters: Meters;
  events: JobEvent[];
  /** While held, renders report themselves still running: a crash can happen mid-render. */
  holdRenders(on: boolean): void;
  /** Another runner on the same database, blobs and render workspace: a fresh process. */
  restart(): Promise<Runner>;
  close(): Promise<void>;
}

export type SaverKind = "memory" | "postgres";

/**
 * A runner over offline tools (real images, real 1 s MP4s), with every paid port wrapped so
 * tests can count calls and inject failures. The database comes from test/helpers/db.ts.
 */
export async function createPipeline(
  db: Db,
  saver: SaverKind,
  settings: Partial<PipelineSettings> = {},
  options: { engines?: (workDir: string) => Record<ProductionEngine, VideoEngine> } = {},
): Promise<Pipeline> {
  const dir = mkdtempSync(path.join(tmpdir(), "reelbot-pipeline-"));
  const base = createOfflineTools({ workDir: path.join(dir, "work"), blobs: createLocalBlobs(path.join(dir, "blobs")), sceneDurationS: 1 });
  // Other engines (fixed clip lengths, say) stand in for the offline ones when a test brings them.
  const offline = options.engines ? { ...base, engines: options.engines(path.join(dir, "engines")) } : base;
  const meters: Meters = {
    analyst: withFaults(offline.analyst),
    director: withFaults(offline.director),
    illustrator: withFaults(offline.illustrator),
    songAnalyst: withFaults(offline.songAnalyst),
    songIllustrator: withFaults(offline.songIllustrator),
    editor: withFaults(offline.editor),
    engines: {
      KLING: withFaults(offline.engines.KLING),
      LUMA: withFaults(offline.engines.LUMA),
      GEMINI_PRO: withFaults(offline.engines.GEMINI_PRO),
    },
  };
  let held = false;
  const gated = (engine: VideoEngine): VideoEngine => ({
    engine: engine.engine,
    model: engine.model,
    ...(engine.clipLengthsS && { clipLengthsS: engine.clipLengthsS }),
    submit: (request, key) => engine.submit(request, key),
    // While held, every render reports itself still running: a crash can happen mid-render.
    status: async (requestId, signal) => (held ? { state: "running" } : engine.status(requestId, signal)),
    result: (requestId, signal) => engine.result(requestId, signal),
    cancel: (requestId) => engine.cancel(requestId),
  });
  const tools: Tools = {
    ...offline,
    analyst: meters.analyst.port,
    director: meters.director.port,
    illustrator: meters.illustrator.port,
    songAnalyst: meters.songAnalyst.port,
    songIllustrator: meters.songIllustrator.port,
    editor: meters.editor.port,
    engines: {
      KLING: gated(meters.engines.KLING.port),
      LUMA: gated(meters.engines.LUMA.port),
      GEMINI_PRO: gated(meters.engines.GEMINI_PRO.port),
    },
  };
  const memory = new MemorySaver();
  const runners: Runner[] = [];
  const events: JobEvent[] = [];
  const logger = pino({ level: process.env.DBG ? "error" : "silent" });
  // Every pipeline gets its own queues; a restarted runner shares them, like a new process would.
  const prefix = `t${randomBytes(4).toString("hex")}`;
  const make = async () => {
    const tasks = createTaskQueue({ backend: { kind: "postgres", target: db.target(2) }, prefix, lockMs: 5_000, logger });
    const runner = createRunner({
      db, tools, logger, tasks,
      checkpointer: saver === "memory" ? memory : createCheckpointer(db),
      settings: { sceneCount: 3, integrityThreshold: 0.4, styleStrength: 0.4, prices: {}, clipCredits: { KLING: 0, LUMA: 0, GEMINI_PRO: 0 }, song: DEFAULT_SONG_SETTINGS, ...settings },
      isApprover: (actor) => actor.userId === "U-approver",
      render: { intervalMs: 50, firstPollMs: 20 },
    });
    runner.on((e) => events.push(e));
    await runner.serve({ work: { passes: 4, polls: 8 }, deliver: true });
    runners.push(runner);
    return runner;
  };
  return {
    runner: await make(),
    db,
    tools,
    meters,
    events,
    holdRenders(on) {
      held = on;
    },
    async restart() {
      return make();
    },
    async close() {
      for (const r of runners) await r.close();
      await db.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A colourful brand-like PNG (integrity well above the filter). */
export async function brandImage(seed = 0): Promise<Buffer> {
  const hue = (seed * 67) % 360;
  const svg = `<svg width="640" height="480" xmlns="http://www.w3.org/2000/svg">
    <rect width="640" height="480" fill="hsl(${hue},70%,45%)"/>
    <circle cx="320" cy="240" r="150" fill="hsl(${(hue + 120) % 360},80%,55%)"/>
    <rect x="40" y="40" width="180" height="90" fill="hsl(${(hue + 240) % 360},75%,50%)"/>
    <text x="200" y="440" font-size="56" fill="white" font-family="sans-serif">BRAND ${seed}</text></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** An almost uniform image: the integrity filter must flag it. */
export async function blankImage(): Promise<Buffer> {
  return sharp({ create: { width: 400, height: 300, channels: 3, background: "#808080" } }).png().toBuffer();
}

/** Waits until every scene of a job is waiting for review (or a timeout). */
export async function reviewsOpen(runner: Runner, jobId: string, count: number): Promise<SceneCard[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await runner.idle();
    const view = await runner.view(jobId);
    const open = view?.scenes.filter((s) => s.awaiting === "review") ?? [];
    if (open.length >= count) return open;
    if (Date.now() > deadline) throw new Error(`only ${open.length} of ${count} reviews opened: ${JSON.stringify(view?.stage)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until scene `index` waits for a review of version `versionNo` (the pass that made it has ended). */
export async function reviewAt(runner: Runner, jobId: string, index: number, versionNo: number): Promise<void> {
  await waitFor(`scene ${index} waiting for a review of version ${versionNo}`, async () => {
    await runner.idle();
    const card = (await runner.view(jobId))?.scenes.find((c) => c.index === index);
    return card?.awaiting === "review" && card.versionNo === versionNo;
  });
}

/** Waits until the job reaches a terminal stage. */
export async function finished(runner: Runner, jobId: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    await runner.idle();
    const view = await runner.view(jobId);
    if (view && ["done", "flagged", "failed", "cancelled"].includes(view.stage)) return view;
    if (Date.now() > deadline) throw new Error(`job did not finish: ${view?.stage} ${view?.statusLine}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A real MP3: a kick every 0.5 s (120 bpm), louder from the middle on, with lyrics in its tag. */
export async function songMp3(seconds = 12): Promise<Buffer> {
  const dir = mkdtempSync(path.join(tmpdir(), "reelbot-song-"));
  const file = path.join(dir, "song.mp3");
  const half = seconds / 2;
  const expr = `0.9*sin(2*PI*60*t)*exp(-18*mod(t\\,0.5))+if(lt(t\\,${half})\\,0.12\\,0.35)*sin(2*PI*220*t)`;
  await createFfmpeg().run([
    "-f", "lavfi", "-i", `aevalsrc=${expr}:s=44100:d=${seconds}`,
    "-metadata", "lyrics=Morning light on the river\nHold on, the sky is ours", "-c:a", "libmp3lame", "-b:a", "96k", file,
  ]);
  const { readFileSync } = await import("node:fs");
  const bytes = readFileSync(file);
  rmSync(dir, { recursive: true, force: true });
  return bytes;
}
