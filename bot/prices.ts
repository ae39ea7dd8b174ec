import type { ProductionEngine } from "../tools/ports.js";
import type { PricedOperation } from "../graph/context.js";
import { billedClip } from "../tools/fal-video.js";
import { MAX_LORA_REFERENCES } from "../tools/fal-song.js";
import { FRAME_SIZE, megapixelUnits } from "../tools/frames.js";
import type { ToolModes } from "./tools.js";
import type { Env } from "./config.js";

/** How a model is billed. */
export type ModelPrice =
  /** A flat price per call (PRICE_TABLE='{"model": 0.5}' keeps working). */
  | { unit: "call"; usd: number }
  /** LLMs: USD per million input and output tokens. */
  | { unit: "tokens"; inputPerMTok: number; outputPerMTok: number }
  /** fal image models: per megapixel of output, each image rounded up; edits may bill their inputs too. */
  | { unit: "megapixel"; usd: number; billsInputs?: boolean }
  /** Per clip, keyed "5s" or, where the resolution changes the price, "720p/5s". */
  | { unit: "clip"; usd: Record<string, number> }
  /** Per second of video, keyed by resolution. */
  | { unit: "second"; usd: Record<string, number> };

const tokens = (inputPerMTok: number, outputPerMTok: number): ModelPrice => ({ unit: "tokens", inputPerMTok, outputPerMTok });

/**
 * Published list prices, November 2026. fal: providers.md "Published prices" (fal model pages) and
 * the llms.txt pricing sections of fal-ai/flux-2/lora ($0.021/MP) and fal-ai/flux-lora/inpainting
 * ($0.035/MP). Gemini: ai.google.dev pricing (3.5 Flash-Lite $0.30/$2.50; 3.8 Flash $0.75/$3.75,
 * its launch price through December 31, 2026). DeepSeek: api-docs.deepseek.com pricing, peak-hour
 * cache-miss rates (off-peak is half). Override any entry with PRICE_TABLE (see .env.example).
 */
export const DEFAULT_PRICE_TABLE: Record<string, ModelPrice> = {
  "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": { unit: "clip", usd: { "5s": 0.35, "10s": 0.7 } }, // $0.35 per 5 s + $0.07/s
  "fal-ai/luma-dream-machine/ray-2/image-to-video": { unit: "clip", usd: { "540p/5s": 0.5, "540p/9s": 1, "720p/5s": 1, "720p/9s": 2 } },
  "fal-ai/veo3.1/first-last-frame-to-video": { unit: "second", usd: { "720p": 0.2 } }, // without audio
  "fal-ai/flux/schnell": { unit: "megapixel", usd: 0.003 },
  "fal-ai/flux/dev/image-to-image": { unit: "megapixel", usd: 0.025 },
  "fal-ai/flux-lora/inpainting": { unit: "megapixel", usd: 0.035 },
  "fal-ai/flux-2/lora": { unit: "megapixel", usd: 0.021 },
  // The FLUX.2 edit endpoints bill input images as well as the output (fal-ai/flux-2/flash/edit,
  // fal-ai/flux-2-flex pricing); the LoRA edit page states only the rate, so we assume the same.
  "fal-ai/flux-2/lora/edit": { unit: "megapixel", usd: 0.021, billsInputs: true },
  "gemini-3.5-flash-lite": tokens(0.3, 2.5),
  "gemini-3.8-flash": tokens(0.75, 3.75),
  "gemini-3.7-flash": tokens(0.75, 3.75),
  "gemini-3.6-flash": tokens(1.5, 7.5),
  "gemini-3.5-flash": tokens(1.5, 9),
  "gemini-3.1-flash-lite": tokens(0.25, 1.5),
  // The spec's example LLM (projects made before GEMINI_SONG_MODEL chose theirs): $2/$12 per million
  // up to 200K tokens of context (Google's rates as OpenRouter passes them on, October 2026).
  "gemini-3.1-pro-preview": tokens(2, 12),
  "deepseek-flash": tokens(0.3, 1.2),
  "deepseek-v4-flash": tokens(0.3, 1.2), // served by deepseek-flash, at its price
  "deepseek-v4-pro": tokens(1.32, 3.96),
};

