/**
 * The song plan Gemini answers (SongPlanSchema) and its normalisation into a SongAnalysis. The
 * model's times are approximate, so the plan is normalised in code (normaliseScenes): shots tile
 * [0, durationMs] exactly, in integer ms, each between minShotMs and maxShotMs whenever the song's
 * length allows it. With the decoded audio's signal (beats, downbeats, sections: what the offline
 * analyst measures), the model's cuts are moved onto beats and the timing facts are the signal's.
 */
import { z } from "zod";
import type { SongAnalysis, SongScene, SongShot } from "./ports.js";
import { invalidAnswer } from "./gemini-errors.js";
import { planCuts } from "./beat-cuts.js";

/** What the decoded audio says about the song's timing (tools/offline/audio-signal.ts measures it). */
export interface SongSignal {
  durationMs: number;
  bpm: number | null;
  beatsMs: number[];
  downbeatsMs: number[];
  sections: Array<{ startMs: number; endMs: number; label: string }>;
}

// The wire schema stays inside the OpenAPI subset of Gemini's responseSchema (no nullable, no
// string patterns): "unknown" is 0 or "", and ranges are enforced after parsing.

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
export type SongPlan = z.infer<typeof SongPlanSchema>;

// ---------------------------------------------------------------------------------------------
// Song plan → SongAnalysis
// ---------------------------------------------------------------------------------------------

/** Below this share of the song covered by the model's shots, the answer is not a plan of this song. */
const MIN_COVERAGE = 0.5;

/**
 * The model's plan → SongAnalysis: the decoded duration (else the file's measured one, else the
 * model's), times in seconds scaled to ms, shots normalised (normaliseScenes) onto the signal's
 * beats. Sections are the signal's, each labelled like the model's section it overlaps most; tempo
 * is the signal's, else the model's when plausible. A plan covering under half of the song is
 * rejected as INVALID_RESPONSE.
 */
export function planToAnalysis(
  plan: SongPlan,
  o: { measuredMs: number | null; minShotMs: number; maxShotMs: number; tagLyrics: string | null; signal?: SongSignal | null; clipLengthsMs?: number[] },
): SongAnalysis {
  const ends = plan.scenes.flatMap((s) => s.shots.map((shot) => shot.end_ms)).filter(Number.isFinite);
  const claimedMs = Number.isFinite(plan.duration_ms) && plan.duration_ms > 0 ? plan.duration_ms : Math.max(0, ...ends);
  const signal = o.signal ?? null;
  const durationMs = Math.round(signal?.durationMs ?? o.measuredMs ?? claimedMs);
  if (!(durationMs > 0)) throw invalidAnswer("no duration: the file could not be measured and the model gave none");
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
    throw invalidAnswer(`the model's shots cover ${Math.round((100 * covered) / durationMs)} % of the ${durationMs} ms song`);
  }
  const modelSections = tileRanges(
    plan.sections.map((s) => ({ start: t(s.start_ms), end: t(s.end_ms), label: s.label.replace(/\s+/g, " ").trim() || "section" })),
    durationMs,
    () => undefined,
  ).map((s) => ({ startMs: s.start, endMs: s.end, label: s.label }));
  const sections = signal?.sections.length ? labelled(signal.sections, modelSections) : modelSections;
  const modelBpm = Number.isFinite(plan.bpm) && plan.bpm >= 30 && plan.bpm <= 300 ? Math.round(plan.bpm * 10) / 10 : null;
  return {
    durationMs,
    bpm: signal?.bpm ?? modelBpm,
    beatsMs: signal?.beatsMs ?? [],
    downbeatsMs: signal?.downbeatsMs ?? [],
    sections,
    scenes: normaliseScenes(scenes, {
      durationMs, minShotMs: o.minShotMs, maxShotMs: o.maxShotMs, clipLengthsMs: o.clipLengthsMs,
      beatsMs: signal?.beatsMs, downbeatsMs: signal?.downbeatsMs,
      sectionsMs: signal ? signal.sections.slice(1).map((s) => s.startMs) : undefined,
    }),
    lyrics: plan.lyrics.trim() || o.tagLyrics || null,
    offline: false,
  };
}

/** The signal's sections, each named after the model's section it overlaps most (its own letter otherwise). */
function labelled(measured: SongSignal["sections"], named: SongSignal["sections"]): SongSignal["sections"] {
  return measured.map((m) => {
    let best = { overlap: 0, label: `section ${m.label}` };
    for (const n of named) {
      const overlap = Math.min(m.endMs, n.endMs) - Math.max(m.startMs, n.startMs);
      if (overlap > best.overlap) best = { overlap, label: n.label };
    }
    return { startMs: m.startMs, endMs: m.endMs, label: best.label };
  });
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
  /** Clip lengths the engine renders (see SongAnalysisInput.clipLengthsMs). */
  clipLengthsMs?: readonly number[];
  /** The decoded audio's beats, downbeats and section changes: where cuts should land. */
  beatsMs?: readonly number[];
  downbeatsMs?: readonly number[];
  sectionsMs?: readonly number[];
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

/** The model's cuts matter more than the length of the shots between them. */
const LENGTH_WEIGHT = 0.05;

/**
 * The model's plan → scenes whose shots tile [0, durationMs] exactly, each within
 * [minShotMs, maxShotMs] whenever some tiling allows it.
 *
 * 1. The model's shots are clamped, sorted and tiled (tileRanges): their boundaries are the cuts
 *    the model meant.
 * 2. The shared cut planner (beat-cuts.ts) picks the cuts, every step between min and max: the
 *    model's cuts moved to their nearest beat are free, downbeats, beats and section changes are
 *    cheap, off-beat points a last resort (without beats, a 100 ms grid near the model's cuts).
 *    Dropping a model cut costs 1; the share of a fixed-length clip a shot leaves unused, and a
 *    small tie-breaker on length, split a long shot evenly and merge a tiny one into a neighbour.
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
  if (tiles.length === 0) throw invalidAnswer("the model returned no shot inside the song");

  const cuts = planCuts(
    0, durationMs,
    { beatsMs: limits.beatsMs ?? [], downbeatsMs: limits.downbeatsMs, sectionsMs: limits.sectionsMs, modelCutsMs: tiles.slice(1).map((t) => t.start) },
    { minShotMs, maxShotMs, clipLengthsMs: limits.clipLengthsMs, lengthWeight: LENGTH_WEIGHT },
  );
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
