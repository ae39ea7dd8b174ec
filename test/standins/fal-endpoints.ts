/**
 * The fal endpoints the bot uses, as the stand-in enforces them: a zod mirror of each input type in
 * @fal-ai/client 1.10.1 src/types/endpoints.d.ts (ranges from the endpoints' fal.ai/models/{id}
 * llms.txt pages, quoted in providers.md §1.6), what the run checks once it has the files, and the
 * size of what it answers. An endpoint id not listed here does not exist for the stand-in.
 */
import { z } from "zod";

/** fal's named sizes (fal-js ImageSize presets; landscape_16_9 is 1024×576, a documented pitfall). */
export const IMAGE_SIZE_PRESETS = {
  square_hd: { width: 1024, height: 1024 },
  square: { width: 512, height: 512 },
  portrait_4_3: { width: 768, height: 1024 },
  portrait_16_9: { width: 576, height: 1024 },
  landscape_4_3: { width: 1024, height: 768 },
  landscape_16_9: { width: 1024, height: 576 },
} as const;

const fileUrl = z.string().url();
const imageSize = z.union([
  z.enum(Object.keys(IMAGE_SIZE_PRESETS) as [keyof typeof IMAGE_SIZE_PRESETS]),
  z.object({ width: z.number().int().positive(), height: z.number().int().positive() }),
]);
// LoRAInput: path (URL or Hugging Face repo id), scale 0–4 (endpoints.d.ts).
const lora = z.object({ path: z.string().min(1), scale: z.number().min(0).max(4).optional() });

/** FluxDevInput (FluxSchnellInput is the same type); steps 1–12 for schnell (providers.md §1.6). */
const fluxSchnell = z.object({
  prompt: z.string(),
  image_size: imageSize.optional(),
  num_inference_steps: z.number().int().min(1).max(12).optional(),
  seed: z.number().int().optional(),
  guidance_scale: z.number().optional(),
  num_images: z.number().int().min(1).max(4).optional(),
  enable_safety_checker: z.boolean().optional(),
  output_format: z.enum(["jpeg", "png"]).optional(),
  acceleration: z.enum(["none", "regular", "high"]).optional(),
  sync_mode: z.boolean().optional(),
});

/** BaseImageToInput (FluxDevImageToImageInput): image_url required, strength 0.01–1, steps 1–50. */
const fluxDevImg2Img = z.object({
  prompt: z.string(),
  image_url: fileUrl,
  strength: z.number().min(0.01).max(1).optional(),
  num_inference_steps: z.number().int().min(1).max(50).optional(),
  seed: z.number().int().optional(),
  guidance_scale: z.number().optional(),
  num_images: z.number().int().min(1).max(4).optional(),
  enable_safety_checker: z.boolean().optional(),
  output_format: z.enum(["jpeg", "png"]).optional(),
  acceleration: z.enum(["none", "regular", "high"]).optional(),
  sync_mode: z.boolean().optional(),
});

/** Flux2LoraInput: loras at most 3. */
const flux2Lora = z.object({
  prompt: z.string(),
  loras: z.array(lora).max(3).optional(),
  image_size: imageSize.optional(),
  seed: z.number().int().optional(),
  guidance_scale: z.number().optional(),
  num_inference_steps: z.number().int().optional(),
  num_images: z.number().int().min(1).max(4).optional(),
  enable_safety_checker: z.boolean().optional(),
  enable_prompt_expansion: z.boolean().optional(),
  output_format: z.enum(["jpeg", "png", "webp"]).optional(),
  acceleration: z.enum(["none", "regular", "high"]).optional(),
  sync_mode: z.boolean().optional(),
});

/** Flux2LoraEditInput: image_urls required. */
const flux2LoraEdit = flux2Lora.extend({ image_urls: z.array(fileUrl).min(1) });

