/**
 * True prices: what bot/prices.ts books for each paid fal call equals what the strict fal stand-in
 * (priced independently, from fal's published prices) bills for the request the adapter actually
 * sends; credits follow price; README's cost tables are the price list's own output.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import sharp from "sharp";
import { loadConfig, startupWarnings } from "../bot/config.js";
import { createPriceList } from "../bot/prices.js";
import { jobCostTables } from "../scripts/job-costs.js";
import { PRODUCTION_ENGINES, type Media } from "../tools/ports.js";
import { createDownloader, createFal, createFalIllustrator, createFalVideoEngine } from "../tools/fal.js";
import { createFalSongIllustrator } from "../tools/fal-song.js";
import { createFalStandin, type FalStandin } from "./standins/fal.js";

const FAL_KEY = "fal-test-key";
const REAL = { analyst: "real", director: "real", illustrator: "real", video: "real" } as const;
let fal: FalStandin;
let frame: Media;

beforeAll(async () => {
  fal = await createFalStandin({ apiKey: FAL_KEY });
  frame = { data: new Uint8Array(await sharp({ create: { width: 1280, height: 720, channels: 3, background: "#446688" } }).png().toBuffer()), contentType: "image/png" };
});
afterAll(() => fal.close());
beforeEach(() => fal.reset());

const client = () => createFal({ apiKey: FAL_KEY, fetch: fal.fetch });
const download = () => createDownloader({ fetch: fal.fetch });
const prices = (extra: Record<string, string> = {}) => createPriceList(loadConfig({ FAL_API_KEY: FAL_KEY, ...extra }).env, REAL);

async function billedFor(requestId: string, engine: ReturnType<typeof createFalVideoEngine>): Promise<number | undefined> {
  for (let i = 0; i < 100 && (await engine.status(requestId)).state !== "completed"; i++) await new Promise((r) => setTimeout(r, 10));
  return fal.billing().find((e) => e.requestId === requestId)?.usd;
}

describe("every paid fal call is booked at what fal bills for it", () => {
  it("clips: each engine, every length a scene or shot may ask for (3–10 s)", async () => {
    const list = prices();
    const rows: string[] = [];
    for (const name of PRODUCTION_ENGINES) {
      const engine = createFalVideoEngine({ client: client(), engine: name, download: download() });
      for (let seconds = 3; seconds <= 10; seconds++) {
        const { requestId } = await engine.submit({ startFrame: frame, endFrame: frame, prompt: "p", durationS: seconds }, `${name}-${seconds}`);
        const billed = await billedFor(requestId, engine);
        const booked = list.usd({ name: `clip:${name}`, durationS: seconds });
        if (billed !== booked) rows.push(`${name} ${seconds} s: booked ${booked}, billed ${billed}`);
      }
    }
    expect(rows).toEqual([]);
    expect(fal.billing()).toHaveLength(3 * 8);
  });

  it("images: style reference of a large upload, preview, LoRA shots with 0–4 references, end frame", async () => {
    const list = prices();
    const illustrator = createFalIllustrator({ client: client(), download: download(), pollIntervalMs: 5 });
    const song = createFalSongIllustrator({ client: client(), download: download(), pollIntervalMs: 5, loraUrlOf: (id) => `https://weights.example.invalid/${id}.safetensors` });
    const brand: Media = { data: new Uint8Array(await sharp({ create: { width: 4000, height: 3000, channels: 3, background: "#aa6633" } }).jpeg().toBuffer()), contentType: "image/jpeg" };
    const charged = () => fal.billing().at(-1)!.usd;

    await illustrator.styleReference({ image: brand, prompt: "p", strength: 0.4, seed: 1 });
    expect(charged()).toBe(list.usd({ name: "style" }));
    await illustrator.preview({ prompt: "p", styleReference: frame, seed: 1, sequenceIndex: 0, sceneCount: 3 });
    expect(charged()).toBe(list.usd({ name: "preview" }));
    for (let references = 0; references <= 4; references++) {
      await song.shotImage({ prompt: "p", loraId: "miriN14", references: Array.from({ length: references }, () => frame), seed: references });
      expect(charged(), `${references} references`).toBe(list.usd({ name: "shot_image", inputImages: references }));
    }
    await song.shotImage({ prompt: "p", loraId: "miriN14", references: [frame], seed: 9 });
    expect(charged()).toBe(list.usd({ name: "end_frame", inputImages: 1 }));
  });
});

describe("credits follow price", () => {
  it("ceil(price × CREDITS_PER_USD); a flat CLIP_CREDITS_* pins one engine; offline clips cost nothing", () => {
    const list = prices();
    expect(list.clipCredits("KLING", 5)).toBe(1); // $0.35 × 2
    expect(list.clipCredits("KLING", 10)).toBe(2); // $0.70 × 2
    expect(list.clipCredits("LUMA", 9)).toBe(4); // $2.00 × 2
    expect(list.clipCredits("GEMINI_PRO", 6)).toBe(3); // $1.20 × 2 = 2.4
    expect(prices({ CREDITS_PER_USD: "10" }).clipCredits("KLING", 5)).toBe(4); // 3.5 → 4
    expect(prices({ CLIP_CREDITS_LUMA: "1" }).clipCredits("LUMA", 9)).toBe(1);
    expect(createPriceList(loadConfig({}).env, { analyst: "offline", director: "offline", illustrator: "offline", video: "offline" }).clipCredits("GEMINI_PRO", 8)).toBe(0);
  });

  it("PRICE_TABLE: a number is a price per call, a bad entry is a start-up error, a model without a price is warned about", () => {
    expect(prices({ PRICE_TABLE: '{"fal-ai/flux/schnell": 0.01}' }).usd({ name: "preview" })).toBe(0.01);
    expect(prices({ PRICE_TABLE: '{"fal-ai/flux/schnell": {"unit":"megapixel","usd":0.004}}' }).usd({ name: "preview" })).toBe(0.004);
    expect(() => loadConfig({ PRICE_TABLE: '{"x": {"unit":"furlong"}}' })).toThrow(/PRICE_TABLE/);
    const config = loadConfig({ FAL_API_KEY: FAL_KEY, FAL_KLING_MODEL: "fal-ai/kling-video/v2.6/pro/image-to-video", LORA_URL_TEMPLATE: "https://w.example.invalid/{id}" });
    const list = createPriceList(config.env, REAL);
    expect(startupWarnings(config, list.unpriced())).toEqual([
      "The price table has no price for fal-ai/kling-video/v2.6/pro/image-to-video as configured: its calls are booked at $0 and cost no credits; add it to PRICE_TABLE.",
    ]);
  });
});

describe("README", () => {
  it("shows the cost tables the price list computes", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const block = /<!-- job-costs:start[^>]*-->\n([\s\S]*?)\n<!-- job-costs:end -->/.exec(readme)?.[1];
    expect(block).toBe(jobCostTables(loadConfig({}).env).join("\n"));
  });
});
