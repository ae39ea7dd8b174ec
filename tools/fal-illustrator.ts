/**
 * The Artistic Director (spec §1–2): Flux through fal's queue. `styleReference` is a Flux-dev
 * img2img of the upload (spec §2 stage 2); `preview` is a Flux-schnell frame per scene. Outputs
 * are downloaded at once because fal CDN URLs expire; only bytes leave this adapter.
 *
 * Sizes are what the video engines need and what fal bills: a preview is an approved clip's first
 * frame, so it is drawn at 1280×720 (the "landscape_16_9" preset is 1024×576, below the 720p Veo
 * asks for); img2img answers at its input's size and fal bills per megapixel, so a brand image of
 * up to 40 MP is scaled to one megapixel first (bot/prices.ts books one).
 */
import type { FalClient } from "@fal-ai/client";
import type { Illustrator, Media, PreviewInput, StyleReferenceInput } from "./ports.js";
import { createDownloader, generateFalImage, uploadMedia, type Download } from "./fal.js";
import { FRAME_SIZE, MEGAPIXEL, fitWithin } from "./frames.js";

const PROVIDER = "FLUX";

export interface FalIllustratorOptions {
  client: FalClient;
  /** Text-to-image by default. An image-to-image model also receives the style reference. */
  previewModel?: string;
  styleModel?: string;
  /** Defaults to a plain fetch of the CDN URL. */
  download?: Download;
  /** Deadline of one call: upload + queue + download. Default 20 s (spec §6.2 Flux). */
  deadlineMs?: number;
  pollIntervalMs?: number;
  /** img2img strength of a preview when previewModel takes an image (high: the scene may move far). */
  previewStrength?: number;
}

export function createFalIllustrator(options: FalIllustratorOptions): Illustrator {
  const {
    client,
    previewModel = "fal-ai/flux/schnell",
    styleModel = "fal-ai/flux/dev/image-to-image",
    deadlineMs = 20_000,
    pollIntervalMs = 500,
    previewStrength = 0.85,
  } = options;
  const download = options.download ?? createDownloader();
  // fal-ai/flux/schnell is text-only: the brand reaches it through the prompt and the seed. An
  // img2img or redux preview model gets the style reference as image_url as well.
  const previewTakesImage = /image-to-image|redux/.test(previewModel);

  const call = { client, download, provider: PROVIDER, deadlineMs, pollIntervalMs, fallbackType: "image/jpeg" };
  const generate = (model: string, buildInput: () => Promise<Record<string, unknown>>): Promise<Media> => generateFalImage(call, model, buildInput);

  return {
    styleReference(input: StyleReferenceInput) {
      return generate(styleModel, async () => ({
        prompt: input.prompt,
        image_url: await uploadMedia(client, await fitWithin(input.image, MEGAPIXEL)),
        strength: input.strength,
        seed: input.seed,
        num_images: 1,
        output_format: "png",
        enable_safety_checker: true,
      }));
    },

    preview(input: PreviewInput) {
      return generate(previewModel, async () => ({
        prompt: input.prompt,
        image_size: { ...FRAME_SIZE },
        seed: input.seed,
        num_images: 1,
        output_format: "jpeg",
        enable_safety_checker: true,
        ...(previewTakesImage
          ? { image_url: await uploadMedia(client, await fitWithin(input.styleReference, MEGAPIXEL)), strength: previewStrength }
          : { num_inference_steps: 4 }), // schnell's default; sub-4 s previews (spec §1)
      }));
    },
  };
}
