/**
 * The Strategist (spec §1–2, §4): Gemini through @langchain/google-genai. Brand analysis from the
 * uploaded image, and conversational YELLOW edits. Retries are off in the SDK (maxRetries 0): the
 * resilience layer owns them, and this adapter only turns Gemini's answers into typed results or
 * typed errors (a 429 carries Gemini's RetryInfo delay as retryAfterMs).
 */
import { ChatGoogleGenerativeAI } from "@langchain/google-genai";
import { HumanMessage, SystemMessage, type BaseMessage } from "@langchain/core/messages";
import { z } from "zod";
import type { Analyst, BrandAnalysis, Media, SceneEdit, YellowContextPayload } from "./ports.js";
import { anySignal, attemptSignal } from "./resilience.js";
import { geminiError, invalidAnswer, validateAnswer as validate } from "./gemini-errors.js";

export interface GeminiAnalystOptions {
  apiKey: string;
  /** Must start with gemini-2 or gemini-3: the SDK refuses images for other names. */
  model: string;
  /** Tests point this at the loopback stand-in. Defaults to Google's endpoint. */
  baseUrl?: string;
  /** Deadline of one HTTP call. Default 60 s (spec §6.2). */
  deadlineMs?: number;
  temperature?: number;
}

const score = (what: string) => z.number().min(0).max(1).describe(what);
// Wire schemas stay inside the documented OpenAPI subset of Gemini's responseSchema (no string
// lengths or patterns); emptiness and colour syntax are checked after parsing.

/** What Gemini must return for an analysis (snake_case, as in the spec). */
export const BrandAnalysisSchema = z.object({
  physics_score: score("0..1: how much the brand calls for physical dynamics: liquids, pours, splashes, cloth, particles"),
  vibe_score: score("0..1: how much it is about mood and aesthetic motion rather than mechanics"),
  logic_score: score("0..1: how much it depends on legible text, logos, UI or step-by-step logic"),
  integrity_score: score("0..1: is this a genuine, safe brand asset; below 0.4 means unsafe, deceptive or not a brand image"),
  brand_essence_prompt: z.string().describe("1-3 sentences that distil the brand for image and video prompts: subject, materials, palette, mood; no text overlays"),
  color_palette: z.array(z.string()).min(1).max(8).describe("3-6 dominant colours as #rrggbb"),
  invariant_elements: z.array(z.string()).describe("visual anchors that must persist in every scene (product shape, logo placement, key colours)"),
  subject: z.string().describe("the main subject in a few words"),
  mood: z.string().describe("the mood in a few words"),
  integrity_notes: z.string().describe("why the integrity score is what it is"),
});

export const SceneEditSchema = z.object({
  cinematography_prompt: z.string().describe("the full replacement prompt for the scene, not a diff"),
  reply: z.string().describe("one or two friendly sentences to the user saying what changed"),
});

const ANALYSIS_PROMPT = `You are the Strategist of a brand video studio. Analyse the brand image and return JSON.
Scores are numbers between 0 and 1:
- physics_score: high (>0.7) when the product wants physical dynamics (liquids, pours, splashes, fabric, particles).
- vibe_score: high when the brand is about atmosphere, mood and aesthetic motion.
- logic_score: high when legible text, logos, interfaces or precise logic must survive animation.
- integrity_score: how clearly this is a genuine, safe brand asset. Below 0.4 for unsafe, deceptive,
  infringing or non-brand content; explain in integrity_notes.
brand_essence_prompt is injected into every later image and video prompt: describe subject, materials,
palette and mood in 1-3 sentences, ignoring background noise, compression artifacts and text overlays.
color_palette lists the dominant colours as #rrggbb. invariant_elements are the visual anchors that
must stay identical in every scene.`;

const EDIT_PROMPT = `You are the Strategist of a brand video studio, editing one scene with the user.
You get a JSON payload: the brand essence, the current scene, the conversation so far, earlier prompts
with their feedback, and the user's new feedback. Write an adjusted cinematography_prompt that applies
the feedback while keeping the brand essence and the scene's invariant_token intact, and a short reply
to the user. Return JSON with cinematography_prompt and reply.`;

