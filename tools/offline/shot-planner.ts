/**
 * Shots timed to the song from its signal analysis (audio-signal.ts), without a model.
 *
 * Each section is a scene; inside it the shared cut planner (../beat-cuts.ts) picks cuts from the
 * beats and downbeats (off-beat points only as a last resort), every shot between minShotMs and
 * maxShotMs, planned from the clip lengths the engine renders when it has fixed ones, else near a
 * whole number of bars around the middle of the range. Section changes are snapped to beats
 * already, so cuts are beats or section changes. Shots are integer milliseconds and tile
 * [0, durationMs] exactly. Descriptions are templates; lyrics without timing are spread evenly.
 */
import type { SongScene, SongShot } from "../ports.js";
import type { SectionInfo, SignalAnalysis } from "./audio-signal.js";
import { planCuts } from "../beat-cuts.js";

export function planScenes(
  signal: Pick<SignalAnalysis, "bpm" | "beatsMs" | "downbeatsMs" | "sections">,
  limits: { minShotMs: number; maxShotMs: number; clipLengthsMs?: number[] },
): SongScene[] {
  const { minShotMs, maxShotMs } = limits;
  const mid = (minShotMs + maxShotMs) / 2;
  const barMs = signal.bpm ? 240_000 / signal.bpm : 0;
  // Shots a whole number of bars long feel cut to the music; the middle of the range otherwise.
  const bars = barMs ? Math.round(mid / barMs) : 0;
  const target = bars > 0 ? Math.min(maxShotMs, Math.max(minShotMs, bars * barMs)) : mid;
  const scenes = signal.sections.map((section, index) => {
    const cuts = planCuts(section.startMs, section.endMs, { beatsMs: signal.beatsMs, downbeatsMs: signal.downbeatsMs }, { ...limits, targetMs: target });
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
