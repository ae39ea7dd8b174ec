/**
 * What fal charges for a completed request, priced independently of bot/prices.ts so a test can
 * hold the bot's booked cost against it. fal bills only successful outputs, never queue time or
 * server errors (https://docs.fal.ai/documentation/model-apis/pricing).
 */
import type { Size } from "./fal-endpoints.js";

/**
 * fal's megapixel is 1024 × 1024 pixels, each image rounded up to a whole one: "a 1024x1024 image
 * will cost $0.05, and a 1920x1080 image will cost $0.10 ($0.05 × 2 megapixels)" (fal-ai/flux-2-flex
 * pricing, its llms.txt page).
 */
const megapixels = (s: Size) => Math.max(1, Math.ceil((s.width * s.height) / (1024 * 1024)));

/** USD per megapixel of output: providers.md "Published prices"; fal-ai/flux-2/lora llms.txt ($0.021); flux-lora/inpainting llms.txt ($0.035). */
const PER_MEGAPIXEL: Record<string, number> = {
  "fal-ai/flux/schnell": 0.003,
  "fal-ai/flux/dev/image-to-image": 0.025,
  "fal-ai/flux-lora/inpainting": 0.035,
  "fal-ai/flux-2/lora": 0.021,
  "fal-ai/flux-2/lora/edit": 0.021,
};

/**
 * Endpoints that also bill their input images: the FLUX.2 edit pages say "per megapixel on both
 * input and output side" (fal-ai/flux-2-flex, fal-ai/flux-2/flash/edit). fal-ai/flux-2/lora/edit
 * states only its rate; the stand-in assumes the family rule (so does bot/prices.ts, separately).
 */
const BILLS_INPUTS = new Set(["fal-ai/flux-2/lora/edit"]);

export interface Charge {
  usd: number;
  /** How the amount was reached, for a failing assertion to explain itself. */
  detail: string;
}

/** Sums without binary drift: fal's prices have at most 4 decimals. */
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** The charge of one completed image request. */
export function imageCharge(model: string, outputs: Size[], inputs: Size[]): Charge {
  const rate = PER_MEGAPIXEL[model];
  if (rate === undefined) throw new Error(`the fal stand-in has no price for ${model}`);
  const billed = [...outputs, ...(BILLS_INPUTS.has(model) ? inputs : [])];
  const units = billed.reduce((n, s) => n + megapixels(s), 0);
  return { usd: round4(units * rate), detail: `${units} MP × $${rate}` };
}

/** The charge of one completed video request, from the input fal ran it with (its defaults applied). */
export function videoCharge(model: string, input: Record<string, unknown>): Charge {
  switch (model) {
    case "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": {
      // $0.35 for 5 s, $0.07 for every second more (providers.md: 10 s = $0.70). duration defaults to "5".
      const seconds = Number(input.duration ?? "5");
      return { usd: round4(0.35 + 0.07 * (seconds - 5)), detail: `Kling ${seconds} s` };
    }
    case "fal-ai/luma-dream-machine/ray-2/image-to-video": {
      // $0.50 per 5 s at 540p; 720p doubles it, 9 s doubles it (providers.md). Defaults: 5s, 540p.
      const seconds = String(input.duration ?? "5s");
      const resolution = String(input.resolution ?? "540p");
      if (resolution === "1080p") throw new Error("the fal stand-in has no published Luma 1080p price");
      const usd = 0.5 * (resolution === "720p" ? 2 : 1) * (seconds === "9s" ? 2 : 1);
      return { usd, detail: `Luma ${resolution} ${seconds}` };
    }
    case "fal-ai/veo3.1/first-last-frame-to-video": {
      // $0.20 per second without audio (providers.md); audio "costs extra" at a rate we do not have,
      // and fal's default is generate_audio: true, so a request that leaves it on cannot be priced.
      if (input.generate_audio !== false) throw new Error("Veo with audio: the fal stand-in has no price for it (send generate_audio: false)");
      const seconds = Number(String(input.duration ?? "8s").replace("s", ""));
      return { usd: round4(0.2 * seconds), detail: `Veo ${seconds} s` };
    }
    default:
      throw new Error(`the fal stand-in has no price for ${model}`);
  }
}
