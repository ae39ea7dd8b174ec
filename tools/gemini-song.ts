/**
 * The song analyst (music-video spec §4, §6 states AUDIO_ANALYSIS, VALIDATION, REFINING) on Gemini
 * through @langchain/google-genai:
 *
 * - analyzeSong: the MP3 itself goes inline as `{type:"audio", mimeType:"audio/mp3"}` (the SDK
 *   turns that block into inlineData, providers.md §3.1), and Gemini answers scenes, shots, bpm,
 *   sections and lyrics through structured output. Its times are approximate, so the plan is
 *   normalised in code (normaliseScenes): shots tile [0, durationMs] exactly, in integer ms, each
 *   between minShotMs and maxShotMs whenever the song's length allows it.
 * - auditShot: Gemini's judgement (rules, modesty, looks described outside the LoRA) united with
 *   the deterministic checks of the offline audit, so a missing mandatory term is never missed.
 * - analyzeFailure: one short rule from the rejection, with the rejected image inline.
 * - maskFor: Gemini locates the region in its native box format, the mask is drawn here.
 *
 * durationMs is measured from the file (music-metadata, every frame scanned, as intake does) and
 * only falls back to the model's claim when the file cannot be read. It counts the encoder's
 * priming and padding, so it is a few tens of ms longer than the offline analyst's decoded length.
 * beatsMs is empty: Gemini hears audio at about 30 ms per token and is not a beat tracker.
 *
 * Retries are off in the SDK (maxRetries 0): the resilience layer owns them. Errors are mapped as
 * in gemini.ts (429 RetryInfo → retryAfterMs, blocked → ClientError).
 */
import { ChatGoogleGenerativeAI } from "@langchain/google-genai";
import { HumanMessage, SystemMessage, type BaseMessage } from "@langchain/core/messages";
import { parseBuffer } from "music-metadata";
import sharp from "sharp";
import { z } from "zod";
import type { Media, ShotAudit, SongAnalysis, SongAnalysisInput, SongAnalyst, SongScene, SongShot } from "./ports.js";
import { auditPrompt, readLyrics } from "./offline/song-analyst.js";
import { MAX_INPUT_PIXELS } from "./offline/image-stats.js";
import { ClientError, ProviderError, anySignal, attemptSignal, classifyError, redactSecrets } from "./resilience.js";

const PROVIDER = "GEMINI";

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
}

/** Gemini's inline payload limit is far higher (providers.md §3.2); intake caps songs at 20 MB too. */
export const MAX_INLINE_AUDIO_BYTES = 20 * 1024 * 1024;
/** At most this long, in characters: rules are injected into every later prompt. */
export const MAX_RULE_CHARS = 120;
/** Margin around Gemini's box, as a fraction of the image: inpainting blends better past the edge. */
const MASK_PADDING = 0.02;

// ---------------------------------------------------------------------------------------------
// Wire schemas. They stay inside the OpenAPI subset of Gemini's responseSchema (no nullable, no
// string patterns): "unknown" is 0 or "", and ranges are enforced after parsing.
// ---------------------------------------------------------------------------------------------

const msField = (what: string) => z.number().describe(`${what}, integer milliseconds from the start of the track (1:23.5 is 83500)`);

export const SongPlanSchema = z.object({
  duration_ms: z.number().describe("length of the whole track in milliseconds"),
  bpm: z.number().describe("tempo in beats per minute; 0 when there is no steady beat"),
  lyrics: z.string().describe("all sung lyrics, one sung line per line; empty when instrumental"),
  sections: z
    .array(z.object({ start_ms: msField("start"), end_ms: msField("end"), label: z.string().describe("intro, verse 1, chorus, bridge, outro…") }))
    .describe("the song's sections, in order"),
  scenes: z
    .array(
      z.object({
        title: z.string().describe("a short title for the scene"),
        shots: z
          .array(
            z.object({
              start_ms: msField("start"),
              end_ms: msField("end"),
              lyrics_snippet: z.string().describe("the words sung during the shot, exactly as heard; empty when instrumental"),
              description: z.string().describe("what the shot shows: setting, action, framing, light, mood"),
            }),
          )
          .min(1),
      }),
    )
    .min(1)
    .describe("scenes in playback order; together their shots cover the whole track"),
});
type SongPlan = z.infer<typeof SongPlanSchema>;

