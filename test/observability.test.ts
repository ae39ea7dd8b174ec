/**
 * What an operator sees: /metrics in Prometheus' text format counting a whole job's provider calls
 * and what they cost; log lines that carry their job's id; no secret in any log line.
 */
import { Writable } from "node:stream";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error the package ships no types; it returns the families as plain objects.
import parsePrometheus from "parse-prometheus-text-format";
import { loadConfig } from "../bot/config.js";
import { createApp, type App } from "../bot/app.js";
import { createLogger } from "../bot/logger.js";
import { createHealthRoutes, createHealthServer } from "../bot/health.js";
import { createFalStandin, type FalStandin } from "./standins/fal.js";
import { createGeminiStandin, type GeminiStandin } from "./standins/gemini.js";
import { createDeepSeekStandin, type DeepSeekStandin } from "./standins/deepseek.js";
import { brandImage, finished, OWNER, reviewsOpen } from "./helpers/pipeline.js";

interface Family {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string; count?: string; buckets?: Record<string, string> }>;
}

/** Collects what a logger writes, one parsed JSON object per line. */
function logSink(): { stream: Writable; lines: Array<Record<string, unknown>>; text: () => string } {
  const lines: Array<Record<string, unknown>> = [];
  let raw = "";
  const stream = new Writable({
    write(chunk, _enc, done) {
      raw += chunk.toString();
      for (const line of chunk.toString().split("\n")) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { stream, lines, text: () => raw };
}

describe("metrics and job-scoped logs (real SDKs against stand-ins)", () => {
  let fal: FalStandin, gemini: GeminiStandin, deepseek: DeepSeekStandin, dir: string, app: App | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await Promise.all([fal.close(), gemini.close(), deepseek.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("counts a whole job's calls and costs on /metrics, and every line of its work carries its id", async () => {
    [fal, gemini, deepseek] = await Promise.all([
      createFalStandin({ apiKey: "fal-test" }), createGeminiStandin({ apiKey: "gem-test" }), createDeepSeekStandin({ apiKey: "ds-test" }),
    ]);
    dir = mkdtempSync(path.join(tmpdir(), "reelbot-metrics-"));
    const logs = logSink();
    const config = loadConfig({
      DATA_DIR: dir, GEMINI_API_KEY: "gem-test", GEMINI_BASE_URL: gemini.url, DEEPSEEK_API_KEY: "ds-test", DEEPSEEK_BASE_URL: deepseek.url,
      FAL_API_KEY: "fal-test", FAL_API_URL: fal.url, VIDEO_POLL_INTERVAL_MS: "100", LORA_URL_TEMPLATE: "https://loras.example.com/{id}.safetensors",
    });
    app = await createApp(config, { logger: createLogger("debug", logs.stream) });
    // A rate-limited answer is retried inside the pass: its warning must say which job it was.
    gemini.rateLimit(1, "0.01s");
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(61), filename: "brand.png" } });
    await reviewsOpen(app.runner, jobId, 3);
    await app.runner.approveAll(jobId, OWNER);
    const done = await finished(app.runner, jobId);
    expect(done.stage).toBe("done");

    const server = createHealthServer(createHealthRoutes({ checks: [], metrics: () => app!.metrics.scrape() }), 0, "127.0.0.1");
    const port = await server.start();
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    await server.stop();
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    const families = parsePrometheus(text) as Family[];
    const family = (name: string) => families.find((f) => f.name === name)!;
    const value = (name: string, labels: Record<string, string>) =>
      family(name).metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)).reduce((sum, m) => sum + Number(m.value), 0);

    // Every paid call of the job, counted once per call (a retried one is still one call).
    expect(value("reelbot_provider_calls_total", { provider: "GEMINI", operation: "analyzeBrand", outcome: "ok" })).toBe(1);
    expect(value("reelbot_provider_calls_total", { provider: "DEEPSEEK", operation: "directScenes", outcome: "ok" })).toBe(1);
    expect(value("reelbot_provider_calls_total", { provider: "FLUX", operation: "styleReference", outcome: "ok" })).toBe(1);
    expect(value("reelbot_provider_calls_total", { provider: "FLUX", operation: "preview", outcome: "ok" })).toBe(3);
    const engine = done.engine!;
    expect(value("reelbot_provider_calls_total", { provider: engine, operation: "submit", outcome: "ok" })).toBe(3);
    expect(family("reelbot_provider_call_seconds").type).toBe("HISTOGRAM");
    // Dollars booked equal the job's cost line; credits reserved equal what the owner was charged.
    const booked = family("reelbot_booked_usd").metrics.reduce((sum, m) => sum + Number(m.value), 0);
    expect(booked).toBeCloseTo(done.costUsd, 6);
    expect(booked).toBeGreaterThan(0);
    expect(value("reelbot_credits", { reason: "reserve" })).toBe(done.creditsUsed);
    expect(value("reelbot_jobs", { stage: "done" })).toBe(1);
    expect(value("reelbot_decisions_total", { kind: "APPROVE_ALL", status: "queued" })).toBe(1);
    expect(value("reelbot_breaker_state", { provider: "KLING" })).toBe(0);
    expect(family("reelbot_queue_tasks")).toBeDefined();
    // (The parser merges a labelled histogram's series, so the count per queue is read from the text.)
    expect(Number(/^reelbot_queue_wait_seconds_count\{queue="advance"\} (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(family("reelbot_process_resident_memory_bytes")).toBeDefined();

    // Logs: every line written while working on a task names its job; the retried 429 among them.
    const scoped = logs.lines.filter((l) => typeof l.task === "string");
    expect(scoped.length).toBeGreaterThan(10);
    expect(scoped.filter((l) => l.jobId !== jobId)).toEqual([]);
    const retry = logs.lines.find((l) => l.msg === "attempt failed, retrying" && l.provider === "GEMINI");
    expect(retry).toMatchObject({ jobId });
    const stages = logs.lines.filter((l) => l.msg === "job stage changed").map((l) => l.stage);
    expect(stages).toEqual(expect.arrayContaining(["styling", "reviewing", "assembling", "done"]));
    expect(logs.text()).not.toContain("gem-test");
    expect(logs.text()).not.toContain("fal-test");
  });
});

describe("log redaction", () => {
  it("removes secrets by key at any depth and in any case, and inside strings", () => {
    const logs = logSink();
    const log = createLogger("info", logs.stream);
    log.info({ token: "xoxb-123456789012-abcdefghijkl" }, "top-level token");
    log.info({ SLACK_BOT_TOKEN: "xoxb-123456789012-abcdefghijkl", FAL_KEY: "fal-key-secret-1", DISCORD_TOKEN: "discord-secret-abc" }, "env keys");
    log.info({ headers: { Authorization: "Bearer sk-live-0123456789abcdef" } }, "capital A");
    log.info({ req: { headers: { authorization: "Key fal-abcdef0123456789" } } }, "request headers");
    log.info({ databaseUrl: "postgres://bot:hunter2secret@db.example.com:5432/prod" }, "database url");
    log.info({ err: { message: "connect failed for postgresql://bot:hunter2secret@db.example.com/prod" } }, "url in a message");
    log.info({ nested: { deeper: { apiKey: "AIzaSyA0123456789abcdefghijklmnopqrstu" } } }, "deep key");
    log.info({ callKey: "scene-1:2:clip:KLING", jobId: "j1" }, "what an operator needs stays");
    const text = logs.text();
    for (const secret of ["xoxb-123456789012-abcdefghijkl", "fal-key-secret-1", "discord-secret-abc", "sk-live-0123456789abcdef", "fal-abcdef0123456789", "hunter2secret", "AIzaSyA0123456789abcdefghijklmnopqrstu"]) {
      expect(text).not.toContain(secret);
    }
    expect(logs.lines[0].token).toBe("[redacted]");
    expect(logs.lines[1]).toMatchObject({ SLACK_BOT_TOKEN: "[redacted]", FAL_KEY: "[redacted]", DISCORD_TOKEN: "[redacted]" });
    expect(logs.lines[4].databaseUrl).toBe("postgres://bot:[redacted]@db.example.com:5432/prod");
    expect(logs.lines[7]).toMatchObject({ callKey: "scene-1:2:clip:KLING", jobId: "j1" });
  });
});