/**
 * Tokens of the calls whose usage we do not read back: ESTIMATES, booked as such. Gemini 3 counts
 * a ≤1 MP image as ~1,100 input tokens and audio as 32 tokens per second (providers.md §3.2);
 * outputs include thinking tokens, hence the margin.
 */
export const TOKEN_ESTIMATES: Record<string, { input: number; output: number; inputPerAudioSecond?: number }> = {
  analysis: { input: 2_000, output: 1_000 },
  edit: { input: 2_500, output: 600 },
  script: { input: 1_200, output: 2_000 },
  audit: { input: 1_200, output: 300 },
  revise: { input: 1_000, output: 300 },
  failure_analysis: { input: 2_000, output: 200 },
  mask: { input: 2_000, output: 200 },
  song_analysis: { input: 1_500, output: 6_000, inputPerAudioSecond: 32 },
};

/** Credits per USD when CREDITS_PER_USD is unset: one credit is $0.50 of provider cost. */
export const DEFAULT_CREDITS_PER_USD = 2;

export interface PriceList {
  /** USD of one paid operation with the configured models (0 when the tool is offline). */
  usd(op: PricedOperation): number;
  /** Credits a 🟢 on a clip of this engine and length reserves. */
  clipCredits(engine: ProductionEngine, durationS: number): number;
  /** Models in use that have no price for what they are asked (their calls are booked at $0). */
  unpriced(): string[];
}

/** The provider-side cost lines are stored with 4 decimals (provider_calls.cost): round up to them. */
const cents4 = (usd: number) => Math.ceil(Math.round(usd * 1e8) / 1e4) / 1e4;

function clipKey(price: ModelPrice & { unit: "clip" }, seconds: number, resolution: string): number | undefined {
  return price.usd[`${resolution}/${seconds}s`] ?? price.usd[`${seconds}s`];
}

/** USD of one call to `model`, or undefined when the table cannot price it. */
export function modelCost(price: ModelPrice | undefined, call: { tokens?: { input: number; output: number }; images?: { outputs: number; inputs: number }; clip?: { seconds: number; resolution: string } }): number | undefined {
  if (!price) return undefined;
  switch (price.unit) {
    case "call":
      return price.usd;
    case "tokens":
      return call.tokens ? (call.tokens.input * price.inputPerMTok + call.tokens.output * price.outputPerMTok) / 1e6 : undefined;
    case "megapixel":
      return call.images ? price.usd * (call.images.outputs + (price.billsInputs ? call.images.inputs : 0)) : undefined;
    case "clip":
      return call.clip ? clipKey(price, call.clip.seconds, call.clip.resolution) : undefined;
    case "second": {
      const perSecond = call.clip ? price.usd[call.clip.resolution] : undefined;
      return perSecond === undefined ? undefined : perSecond * call.clip!.seconds;
    }
  }
}

/** Every image we draw is one 1280×720 frame (one megapixel); img2img inputs are scaled to one. */
const ONE_FRAME = megapixelUnits(FRAME_SIZE.width, FRAME_SIZE.height);

