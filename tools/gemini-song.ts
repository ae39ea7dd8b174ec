/**
 * The song analyst (music-video spec §4, §6 states AUDIO_ANALYSIS, VALIDATION, REFINING) on Gemini
 * through @langchain/google-genai:
 *
 * - analyzeSong: the MP3 itself goes inline as `{type:"audio", mimeType:"audio/mp3"}` (the SDK
 *   turns that block into inlineData, providers.md §3.1), and Gemini answers scenes, shots, bpm,
 *   sections and lyrics through structured output. Its times are approximate, so the plan is
 *   normalised in code (song-plan.ts, normaliseScenes): shots tile [0, durationMs] exactly, in
 *   integer ms, each between minShotMs and maxShotMs whenever the song's length allows it.
 * - auditShot: Gemini's judgement (rules, modesty, looks described outside the LoRA) united with
 *   the deterministic checks of the offline audit, so a missing mandatory term is never missed.
 * - reviseShot: the automatic fix of a refused draft, rewritten by the model from the audit's
 *   findings, then the findings code can act on applied as well (offline/shot-fix.ts).
 * - analyzeFailure: one short rule from the rejection, with the rejected image inline.
 * Every call may name its model (the project's choice for the role); the default is `model`.
 * - maskFor: Gemini locates the region in its native box format, the mask is drawn here.
 *
 * Timing comes from the decoded audio, not from the model (Gemini hears audio at about 30 ms per
 * token and is not a beat tracker): with `songSignal`, the duration is the decoded length, the
 * beats, downbeats and sections are measured, the tempo and bar grid are told to the model, and
 * its cuts are moved onto the beats. Without it, the duration is measured from the file
 * (music-metadata, every frame: a few tens of ms of encoder padding more) and beats stay empty.
 *
 * Retries are off in the SDK (maxRetries 0): the resilience layer owns them. Errors are mapped as
 * in gemini.ts, by gemini-errors.ts (429 RetryInfo → retryAfterMs, blocked → ClientError).
 */
import { ChatGoogleGenerativeAI } from "@langchain/google-genai";
import { HumanMessage, SystemMessage, type BaseMessage } from "@langchain/core/messages";
import { parseBuffer } from "music-metadata";
import sharp from "sharp";
import { z } from "zod";
import type { Media, ShotAudit, SongAnalysis, SongAnalysisInput, SongAnalyst } from "./ports.js";
import { readLyrics } from "./offline/audio-signal.js";
import { auditPrompt } from "./offline/shot-rules.js";
import { reviseDescription } from "./offline/shot-fix.js";
import { MAX_INPUT_PIXELS } from "./offline/image-stats.js";
import { ClientError, anySignal, attemptSignal } from "./resilience.js";
import { PROVIDER, geminiError, invalidAnswer, validateAnswer as validate } from "./gemini-errors.js";
import { SongPlanSchema, planToAnalysis, type SongSignal } from "./song-plan.js";

export { SongPlanSchema, normaliseScenes, type ModelScene, type ShotLimits } from "./song-plan.js";

export interface GeminiSongAnalystOptions {
  apiKey: string;
  /** Must start with gemini-2 or gemini-3 (as in gemini.ts: the SDK refuses media for other names). */
  model: string;
  /** Tests point this at the loopback stand-in. Defaults to Google's endpoint. */
  baseUrl?: string;
  /** Deadline of one audit / failure / mask call. Default 60 s (spec §6.2). */
  deadlineMs?: number;
  /**
   * Deadline of one song analysis: a pro model listening to a 5-minute song takes longer than the
   * 60 s of the other calls. Default 180 s; wrap analyzeSong with at least this timeoutMs.
   */
  songDeadlineMs?: number;
  temperature?: number;
  /** The song's length in ms, or null when unknown. Default: music-metadata over every frame. */
  measureDurationMs?: (audio: Media) => Promise<number | null>;
  /**
   * The decoded audio's timing (offline/song-analyst.ts createSongSignal): beats, downbeats and
   * sections that the plan's cuts are moved onto. Without it cuts stay on a 100 ms grid.
   */
  songSignal?: (audio: Media, minShotMs?: number) => Promise<SongSignal>;
}

/** Gemini's inline payload limit is far higher (providers.md §3.2); intake caps songs at 20 MB too. */
export const MAX_INLINE_AUDIO_BYTES = 20 * 1024 * 1024;
/** At most this long, in characters: rules are injected into every later prompt. */
export const MAX_RULE_CHARS = 120;
/** Margin around Gemini's box, as a fraction of the image: inpainting blends better past the edge. */
const MASK_PADDING = 0.02;

