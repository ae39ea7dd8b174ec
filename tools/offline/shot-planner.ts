/**
 * Shots timed to the song from its signal analysis (audio-signal.ts), without a model.
 *
 * Each section is a scene; inside it a dynamic programme picks cut points from the beats (a 100 ms
 * grid of off-beat points is there too, at a cost that makes it a last resort, for when no beats fit
 * or there are none), every shot between minShotMs and maxShotMs and as close as possible to a whole
 * number of bars near their middle. Section changes are snapped to beats already, so cuts are beats
 * or section changes. Shots are integer milliseconds and tile [0, durationMs] exactly. Descriptions
 * are templates; lyrics without timing are spread evenly over the song.
 */
import type { SongScene, SongShot } from "../ports.js";
import type { SectionInfo, SignalAnalysis } from "./audio-signal.js";

const GRID_MS = 100;
/** An off-beat cut costs as much as a shot that misses its target length by 200 %. */
const OFFBEAT_COST = 4;

export function planScenes(signal: SignalAnalysis, limits: { minShotMs: number; maxShotMs: number }): SongScene[] {
  const { minShotMs, maxShotMs } = limits;
  const mid = (minShotMs + maxShotMs) / 2;
  const barMs = signal.bpm ? 240_000 / signal.bpm : 0;
  // Shots a whole number of bars long feel cut to the music; the middle of the range otherwise.
  const bars = barMs ? Math.round(mid / barMs) : 0;
  const target = bars > 0 ? Math.min(maxShotMs, Math.max(minShotMs, bars * barMs)) : mid;
  const scenes = signal.sections.map((section, index) => {
    const cuts = splitRange(section.startMs, section.endMs, signal.beatsMs, { minShotMs, maxShotMs, target });
    const shots: SongShot[] = cuts.slice(0, -1).map((startMs, i) => ({ startMs, endMs: cuts[i + 1], lyricsSnippet: "", description: "" }));
    return { title: sceneTitle(section, index), shots, section };
  });
  const total = scenes.reduce((s, x) => s + x.shots.length, 0);
  let k = 0;
  for (const scene of scenes) {
    scene.shots.forEach((shot, i) => {
      shot.description = describeShot(scene.section, i, scene.shots.length, k++, total);
    });
  }
  return scenes.map(({ title, shots }) => ({ title, shots }));
}

/**
 * Cut points from start to end (both included): a shortest path over beats (free) and a 100 ms grid
 * (OFFBEAT_COST each) where every step lies in [min, max] and costs its squared relative distance
 * from the target length. A range that cannot be split that way (shorter than min, or a max under
 * twice the min with an unlucky length) is divided evenly: the only case where a shot leaves the range.
 */
function splitRange(start: number, end: number, beatsMs: number[], o: { minShotMs: number; maxShotMs: number; target: number }): number[] {
  const len = end - start;
  // Without a beat grid every cut is off-beat, so only the lengths matter.
  const offbeatCost = beatsMs.length ? OFFBEAT_COST : 0;
  const points: Array<{ t: number; beat: boolean }> = [{ t: start, beat: true }];
  const inside = beatsMs.filter((b) => b > start && b < end);
  let bi = 0;
  for (let t = start + GRID_MS; t < end; t += GRID_MS) {
    while (bi < inside.length && inside[bi] <= t) points.push({ t: inside[bi++], beat: true });
    if (points[points.length - 1].t !== t) points.push({ t, beat: false });
  }
  while (bi < inside.length) points.push({ t: inside[bi++], beat: true });
  points.push({ t: end, beat: true });

  const cost = new Float64Array(points.length).fill(Infinity);
  const back = new Int32Array(points.length).fill(-1);
  cost[0] = 0;
  let first = 0;
  for (let i = 1; i < points.length; i++) {
    while (points[i].t - points[first].t > o.maxShotMs) first++;
    for (let j = first; j < i; j++) {
      const step = points[i].t - points[j].t;
      if (step < o.minShotMs) break;
      if (cost[j] === Infinity) continue;
      const c = cost[j] + ((step - o.target) / o.target) ** 2 + (points[i].beat ? 0 : offbeatCost);
      if (c < cost[i]) (cost[i] = c), (back[i] = j);
    }
  }
  const last = points.length - 1;
  if (cost[last] === Infinity) {
    const count = Math.max(1, Math.ceil(len / o.maxShotMs));
    return Array.from({ length: count + 1 }, (_, i) => (i === count ? end : start + Math.round((len * i) / count)));
  }
  const cuts: number[] = [];
  for (let i = last; i >= 0; i = back[i]) cuts.push(points[i].t);
  return cuts.reverse();
}

function sceneTitle(section: SectionInfo, index: number): string {
  return `Scene ${index + 1} · section ${section.label}, ${section.mood} (${clock(section.startMs)}–${clock(section.endMs)})`;
}

const FRAMINGS = {
  calm: ["Wide establishing shot", "Medium shot", "Slow push-in", "Close-up on the hands", "Gentle side tracking shot"],
  energetic: ["Dynamic tracking shot", "Low-angle medium shot", "Quick orbit around the character", "Wide shot with sweeping light", "Handheld close shot"],
};
const ACTIONS = {
  calm: "soft, still light; the character stands quietly and looks toward the horizon",
  energetic: "bright, moving light; the character moves with the beat",
};

/** A template description: framing by position, mood by the section's loudness. */
function describeShot(section: SectionInfo, indexInScene: number, shotsInScene: number, index: number, total: number): string {
  const position =
    index === 0 ? "opening of the song"
    : index === total - 1 ? "closing shot of the song"
    : indexInScene === 0 ? `start of section ${section.label}`
    : `section ${section.label}, shot ${indexInScene + 1} of ${shotsInScene}`;
  const framing = FRAMINGS[section.mood][index % FRAMINGS[section.mood].length];
  return `${framing}, ${position}, ${section.mood}: ${ACTIONS[section.mood]}.`;
}

/**
 * Lyrics without timing: the non-empty lines are assumed to be sung evenly over the whole song.
 * Line i of n sits at the middle of its slot, (i + ½)/n of the duration, and goes to the shot that
 * contains that instant; a shot's lines are joined with " / ". Shots without a line keep "".
 */
export function distributeLyrics(lyrics: string, shots: SongShot[], durationMs: number): void {
  const lines = lyrics.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0 || shots.length === 0) return;
  const byShot: string[][] = shots.map(() => []);
  lines.forEach((line, i) => {
    const at = ((i + 0.5) / lines.length) * durationMs;
    const s = shots.findIndex((shot, k) => at < shot.endMs || k === shots.length - 1);
    byShot[s].push(line);
  });
  shots.forEach((shot, k) => (shot.lyricsSnippet = byShot[k].join(" / ")));
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
