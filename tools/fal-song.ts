/**
 * The song route's illustrator (music-video spec §3, §6): FLUX.2 with the project's character LoRA
 * through fal's queue, and FLUX inpainting for the REFINING state. Outputs are downloaded at once
 * because fal CDN URLs expire; only bytes leave this adapter.
 *
 * - shotImage with references: fal-ai/flux-2/lora/edit, the earlier approved shots as image_urls
 *   (multi-reference continuity) plus the LoRA. The endpoint reads only the first 3 image_urls
 *   (@fal-ai/client 1.10.1 endpoints.d.ts, Flux2LoraEditInput; flux-2/edit without LoRA reads 4),
 *   so only that many are uploaded. The graph passes references oldest first (shotSteps
 *   approvedReferences), so the most recent ones are kept: the shots right before this one.
 * - shotImage without references (the first shot): fal-ai/flux-2/lora, text to image.
 * - inpaint: fal-ai/flux-lora/inpainting (image_url + mask_url, white = repaint).
 *
 * LoRA id → weights: the spec names the character's LoRA by id ("miriN14"); fal needs a URL or a
 * Hugging Face repo id of the .safetensors file. `loraUrlOf` makes that mapping; config builds it
 * with loraUrlFromTemplate(LORA_URL_TEMPLATE), e.g. "https://storage.example/loras/{id}.safetensors".
 */
import type { FalClient } from "@fal-ai/client";
import type { Media, ShotImageInput, SongIllustrator } from "./ports.js";
import { ClientError } from "./resilience.js";
import { createDownloader, generateFalImage, uploadMedia, type Download } from "./fal.js";
import { FRAME_SIZE } from "./frames.js";

const PROVIDER = "FLUX";

export const FLUX2_LORA_EDIT_MODEL = "fal-ai/flux-2/lora/edit";
export const FLUX2_LORA_MODEL = "fal-ai/flux-2/lora";
export const FLUX_INPAINT_MODEL = "fal-ai/flux-lora/inpainting";
/** flux-2/lora/edit reads the first 3 image_urls (endpoints.d.ts, Flux2LoraEditInput): no more are sent or billed. */
export const MAX_LORA_REFERENCES = 3;

type ImageSize = { width: number; height: number } | "square_hd" | "square" | "portrait_4_3" | "portrait_16_9" | "landscape_4_3" | "landscape_16_9";

export interface FalSongIllustratorOptions {
  client: FalClient;
  /** Multi-reference edit with LoRA (used when a shot has references). */
  loraModel?: string;
  /** Text-to-image with LoRA (the first shot, no references yet). */
  textModel?: string;
  inpaintModel?: string;
  /** The LoRA's weights URL (or Hugging Face repo id) for a LoRA id; see loraUrlFromTemplate. */
  loraUrlOf: (loraId: string) => string;
  /** Defaults to a plain fetch of the CDN URL. */
  download?: Download;
  /** Deadline of one call: uploads + queue + download. Default 90 s (a LoRA's first load is slow). */
  deadlineMs?: number;
  pollIntervalMs?: number;
  /** References sent per shot, the most recent kept. Default 3, what flux-2/lora/edit reads. */
  maxReferences?: number;
  /** Frames feed 16:9 video engines at 720p or more. Default 1280×720 (the landscape_16_9 preset is 1024×576). */
  imageSize?: ImageSize;
  /** LoRA strength, 0–4 on fal. Default 1. */
  loraScale?: number;
}

const LORA_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** loraUrlOf of a bot that was given no LORA_URL_TEMPLATE: every song shot says why it cannot be drawn. */
export function loraLocationMissing(): never {
  throw new Error("this bot does not know where LoRA weights are stored (LORA_URL_TEMPLATE is not set); ask its operator to set it");
}

/**
 * "https://…/{id}.safetensors" → a loraUrlOf. Fails at wiring time on a template without {id} or
 * not http(s); ids are checked (the policy's LoRA id syntax) and URL-encoded.
 */
export function loraUrlFromTemplate(template: string): (loraId: string) => string {
  if (!template.includes("{id}")) throw new Error("LORA_URL_TEMPLATE must contain {id}, e.g. https://…/{id}.safetensors");
  const probe = new URL(template.replaceAll("{id}", "probe"));
  if (probe.protocol !== "https:" && probe.protocol !== "http:") throw new Error("LORA_URL_TEMPLATE must be an http(s) URL");
  return (loraId) => {
    if (!LORA_ID.test(loraId)) throw new Error(`the LoRA id "${loraId}" is not valid (letters, digits, ".", "_" and "-" only)`);
    return template.replaceAll("{id}", encodeURIComponent(loraId));
  };
}

export function createFalSongIllustrator(options: FalSongIllustratorOptions): SongIllustrator {
  const {
    client,
    loraUrlOf,
    loraModel = FLUX2_LORA_EDIT_MODEL,
    textModel = FLUX2_LORA_MODEL,
    inpaintModel = FLUX_INPAINT_MODEL,
    deadlineMs = 90_000,
    pollIntervalMs = 500,
    maxReferences = MAX_LORA_REFERENCES,
    imageSize = { ...FRAME_SIZE },
    loraScale = 1,
  } = options;
  const download = options.download ?? createDownloader();

  const call = { client, download, provider: PROVIDER, deadlineMs, pollIntervalMs, fallbackType: "image/png" };
  const generate = (model: string, buildInput: () => Promise<Record<string, unknown>>): Promise<Media> => generateFalImage(call, model, buildInput);

  return {
    async shotImage(input: ShotImageInput) {
      // Resolved before anything is uploaded or paid: a bad id is a configuration error, not fal's.
      let path: string;
      try {
        path = loraUrlOf(input.loraId);
      } catch (err) {
        const why = (err as Error).message;
        throw new ClientError({
          provider: PROVIDER, code: "INVALID_REQUEST", message: `no LoRA weights for "${input.loraId}": ${why}`,
          userMessage: `The character's LoRA weights cannot be found: ${why}.`, cause: err,
        });
      }
      const loras = [{ path, scale: loraScale }];
      const references = maxReferences > 0 ? input.references.slice(-maxReferences) : [];
      const common = { prompt: input.prompt, loras, seed: input.seed, image_size: imageSize, num_images: 1, output_format: "png", enable_safety_checker: true };
      if (references.length === 0) return generate(textModel, async () => common);
      return generate(loraModel, async () => ({ ...common, image_urls: await Promise.all(references.map((r) => uploadMedia(client, r))) }));
    },

    inpaint(input: { image: Media; mask: Media; prompt: string; seed: number }) {
      return generate(inpaintModel, async () => {
        const [imageUrl, maskUrl] = await Promise.all([uploadMedia(client, input.image), uploadMedia(client, input.mask)]);
        return { prompt: input.prompt, image_url: imageUrl, mask_url: maskUrl, seed: input.seed, num_images: 1, output_format: "png", enable_safety_checker: true };
      });
    },
  };
}