// ---------------------------------------------------------------------------------------------
// Wire schemas (the song plan's is in song-plan.ts). They stay inside the OpenAPI subset of
// Gemini's responseSchema (no nullable, no string patterns): "unknown" is 0 or "", and ranges are
// enforced after parsing.
// ---------------------------------------------------------------------------------------------

export const ShotAuditSchema = z.object({
  ok: z.boolean().describe("true only when violations is empty"),
  violations: z.array(z.string()).describe("one short sentence per violation"),
});

export const RevisedShotSchema = z.object({
  revised_description: z.string().describe("the shot description rewritten so that none of the findings holds any more"),
});

export const FailureRuleSchema = z.object({
  rule: z.string().describe(`one imperative rule starting with "Avoid" or "Always", at most ${MAX_RULE_CHARS} characters`),
});

/** Gemini's native detection format (what its vision models are trained to emit). */
export const RegionSchema = z.object({
  box_2d: z.array(z.number()).min(4).max(4).describe("[ymin, xmin, ymax, xmax], each normalised to 0-1000"),
});

// ---------------------------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------------------------

const LOOKS =
  'The main character is named only as "the character": never describe her looks (hair, eyes, skin, face, body, age, ethnicity), a LoRA decides them.';

const SONG_PROMPT = `You are the music supervisor of a music-video studio. Listen to the whole song and plan its video.
- Split the song into scenes that follow its sections (intro, verse, chorus, bridge, outro…), and each scene into shots.
- Shots follow each other without gaps or overlaps: the first starts at 0 and the last ends where the track ends.
- All times are integer milliseconds from the start of the track (1:23.5 is 83500). Cut on beats, phrase ends or section changes.
- Keep every shot within the length range you are given.
- lyrics_snippet: the words sung during that shot, exactly as heard; "" when instrumental. lyrics: the full lyrics.
- description: one or two sentences of what the shot shows (setting, action, framing, light, mood), drawn from the lyrics and the music. No text, captions or lyrics inside the picture.
- ${LOOKS}
- bpm: the tempo, 0 if there is no steady beat. sections: the song's sections with their labels.
Return JSON.`;

const AUDIT_PROMPT = `You audit the image prompts of a music video before any image is paid for. The main character is a 12-year-old girl.
You get JSON with the prompt, required_terms and rules. Report every violation, each as one short sentence:
- a required term that does not appear verbatim (case does not matter);
- a rule the prompt breaks;
- anything immodest or unsafe for a child: revealing or tight clothing, bare shoulders or midriff, short skirts, suggestive poses;
- any description of the character's looks (hair, eyes, skin, face, body, age, ethnicity) outside the <lora:…> token: the LoRA alone decides them.
The required terms themselves are not violations, and neither is a mention inside a negation ("no bare shoulders").
ok is true only when violations is empty. Return JSON.`;

const REVISE_PROMPT = `An audit refused the image prompt drafted from a music-video shot description. Rewrite the description so that none of its findings holds any more.
You get JSON with the description, the audit's findings and the project's rules. Remove or replace what a finding or a rule forbids, add what a rule requires, and keep everything else the shot shows (setting, action, framing, light, mood).
Never add the character's looks; mandatory clothing terms are added later by code, so do not repeat them.
Return JSON.`;

const FAILURE_PROMPT = `A user rejected a generated image of a music video. From the prompt, the user's feedback and the image, write ONE rule that would have prevented the problem in future shots.
The rule reads "Avoid <thing>" or "Always <thing>", where <thing> is a short noun phrase ("Avoid bare shoulders", "Always long sleeves"): one line, at most ${MAX_RULE_CHARS} characters, general enough to apply to other shots (no shot ids, no seeds). Later prompts are checked against it word for word.
${LOOKS}
Return JSON.`;

const REGION_PROMPT = `You locate the region of an image that an edit instruction talks about, to build an inpainting mask.
Return box_2d as [ymin, xmin, ymax, xmax], normalised to 0-1000, covering everything the edit must change; prefer a small margin to cutting the object.
If the instruction is about the whole picture (light, colour, style) or names nothing visible, return [0, 0, 1000, 1000].
Return JSON.`;

// ---------------------------------------------------------------------------------------------
// Errors (mapped as in gemini.ts, by gemini-errors.ts)
// ---------------------------------------------------------------------------------------------

type Task = "song" | "audit" | "revise" | "failure" | "mask";

