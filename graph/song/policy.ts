/**
 * The prompt policy of the music spec §3, enforced in code rather than left to a model's goodwill:
 * every image and video prompt is built here and checked here, and the VALIDATION state runs the
 * same checks on prompts that came from anywhere else.
 *
 * - Metadata tag: every prompt starts with `[ShotID]_[VersionID]_[ModelCode]` written so a person can
 *   read it: `S03_V2_KLING` is shot 3, version 2, for Kling. The shot is its position in the song,
 *   the version the scene_versions number the image becomes (or, for a clip, the approved image's),
 *   and the code the model family the prompt is sent to: FLUX2 or FLUXINPAINT for images, the
 *   engine that renders the clip (KLING, LUMA, VEO: after a fallback, the one that took over).
 * - Mandatory terms: REQUIRED_IMAGE_TERMS appear verbatim in every image prompt and, because a clip
 *   animates the approved image and must not drift from it, in every video prompt's start frame.
 * - Character only through the LoRA: the character is named only by the LoRA token `<lora:ID>` and
 *   its trigger word (image prompts) or as "the character" (video prompts, where the approved start
 *   frame carries her identity). Nothing else may say what she looks like: IDENTITY_PATTERNS (hair,
 *   eyes, skin, face or body descriptions, ethnicity, age, her name) are stripped from descriptions,
 *   "Always …" rules that would add them are dropped, and the checks report any that remain.
 *   Mentions inside a negation ("avoid blonde hair") are allowed: they forbid, not describe.
 * - Start frame principle: a video prompt is `<prefix> Start frame: <static resting state>. Action:
 *   <what happens>.`, and the start frame contains no motion verb.
 */
import type { ProductionEngine, SongShot } from "../../tools/ports.js";

export const REQUIRED_IMAGE_TERMS = ["Child physique", "Young girl", "Loose fit", "Heavy fabric", "Mid-calf", "Mouth CLOSED"] as const;
/** The same constraints hold for video: the clip must keep what the image showed. */
export const REQUIRED_VIDEO_TERMS = REQUIRED_IMAGE_TERMS;

/**
 * Model codes of the prefix: which model a prompt was written for, so a stored prompt, a provider
 * log line and a rejected image can be traced to each other.
 */
export const MODEL_CODES = {
  FLUX2: "FLUX.2 with the character LoRA (shot images and end frames, multi-reference)",
  FLUXINPAINT: "FLUX inpainting with the character LoRA (REFINING: mask plus instruction)",
  KLING: "Kling video (start and end anchor frames)",
  LUMA: "Luma Ray video (start and end frames)",
  VEO: "Veo video (first and last frames)",
  OFFLINE: "offline adapters (no model; tests and local runs)",
} as const;
/** One of MODEL_CODES, or an image model family's own name (see imageModelCode). */
export type ModelCode = string;

const ENGINE_CODES: Record<ProductionEngine, ModelCode> = { KLING: "KLING", LUMA: "LUMA", GEMINI_PRO: "VEO" };

/** The code of the engine that renders a clip. */
export function engineModelCode(engine: ProductionEngine): ModelCode {
  return ENGINE_CODES[engine];
}

/**
 * The code for a configured image model (`imageModel` of the project settings). A model of another
 * family is named by its own first word, so the tag stays true ("sdxl-turbo" → SDXL).
 */
export function imageModelCode(model: string, task: "image" | "inpaint"): ModelCode {
  const m = model.toLowerCase();
  if (m === "offline") return "OFFLINE";
  if (/flux/.test(m)) return task === "inpaint" ? "FLUXINPAINT" : "FLUX2";
  const own = m.split(/[^a-z0-9]+/).find(Boolean)?.toUpperCase().slice(0, 12);
  if (!own) throw new Error(`no model code for image model "${model}"`);
  return own;
}

const CODE = /^[A-Z0-9]{2,12}$/;
const PREFIX = /^S(\d{2,4})_V(\d{1,5})_([A-Z0-9]{2,12})(?=[\s.:,]|$)/;

export interface PromptTag {
  /** 1-based position of the shot in the song (0: the project's reference sheet). */
  shotNo: number;
  /** scene_versions.version_no the prompt belongs to. */
  versionNo: number;
  modelCode: ModelCode;
}

