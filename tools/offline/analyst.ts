/**
 * The offline Strategist: brand analysis from measured pixel statistics instead of a model, and
 * conversational edits applied verbatim. Deterministic: the same image always routes the same way.
 *
 * Score mapping (n(x, lo, hi) = clamp((x − lo) / (hi − lo), 0, 1); all scores rounded to 0.01):
 * - physics  = 0.45·n(meanGradient, .01, .12) + 0.25·n(lumaStd, .05, .30) + 0.30·n(greyEntropy, 3, 7.5)
 *   High-frequency energy over a rich tonal range reads as dynamic material (liquid, fabric, foliage);
 *   a logo has edges but few tones, so it stays low.
 * - vibe     = 0.40·n(colourfulness, 15, 90) + 0.30·n(meanSaturation, .10, .70)
 *            + 0.15·n(warmth, −.20, .30) + 0.15·n(colourEntropy, 2, 7)
 *   Colourful, saturated, warm and varied palettes carry an aesthetic mood worth transferring.
 * - logic    = 0.35·n(paletteCoverage, .50, .95)·n(edgeDensity, 0, .01)
 *            + 0.35·crispness·n(edgeDensity, .005, .04) + 0.30·n(lumaStd, .10, .40)
 *   Few colours, crisp strong edges and high contrast are what logos and text look like; "few colours"
 *   only counts when something is drawn, so a blank image is not mistaken for a logo.
 * - integrity = resolution · (0.1 + 0.9·info), info = 0.30·n(lumaStd, .01, .12)
 *            + 0.30·n(edgeDensity, .002, .02) + 0.20·n(colourEntropy, 1, 4) + 0.20·n(1 − dominantShare, .02, .30)
 *   resolution = 1 from a 256 px short side, 0.8..1 from 64 px, and below 64 px 0.4·side/64, so a tiny
 *   or near-uniform image always lands below the 0.4 flag and an ordinary photo or logo above 0.6.
 */
import type { Analyst, BrandAnalysis, Media, SceneEdit, YellowContextPayload } from "../ports.js";
import { colourName, fromHex, measureImage, type ImageStats } from "./image-stats.js";
import { ADJUSTMENTS_MARK, ADJUSTMENT_SEPARATOR, readNote } from "./adjustments.js";

/** Prompts stay short enough for every engine's prompt limit, with room for the brand essence. */
export const MAX_PROMPT_CHARS = 600;
const ITEM_SEP = ADJUSTMENT_SEPARATOR;
const MAX_ADJUSTMENT_CHARS = 200;

export function createOfflineAnalyst(): Analyst {
  return {
    async analyzeBrand(image: Media): Promise<BrandAnalysis> {
      return analysisFromStats(await measureImage(image.data));
    },
    async editScene(payload: YellowContextPayload): Promise<SceneEdit> {
      return applyFeedback(payload);
    },
  };
}

const n = (x: number, lo: number, hi: number) => Math.min(1, Math.max(0, (x - lo) / (hi - lo)));
const r2 = (x: number) => Math.round(x * 100) / 100;