const FAILURE_MESSAGE: Record<Task, string> = {
  song: "Analysing the song failed. Please try again.",
  audit: "Checking the shot prompt failed. Please try again.",
  revise: "Fixing the shot description failed. Please try again.",
  failure: "Learning from the rejection failed. Please try again.",
  mask: "Finding the region to edit failed. Please try again.",
};

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

/** Gemini's audio MIME types (providers.md §3.2); MP3 travels as audio/mp3, not audio/mpeg. */
const GEMINI_AUDIO: Record<string, string> = {
  "audio/mpeg": "audio/mp3",
  "audio/mp3": "audio/mp3",
  "audio/wav": "audio/wav",
  "audio/x-wav": "audio/wav",
  "audio/aiff": "audio/aiff",
  "audio/aac": "audio/aac",
  "audio/ogg": "audio/ogg",
  "audio/flac": "audio/flac",
};

/** This SDK sends audio and images only to gemini-2.x and gemini-3.x model names. */
const MEDIA_MODEL = /^gemini-[23]/;

export function createGeminiSongAnalyst(options: GeminiSongAnalystOptions): SongAnalyst {
  const { apiKey } = options;
  const model = options.model.replace(/^models\//, "");
  if (!MEDIA_MODEL.test(model)) {
    throw new Error(`Gemini model "${model}" cannot take audio or images through this SDK: use a gemini-2.x or gemini-3.x model name`);
  }
  const deadlineMs = options.deadlineMs ?? 60_000;
  const songDeadlineMs = options.songDeadlineMs ?? 180_000;
  const measureDurationMs = options.measureDurationMs ?? mp3DurationMs;

  /**
   * One set of structured-output runnables per model: the project's agent configuration may name
   * a different model for each role, and building them once keeps a call as cheap as with one.
   */
  const byModel = new Map<string, ReturnType<typeof runnablesFor>>();
  const runnablesFor = (name: string) => {
    const chat = new ChatGoogleGenerativeAI({ model: name, apiKey, baseUrl: options.baseUrl, maxRetries: 0, temperature: options.temperature ?? 0.2 });
    return {
      plan: chat.withStructuredOutput(SongPlanSchema, { name: "song_plan" }),
      audit: chat.withStructuredOutput(ShotAuditSchema, { name: "shot_audit" }),
      revise: chat.withStructuredOutput(RevisedShotSchema, { name: "revised_shot" }),
      rule: chat.withStructuredOutput(FailureRuleSchema, { name: "failure_rule" }),
      region: chat.withStructuredOutput(RegionSchema, { name: "edit_region" }),
    };
  };
  /** The runnables of the model a call names (the project's choice for the role), else the default's. */
  const using = (requested: string | undefined) => {
    const name = (requested ?? model).replace(/^models\//, "");
    if (!MEDIA_MODEL.test(name)) {
      throw new ClientError({
        provider: PROVIDER, code: "INVALID_REQUEST", message: `model "${name}" is not a Gemini 2.x or 3.x model`,
        userMessage: `The project's model "${name.slice(0, 60)}" cannot be used here: set a gemini-2.x or gemini-3.x model for this role.`,
      });
    }
    let runnables = byModel.get(name);
    if (!runnables) byModel.set(name, (runnables = runnablesFor(name)));
    return runnables;
  };

  type Runnable<T> = { invoke(input: BaseMessage[], config?: { signal?: AbortSignal }): Promise<T> };
  async function invoke<T>(task: Task, runnable: Runnable<T>, messages: BaseMessage[]): Promise<T> {
    const deadline = AbortSignal.timeout(task === "song" ? songDeadlineMs : deadlineMs);
    try {
      return await runnable.invoke(messages, { signal: anySignal(deadline, attemptSignal()) });
    } catch (err) {
      throw geminiError(err, { apiKey, deadline, tryInstead: task === "song" ? "song" : "image or wording", failureMessage: FAILURE_MESSAGE[task] });
    }
  }

  const inline = (media: Media, mimeType = media.contentType) => ({ mimeType, data: Buffer.from(media.data).toString("base64") });

  return {
    model,

    async analyzeSong(input: SongAnalysisInput & { model?: string }): Promise<SongAnalysis> {
      const { audio, minShotMs, maxShotMs } = input;
      // RangeError: a caller's bug, which the resilience layer neither retries nor counts.
      if (!(minShotMs > 0) || !(maxShotMs >= minShotMs)) throw new RangeError(`need 0 < minShotMs <= maxShotMs, got ${minShotMs} and ${maxShotMs}`);
      const mimeType = GEMINI_AUDIO[audio.contentType.split(";")[0].trim().toLowerCase()];
      if (!mimeType) {
        throw new ClientError({ provider: PROVIDER, code: "INVALID_REQUEST", message: `unsupported audio type ${audio.contentType}`, userMessage: "Send the song as an MP3." });
      }
      if (audio.data.byteLength > MAX_INLINE_AUDIO_BYTES) {
        throw new ClientError({
          provider: PROVIDER, code: "INVALID_REQUEST", message: `audio of ${audio.data.byteLength} bytes exceeds the inline cap`,
          userMessage: `The song is over ${MAX_INLINE_AUDIO_BYTES / 1024 / 1024} MB. Export it at a lower bitrate and send it again.`,
        });
      }
      const [measuredMs, tagLyrics, signal] = await Promise.all([
        measureDurationMs(audio), readLyrics(audio.data), options.songSignal ? options.songSignal(audio, minShotMs) : null,
      ]);
      const lengthMs = signal?.durationMs ?? measuredMs;
      const facts = [
        lengthMs ? `The track is ${lengthMs} ms long.` : "",
        signal ? beatFacts(signal) : "",
        `Every shot must last between ${minShotMs} and ${maxShotMs} ms.`,
        tagLyrics ? `Lyrics from the file's tags (may be incomplete or differ from what is sung):\n${tagLyrics}` : "",
      ].filter(Boolean);
      const raw = await invoke("song", using(input.model).plan, [
        new SystemMessage(SONG_PROMPT),
        // Media first, then the instructions: Google's advice for prompts with one media part.
        new HumanMessage({ content: [{ type: "audio", ...inline(audio, mimeType) }, { type: "text", text: `Plan the video for this song.\n${facts.join("\n")}` }] }),
      ]);
      const plan = validate(SongPlanSchema, raw);
      return planToAnalysis(plan, { measuredMs, minShotMs, maxShotMs, tagLyrics, signal, clipLengthsMs: input.clipLengthsMs });
    },

    async auditShot({ prompt, requiredTerms, rules, model: requested }): Promise<ShotAudit> {
      const raw = await invoke("audit", using(requested).audit, [
        new SystemMessage(AUDIT_PROMPT),
        new HumanMessage(JSON.stringify({ prompt, required_terms: requiredTerms, rules })),
      ]);
      const answer = validate(ShotAuditSchema, raw);
      // The mandatory terms and the rulebook's parsable rules are checked in code as well: a model
      // that overlooks one must not let a paid image through.
      const checked = auditPrompt(prompt, requiredTerms, rules).violations;
      const violations = [...new Set([...checked, ...answer.violations.map((v) => v.replace(/\s+/g, " ").trim()).filter(Boolean)])];
      return { ok: violations.length === 0, violations };
    },

    async reviseShot({ description, violations, rules, model: requested }) {
      const raw = await invoke("revise", using(requested).revise, [
        new SystemMessage(REVISE_PROMPT),
        new HumanMessage(JSON.stringify({ description, findings: violations, rules })),
      ]);
      const revised = validate(RevisedShotSchema, raw).revised_description.replace(/[\x00-\x1F\x7F]+/g, " ").replace(/\s+/g, " ").trim();
      // The findings code can act on are acted on as well: a model that overlooks one must not make
      // the next attempt repeat this one.
      return { description: reviseDescription(revised || description, violations, rules) };
    },

    async analyzeFailure({ prompt, feedback, image, model: requested }) {
      if (!feedback.trim()) throw new RangeError("analyzeFailure needs the user's feedback to formulate a rule");
      const raw = await invoke("failure", using(requested).rule, [
        new SystemMessage(FAILURE_PROMPT),
        new HumanMessage({
          content: [
            ...(image ? [{ type: "image" as const, ...inline(image) }] : []),
            { type: "text" as const, text: JSON.stringify({ prompt, feedback }) },
          ],
        }),
      ]);
      const rule = shortRule(validate(FailureRuleSchema, raw).rule);
      if (!rule) throw invalidAnswer("empty rule");
      return { rule };
    },

    async maskFor({ image, instruction, model: requested }): Promise<Media> {
      const { width, height } = await imageSize(image);
      const raw = await invoke("mask", using(requested).region, [
        new SystemMessage(REGION_PROMPT),
        new HumanMessage({ content: [{ type: "image", ...inline(image) }, { type: "text", text: `Edit instruction: ${instruction}` }] }),
      ]);
      const box = toBox(validate(RegionSchema, raw).box_2d);
      return drawMask(width, height, box);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring the song
// ---------------------------------------------------------------------------------------------

/** The measured tempo and bar grid, so the model plans its cuts on bars the audio really has. */
function beatFacts(signal: SongSignal): string {
  if (!signal.bpm || signal.beatsMs.length === 0) return "The track has no steady beat.";
  const bar = signal.downbeatsMs.length >= 2 ? `; bars start at ${signal.downbeatsMs[0]} ms and every ${Math.round(240_000 / signal.bpm)} ms after` : "";
  return `Measured tempo: ${signal.bpm} bpm (a beat every ${Math.round(60_000 / signal.bpm)} ms, the first at ${signal.beatsMs[0]} ms${bar}).`;
}

async function mp3DurationMs(audio: Media): Promise<number | null> {
  try {
    const meta = await parseBuffer(audio.data, { mimeType: audio.contentType, size: audio.data.byteLength }, { duration: true, skipCovers: true });
    const s = meta.format.duration;
    return s && Number.isFinite(s) && s > 0 ? Math.round(s * 1000) : null;
  } catch {
    return null; // unreadable: the model's own duration is used
  }
}

// ---------------------------------------------------------------------------------------------
// Rules and masks
// ---------------------------------------------------------------------------------------------

/** One line, no wrapping quotes, at most MAX_RULE_CHARS: its first sentence, else cut at a word. */
export function shortRule(text: string): string {
  const line = text.replace(/[\x00-\x1F\x7F]+/g, " ").replace(/\s+/g, " ").trim().replace(/^["'“”]+|["'“”]+$/g, "").trim();
  if (line.length <= MAX_RULE_CHARS) return line;
  const sentence = /^.+?[.!](?=\s|$)/.exec(line)?.[0];
  if (sentence && sentence.length <= MAX_RULE_CHARS) return sentence;
  const cut = line.slice(0, MAX_RULE_CHARS + 1);
  const space = cut.lastIndexOf(" ");
  return (space > MAX_RULE_CHARS / 2 ? cut.slice(0, space) : cut.slice(0, MAX_RULE_CHARS)).replace(/[\s,;:–-]+$/, "");
}

/** Read before Gemini is paid: an image we cannot measure could not get a mask anyway. */
async function imageSize(image: Media): Promise<{ width: number; height: number }> {
  const unreadable = (cause?: unknown) =>
    new ClientError({ provider: PROVIDER, code: "INVALID_REQUEST", message: "maskFor: cannot read the image's size", cause });
  let meta: sharp.Metadata;
  try {
    meta = await sharp(image.data, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
  } catch (err) {
    throw unreadable(err);
  }
  const width = meta.autoOrient?.width ?? meta.width, height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw unreadable();
  return { width, height };
}

/** A box as fractions of the image. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Gemini's [ymin, xmin, ymax, xmax] in 0–1000 (or, from a stray answer, 0–1) → {x, y, w, h} in 0..1. */
export function toBox(box2d: number[]): Box {
  if (box2d.length !== 4 || !box2d.every(Number.isFinite)) throw invalidAnswer(`box_2d is not four numbers: ${JSON.stringify(box2d)}`);
  const unit = box2d.every((v) => v >= 0 && v <= 1) && box2d.some((v) => v > 0 && v < 1) ? 1 : 1000;
  const [y0, x0, y1, x1] = box2d.map((v) => Math.min(1, Math.max(0, v / unit)));
  const box = { x: Math.min(x0, x1), y: Math.min(y0, y1), w: Math.abs(x1 - x0), h: Math.abs(y1 - y0) };
  if (box.w <= 0 || box.h <= 0) throw invalidAnswer(`empty region ${JSON.stringify(box2d)}`);
  return box;
}

/** A PNG of the image's size: white (change) inside the padded box, black elsewhere. */
async function drawMask(width: number, height: number, box: Box): Promise<Media> {
  const x0 = Math.max(0, Math.floor((box.x - MASK_PADDING) * width));
  const y0 = Math.max(0, Math.floor((box.y - MASK_PADDING) * height));
  const x1 = Math.min(width, Math.ceil((box.x + box.w + MASK_PADDING) * width));
  const y1 = Math.min(height, Math.ceil((box.y + box.h + MASK_PADDING) * height));
  const px = new Uint8Array(width * height);
  for (let y = y0; y < y1; y++) px.fill(255, y * width + x0, y * width + x1);
  const png = await sharp(px, { raw: { width, height, channels: 1 } }).png().toBuffer();
  return { data: new Uint8Array(png), contentType: "image/png" };
}
