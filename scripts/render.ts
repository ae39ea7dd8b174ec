/**
 * npm run render -- <brand image or song.mp3> [--auto] [--out DIR]
 *
 * A whole job from the terminal: progress on stderr, each scene asked in order (🟢 / 🟡 with a note
 * / 🔴) unless --auto approves them in bulk, and the final MP4's path as the last line on stdout.
 * The file is checked before anything is opened (a bad one costs milliseconds and gets a sentence).
 * When `npm start` already runs on the same DATA_DIR this attaches to it and its workers make the
 * video; otherwise this process runs the embedded database and the work itself.
 * Exit codes: 0 done, 1 the job could not finish (the last line says why), 2 usage.
 */
import { readFile, mkdir, writeFile } from "node:fs/promises";
import { createInterface } from "node:readline/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { destination } from "pino";
import { inspectUpload } from "../graph/inspectUpload.js";
import { isUserFacing } from "../core/errors.js";
import type { Actor } from "../graph/actor.js";
import type { JobView, SceneCard } from "../graph/jobView.js";
import type { Decision } from "../graph/state.js";

const USAGE = "usage: npm run render -- <brand image (PNG, JPEG, WebP) or song (MP3)> [--auto] [--out DIR]";
const say = (line: string) => process.stderr.write(`${line}\n`);
const fail = (sentence: string, code = 1): never => {
  say(`✖ ${sentence}`);
  process.exit(code);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let args: ReturnType<typeof parseArgs<{ allowPositionals: true; options: { auto: { type: "boolean" }; out: { type: "string" } } }>>;
try {
  args = parseArgs({ allowPositionals: true, options: { auto: { type: "boolean", default: false }, out: { type: "string", default: "out" } } });
} catch (err) {
  fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`, 2);
}
if (args!.positionals.length !== 1) fail(USAGE, 2);
const { values, positionals } = args!;
const file = positionals[0];

// 1. The file, before any store is opened.
let bytes: Uint8Array;
try {
  bytes = new Uint8Array(await readFile(file));
} catch (err) {
  fail(`I can't read ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "there is no such file" : (err as Error).message}.`);
}
try {
  await inspectUpload({ bytes: bytes!, filename: path.basename(file) });
} catch (err) {
  fail(isUserFacing(err) ? err.userMessage : `I can't use ${file}: ${(err as Error).message}`);
}

// 2. The bot: this process's own, or the one already running on the same data directory.
const { loadConfig } = await import("../bot/config.js");
const { createApp } = await import("../bot/app.js");
const { createLogger } = await import("../bot/logger.js");
const { quoteLine } = await import("../graph/jobView.js");
const config = (() => {
  try {
    return loadConfig();
  } catch (err) {
    return fail((err as Error).message);
  }
})();
const app = await createApp(config, { attach: true, serve: false, role: "cli", logger: createLogger("warn", destination(2)) })
  .catch((err: Error) => fail(err.message));
const guest = app.db.embeddedRole === "guest";
if (guest) say(`Attached to the bot already running on ${config.dataDir}: its workers make this video.`);
else await app.runner.serve({ work: { passes: config.env.WORKER_CONCURRENCY, polls: config.env.POLL_CONCURRENCY } });

const actor: Actor = { platform: "cli", userId: process.env.USER || "cli", name: process.env.USER || "cli" };
const prompt = values.auto ? null : createInterface({ input: process.stdin, output: process.stderr });
let stopping = false;
process.on("SIGINT", () => {
  stopping = true;
});

/** Status lines wait while a question is open, so they never print over the prompt. */
let held: string[] = [];
let asking = false;
function status(line: string): void {
  if (asking) held.push(line);
  else say(line);
}

async function finish(code: number, last?: string): Promise<never> {
  prompt?.close();
  await app.close().catch(() => undefined);
  if (last) say(last);
  process.exit(code);
}

/** One scene, asked until it is answered (or was decided elsewhere meanwhile). */
async function ask(view: JobView, card: SceneCard): Promise<void> {
  asking = true;
  try {
    const decide = (decision: Decision, note?: string) =>
      app.runner.decide({ jobId: view.jobId, sceneIndex: card.index, versionNo: card.versionNo, decision, note, actor });
    say(`\nScene ${card.index + 1}/${card.count} (version ${card.versionNo})${card.timeRange ? ` · ${card.timeRange}` : ""}: ${card.scriptExcerpt}`);
    if (card.previewKey) say(`  preview: ${await app.tools.blobs.url(card.previewKey)}`);
    if (card.errorMessage) say(`  note: ${card.errorMessage}`);
    const price = card.approvalCredits > 0 ? ` (${card.approvalCredits} credit${card.approvalCredits === 1 ? "" : "s"}${card.approvalUsd > 0 ? ` · ≈ $${card.approvalUsd.toFixed(2)}` : ""})` : "";
    for (;;) {
      const answer = (await prompt!.question(`  [g] 🟢 approve${price}  [y] 🟡 edit  [r] 🔴 re-roll > `)).trim().toLowerCase();
      const r = answer === "g" ? await decide("GREEN")
        : answer === "r" ? await decide("RED")
        : answer === "y" ? await decide("YELLOW", await prompt!.question("  what should change? > "))
        : null;
      if (!r) continue;
      say(`  ${r.message}`);
      if (r.ok || r.status === "stale" || r.status === "duplicate" || r.status === "finished") return;
      if (r.status === "rate_limited") await countdown(r.retryAfterS ?? 5);
    }
  } finally {
    asking = false;
    for (const line of held) say(line);
    held = [];
  }
}

/** A visible wait (a rate limit), one line that counts down. */
async function countdown(seconds: number): Promise<void> {
  for (let left = Math.max(1, Math.ceil(seconds)); left > 0 && !stopping; left--) {
    process.stderr.write(`\r  waiting ${left} s before asking again… `);
    await sleep(1000);
  }
  process.stderr.write("\r\x1b[K");
}

/** --auto: every scene at review approved with one request, its price said first. */
async function approveAll(view: JobView): Promise<void> {
  status(`  Approve all: ${quoteLine(view.approveAll)}`);
  for (;;) {
    const r = await app.runner.approveAll(view.jobId, actor);
    if (r.ok || r.status === "stale" || r.status === "duplicate") return status(`  ${r.message}`);
    if (r.status !== "rate_limited") return finish(1, `✖ ${r.message}`);
    await countdown(r.retryAfterS ?? 5);
    if (stopping) return;
  }
}

let jobId: string;
try {
  ({ jobId } = await app.runner.start({ actor, file: { bytes: bytes!, filename: path.basename(file) } }));
} catch (err) {
  await finish(1, `✖ ${isUserFacing(err) ? err.userMessage : (err as Error).message}`);
}
say(`job ${jobId!} started (tools: ${Object.entries(app.toolModes).map(([k, v]) => `${k}=${v}`).join(", ")})`);

let lastLine = "";
let lastChange = Date.now();
const answered = new Set<string>();
for (;;) {
  if (stopping) await finish(130, `Stopped. The job keeps its state: ${jobId!}`);
  const view = (await app.runner.view(jobId!))!;
  const line = `[${view.stage}] ${view.statusLine}`;
  if (line !== lastLine) {
    status(line);
    lastLine = line;
    lastChange = Date.now();
  } else if (Date.now() - lastChange > 30_000) {
    status(`  … still ${view.statusLine.toLowerCase()} (${Math.round((Date.now() - lastChange) / 1000)} s)`);
    lastChange = Date.now();
  }
  if (view.stage === "done") {
    const media = await app.tools.blobs.get(view.finalVideoKey!);
    await mkdir(values.out!, { recursive: true });
    const target = path.resolve(values.out!, `${jobId!}.mp4`);
    await writeFile(target, media.data);
    prompt?.close();
    await app.close();
    console.log(target);
    process.exit(0);
  }
  if (view.stage === "flagged" || view.stage === "failed" || view.stage === "cancelled") {
    await finish(1, `✖ ${view.error ?? view.statusLine}`);
  }
  const open = view.scenes.filter((c) => c.awaiting === "review" && !(values.auto && c.failed) && !answered.has(`${c.sceneId}:${c.versionNo}`));
  // --auto approves in bulk: once every scene has its preview (or is past review), with one request,
  // so the price said first is the price of what is approved.
  const settled = view.scenes.length > 0 && view.scenes.every((c) => c.awaiting === "review" || c.awaiting === "render" || c.status === "completed" || c.status === "failed");
  // A shot that could not be made needs a person (🟡 or 🔴): --auto says which and stops.
  const stuck = view.scenes.find((c) => c.failed);
  if (values.auto && settled && stuck && view.scenes.every((c) => c.failed || c.awaiting === "render" || c.status === "completed")) {
    await finish(1, `✖ Scene ${stuck.index + 1} could not be made: ${stuck.failed} Run without --auto to edit or re-roll it (job ${jobId!}).`);
  }
  if (open.length > 0 && (!values.auto || settled)) {
    if (values.auto) {
      await approveAll(view);
      for (const c of open) answered.add(`${c.sceneId}:${c.versionNo}`);
    } else {
      // In order: the lowest scene first, whatever order the previews finished in.
      const card = open.sort((a, b) => a.index - b.index)[0];
      await ask(view, card);
      answered.add(`${card.sceneId}:${card.versionNo}`);
      continue;
    }
  }
  await sleep(300);
}