export function analysisFromStats(s: ImageStats): BrandAnalysis {
  const physics = r2(0.45 * n(s.meanGradient, 0.01, 0.12) + 0.25 * n(s.lumaStd, 0.05, 0.3) + 0.3 * n(s.greyEntropy, 3, 7.5));
  const vibe = r2(
    0.4 * n(s.colourfulness, 15, 90) + 0.3 * n(s.meanSaturation, 0.1, 0.7) +
      0.15 * n(s.warmth, -0.2, 0.3) + 0.15 * n(s.colourEntropy, 2, 7),
  );
  const logic = r2(
    0.35 * n(s.paletteCoverage, 0.5, 0.95) * n(s.edgeDensity, 0, 0.01) +
      0.35 * s.crispness * n(s.edgeDensity, 0.005, 0.04) + 0.3 * n(s.lumaStd, 0.1, 0.4),
  );
  const info =
    0.3 * n(s.lumaStd, 0.01, 0.12) + 0.3 * n(s.edgeDensity, 0.002, 0.02) +
    0.2 * n(s.colourEntropy, 1, 4) + 0.2 * n(1 - s.dominantShare, 0.02, 0.3);
  const side = Math.min(s.width, s.height);
  const resolution = side >= 256 ? 1 : side >= 64 ? 0.8 + (0.2 * (side - 64)) / 192 : (0.4 * side) / 64;
  const integrity = r2(resolution * (0.1 + 0.9 * info));

  const palette = brandFirst(s);
  const mood = moodOf(s);
  const subject = subjectOf(s, { physics, vibe, logic }, integrity);
  return {
    physics,
    vibe,
    logic,
    integrity,
    brandEssencePrompt: essence(mood, subject, palette, s, { physics, logic }),
    colorPalette: palette,
    invariantElements: [`primary colour ${palette[0]} (${colourName(palette[0])})`, "logo/subject silhouette"],
    subject,
    mood,
    integrityNotes: integrityNotes(s, integrity, side),
    offline: true,
  };
}

/**
 * The most frequent colour leads, unless it is a neutral backdrop (white page, grey wall) behind a
 * chromatic mark: then the mark's colour is the brand colour and the backdrop moves behind it.
 */
function brandFirst(s: ImageStats): string[] {
  const hexes = s.palette.map((c) => c.hex);
  if (chroma(hexes[0]) >= 0.2) return hexes;
  const mark = s.palette.findIndex((c) => chroma(c.hex) >= 0.2 && c.share >= 0.01);
  return mark > 0 ? [hexes[mark], ...hexes.filter((_, i) => i !== mark)] : hexes;
}

function chroma(hex: string): number {
  const [r, g, b] = fromHex(hex);
  return (Math.max(r, g, b) - Math.min(r, g, b)) / 255;
}

function moodOf(s: ImageStats): string {
  const bright = s.meanLuminance > 0.55, dark = s.meanLuminance < 0.3, vivid = s.meanSaturation > 0.45;
  if (s.meanSaturation < 0.12) {
    return bright ? "clean and minimal" : dark ? "stark and dramatic" : "understated and monochrome";
  }
  if (s.warmth > 0.05) return vivid ? (bright ? "vibrant and sunny" : "rich and warm") : "soft and inviting";
  if (s.warmth < -0.05) return vivid ? (bright ? "fresh and electric" : "deep and nocturnal") : "calm and serene";
  return vivid ? "bold and playful" : "balanced and natural";
}

function subjectOf(s: ImageStats, scores: { physics: number; vibe: number; logic: number }, integrity: number): string {
  if (integrity < 0.4 && s.dominantShare > 0.9) return "flat colour field";
  if (scores.logic >= 0.6 && scores.logic >= scores.physics) return "logo or typographic mark";
  if (scores.physics >= 0.6) return "textured material surface";
  if (scores.vibe >= 0.6) return "colourful brand scene";
  return "brand subject";
}

function essence(
  mood: string,
  subject: string,
  palette: string[],
  s: ImageStats,
  scores: { physics: number; logic: number },
): string {
  const [first, ...rest] = palette;
  const accents = rest.slice(0, 2).map((hex) => `${colourName(hex)} (${hex})`);
  const light = s.meanLuminance > 0.6 ? "high-key" : s.meanLuminance < 0.35 ? "low-key" : "even, natural";
  const surface = scores.logic >= 0.6 ? "crisp graphic edges" : scores.physics >= 0.6 ? "tactile, detailed surfaces" : "smooth forms";
  return (
    `A ${mood} ${subject} in ${colourName(first)} (${first})` +
    (accents.length ? ` with ${accents.join(" and ")} accents` : "") +
    `, ${light} lighting, ${surface}, faithful to the original brand image.`
  );
}

