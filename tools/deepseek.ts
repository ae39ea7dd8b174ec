/**
 * The Technical Director (spec §1): DeepSeek through the openai SDK, in JSON mode. DeepSeek's JSON
 * mode enforces no schema and may answer blank, so every answer is validated with zod and a bad one
 * is re-asked (twice at most) inside the same call. SDK retries are off; the resilience layer owns
 * retries. The SDK `timeout` only covers the wait for headers and DeepSeek answers 200 at once and
 * then pads with blank lines while overloaded, so each call also carries an AbortSignal deadline.
 */
import OpenAI from "openai";
import { z } from "zod";
import type { BrandAnalysis, DirectInput, Director, ProductionEngine, RerollInput, SceneScript } from "./ports.js";
import { ClientError, ProviderError, anySignal, attemptSignal, classifyError, redactSecrets, retryAfterOf } from "./resilience.js";

const PROVIDER = "DEEPSEEK";

export interface DeepSeekDirectorOptions {
  apiKey: string;
  /** e.g. deepseek-v4-flash (deepseek-chat is retired on 2026-07-24). */
  model: string;
  /** https://api.deepseek.com, or the loopback stand-in. */
  baseUrl: string;
  /** Deadline of one HTTP call, body included. */
  deadlineMs: number;
  fetch?: typeof fetch;
  /** Default 4000: a storyboard is a few hundred tokens, the cap stops a runaway answer. */
  maxTokens?: number;
  /** Re-asks after a blank or invalid answer. Default 2. */
  maxReasks?: number;
}

/** Clip lengths every engine can do (Luma and Veo snap to their own values downstream). */
export const SCENE_DURATIONS_S = [5, 10] as const;

const SceneWire = z.object({
  cinematography_prompt: z.string().trim().min(10),
  camera_movement: z.string().trim().min(2),
  lighting_notes: z.string().trim().min(2),
  invariant_token: z.string().trim().min(1),
  // Models write "5" or 6 now and then; snapping is cheaper than a re-ask.
  duration_s: z.coerce.number().positive().max(30),
});

const StoryboardWire = z.object({ scenes: z.array(SceneWire).min(1) });

const EXAMPLE = JSON.stringify({
  scenes: [
    {
      cinematography_prompt: "Macro shot of the amber glass bottle on wet slate, droplets sliding down the label, shallow depth of field",
      camera_movement: "slow dolly in",
      lighting_notes: "soft warm key from the left, cool rim light, gentle haze",
      invariant_token: "amber glass bottle with the gold cap",
      duration_s: 5,
    },
  ],
});

const ENGINE_NOTES: Record<ProductionEngine, string> = {
  KLING: "The engine is Kling: it excels at physical motion (liquids, pours, fabric, particles); give each scene one clear physical action.",
  LUMA: "The engine is Luma: it excels at mood and aesthetic motion; favour atmosphere, light changes and smooth camera moves.",
  GEMINI_PRO: "The engine is Veo: it keeps text and logic legible; keep logos and labels facing the camera and motion simple.",
};

const SYSTEM_PROMPT = `You are the Technical Director of a brand video studio. You write the technical script of a
short brand video, one entry per scene: the cinematography prompt for the image and video models, the camera
movement, the lighting, and the invariant token (the visual anchor that must persist in the scene).
Durations are 5 or 10 seconds. Every scene must respect the brand essence and its invariant elements.
Answer with a single json object and nothing else, exactly in this format:
${EXAMPLE}`;

function snapDuration(seconds: number): number {
  return seconds > 7.5 ? 10 : 5;
}

function toScene(s: z.infer<typeof SceneWire>): SceneScript {
  return {
    cinematographyPrompt: s.cinematography_prompt,
    cameraMovement: s.camera_movement,
    lightingNotes: s.lighting_notes,
    invariantToken: s.invariant_token,
    durationS: snapDuration(s.duration_s),
  };
}

type Parsed = { ok: true; scenes: SceneScript[] } | { ok: false; problem: string };

/** Exactly `expected` scenes or a description of what is wrong, for the re-ask. */
export function parseStoryboard(content: string, expected: number): Parsed {
  const text = content.trim();
  if (!text) return { ok: false, problem: "blank" };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: "not valid JSON" };
  }
  const result = StoryboardWire.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    return { ok: false, problem: `not in the required format (${issues.join("; ")})` };
  }
  const { scenes } = result.data;
  if (scenes.length < expected) return { ok: false, problem: `${scenes.length} scenes instead of ${expected}` };
  return { ok: true, scenes: scenes.slice(0, expected).map(toScene) };
}

function brandBrief(analysis: BrandAnalysis) {
  return {
    brand_essence_prompt: analysis.brandEssencePrompt,
    subject: analysis.subject,
    mood: analysis.mood,
    color_palette: analysis.colorPalette,
    invariant_elements: analysis.invariantElements,
    scores: { physics: analysis.physics, vibe: analysis.vibe, logic: analysis.logic },
  };
}