export const ShotAuditSchema = z.object({
  ok: z.boolean().describe("true only when violations is empty"),
  violations: z.array(z.string()).describe("one short sentence per violation"),
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

const FAILURE_PROMPT = `A user rejected a generated image of a music video. From the prompt, the user's feedback and the image, write ONE rule that would have prevented the problem in future shots.
The rule reads "Avoid <thing>" or "Always <thing>", where <thing> is a short noun phrase ("Avoid bare shoulders", "Always long sleeves"): one line, at most ${MAX_RULE_CHARS} characters, general enough to apply to other shots (no shot ids, no seeds). Later prompts are checked against it word for word.
${LOOKS}
Return JSON.`;

const REGION_PROMPT = `You locate the region of an image that an edit instruction talks about, to build an inpainting mask.
Return box_2d as [ymin, xmin, ymax, xmax], normalised to 0-1000, covering everything the edit must change; prefer a small margin to cutting the object.
If the instruction is about the whole picture (light, colour, style) or names nothing visible, return [0, 0, 1000, 1000].
Return JSON.`;

// ---------------------------------------------------------------------------------------------
// Errors (as tools/gemini.ts, whose mapping is not exported)
// ---------------------------------------------------------------------------------------------

type Task = "song" | "audit" | "failure" | "mask";

const FAILURE_MESSAGE: Record<Task, string> = {
  song: "Analysing the song failed. Please try again.",
  audit: "Checking the shot prompt failed. Please try again.",
  failure: "Learning from the rejection failed. Please try again.",
  mask: "Finding the region to edit failed. Please try again.",
};

const BLOCK_REASONS = new Set(["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "OTHER"]);

/** "7s" / "1.5s" (google.protobuf.Duration in JSON) → ms. */
function parseDuration(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

interface GoogleErrorDetail {
  "@type"?: string;
  retryDelay?: unknown;
  reason?: unknown;
}

function geminiError(err: unknown, apiKey: string, deadline: AbortSignal, task: Task): unknown {
  if (err instanceof ProviderError) return err;
  const e = err as { name?: string; message?: string; status?: number; errorDetails?: GoogleErrorDetail[]; blockReason?: string; finishReason?: string };
  const message = redactSecrets(`${e?.name ?? "Error"}: ${e?.message ?? String(err)}`, [apiKey]);
  if (deadline.aborted) return new ProviderError({ provider: PROVIDER, code: "TIMEOUT", message, cause: err });
  // Cancelled by our caller (the resilience layer's own deadline): pass through untouched.
  if (attemptSignal()?.aborted) return err;
  if (e?.name === "EmptyContentError") {
    const reason = e.blockReason ?? e.finishReason ?? "unknown";
    if (e.blockReason || BLOCK_REASONS.has(String(e.finishReason))) {
      return new ClientError({
        provider: PROVIDER,
        code: "CONTENT_BLOCKED",
        message: `answer blocked (${reason})`,
        userMessage: `Gemini declined this content (${reason.toLowerCase().replace(/_/g, " ")} filter). Try a different ${task === "song" ? "song" : "image or wording"}.`,
        cause: err,
      });
    }
    return new ProviderError({ provider: PROVIDER, code: "INVALID_RESPONSE", message: `empty answer (${reason})`, retryable: true, cause: err });
  }
  if (e?.name === "OutputParserException") {
    return new ProviderError({ provider: PROVIDER, code: "INVALID_RESPONSE", message, retryable: true, cause: err });
  }
  const status = typeof e?.status === "number" ? e.status : undefined;
  const details = Array.isArray(e?.errorDetails) ? e.errorDetails : [];
  if (status === 429) {
    const retryInfo = details.find((d) => d["@type"]?.endsWith("google.rpc.RetryInfo"));
    return new ProviderError({
      provider: PROVIDER,
      code: "EXTERNAL_RATE_LIMIT",
      message,
      status,
      retryable: true,
      retryAfterMs: parseDuration(retryInfo?.retryDelay),
      userAction: "RETRY",
      fallbackAvailable: false,
      userMessage: "Gemini is busy right now. Please try again in a minute.",
      cause: err,
    });
  }
  if (status === 401 || status === 403 || details.some((d) => d.reason === "API_KEY_INVALID")) {
    return new ProviderError({ provider: PROVIDER, code: "AUTH_FAILED", message, status, cause: err });
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return new ClientError({ provider: PROVIDER, code: "INVALID_REQUEST", message, status, cause: err });
  }
  // 5xx and connection errors may work next time; a bug in our code (a plain TypeError) won't.
  const retryable = status !== undefined || /fetch failed|network|ECONN|socket/i.test(message) || classifyError(err).retryable;
  return new ProviderError({ provider: PROVIDER, code: "ANALYSIS_FAILED", message, status, retryable, userMessage: FAILURE_MESSAGE[task], cause: err });
}

function invalid(message: string, retryable = true): ProviderError {
  return new ProviderError({ provider: PROVIDER, code: "INVALID_RESPONSE", message, retryable });
}

function validate<T>(schema: z.ZodType<T>, raw: unknown): T {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw invalid(result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "));
}

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

export function createGeminiSongAnalyst(options: GeminiSongAnalystOptions): SongAnalyst {
  const { apiKey } = options;
  const model = options.model.replace(/^models\//, "");
  if (!/^gemini-[23]/.test(model)) {
    throw new Error(`Gemini model "${model}" cannot take audio or images through this SDK: use a gemini-2.x or gemini-3.x model name`);
  }
  const deadlineMs = options.deadlineMs ?? 60_000;
  const songDeadlineMs = options.songDeadlineMs ?? 180_000;
  const measureDurationMs = options.measureDurationMs ?? mp3DurationMs;
  const chat = new ChatGoogleGenerativeAI({ model, apiKey, baseUrl: options.baseUrl, maxRetries: 0, temperature: options.temperature ?? 0.2 });
  const planModel = chat.withStructuredOutput(SongPlanSchema, { name: "song_plan" });
  const auditModel = chat.withStructuredOutput(ShotAuditSchema, { name: "shot_audit" });
  const ruleModel = chat.withStructuredOutput(FailureRuleSchema, { name: "failure_rule" });
  const regionModel = chat.withStructuredOutput(RegionSchema, { name: "edit_region" });

  type Runnable<T> = { invoke(input: BaseMessage[], config?: { signal?: AbortSignal }): Promise<T> };
  async function invoke<T>(task: Task, runnable: Runnable<T>, messages: BaseMessage[]): Promise<T> {
    const deadline = AbortSignal.timeout(task === "song" ? songDeadlineMs : deadlineMs);
    try {
      return await runnable.invoke(messages, { signal: anySignal(deadline, attemptSignal()) });
    } catch (err) {
      throw geminiError(err, apiKey, deadline, task);
    }
  }

  const inline = (media: Media, mimeType = media.contentType) => ({ mimeType, data: Buffer.from(media.data).toString("base64") });

  return {
    async analyzeSong(input: SongAnalysisInput): Promise<SongAnalysis> {
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
      const [measuredMs, tagLyrics] = await Promise.all([measureDurationMs(audio), readLyrics(audio.data)]);
      const facts = [
        measuredMs ? `The track is ${measuredMs} ms long.` : "",
        `Every shot must last between ${minShotMs} and ${maxShotMs} ms.`,
        tagLyrics ? `Lyrics from the file's tags (may be incomplete or differ from what is sung):\n${tagLyrics}` : "",
      ].filter(Boolean);
      const raw = await invoke("song", planModel, [
        new SystemMessage(SONG_PROMPT),
        // Media first, then the instructions: Google's advice for prompts with one media part.
        new HumanMessage({ content: [{ type: "audio", ...inline(audio, mimeType) }, { type: "text", text: `Plan the video for this song.\n${facts.join("\n")}` }] }),
      ]);
      const plan = validate(SongPlanSchema, raw);
      return planToAnalysis(plan, { measuredMs, minShotMs, maxShotMs, tagLyrics });
    },

    async auditShot({ prompt, requiredTerms, rules }): Promise<ShotAudit> {
      const raw = await invoke("audit", auditModel, [
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

    async analyzeFailure({ prompt, feedback, image }) {
      if (!feedback.trim()) throw new RangeError("analyzeFailure needs the user's feedback to formulate a rule");
      const raw = await invoke("failure", ruleModel, [
        new SystemMessage(FAILURE_PROMPT),
        new HumanMessage({
          content: [
            ...(image ? [{ type: "image" as const, ...inline(image) }] : []),
            { type: "text" as const, text: JSON.stringify({ prompt, feedback }) },
          ],
        }),
      ]);
      const rule = shortRule(validate(FailureRuleSchema, raw).rule);
      if (!rule) throw invalid("empty rule");
      return { rule };
    },

    async maskFor({ image, instruction }): Promise<Media> {
      const { width, height } = await imageSize(image);
      const raw = await invoke("mask", regionModel, [
        new SystemMessage(REGION_PROMPT),
        new HumanMessage({ content: [{ type: "image", ...inline(image) }, { type: "text", text: `Edit instruction: ${instruction}` }] }),
      ]);
      const box = toBox(validate(RegionSchema, raw).box_2d);
      return drawMask(width, height, box);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Song plan → SongAnalysis
// ---------------------------------------------------------------------------------------------

/** Below this share of the song covered by the model's shots, the answer is not a plan of this song. */
const MIN_COVERAGE = 0.5;

async function mp3DurationMs(audio: Media): Promise<number | null> {
  try {
    const meta = await parseBuffer(audio.data, { mimeType: audio.contentType, size: audio.data.byteLength }, { duration: true, skipCovers: true });
    const s = meta.format.duration;
    return s && Number.isFinite(s) && s > 0 ? Math.round(s * 1000) : null;
  } catch {
    return null; // unreadable: the model's own duration is used
  }
}

function planToAnalysis(
  plan: SongPlan,
  o: { measuredMs: number | null; minShotMs: number; maxShotMs: number; tagLyrics: string | null },
): SongAnalysis {
  const ends = plan.scenes.flatMap((s) => s.shots.map((shot) => shot.end_ms)).filter(Number.isFinite);
  const claimedMs = Number.isFinite(plan.duration_ms) && plan.duration_ms > 0 ? plan.duration_ms : Math.max(0, ...ends);
  const durationMs = Math.round(o.measuredMs ?? claimedMs);
  if (!(durationMs > 0)) throw invalid("no duration: the file could not be measured and the model gave none");
  // Models asked for ms sometimes answer seconds; a plan that ends at ~1/1000 of the song is one.
  const maxEnd = Math.max(0, ...ends);
  const scale = maxEnd > 0 && maxEnd < durationMs / 100 && maxEnd * 1000 >= durationMs * MIN_COVERAGE ? 1000 : 1;
  const t = (v: number) => v * scale;

  const scenes: ModelScene[] = plan.scenes.map((s) => ({
    title: s.title,
    shots: s.shots.map((shot) => ({ startMs: t(shot.start_ms), endMs: t(shot.end_ms), lyricsSnippet: shot.lyrics_snippet, description: shot.description })),
  }));
  const covered = coverage(scenes.flatMap((s) => s.shots), durationMs);
  if (covered < MIN_COVERAGE * durationMs) {
    throw invalid(`the model's shots cover ${Math.round((100 * covered) / durationMs)} % of the ${durationMs} ms song`);
  }
  const sections = tileRanges(
    plan.sections.map((s) => ({ start: t(s.start_ms), end: t(s.end_ms), label: s.label.replace(/\s+/g, " ").trim() || "section" })),
    durationMs,
    () => undefined,
  ).map((s) => ({ startMs: s.start, endMs: s.end, label: s.label }));
  const bpm = Number.isFinite(plan.bpm) && plan.bpm >= 30 && plan.bpm <= 300 ? Math.round(plan.bpm * 10) / 10 : null;
  return {
    durationMs,
    bpm,
    beatsMs: [],
    sections,
    scenes: normaliseScenes(scenes, { durationMs, minShotMs: o.minShotMs, maxShotMs: o.maxShotMs }),
    lyrics: plan.lyrics.trim() || o.tagLyrics || null,
    offline: false,
  };
}

function coverage(shots: SongShot[], durationMs: number): number {
  const spans = shots
    .map((s) => [Math.max(0, Math.min(s.startMs, s.endMs)), Math.min(durationMs, Math.max(s.startMs, s.endMs))] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0, reach = 0;
  for (const [a, b] of spans) {
    if (b <= reach) continue;
    total += b - Math.max(a, reach);
    reach = b;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Normalisation: approximate model times → shots that tile the song
// ---------------------------------------------------------------------------------------------

export interface ModelScene {
  title: string;
  shots: SongShot[];
}

export interface ShotLimits {
  durationMs: number;
  minShotMs: number;
  maxShotMs: number;
}

/**
 * Clamps, sorts and de-nests ranges, then splits each gap or overlap between neighbours at its
 * middle: the result tiles [0, durationMs] in integer ms. A range inside an earlier one is folded
 * into it (`fold`), so nothing it carried is lost.
 */
function tileRanges<T extends { start: number; end: number }>(items: T[], durationMs: number, fold: (into: T, nested: T) => void): T[] {
  const clamp = (v: number) => Math.min(durationMs, Math.max(0, Math.round(v)));
  const sorted = items
    .filter((r) => Number.isFinite(r.start) && Number.isFinite(r.end))
    .map((r) => ({ ...r, start: clamp(Math.min(r.start, r.end)), end: clamp(Math.max(r.start, r.end)) }))
    .filter((r) => r.end > r.start)
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: T[] = [];
  for (const r of sorted) {
    const last = kept[kept.length - 1];
    if (last && r.end <= last.end) fold(last, r);
    else kept.push(r);
  }
  const tiles: T[] = [];
  kept.forEach((r, i) => {
    const start = i === 0 ? 0 : Math.round((kept[i - 1].end + r.start) / 2);
    const end = i === kept.length - 1 ? durationMs : Math.round((r.end + kept[i + 1].start) / 2);
    const from = Math.max(start, tiles.length ? tiles[tiles.length - 1].end : 0);
    if (end > from) tiles.push({ ...r, start: from, end });
  });
  if (tiles.length) tiles[tiles.length - 1].end = durationMs;
  return tiles;
}

const GRID_MS = 100;
/** Costs of the cut search: moving off the model's cuts is what is minimised; length is a tie-breaker. */
const GRID_CUT_COST = 1;
const DROPPED_CUT_COST = 1;
const NEAR_CUT_COST = 0.5;
const LENGTH_COST = 0.05;

/**
 * The model's plan → scenes whose shots tile [0, durationMs] exactly, each within
 * [minShotMs, maxShotMs] whenever some tiling allows it.
 *
 * 1. The model's shots are clamped, sorted and tiled (tileRanges): their boundaries are the cuts
 *    the model meant.
 * 2. A shortest path over candidate cuts (the model's, free; a 100 ms grid, each costing 1 plus up
 *    to 0.5 the further it lies from a model cut, within half a minimum shot) picks the cuts, every
 *    step between min and max. Dropping a model cut costs 1, and each shot's squared distance from
 *    the middle length is a small tie-breaker, so a long shot is split evenly and a tiny one is
 *    merged into a neighbour or has a boundary moved as little as possible.
 *    When no such tiling exists (a song shorter than a shot, or a max under twice the min with an
 *    unlucky length), the song is divided evenly into ceil(duration / max) shots.
 * 3. Each shot takes its description and scene from the model shot it overlaps most; lyric lines
 *    are spread evenly over their model shot and go to the shot that holds their instant.
 */
export function normaliseScenes(scenes: ModelScene[], limits: ShotLimits): SongScene[] {
  const { minShotMs, maxShotMs } = limits;
  const durationMs = Math.round(limits.durationMs);
  if (!(durationMs > 0)) throw new Error(`durationMs must be positive, got ${limits.durationMs}`);
  type Tile = { start: number; end: number; scene: number; lyrics: string[]; description: string };
  const tiles = tileRanges<Tile>(
    scenes.flatMap((s, scene) =>
      s.shots.map((shot) => ({ start: shot.startMs, end: shot.endMs, scene, lyrics: lyricLines(shot.lyricsSnippet), description: shot.description.replace(/\s+/g, " ").trim() })),
    ),
    durationMs,
    (into, nested) => into.lyrics.push(...nested.lyrics),
  );
  if (tiles.length === 0) throw invalid("the model returned no shot inside the song");

  const cuts = chooseCuts(tiles.slice(1).map((t) => t.start), durationMs, minShotMs, maxShotMs);
  const shots = cuts.slice(0, -1).map((startMs, i) => ({ startMs, endMs: cuts[i + 1], tile: 0, lines: [] as string[] }));
  for (const shot of shots) {
    let best = -1;
    tiles.forEach((tile, k) => {
      const overlap = Math.min(shot.endMs, tile.end) - Math.max(shot.startMs, tile.start);
      if (overlap > best) (best = overlap), (shot.tile = k);
    });
  }
  for (const tile of tiles) {
    tile.lyrics.forEach((line, k) => {
      const at = tile.start + ((k + 0.5) / tile.lyrics.length) * (tile.end - tile.start);
      const target = shots.find((s, i) => at < s.endMs || i === shots.length - 1)!;
      target.lines.push(line);
    });
  }

  const out: Array<SongScene & { index: number }> = [];
  for (const s of shots) {
    const tile = tiles[s.tile];
    const title = scenes[tile.scene].title.replace(/\s+/g, " ").trim() || `Scene ${tile.scene + 1}`;
    const shot: SongShot = { startMs: s.startMs, endMs: s.endMs, lyricsSnippet: s.lines.join(" / "), description: tile.description || title };
    const last = out[out.length - 1];
    if (last && last.index === tile.scene) last.shots.push(shot);
    else out.push({ index: tile.scene, title, shots: [shot] });
  }
  return out.map(({ title, shots: sceneShots }) => ({ title, shots: sceneShots }));
}

function lyricLines(snippet: string): string[] {
  return snippet.split(/\r?\n|\s+\/\s+/).map((l) => l.replace(/\s+/g, " ").trim()).filter(Boolean);
}

/** Cut points from 0 to durationMs (both included); see normaliseScenes step 2. */
function chooseCuts(modelCuts: number[], durationMs: number, minShotMs: number, maxShotMs: number): number[] {
  const points = new Map<number, boolean>(); // time → is a model cut
  for (let t = GRID_MS; t < durationMs; t += GRID_MS) points.set(t, false);
  for (const c of modelCuts) if (c > 0 && c < durationMs) points.set(c, true);
  const pts = [{ t: 0, model: false }, ...[...points].sort((a, b) => a[0] - b[0]).map(([t, model]) => ({ t, model })), { t: durationMs, model: false }];
  const n = pts.length;
  // modelBefore[k]: model cuts among pts[0..k-1], to count the cuts a step jumps over.
  const modelBefore = new Int32Array(n + 1);
  for (let k = 0; k < n; k++) modelBefore[k + 1] = modelBefore[k] + (pts[k].model ? 1 : 0);
  const sortedCuts = pts.filter((p) => p.model).map((p) => p.t);
  const nearRadius = Math.max(GRID_MS, minShotMs / 2);
  const pointCost = pts.map((p, k) => {
    if (p.model || k === 0 || k === n - 1) return 0;
    let d = Infinity;
    for (const c of sortedCuts) d = Math.min(d, Math.abs(c - p.t)); // few cuts per song
    return GRID_CUT_COST + (NEAR_CUT_COST * Math.min(d, nearRadius)) / nearRadius;
  });
  const target = (minShotMs + maxShotMs) / 2;
  const cost = new Float64Array(n).fill(Infinity);
  const back = new Int32Array(n).fill(-1);
  cost[0] = 0;
  for (let i = 1; i < n; i++) {
    for (let j = i - 1; j >= 0 && pts[i].t - pts[j].t <= maxShotMs; j--) {
      const len = pts[i].t - pts[j].t;
      if (len < minShotMs || cost[j] === Infinity) continue;
      const c = cost[j] + pointCost[i] + DROPPED_CUT_COST * (modelBefore[i] - modelBefore[j + 1]) + LENGTH_COST * ((len - target) / target) ** 2;
      if (c < cost[i]) (cost[i] = c), (back[i] = j);
    }
  }
  if (cost[n - 1] === Infinity) {
    const count = Math.max(1, Math.ceil(durationMs / maxShotMs));
    return Array.from({ length: count + 1 }, (_, i) => Math.round((durationMs * i) / count));
  }
  const cuts: number[] = [];
  for (let k = n - 1; k >= 0; k = back[k]) cuts.push(pts[k].t);
  return cuts.reverse();
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
  if (box2d.length !== 4 || !box2d.every(Number.isFinite)) throw invalid(`box_2d is not four numbers: ${JSON.stringify(box2d)}`);
  const unit = box2d.every((v) => v >= 0 && v <= 1) && box2d.some((v) => v > 0 && v < 1) ? 1 : 1000;
  const [y0, x0, y1, x1] = box2d.map((v) => Math.min(1, Math.max(0, v / unit)));
  const box = { x: Math.min(x0, x1), y: Math.min(y0, y1), w: Math.abs(x1 - x0), h: Math.abs(y1 - y0) };
  if (box.w <= 0 || box.h <= 0) throw invalid(`empty region ${JSON.stringify(box2d)}`);
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