/**
 * `S03_V2_KLING`: shot numbers have at least two digits, so tags sort in song order. Shot 0 is the
 * project's reference sheet.
 */
export function promptPrefix(input: PromptTag): string {
  const { shotNo, versionNo, modelCode } = input;
  if (!Number.isInteger(shotNo) || shotNo < 0 || shotNo > 9999 || !Number.isInteger(versionNo) || versionNo < 1 || versionNo > 99999) {
    throw new Error(`shot and version numbers must be positive integers: got ${shotNo}, ${versionNo}`);
  }
  if (!CODE.test(modelCode)) throw new Error(`unknown model code "${modelCode}"`);
  return `S${String(shotNo).padStart(2, "0")}_V${versionNo}_${modelCode}`;
}

export function parsePromptPrefix(prompt: string): PromptTag | null {
  const m = prompt.match(PREFIX);
  return m ? { shotNo: Number(m[1]), versionNo: Number(m[2]), modelCode: m[3] } : null;
}

// ---------------------------------------------------------------------------------------------
// Identity descriptors
// ---------------------------------------------------------------------------------------------

const FEATURE_ADJ =
  "(?:long|short|shoulder[- ]length|curly|straight|wavy|braided|messy|neat|thick|fine|dark|light|black|brown|blonde?|" +
  "red|ginger|auburn|golden|silver|grey|gray|white|pink|blue|green|hazel|amber|pale|fair|olive|tan(?:ned)?|freckled|" +
  "rosy|round|oval|chubby|thin|full|big|small|large|bright|sparkling|deep)";
const FEATURE =
  "(?:hair(?:style|cut)?|locks|ponytail|pigtails|braids?|bangs|eyes|irises|skin(?: tone)?|complexion|face|" +
  "facial features|cheeks|lips|nose|eyebrows|eyelashes|jaw|chin)";

/**
 * What describes the character's looks rather than the shot. Clothing, pose, expression and setting
 * are not here: the mandatory terms govern clothing, and the rest is what a shot is about.
 */
export const IDENTITY_PATTERNS: readonly RegExp[] = [
  new RegExp(`(?:\\bwith\\s+)?(?:\\b(?:her|his|a|an)\\s+)?(?:\\b${FEATURE_ADJ}[\\s,-]+(?:and\\s+)?){1,4}${FEATURE}\\b`, "gi"),
  /\b(?:blonde?|brunette|redhead(?:ed)?|[a-z]+-haired|[a-z]+-eyed|[a-z]+-skinned|freckled|freckles|dimples)\b/gi,
  /\b(?:asian|african|caucasian|european|hispanic|latina|latino|arab|slavic|nordic|scandinavian)\b/gi,
  /\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen)[- ]?years?[- ]old\b/gi,
  /\b(?:teen(?:age|ager)?s?|woman|women|lady|adult|toddler|slim|skinny|chubby|plump|petite|curvy|muscular|beautiful|gorgeous|cute)\b/gi,
  /\bMiri\b/g,
];

