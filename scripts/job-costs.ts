/**
 * README's "what a job costs" tables, computed from bot/prices.ts with every provider real:
 * `npx tsx scripts/job-costs.ts` prints them; test/providers-prices.test.ts fails when README's
 * copy differs. The scenarios are stated in the output, so the numbers say what they assume.
 */
import { pathToFileURL } from "node:url";
import { loadConfig, type Env } from "../bot/config.js";
import { createPriceList, type PriceList } from "../bot/prices.js";
import { PRODUCTION_ENGINES, type ProductionEngine } from "../tools/ports.js";
import { CLIP_LENGTHS_S } from "../tools/fal-video.js";
import { planCuts } from "../tools/beat-cuts.js";
import { clipSecondsFor, shotLimitsFor } from "../graph/song/clips.js";
import { DEFAULT_SONG_SETTINGS } from "../graph/context.js";

const ENGINE_NAMES: Record<ProductionEngine, string> = { KLING: "Kling 2.5", LUMA: "Luma Ray 2 (720p)", GEMINI_PRO: "Veo 3.1 (no audio)" };
const BRAND_SCENES = 3;
const SONG_SECONDS = 180;
const SONG_BPM = 120;

const money = (usd: number) => `$${usd.toFixed(usd < 0.1 ? 3 : 2)}`;

/** A brand job: analysis, storyboard, style reference, one preview and one clip per scene. */
function brandJob(prices: PriceList, engine: ProductionEngine, sceneSeconds: number): number {
  const once = prices.usd({ name: "analysis" }) + prices.usd({ name: "script" }) + prices.usd({ name: "style" });
  const perScene = prices.usd({ name: "preview" }) + prices.usd({ name: `clip:${engine}`, durationS: sceneSeconds });
  return once + BRAND_SCENES * perScene;
}

/** The shots the planner cuts a steady 4/4 song into for this engine (graph/song/clips.ts, tools/beat-cuts.ts). */
function songShotsMs(engine: ProductionEngine): number[] {
  const beatMs = 60_000 / SONG_BPM;
  const beatsMs = Array.from({ length: Math.floor((SONG_SECONDS * 1000) / beatMs) }, (_, i) => Math.round(i * beatMs));
  const engines = Object.fromEntries(PRODUCTION_ENGINES.map((e) => [e, { clipLengthsS: CLIP_LENGTHS_S[e] }])) as Record<ProductionEngine, { clipLengthsS: readonly number[] }>;
  const cuts = planCuts(0, SONG_SECONDS * 1000, { beatsMs, downbeatsMs: beatsMs.filter((_, i) => i % 4 === 0) }, shotLimitsFor(engines, engine, DEFAULT_SONG_SETTINGS));
  return cuts.slice(1).map((end, i) => end - cuts[i]);
}

/**
 * A song: one analysis of the whole song and the project's reference sheet, then per shot one
 * audit, one start frame (FLUX.2 LoRA edit with the sheet as its reference), one end frame and one
 * clip: the shortest the engine renders that covers the shot.
 */
function songJob(prices: PriceList, engine: ProductionEngine): { usd: number; shots: number } {
  const shots = songShotsMs(engine);
  let total = prices.usd({ name: "song_analysis", durationS: SONG_SECONDS }) + prices.usd({ name: "shot_image", inputImages: 0 });
  for (const ms of shots) {
    total += prices.usd({ name: "audit" });
    total += prices.usd({ name: "shot_image", inputImages: 1 });
    total += prices.usd({ name: "end_frame", inputImages: 1 });
    total += prices.usd({ name: `clip:${engine}`, durationS: clipSecondsFor({ clipLengthsS: CLIP_LENGTHS_S[engine] }, ms) });
  }
  return { usd: total, shots: shots.length };
}

export function jobCostTables(env: Env): string[] {
  const prices = createPriceList(env, { analyst: "real", director: "real", illustrator: "real", video: "real" });
  const lines = [
    `| engine | 3-scene brand job, 5 s scenes | 3-scene brand job, 10 s scenes | ${SONG_SECONDS / 60}-minute song at ${SONG_BPM} bpm, shots planned for the engine |`,
    "|---|---|---|---|",
  ];
  for (const engine of PRODUCTION_ENGINES) {
    const song = songJob(prices, engine);
    lines.push(`| ${ENGINE_NAMES[engine]} | ${money(brandJob(prices, engine, 5))} | ${money(brandJob(prices, engine, 10))} | ${money(song.usd)} (${song.shots} shots) |`);
  }
  lines.push("");
  lines.push("| one clip (credits at the default rate) | 4 s | 5 s | 6 s | 8 s | 9 s | 10 s |", "|---|---|---|---|---|---|---|");
  for (const engine of PRODUCTION_ENGINES) {
    const cells = [4, 5, 6, 8, 9, 10].map((s) => `${money(prices.usd({ name: `clip:${engine}`, durationS: s }))} (${prices.clipCredits(engine, s)})`);
    lines.push(`| ${ENGINE_NAMES[engine]} | ${cells.join(" | ")} |`);
  }
  lines.push("");
  const calls: Array<[string, number]> = [
    ["brand analysis (Gemini, estimate)", prices.usd({ name: "analysis" })],
    ["storyboard or re-roll (DeepSeek, estimate)", prices.usd({ name: "script" })],
    ["style reference (FLUX dev img2img, 1 MP)", prices.usd({ name: "style" })],
    ["preview (FLUX schnell, 1280×720)", prices.usd({ name: "preview" })],
    [`song analysis, ${SONG_SECONDS / 60} min (Gemini, estimate)`, prices.usd({ name: "song_analysis", durationS: SONG_SECONDS })],
    ["shot image with 3 references (FLUX.2 LoRA edit)", prices.usd({ name: "shot_image", inputImages: 3 })],
    ["refinement (Gemini mask + FLUX inpainting)", prices.usd({ name: "refine" })],
  ];
  lines.push("| call | price |", "|---|---|", ...calls.map(([name, usd]) => `| ${name} | ${money(usd)} |`));
  return lines;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // The defaults, whatever this shell's environment says: README documents the shipped configuration.
  console.log(jobCostTables(loadConfig({}).env).join("\n"));
}