/** fal-ai/flux-lora/inpainting (not in endpoints.d.ts 1.10.1; fal.ai/models/fal-ai/flux-lora/inpainting/llms.txt). */
const fluxLoraInpainting = z.object({
  prompt: z.string(),
  image_url: fileUrl,
  mask_url: fileUrl,
  image_size: imageSize.optional(),
  num_inference_steps: z.number().int().min(1).max(50).optional(),
  seed: z.number().int().optional(),
  loras: z.array(lora).optional(),
  guidance_scale: z.number().min(0).max(35).optional(),
  strength: z.number().min(0.01).max(1).optional(),
  num_images: z.number().int().min(1).max(4).optional(),
  enable_safety_checker: z.boolean().optional(),
  output_format: z.enum(["jpeg", "png"]).optional(),
  acceleration: z.enum(["none", "regular"]).optional(),
  sync_mode: z.boolean().optional(),
});

/** KlingVideoV25TurboProImageToVideoInput. */
const kling25 = z.object({
  prompt: z.string(),
  image_url: fileUrl,
  tail_image_url: fileUrl.optional(),
  duration: z.enum(["5", "10"]).optional(),
  negative_prompt: z.string().optional(),
  cfg_scale: z.number().min(0).max(1).optional(),
});

/** LumaDreamMachineRay2ImageToVideoInput. */
const lumaRay2 = z.object({
  prompt: z.string(),
  image_url: fileUrl.optional(),
  end_image_url: fileUrl.optional(),
  aspect_ratio: z.enum(["16:9", "9:16", "4:3", "3:4", "21:9", "9:21"]).optional(),
  duration: z.enum(["5s", "9s"]).optional(),
  resolution: z.enum(["540p", "720p", "1080p"]).optional(),
  loop: z.boolean().optional(),
});

/** Veo31FirstLastFrameToVideoInput. */
const veo31FirstLast = z.object({
  prompt: z.string(),
  first_frame_url: fileUrl,
  last_frame_url: fileUrl,
  duration: z.enum(["4s", "6s", "8s"]).optional(),
  resolution: z.enum(["720p", "1080p", "4k"]).optional(),
  aspect_ratio: z.enum(["auto", "16:9", "9:16"]).optional(),
  generate_audio: z.boolean().optional(),
  negative_prompt: z.string().optional(),
  auto_fix: z.boolean().optional(),
  safety_tolerance: z.enum(["1", "2", "3", "4", "5", "6"]).optional(),
  seed: z.number().int().optional(),
});

export type Size = { width: number; height: number };

export interface Endpoint {
  schema: z.ZodObject;
  kind: "image" | "video";
  /** Input fields holding files fal downloads when the request runs. */
  files: (input: Record<string, unknown>) => Array<{ field: string; url: string }>;
  /** The smallest short side an input frame may have, per field (checked once the files are read). */
  minShortSide?: Record<string, number>;
  /** Size of each output image (image endpoints), given the sizes of the input files. */
  outputSize?: (input: Record<string, unknown>, inputs: Record<string, Size>) => Size;
}

const sizeOf = (value: unknown, fallback: Size): Size =>
  typeof value === "string" ? IMAGE_SIZE_PRESETS[value as keyof typeof IMAGE_SIZE_PRESETS] ?? fallback
    : value && typeof value === "object" ? (value as Size) : fallback;

const fields = (...names: string[]) => (input: Record<string, unknown>) =>
  names.flatMap((field) => {
    const v = input[field];
    if (typeof v === "string") return [{ field, url: v }];
    if (Array.isArray(v)) return v.map((url, i) => ({ field: `${field}.${i}`, url: String(url) }));
    return [];
  });

