import type { ProductionEngine } from "../tools/ports.js";
import type { ToolModes } from "./tools.js";
import type { Env } from "./config.js";

/**
 * Estimated USD per call of each model (public list prices, November 2026, rounded up; check your
 * provider's pricing page). Override any entry with PRICE_TABLE='{"model-id": 0.5}'.
 */
export const DEFAULT_MODEL_PRICES_USD: Record<string, number> = {
  "gemini-2.5-flash": 0.002,
  "deepseek-v4-flash": 0.001,
  "fal-ai/flux/schnell": 0.003,
  "fal-ai/flux/dev/image-to-image": 0.03,
  "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": 0.35,
  "fal-ai/luma-dream-machine/ray-2/image-to-video": 0.5,
  "fal-ai/veo3.1/first-last-frame-to-video": 1.6,
};

/** USD per pipeline operation, from the models that serve each one (0 for offline tools). */
export function operationPrices(env: Env, modes: ToolModes): Record<string, number> {
  const table = { ...DEFAULT_MODEL_PRICES_USD, ...env.PRICE_TABLE };
  const price = (real: boolean, model: string) => (real ? table[model] ?? 0 : 0);
  const analyst = modes.analyst === "real";
  const illustrator = modes.illustrator === "real";
  const video = modes.video === "real";
  return {
    analysis: price(analyst, env.GEMINI_MODEL),
    edit: price(analyst, env.GEMINI_MODEL),
    script: price(modes.director === "real", env.DEEPSEEK_MODEL),
    style: price(illustrator, env.FAL_STYLE_MODEL),
    preview: price(illustrator, env.FAL_PREVIEW_MODEL),
    "clip:KLING": price(video, env.FAL_KLING_MODEL),
    "clip:LUMA": price(video, env.FAL_LUMA_MODEL),
    "clip:GEMINI_PRO": price(video, env.FAL_VEO_MODEL),
  };
}

/** Credits a 🟢 reserves per engine: CLIP_CREDITS_* when set, else 1/1/2 for real engines and 0 offline. */
export function clipCredits(env: Env, modes: ToolModes): Record<ProductionEngine, number> {
  const real = modes.video === "real";
  return {
    KLING: env.CLIP_CREDITS_KLING ?? (real ? 1 : 0),
    LUMA: env.CLIP_CREDITS_LUMA ?? (real ? 1 : 0),
    GEMINI_PRO: env.CLIP_CREDITS_GEMINI_PRO ?? (real ? 2 : 0),
  };
}
