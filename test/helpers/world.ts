import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { pino } from "pino";
import { loadConfig } from "../../bot/config.js";
import { createApp, type App } from "../../bot/app.js";
import { createFfmpeg } from "../../tools/ffmpeg.js";
import { createFalStandin, type FalStandin } from "../standins/fal.js";
import { createGeminiStandin, type GeminiStandin } from "../standins/gemini.js";
import { createDeepSeekStandin, type DeepSeekStandin } from "../standins/deepseek.js";
import { spawnBot, type BotProcess } from "./processes.js";
import { admin as adminOf } from "./db.js";

const STALL_FFMPEG = fileURLToPath(new URL("../fixtures/stall-ffmpeg.sh", import.meta.url));

/**
 * A deployment in miniature for tests that kill real processes: one Postgres schema, the job
 * engine's queues in it, loopback stand-ins for fal, Gemini and DeepSeek (which count every
 * request and bill every paid completion), an ingress in this process (records decisions and
 * asks for passes, never runs one) and worker processes started with `node --import tsx
 * bot/main.ts --role worker`.
 */
export interface World {
  readonly env: Record<string, string>;
  readonly schema: string;
  readonly fal: FalStandin;
  readonly gemini: GeminiStandin;
  readonly deepseek: DeepSeekStandin;
  readonly ingress: App;
  /** While this file exists, the final stitch waits (see test/fixtures/stall-ffmpeg.sh). */
  readonly stallFile: string;
  readonly lockMs: number;
  spawnWorker(extra?: Record<string, string>): BotProcess;
  /** A statement on the database as its administrator (outside the bot). */
  admin(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  close(): Promise<void>;
}

export async function createWorld(url: string, options: { lockMs?: number; extraEnv?: Record<string, string> } = {}): Promise<World> {
  const schema = `w_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const admin = (sql: string, params?: unknown[]) => adminOf(url, sql, params);
  await admin(`CREATE SCHEMA ${schema}`);
  const [fal, gemini, deepseek] = await Promise.all([
    createFalStandin({ apiKey: "fal-test" }), createGeminiStandin({ apiKey: "gem-test" }), createDeepSeekStandin({ apiKey: "ds-test" }),
  ]);
  const dir = mkdtempSync(path.join(tmpdir(), "reelbot-world-"));
  const stallFile = path.join(dir, "stall-stitch");
  const lockMs = options.lockMs ?? 3_000;
  const env: Record<string, string> = {
    DATABASE_URL: url, DATABASE_SCHEMA: schema, DATA_DIR: dir, QUEUE_PREFIX: "w",
    FAL_API_KEY: "fal-test", FAL_API_URL: fal.url, GEMINI_API_KEY: "gem-test", GEMINI_BASE_URL: gemini.url,
    DEEPSEEK_API_KEY: "ds-test", DEEPSEEK_BASE_URL: deepseek.url, LORA_URL_TEMPLATE: "https://loras.example.com/{id}.safetensors",
    JOB_LOCK_MS: String(lockMs), VIDEO_POLL_INTERVAL_MS: "200", HEALTH_PORT: "0", SHUTDOWN_GRACE_MS: "1000",
    FFMPEG_PATH: STALL_FFMPEG, REAL_FFMPEG: createFfmpeg().ffmpegPath, STALL_FILE: stallFile,
    ...options.extraEnv,
  };
  const ingress = await createApp(loadConfig(env), { serve: false, role: "ingress", logger: pino({ level: "silent" }) });
  const workers: BotProcess[] = [];
  let n = 0;
  return {
    env, schema, fal, gemini, deepseek, ingress, stallFile, lockMs, admin,
    spawnWorker(extra = {}) {
      // application_name tells this worker's database sessions apart (a test terminates them).
      const name = `reelbot-worker-${++n}`;
      const worker = spawnBot({ ...env, DATABASE_URL: `${url}${url.includes("?") ? "&" : "?"}application_name=${name}`, ...extra }, ["--role", "worker"]);
      workers.push(worker);
      return worker;
    },
    async close() {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) await w.kill9();
      await ingress.close();
      await Promise.all([fal.close(), gemini.close(), deepseek.close()]);
      await admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