/** The price list of this configuration: which model serves each operation, and what it costs. */
export function createPriceList(env: Env, modes: ToolModes): PriceList {
  const table: Record<string, ModelPrice> = { ...DEFAULT_PRICE_TABLE, ...env.PRICE_TABLE };
  const videoModels: Record<ProductionEngine, string> = { KLING: env.FAL_KLING_MODEL, LUMA: env.FAL_LUMA_MODEL, GEMINI_PRO: env.FAL_VEO_MODEL };
  const unpriced = new Set<string>();
  const creditsPerUsd = env.CREDITS_PER_USD ?? DEFAULT_CREDITS_PER_USD;

  /** What an operation asks of which model; null when the tool serving it is offline. */
  function resolve(op: PricedOperation): { model: string; call: Parameters<typeof modelCost>[1] } | null {
    const llm = (model: string, estimate: keyof typeof TOKEN_ESTIMATES) => {
      const t = TOKEN_ESTIMATES[estimate];
      return { model, call: { tokens: { input: t.input + (t.inputPerAudioSecond ?? 0) * Math.ceil(op.durationS ?? 0), output: t.output } } };
    };
    const image = (model: string, inputs: number) => ({ model, call: { images: { outputs: ONE_FRAME, inputs: inputs * ONE_FRAME } } });
    const analyst = modes.analyst === "real";
    const illustrator = modes.illustrator === "real";
    if (op.name.startsWith("clip:")) {
      if (modes.video !== "real") return null;
      const engine = op.name.slice("clip:".length) as ProductionEngine;
      const clip = billedClip(engine, op.durationS ?? 0);
      return { model: videoModels[engine], call: { clip: { seconds: clip.seconds, resolution: clip.resolution } } };
    }
    switch (op.name) {
      case "analysis": return analyst ? llm(env.GEMINI_MODEL, "analysis") : null;
      case "edit": return analyst ? llm(env.GEMINI_MODEL, "edit") : null;
      case "script": return modes.director === "real" ? llm(env.DEEPSEEK_MODEL, "script") : null;
      // Song calls run on the model the project's agent configuration names for the role (op.model),
      // else on GEMINI_SONG_MODEL.
      case "song_analysis": return analyst ? llm(op.model ?? env.GEMINI_SONG_MODEL, "song_analysis") : null;
      case "audit": return analyst ? llm(op.model ?? env.GEMINI_SONG_MODEL, "audit") : null;
      case "revise": return analyst ? llm(op.model ?? env.GEMINI_SONG_MODEL, "revise") : null;
      case "failure_analysis": return analyst ? llm(op.model ?? env.GEMINI_SONG_MODEL, "failure_analysis") : null;
      case "style": return illustrator ? image(env.FAL_STYLE_MODEL, 1) : null;
      case "preview": return illustrator ? image(env.FAL_PREVIEW_MODEL, /image-to-image|redux/.test(env.FAL_PREVIEW_MODEL) ? 1 : 0) : null;
      case "shot_image": case "end_frame": {
        if (!illustrator) return null;
        const references = Math.min(op.inputImages ?? 0, MAX_LORA_REFERENCES);
        return image(references > 0 ? env.FAL_SONG_LORA_EDIT_MODEL : env.FAL_SONG_LORA_MODEL, references);
      }
      default: return null;
    }
  }

  function usd(op: PricedOperation): number {
    // A refinement is a Gemini mask plus a FLUX inpaint of one frame, booked as one step.
    if (op.name === "refine") {
      const mask = modes.analyst === "real" ? priceOf(op.model ?? env.GEMINI_SONG_MODEL, { tokens: TOKEN_ESTIMATES.mask }) : 0;
      const inpaint = modes.illustrator === "real" ? priceOf(env.FAL_SONG_INPAINT_MODEL, { images: { outputs: ONE_FRAME, inputs: 0 } }) : 0;
      return cents4(mask + inpaint);
    }
    const resolved = resolve(op);
    return resolved ? cents4(priceOf(resolved.model, resolved.call)) : 0;
  }

  function priceOf(model: string, call: Parameters<typeof modelCost>[1]): number {
    const cost = modelCost(table[model], call);
    if (cost === undefined) {
      unpriced.add(model);
      return 0;
    }
    return cost;
  }

  return {
    usd,
    clipCredits(engine, durationS) {
      const overrides = { KLING: env.CLIP_CREDITS_KLING, LUMA: env.CLIP_CREDITS_LUMA, GEMINI_PRO: env.CLIP_CREDITS_GEMINI_PRO };
      const flat = overrides[engine];
      if (flat !== undefined) return flat;
      // Rounded up: a paid clip never costs 0 credits, and credits never undercount the price
      // (the epsilon keeps $0.35 × 2 from rounding to 0.7000000001 → 2 credits).
      const price = usd({ name: `clip:${engine}`, durationS });
      return price > 0 ? Math.ceil(price * creditsPerUsd - 1e-9) : 0;
    },
    unpriced() {
      // Ask for everything once, so a model nobody has used yet is reported at start-up too.
      for (const name of ["analysis", "edit", "script", "song_analysis", "audit", "revise", "failure_analysis", "style", "preview", "refine"]) usd({ name });
      for (const inputImages of [0, 1]) usd({ name: "shot_image", inputImages });
      for (const engine of ["KLING", "LUMA", "GEMINI_PRO"] as const) for (const durationS of [4, 5, 6, 8, 9, 10]) usd({ name: `clip:${engine}`, durationS });
      return [...unpriced].sort();
    },
  };
}