function integrityNotes(s: ImageStats, integrity: number, side: number): string {
  const reasons: string[] = [];
  if (side < 64) reasons.push(`the image is only ${s.width}×${s.height} px, too small to carry brand detail`);
  if (s.dominantShare > 0.9 && s.lumaStd < 0.05) {
    const pct = Math.round(s.dominantShare * 100);
    reasons.push(`the image is almost a single colour (${pct}% of pixels are close to ${s.palette[0].hex})`);
  }
  if (s.edgeDensity < 0.002) reasons.push("it has almost no edges or shapes to anchor a scene");
  const measured =
    `${s.palette.length} distinct colour${s.palette.length === 1 ? "" : "s"}, ${(s.edgeDensity * 100).toFixed(1)}% edge pixels, ` +
    `contrast ${s.lumaStd.toFixed(2)}, ${s.width}×${s.height} px`;
  // The graph wraps these notes in its own "Flagged for review: integrity score …" sentence, so
  // they give the reasons and the measures only: saying "flagged" here would say it twice.
  if (integrity < 0.4) return `${capitalise(reasons.join("; ") || "too little visual information")}. Measured: ${measured}.`;
  return `Enough visual information (integrity ${integrity.toFixed(2)}): ${measured}.` +
    (reasons.length ? ` Caveat: ${reasons.join("; ")}.` : "");
}

/**
 * Without a model the feedback cannot be blended into the prose, so it is appended as an explicit
 * adjustment list. Earlier user turns stay listed so the scene visibly keeps its conversation.
 */
export function applyFeedback(payload: YellowContextPayload): SceneEdit {
  const feedback = clip(payload.user_feedback.trim(), MAX_ADJUSTMENT_CHARS);
  const current = payload.current_scene.cinematography_prompt;
  const markAt = current.indexOf(ADJUSTMENTS_MARK);
  const base = (markAt >= 0 ? current.slice(0, markAt) : current).trim();
  const fromPrompt = markAt >= 0 ? current.slice(markAt + ADJUSTMENTS_MARK.length).split(ITEM_SEP) : [];
  const fromHistory = payload.conversation_history.filter((t) => t.role === "user").map((t) => t.content);
  const all = [...fromPrompt, ...fromHistory, feedback].map((a) => clip(a.trim(), MAX_ADJUSTMENT_CHARS)).filter(Boolean);
  // A request repeated later counts once, at its latest position.
  const lastIndex = new Map(all.map((a, i) => [a.toLowerCase(), i]));
  const adjustments = all.filter((a, i) => lastIndex.get(a.toLowerCase()) === i);

  const compose = (items: string[], b: string) => (items.length ? `${b}${ADJUSTMENTS_MARK}${items.join(ITEM_SEP)}` : b);
  let kept = adjustments;
  while (kept.length > 1 && compose(kept, base).length > MAX_PROMPT_CHARS) kept = kept.slice(1);
  const room = MAX_PROMPT_CHARS - (compose(kept, "").length);
  const prompt = compose(kept, clip(base, Math.max(80, room)));
  const dropped = adjustments.length - kept.length;

  const earlier = kept.slice(0, -1);
  const sceneNo = payload.current_scene.sequence_index + 1;
  const reply =
    (feedback ? `Scene ${sceneNo}: added "${feedback}" to the prompt` : `Scene ${sceneNo}: no new feedback, prompt unchanged`) +
    (earlier.length ? `, kept ${earlier.length} earlier request(s): ${earlier.map((e) => `"${e}"`).join(", ")}` : "") +
    (dropped ? `; dropped the ${dropped} oldest to stay under ${MAX_PROMPT_CHARS} characters` : "") +
    `. ${previewPromise(feedback)} (Offline edit: the note is added verbatim, no model rewrote the prompt.)`;
  return { cinematographyPrompt: prompt.slice(0, MAX_PROMPT_CHARS), reply };
}

/** What the offline preview will visibly change for this note (tools/offline/adjustments.ts). */
function previewPromise(feedback: string): string {
  const { labels } = readNote(feedback);
  return labels.length
    ? `The new preview shows it: ${labels.join(", ")}.`
    : "No light, colour, camera or mood word I can draw offline, so the new preview keeps its look; a real model would follow the note.";
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(" ");
  return (space > max * 0.6 ? cut.slice(0, space) : cut) + "…";
}
