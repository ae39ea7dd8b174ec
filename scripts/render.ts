/**
 * npm run render -- <image> [--auto] [--out DIR]
 * Runs a whole job on the embedded default (PGlite, offline tools unless keys are set): progress
 * on the terminal, each scene's decision asked here unless --auto approves them all. The last
 * line printed is the path of the final MP4.
 */
import { readFile, mkdir, copyFile } from "node:fs/promises";
import { createInterface } from "node:readline/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { pino, destination } from "pino";
import { loadConfig } from "../bot/config.js";
import { createApp } from "../bot/app.js";
import { blobPath } from "../store/blobs.js";
import { isUserFacing } from "../core/errors.js";
import type { Actor } from "../graph/actor.js";
import type { JobView, SceneCard } from "../bot/views.js";
import type { Decision } from "../graph/state.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { auto: { type: "boolean", default: false }, out: { type: "string", default: "out" } },
});
if (positionals.length !== 1) {
  console.error("usage: npm run render -- <image> [--auto] [--out DIR]");
  process.exit(2);
}

const say = (line: string) => process.stderr.write(`${line}\n`);
const config = loadConfig();
const app = await createApp(config, { logger: pino({ level: "warn" }, destination(2)) });
const actor: Actor = { platform: "cli", userId: process.env.USER || "cli", name: process.env.USER || "cli" };
const prompt = values.auto ? null : createInterface({ input: process.stdin, output: process.stderr });
let asking = Promise.resolve();

async function ask(view: JobView, card: SceneCard): Promise<void> {
  const decide = (decision: Decision, note?: string) =>
    app.runner.decide({ jobId: view.jobId, sceneIndex: card.index, versionNo: card.versionNo, decision, note, actor });
  if (!prompt) {
    const r = await decide("GREEN");
    say(`  scene ${card.index + 1}: ${r.message}`);
    return;
  }
  say(`\nScene ${card.index + 1}/${card.count} (v${card.versionNo}): ${card.scriptExcerpt}`);
  if (card.previewKey) say(`  preview: ${blobPath(config.blobsDir, card.previewKey)}`);
  if (card.errorMessage) say(`  note: ${card.errorMessage}`);
  for (;;) {
    const answer = (await prompt.question("  [g] 🟢 approve  [y] 🟡 edit  [r] 🔴 re-roll > ")).trim().toLowerCase();
    if (answer === "g" || answer === "r") return void say(`  ${(await decide(answer === "g" ? "GREEN" : "RED")).message}`);
    if (answer === "y") {
      const note = await prompt.question("  what should change? > ");
      const r = await decide("YELLOW", note);
      say(`  ${r.message}`);
      if (r.ok) return;
    }
  }
}

const done = new Promise<JobView>((resolve, reject) => {
  let lastLine = "";
  app.runner.on((event) => {
    if (event.type === "error") return reject(new Error(event.message));
    const view = event.view;
    if (event.type === "status") {
      const line = `[${view.stage}] ${view.statusLine}`;
      if (line !== lastLine) say((lastLine = line));
      if (view.stage === "flagged" || view.stage === "failed") reject(new Error(view.error ?? view.statusLine));
    }
    if (event.type === "scene" && event.card.awaiting === "review") {
      asking = asking.then(() => ask(view, event.card)).catch((err) => void say(`  ${String(err)}`));
    }
    if (event.type === "final") resolve(view);
  });
});

try {
  const file = positionals[0];
  const { jobId } = await app.runner.start({ actor, file: { bytes: await readFile(file), filename: path.basename(file) } });
  say(`job ${jobId} started (tools: ${Object.entries(app.toolModes).map(([k, v]) => `${k}=${v}`).join(", ")})`);
  const view = await done;
  await mkdir(values.out!, { recursive: true });
  const target = path.resolve(values.out!, `${jobId}.mp4`);
  await copyFile(blobPath(config.blobsDir, view.finalVideoKey!), target);
  prompt?.close();
  await app.close();
  console.log(target);
} catch (err) {
  say(`\n✖ ${isUserFacing(err) ? err.userMessage : err instanceof Error ? err.message : String(err)}`);
  prompt?.close();
  await app.close();
  process.exit(1);
}