function deepSeekError(err: unknown, apiKey: string, deadline: AbortSignal): unknown {
  if (err instanceof ProviderError) return err;
  const e = err as { name?: string; message?: string };
  // DeepSeek's 401 text echoes part of the key: redact before it goes anywhere.
  const message = redactSecrets(`${e?.name ?? "Error"}: ${e?.message ?? String(err)}`, [apiKey]);
  if (deadline.aborted) return new ProviderError({ provider: PROVIDER, code: "TIMEOUT", message, cause: err });
  if (attemptSignal()?.aborted) return err;
  if (err instanceof OpenAI.APIConnectionTimeoutError) return new ProviderError({ provider: PROVIDER, code: "TIMEOUT", message, cause: err });
  if (err instanceof OpenAI.APIError && err.status !== undefined) {
    const status = err.status;
    if (status === 429) {
      return new ProviderError({
        provider: PROVIDER, code: "EXTERNAL_RATE_LIMIT", message, status, retryable: true, retryAfterMs: retryAfterOf(err),
        userAction: "RETRY", fallbackAvailable: false, userMessage: "The storyboard writer is busy. Please try again in a minute.", cause: err,
      });
    }
    if (status === 401 || status === 403) return new ProviderError({ provider: PROVIDER, code: "AUTH_FAILED", message, status, cause: err });
    if (status === 402) return new ProviderError({ provider: PROVIDER, code: "QUOTA_EXHAUSTED", message, status, cause: err });
    // DeepSeek answers an id it does not serve with 400 "Model Not Exist": a configuration error, said plainly.
    if (status === 400 && /model not exist/i.test(err.message)) {
      return new ClientError({
        provider: PROVIDER, code: "INVALID_REQUEST", message, status, cause: err,
        userMessage: "The storyboard writer's model is not available any more. The bot's operator has to set a current DEEPSEEK_MODEL.",
      });
    }
    if (status >= 400 && status < 500) return new ClientError({ provider: PROVIDER, code: "INVALID_REQUEST", message, status, cause: err });
    return new ProviderError({ provider: PROVIDER, code: "SCRIPT_FAILED", message, status, retryable: true, cause: err });
  }
  // Connection errors may work next time; a bug in our code (a plain TypeError) won't.
  return new ProviderError({ provider: PROVIDER, code: "SCRIPT_FAILED", message, retryable: classifyError(err).retryable, cause: err });
}

type Message = { role: "system" | "user" | "assistant"; content: string };

export function createDeepSeekDirector(options: DeepSeekDirectorOptions): Director {
  const { apiKey, model, deadlineMs } = options;
  const maxTokens = options.maxTokens ?? 4000;
  const maxReasks = options.maxReasks ?? 2;
  const client = new OpenAI({ apiKey, baseURL: options.baseUrl, maxRetries: 0, timeout: deadlineMs, fetch: options.fetch });

  async function complete(messages: Message[], temperature: number): Promise<string> {
    const deadline = AbortSignal.timeout(deadlineMs);
    const body = {
      model,
      messages,
      response_format: { type: "json_object" as const },
      max_tokens: maxTokens,
      temperature,
      // V4 thinks by default: slower, pricier, and it ignores temperature. Not in the SDK's types.
      thinking: { type: "disabled" },
    };
    try {
      const res = await client.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming, {
        signal: anySignal(deadline, attemptSignal()),
      });
      return res.choices[0]?.message?.content ?? "";
    } catch (err) {
      throw deepSeekError(err, apiKey, deadline);
    }
  }

  /** Asks, validates, and re-asks with the problem spelled out. */
  async function storyboard(user: object, expected: number, temperature: number): Promise<SceneScript[]> {
    const messages: Message[] = [
      { role: "system", content: SYSTEM_PROMPT },
      { role: "user", content: JSON.stringify(user) },
    ];
    const problems: string[] = [];
    for (let ask = 0; ask <= maxReasks; ask++) {
      const content = await complete(messages, temperature);
      const parsed = parseStoryboard(content, expected);
      if (parsed.ok) return parsed.scenes;
      problems.push(parsed.problem);
      if (content.trim()) messages.push({ role: "assistant", content });
      messages.push({
        role: "user",
        content: `Your previous answer was ${parsed.problem}. Answer again with only the json object, in exactly the format of the example, with exactly ${expected} scene${expected === 1 ? "" : "s"}.`,
      });
    }
    // Not retryable: three answers already failed; the user can ask again (RETRY).
    throw new ProviderError({
      provider: PROVIDER,
      code: "INVALID_RESPONSE",
      message: `no valid storyboard after ${maxReasks + 1} answers (${problems.join(" / ")})`,
      retryable: false,
      userMessage: "The storyboard writer returned an unreadable answer. Please try again.",
    });
  }

  return {
    directScenes(input: DirectInput) {
      return storyboard(
        {
          task: `Write the technical script of ${input.sceneCount} scenes, in order.`,
          engine_notes: ENGINE_NOTES[input.engine],
          brand: brandBrief(input.analysis),
          style_reference_url: input.styleReferenceUrl,
          scenes_to_write: input.sceneCount,
        },
        input.sceneCount,
        0.7,
      );
    },

    async rerollScene(input: RerollInput) {
      const [scene] = await storyboard(
        {
          task: `The user rejected scene ${input.sequenceIndex + 1} of ${input.sceneCount}. Write one new, clearly different take on it (re-roll number ${input.attempt}). Keep the invariant token.`,
          engine_notes: ENGINE_NOTES[input.engine],
          brand: brandBrief(input.analysis),
          rejected_scene: {
            cinematography_prompt: input.previous.cinematographyPrompt,
            camera_movement: input.previous.cameraMovement,
            lighting_notes: input.previous.lightingNotes,
            invariant_token: input.previous.invariantToken,
            duration_s: input.previous.durationS,
          },
          scenes_to_write: 1,
        },
        1,
        // More variety with every re-roll, within DeepSeek's 0..2 range.
        Math.min(0.8 + 0.1 * input.attempt, 1.3),
      );
      return scene;
    },
  };
}