type Task = "analysis" | "edit";

function toHex(colour: string): string | undefined {
  const m = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(colour.trim());
  if (!m) return undefined;
  const hex = m[1].length === 3 ? [...m[1]].map((c) => c + c).join("") : m[1];
  return `#${hex.toLowerCase()}`;
}

function requireText(fields: Record<string, string>) {
  const empty = Object.entries(fields).filter(([, v]) => !v.trim()).map(([k]) => k);
  if (empty.length) throw invalidAnswer(`empty ${empty.join(", ")}`);
}

export function createGeminiAnalyst(options: GeminiAnalystOptions): Analyst {
  const { apiKey } = options;
  const model = options.model.replace(/^models\//, "");
  if (!/^gemini-[23]/.test(model)) {
    throw new Error(`Gemini model "${model}" cannot take images through this SDK: use a gemini-2.x or gemini-3.x model name`);
  }
  const deadlineMs = options.deadlineMs ?? 60_000;
  const chat = new ChatGoogleGenerativeAI({
    model,
    apiKey,
    baseUrl: options.baseUrl,
    maxRetries: 0,
    temperature: options.temperature ?? 0.2,
  });
  const analysisModel = chat.withStructuredOutput(BrandAnalysisSchema, { name: "brand_analysis" });
  const editModel = chat.withStructuredOutput(SceneEditSchema, { name: "scene_edit" });

  async function invoke<T>(task: Task, runnable: { invoke(input: BaseMessage[], config?: { signal?: AbortSignal }): Promise<T> }, messages: BaseMessage[]): Promise<T> {
    const deadline = AbortSignal.timeout(deadlineMs);
    try {
      return await runnable.invoke(messages, { signal: anySignal(deadline, attemptSignal()) });
    } catch (err) {
      throw geminiError(err, {
        apiKey,
        deadline,
        tryInstead: "image or wording",
        failureMessage: task === "edit" ? "Editing the scene failed. Please try again." : undefined,
      });
    }
  }

  return {
    async analyzeBrand(image: Media): Promise<BrandAnalysis> {
      const raw = await invoke("analysis", analysisModel, [
        new SystemMessage(ANALYSIS_PROMPT),
        new HumanMessage({
          content: [
            { type: "text", text: "Analyse this brand image." },
            { type: "image", mimeType: image.contentType, data: Buffer.from(image.data).toString("base64") },
          ],
        }),
      ]);
      // Parsed once by the SDK; parsed again here because the SDK's parser is only as strict as
      // the wire schema, and the port's type must hold whatever the model sent.
      const a = validate(BrandAnalysisSchema, raw);
      requireText({ brand_essence_prompt: a.brand_essence_prompt, subject: a.subject, mood: a.mood });
      const colorPalette = a.color_palette.map(toHex).filter((c): c is string => c !== undefined);
      if (colorPalette.length === 0) {
        throw invalidAnswer("no #rrggbb colour in color_palette");
      }
      return {
        physics: a.physics_score,
        vibe: a.vibe_score,
        logic: a.logic_score,
        integrity: a.integrity_score,
        brandEssencePrompt: a.brand_essence_prompt.trim(),
        colorPalette,
        invariantElements: a.invariant_elements.map((s) => s.trim()).filter(Boolean),
        subject: a.subject.trim(),
        mood: a.mood.trim(),
        integrityNotes: a.integrity_notes.trim(),
        offline: false,
      };
    },

    async editScene(payload: YellowContextPayload): Promise<SceneEdit> {
      const raw = await invoke("edit", editModel, [new SystemMessage(EDIT_PROMPT), new HumanMessage(JSON.stringify(payload))]);
      const edit = validate(SceneEditSchema, raw);
      requireText({ cinematography_prompt: edit.cinematography_prompt, reply: edit.reply });
      return { cinematographyPrompt: edit.cinematography_prompt.trim(), reply: edit.reply.trim() };
    },
  };
}