export const ENDPOINTS: Record<string, Endpoint> = {
  // FluxDevInput: image_size defaults to landscape_4_3.
  "fal-ai/flux/schnell": { schema: fluxSchnell, kind: "image", files: fields(), outputSize: (i) => sizeOf(i.image_size, IMAGE_SIZE_PRESETS.landscape_4_3) },
  // img2img answers at the size of its input image: what fal bills per megapixel.
  "fal-ai/flux/dev/image-to-image": { schema: fluxDevImg2Img, kind: "image", files: fields("image_url"), outputSize: (_i, inputs) => inputs.image_url },
  "fal-ai/flux-2/lora": { schema: flux2Lora, kind: "image", files: fields(), outputSize: (i) => sizeOf(i.image_size, IMAGE_SIZE_PRESETS.landscape_4_3) },
  "fal-ai/flux-2/lora/edit": { schema: flux2LoraEdit, kind: "image", files: fields("image_urls"), outputSize: (i, inputs) => sizeOf(i.image_size, inputs["image_urls.0"]) },
  "fal-ai/flux-lora/inpainting": { schema: fluxLoraInpainting, kind: "image", files: fields("image_url", "mask_url"), outputSize: (i, inputs) => sizeOf(i.image_size, inputs.image_url) },
  "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": { schema: kling25, kind: "video", files: fields("image_url", "tail_image_url") },
  "fal-ai/luma-dream-machine/ray-2/image-to-video": { schema: lumaRay2, kind: "video", files: fields("image_url", "end_image_url") },
  // Veo 3.1 asks for frames of 720p or more (providers.md, "Provider behaviour").
  "fal-ai/veo3.1/first-last-frame-to-video": {
    schema: veo31FirstLast, kind: "video", files: fields("first_frame_url", "last_frame_url"),
    minShortSide: { first_frame_url: 720, last_frame_url: 720 },
  },
};

/** One entry of fal's 422 `detail` array (https://fal.ai/docs/model-apis/errors: loc, msg, type, ctx). */
export interface FieldError {
  loc: Array<string | number>;
  msg: string;
  type: string;
  ctx?: Record<string, unknown>;
}

/**
 * zod's issues in fal's shape. fal's model apps validate with pydantic v2, so the types are
 * pydantic's ("missing", "literal_error", "greater_than_equal", "too_long", …), which is what the
 * errors page lists; clients are told to branch on `type`, never on `msg` (providers.md §1.5).
 */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => {
    const loc = ["body", ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))];
    const i = issue as z.core.$ZodIssue & { input?: unknown; minimum?: unknown; maximum?: unknown; inclusive?: boolean; origin?: string; values?: unknown[]; expected?: string };
    switch (i.code) {
      case "invalid_type":
        return i.input === undefined
          ? { loc, msg: "Field required", type: "missing" }
          : { loc, msg: `Input should be a valid ${i.expected}`, type: `${i.expected === "number" ? "float" : i.expected}_type` };
      case "invalid_value":
        return { loc, msg: `Input should be ${(i.values ?? []).map((v) => `'${String(v)}'`).join(" or ")}`, type: "literal_error", ctx: { expected: i.values } };
      case "too_small":
        return i.origin === "array" || i.origin === "string"
          ? { loc, msg: `Should have at least ${String(i.minimum)} items`, type: "too_short", ctx: { min_length: i.minimum } }
          : { loc, msg: `Input should be greater than${i.inclusive ? " or equal to" : ""} ${String(i.minimum)}`, type: i.inclusive ? "greater_than_equal" : "greater_than", ctx: { [i.inclusive ? "ge" : "gt"]: i.minimum } };
      case "too_big":
        return i.origin === "array" || i.origin === "string"
          ? { loc, msg: `Should have at most ${String(i.maximum)} items`, type: "too_long", ctx: { max_length: i.maximum } }
          : { loc, msg: `Input should be less than${i.inclusive ? " or equal to" : ""} ${String(i.maximum)}`, type: i.inclusive ? "less_than_equal" : "less_than", ctx: { [i.inclusive ? "le" : "lt"]: i.maximum } };
      case "invalid_format":
        return { loc, msg: "Input should be a valid URL", type: "url_parsing" };
      default:
        return { loc, msg: issue.message, type: "value_error" };
    }
  });
}

/** Input keys the endpoint does not know. pydantic ignores them, so fal does too: the stand-in records them. */
export function ignoredFields(endpoint: Endpoint, input: Record<string, unknown>): string[] {
  const known = new Set(Object.keys(endpoint.schema.shape));
  return Object.keys(input).filter((k) => !known.has(k));
}