const NEGATION = /\b(?:no|not|never|avoid|avoiding|without|don'?t|nor)\b[^.,;:!?()]*$/i;

/** Identity descriptors the text states (mentions inside a negation are not statements). */
export function findIdentityDescriptors(text: string): string[] {
  const found: string[] = [];
  for (const pattern of IDENTITY_PATTERNS) {
    for (const m of text.matchAll(new RegExp(pattern.source, pattern.flags))) {
      const before = text.slice(Math.max(0, m.index - 60), m.index);
      if (!NEGATION.test(before)) found.push(m[0].trim());
    }
  }
  return [...new Set(found)];
}

/** A shot description with its identity descriptors removed and the character named neutrally. */
export function sanitizeDescription(text: string): string {
  let out = text.replace(/[\x00-\x1F\x7F]+/g, " ").replace(/\bMiri\b/g, "the character");
  for (const pattern of IDENTITY_PATTERNS) out = out.replace(new RegExp(pattern.source, pattern.flags), " ");
  // Only now: "a 12-year-old girl" has become "a girl", which is the character too.
  out = tidy(out.replace(/\b(?:the|a|an)\s+(?:girl|child|kid)\b/gi, "the character"));
  return tidy(out.replace(/\bthe character(?:\s*,\s*the character\b)+\s*,?/gi, "the character"));
}

function tidy(text: string): string {
  return text
    .replace(/\(\s*\)|\[\s*\]/g, "")
    .replace(/\b(?:with|and|her|his|has|having|a|an)\s*(?=[,.;:]|$)/gi, "")
    .replace(/\s+([,.;:])/g, "$1")
    .replace(/([,;:])(?:\s*[,;:])+/g, "$1")
    .replace(/\s{2,}/g, " ")
    .replace(/^[\s,;:]+|[\s,;:]+$/g, "")
    .trim();
}

// ---------------------------------------------------------------------------------------------
// Image prompts
// ---------------------------------------------------------------------------------------------

const LORA_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_DESCRIPTION = 500;
const MAX_RULES = 8;
const MAX_RULE_CHARS = 200;

/** The only way the character enters an image prompt. */
export function characterToken(loraId: string, triggerWord = loraId): string {
  if (!LORA_ID.test(loraId) || !LORA_ID.test(triggerWord)) throw new Error(`invalid LoRA id or trigger word: "${loraId}", "${triggerWord}"`);
  return `<lora:${loraId}> ${triggerWord}`;
}

export interface ImagePromptInput extends PromptTag {
  shot: Pick<SongShot, "description">;
  loraId: string;
  /** The word the LoRA was trained on; the LoRA id by default. */
  triggerWord?: string;
  /** Rulebook rules relevant to this shot, most relevant first. */
  rules?: readonly string[];
}

export class PromptPolicyError extends Error {
  constructor(readonly violations: string[]) {
    super(`prompt breaks the policy: ${violations.join("; ")}`);
    this.name = "PromptPolicyError";
  }
}

/**
 * `<prefix> <lora:ID> trigger, Young girl, Child physique, Loose fit dress of Heavy fabric, Mid-calf
 * length, Mouth CLOSED. Scene: <sanitised description>. Rules: <rules>.` The shot's lyrics are not
 * quoted in: image models letter quoted text into the picture; the description carries their mood.
 */
export function buildImagePrompt(input: ImagePromptInput): string {
  const prefix = promptPrefix(input);
  const character = characterToken(input.loraId, input.triggerWord);
  const scene = sanitizeDescription(input.shot.description).slice(0, MAX_DESCRIPTION).trim();
  const parts = [
    `${prefix} ${character}, Young girl, Child physique, Loose fit dress of Heavy fabric, Mid-calf length, Mouth CLOSED.`,
    scene ? `Scene: ${terminate(scene)}` : "",
    rulesSentence(input.rules),
  ];
  const prompt = parts.filter(Boolean).join(" ");
  const violations = checkImagePrompt(prompt, { loraId: input.loraId });
  if (violations.length) throw new PromptPolicyError(violations);
  return prompt;
}

export function checkImagePrompt(prompt: string, options: { loraId?: string } = {}): string[] {
  const violations = checkCommon(prompt, REQUIRED_IMAGE_TERMS);
  const tokens = [...prompt.matchAll(/<lora:([A-Za-z0-9_.-]+)>/g)].map((m) => m[1]);
  if (tokens.length === 0) violations.push("the character is not drawn through the LoRA: no <lora:…> token");
  if (options.loraId && tokens.some((t) => t !== options.loraId)) {
    violations.push(`the prompt uses a LoRA other than the project's ${options.loraId}: ${tokens.join(", ")}`);
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------
// Video prompts
// ---------------------------------------------------------------------------------------------

export const DEFAULT_START_FRAME =
  "the character stands still in a resting pose, arms relaxed at her sides, gaze level, exactly as in the approved image";

const MOTION_VERBS =
  /\b(?:walk(?:s|ing|ed)?|run(?:s|ning)?|ran|jump(?:s|ing|ed)?|danc(?:e|es|ing|ed)|spin(?:s|ning)?|twirl(?:s|ing|ed)?|turn(?:s|ing|ed)?|mov(?:e|es|ing|ed)|rais(?:e|es|ing|ed)|wav(?:e|es|ing|ed)|reach(?:es|ing|ed)?|lift(?:s|ing|ed)?|nod(?:s|ding|ded)?|sway(?:s|ing|ed)?|swing(?:s|ing)?|climb(?:s|ing|ed)?|jog(?:s|ging)?|hop(?:s|ping)?|skip(?:s|ping)?|clap(?:s|ping)?|kick(?:s|ing)?|throw(?:s|ing)?|rush(?:es|ing)?)\b/i;
const RESTING = /\b(?:still|resting|at rest|motionless|static|stands?|standing|sits?|sitting|seated|kneels?|kneeling)\b/i;

export interface VideoPromptInput extends PromptTag {
  shot: Pick<SongShot, "description">;
  /** The static resting state the clip starts from; DEFAULT_START_FRAME when omitted. */
  startFrame?: string;
  /** What happens in the clip; the shot's description when omitted. */
  action?: string;
  rules?: readonly string[];
}

/** `<prefix> Start frame: <terms>, <resting state>. Action: <action>. Rules: <rules>.` */
export function buildVideoPrompt(input: VideoPromptInput): string {
  const prefix = promptPrefix(input);
  const rest = sanitizeDescription(input.startFrame ?? DEFAULT_START_FRAME);
  const action = sanitizeDescription(input.action ?? input.shot.description).slice(0, MAX_DESCRIPTION).trim();
  const prompt = [
    `${prefix} Start frame: Young girl, Child physique, Loose fit dress of Heavy fabric, Mid-calf length, Mouth CLOSED; ${terminate(rest)}`,
    `Action: ${terminate(action || "a slow, gentle camera push-in while she stays calm")}`,
    rulesSentence(input.rules),
  ]
    .filter(Boolean)
    .join(" ");
  const violations = checkVideoPrompt(prompt);
  if (violations.length) throw new PromptPolicyError(violations);
  return prompt;
}

export function checkVideoPrompt(prompt: string): string[] {
  const violations = checkCommon(prompt, REQUIRED_VIDEO_TERMS);
  const start = prompt.indexOf("Start frame:");
  const action = prompt.indexOf("Action:");
  if (start < 0) violations.push('no "Start frame:" section describing the resting state');
  if (action < 0) violations.push('no "Action:" section');
  if (start >= 0 && action >= 0 && action < start) violations.push('"Action:" comes before "Start frame:"');
  const prefixEnd = prompt.match(PREFIX)?.[0].length ?? 0;
  if (start >= 0 && prompt.slice(prefixEnd, start).trim()) violations.push('"Start frame:" must come first, right after the prefix');
  if (start >= 0) {
    const frame = prompt.slice(start, action > start ? action : undefined);
    const motion = frame.match(MOTION_VERBS);
    if (motion) violations.push(`the start frame describes motion ("${motion[0]}"); it must be the static resting state`);
    if (!RESTING.test(frame)) violations.push("the start frame does not describe a resting state (still, standing, sitting…)");
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------

function checkCommon(prompt: string, required: readonly string[]): string[] {
  const violations: string[] = [];
  if (!PREFIX.test(prompt)) violations.push("missing the [ShotID]_[VersionID]_[ModelCode] prefix at the start");
  const lower = prompt.toLowerCase();
  for (const term of required) if (!lower.includes(term.toLowerCase())) violations.push(`missing required term "${term}"`);
  // The mandatory terms are constraints the spec imposes, not descriptions of the character.
  let scan = prompt;
  for (const term of required) scan = scan.replace(new RegExp(escapeRegExp(term), "gi"), " ");
  const identity = findIdentityDescriptors(scan);
  if (identity.length) violations.push(`describes the character outside the LoRA: ${identity.map((d) => `"${d}"`).join(", ")}`);
  return violations;
}

/**
 * "Rules: …" from the rulebook, in order, each at most 200 characters and 8 at most. A positive rule
 * that would describe the character ("Always blonde hair") is dropped: the LoRA decides her looks.
 */
function rulesSentence(rules: readonly string[] | undefined): string {
  const kept = (rules ?? [])
    .map((r) => r.replace(/[\x00-\x1F\x7F]+/g, " ").replace(/\s+/g, " ").trim().slice(0, MAX_RULE_CHARS))
    .filter((r) => r.length > 0 && findIdentityDescriptors(r).length === 0 && !/[[\]<>]/.test(r))
    .slice(0, MAX_RULES);
  return kept.length ? `Rules: ${kept.map(terminate).join(" ")}` : "";
}

function terminate(sentence: string): string {
  const s = sentence.trim();
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
