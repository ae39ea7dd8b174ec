/**
 * What a 🟡 note asks of the picture, read without a model: keywords for light, colour, camera and
 * mood, each mapped to a change the offline illustrator can draw (warmer light warms the preview,
 * "closer" crops tighter, "dramatic" adds contrast…). It exists so the edit loop can be seen working
 * with no keys at all; a real illustrator reads the prompt itself.
 *
 * The offline analyst appends every note to the prompt after ADJUSTMENTS_MARK; the illustrator
 * finds them there, so the notes travel through the same prompt a real model would get.
 */

export const ADJUSTMENTS_MARK = "\nAdjustments (oldest first): ";
export const ADJUSTMENT_SEPARATOR = " • ";

/** Steps of change; each recognised request moves one or more of them by about ±1. */
export interface Look {
  /** + warmer (red up, blue down), − cooler. */
  warmth: number;
  /** + brighter, − darker. */
  brightness: number;
  /** + more colourful, − more muted. */
  saturation: number;
  /** + more contrast (dramatic), − flatter (soft, calm). */
  contrast: number;
  /** + closer framing (tighter crop), − wider. */
  zoom: number;
  /** + a tilted (dutch) angle. */
  tilt: number;
  /** + softer focus, − sharper. */
  softness: number;
  /** Black and white. */
  mono: boolean;
}

export const NEUTRAL: Look = { warmth: 0, brightness: 0, saturation: 0, contrast: 0, zoom: 0, tilt: 0, softness: 0, mono: false };

type Effect = Partial<Omit<Look, "mono">> & { mono?: true };

interface Keyword {
  /** Matched against one note, lower-cased. */
  pattern: RegExp;
  effect: Effect;
  /** What a person reads: "warmer light". */
  label: string;
  /** The label when the request is negated ("less warm"). */
  opposite: string;
}

/** Light, colour, camera and mood: the four things a person says about a preview. */
const KEYWORDS: Keyword[] = [
  // Light
  { pattern: /\bwarm(er|th|ly)?\b|golden|sunset|amber|sunlit/, effect: { warmth: 1 }, label: "warmer light", opposite: "cooler light" },
  { pattern: /\bcool(er)?\b|\bcold(er)?\b|\bblu(e|er|ish)\b|\bicy\b/, effect: { warmth: -1 }, label: "cooler light", opposite: "warmer light" },
  { pattern: /\bbright(er|en|ness)?\b|\blighter\b|more light|high[- ]key/, effect: { brightness: 1 }, label: "brighter", opposite: "darker" },
  { pattern: /\bdark(er|en)?\b|\bdimm?(er)?\b|low[- ]key|\bnight\b/, effect: { brightness: -1 }, label: "darker", opposite: "brighter" },
  // Colour
  { pattern: /black (and|&) white|\bb&w\b|monochrome|gr[ae]yscale/, effect: { mono: true }, label: "black and white", opposite: "in colour" },
  { pattern: /more colou?r|colou?rful|\bvivid\b|saturat|vibrant|punch(y|ier)/, effect: { saturation: 1 }, label: "more colourful", opposite: "more muted" },
  { pattern: /\bmuted\b|desaturat|pastel|washed[- ]out|less colou?r/, effect: { saturation: -1 }, label: "more muted", opposite: "more colourful" },
  // Camera
  { pattern: /\bcloser\b|zoom(ed)? in|\btighter\b|close[- ]up|push[- ]in/, effect: { zoom: 1 }, label: "closer framing", opposite: "wider framing" },
  { pattern: /\bwider\b|zoom(ed)? out|pull(ed)?[- ]back|wide shot|\bfurther away\b/, effect: { zoom: -1 }, label: "wider framing", opposite: "closer framing" },
  { pattern: /\bdutch\b|\btilt(ed)?\b|\bcanted\b/, effect: { tilt: 1 }, label: "tilted angle", opposite: "level horizon" },
  { pattern: /\bsharp(er|en)?\b|in focus|crisp(er)?/, effect: { softness: -1 }, label: "sharper", opposite: "softer" },
  // Mood
  { pattern: /dramatic|\bmoody\b|intense|more contrast|\bedgy\b/, effect: { contrast: 1, brightness: -0.5 }, label: "more dramatic", opposite: "less dramatic" },
  { pattern: /dream(y|ier)|\bsoft(er)?\b|\bhazy\b|\bmisty\b|\bgentle\b/, effect: { softness: 1, contrast: -0.5 }, label: "softer, dreamier", opposite: "crisper" },
  { pattern: /\bcalm(er)?\b|serene|peaceful|relaxed/, effect: { saturation: -0.5, contrast: -0.5 }, label: "calmer", opposite: "livelier" },
  { pattern: /energetic|\blive(ly|lier)\b|\bbold(er)?\b|playful|\bfun\b/, effect: { saturation: 0.5, contrast: 0.5 }, label: "more energetic", opposite: "calmer" },
  { pattern: /\bsad(der)?\b|melanchol|gloom/, effect: { saturation: -1, warmth: -0.5, brightness: -0.5 }, label: "gloomier", opposite: "more cheerful" },
  { pattern: /cheerful|\bhapp(y|ier)\b|joyful|uplifting/, effect: { warmth: 0.5, brightness: 0.5, saturation: 0.5 }, label: "more cheerful", opposite: "gloomier" },
];

/** "less warm", "not so dark", "no more blue": the request is the opposite of the keyword. */
const NEGATION = /\b(less|not|no|without|never)\s+(so\s+|too\s+|more\s+|as\s+)?$/;

/** The notes an offline-edited prompt carries, oldest first. */
export function adjustmentsIn(prompt: string): string[] {
  const at = prompt.indexOf(ADJUSTMENTS_MARK);
  if (at < 0) return [];
  return prompt.slice(at + ADJUSTMENTS_MARK.length).split(ADJUSTMENT_SEPARATOR).map((a) => a.trim()).filter(Boolean);
}

/** The prompt without its adjustments: the script the notes were made on. */
export function basePrompt(prompt: string): string {
  const at = prompt.indexOf(ADJUSTMENTS_MARK);
  return (at < 0 ? prompt : prompt.slice(0, at)).trim();
}

/** What one note asks for, and the words for it ("warmer light"); nothing when no keyword is in it. */
export function readNote(note: string): { effect: Look; labels: string[] } {
  const text = note.toLowerCase();
  const look: Look = { ...NEUTRAL };
  const labels: string[] = [];
  for (const k of KEYWORDS) {
    const match = k.pattern.exec(text);
    if (!match) continue;
    const negated = NEGATION.test(text.slice(Math.max(0, match.index - 16), match.index));
    if (k.effect.mono) {
      if (!negated) look.mono = true;
    } else {
      for (const [field, step] of Object.entries(k.effect) as Array<[keyof Omit<Look, "mono">, number]>) look[field] += negated ? -step : step;
    }
    labels.push(negated ? k.opposite : k.label);
  }
  return { effect: look, labels: [...new Set(labels)] };
}

/** Every note of a prompt together: later notes add to earlier ones ("warmer", then "warmer still"). */
export function lookOf(notes: string[]): { look: Look; labels: string[] } {
  const look: Look = { ...NEUTRAL };
  const labels: string[] = [];
  for (const note of notes) {
    const read = readNote(note);
    for (const field of Object.keys(NEUTRAL) as Array<keyof Look>) {
      if (field === "mono") look.mono ||= read.effect.mono;
      else look[field] = clamp(look[field] + read.effect[field], -3, 3);
    }
    labels.push(...read.labels);
  }
  return { look, labels: [...new Set(labels)] };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
