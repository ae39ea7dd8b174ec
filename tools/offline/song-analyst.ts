/**
 * The offline song analyst: shots timed to the song from the real signal, without a model.
 *
 * What it computes (all deterministic, see analyseSignal):
 * - The MP3 is decoded by ffmpeg to mono 22 050 Hz float PCM and normalised to a fixed RMS, so a
 *   quiet master and a loud one give the same analysis.
 * - Three bands (low < 150 Hz, mid, high > 2 kHz, split with one-pole filters; they sum back to the
 *   signal) are measured in 11.6 ms hops. Onset strength is the summed positive rise of the
 *   log-compressed band RMS (a spectral-flux-like curve: a kick shows in the low band, a click in the
 *   high band).
 * - Tempo: autocorrelation of the onset curve over 60–200 bpm, weighted by a one-octave log-Gaussian
 *   prior around 120 bpm (what keeps 60 and 240 bpm from winning on a 120 bpm track); no tempo when
 *   the best lag correlates weakly (< 5 % of the signal's own energy): then beats are empty.
 * - Beat grid: Ellis' dynamic programme (2007): each beat maximises onset strength while penalising
 *   spacing that departs from the tempo (log-ratio squared), so the grid follows a drifting band.
 * - Sections: novelty of the band loudness (dB) between the 2 s before and after each hop; peaks of
 *   at least 3 dB, at least 6 s (and minShotMs) apart and from the ends, become section changes. Sections whose band balance is within
 *   3 dB of an earlier one get its letter (A, B, A, …), loudness relative to the song gives the mood.
 * - Shots: each section is a scene; inside it a dynamic programme picks cut points from the beats
 *   (a 100 ms grid of off-beat points is there too, at a cost that makes it a last resort, for when
 *   no beats fit or there are none), every shot between
 *   minShotMs and maxShotMs and as close as possible to a whole number of bars near their middle.
 *   Section changes are snapped to the nearest beat within 200 ms first, so cuts are beats or
 *   section changes. Shots are integer milliseconds and tile [0, durationMs] exactly.
 *
 * durationMs is the decoded length: what the listener hears. ffprobe and music-metadata report the
 * MP3's frame count, which includes the encoder's priming and padding (~25–50 ms more).
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { endianness, tmpdir } from "node:os";
import { join } from "node:path";
import { parseBuffer } from "music-metadata";
import sharp from "sharp";
import type { Ffmpeg } from "../ffmpeg.js";
import type { Media, ShotAudit, SongAnalysis, SongAnalysisInput, SongAnalyst, SongScene, SongShot } from "../ports.js";
import { MAX_INPUT_PIXELS } from "./image-stats.js";

export interface OfflineSongAnalystOptions {
  ffmpeg: Ffmpeg;
  /** Scratch space for the decoded PCM (one subfolder per call, removed after); the OS temp dir by default. */
  workDir?: string;
}

const SAMPLE_RATE = 22_050;
/** 11.6 ms: beats resolve to a few ms, far inside the 1/24 s a video frame lasts. */
const HOP = 256;
const MIN_BPM = 60;
const MAX_BPM = 200;
/** Below this share of lag-0 energy the best tempo lag is noise (a drone, speech, silence). */
const MIN_PERIODICITY = 0.05;
/** How strictly beats keep the tempo in the beat tracker (larger = stricter). */
const TIGHTNESS = 100;
const NOVELTY_WINDOW_S = 2;
const NOVELTY_MIN_DB = 3;
const MIN_SECTION_MS = 6_000;
const SAME_SECTION_DB = 3;
const SNAP_TOLERANCE_MS = 200;
const GRID_MS = 100;
/** An off-beat cut costs as much as a shot that misses its target length by 200 %. */
const OFFBEAT_COST = 4;

export function createOfflineSongAnalyst(options: OfflineSongAnalystOptions): SongAnalyst {
  const { ffmpeg } = options;
  const workDir = options.workDir ?? tmpdir();

  return {
    async analyzeSong(input: SongAnalysisInput): Promise<SongAnalysis> {
      const { minShotMs, maxShotMs } = input;
      if (!(minShotMs > 0) || !(maxShotMs >= minShotMs)) {
        throw new Error(`need 0 < minShotMs <= maxShotMs, got ${minShotMs} and ${maxShotMs}`);
      }
      const [pcm, lyrics] = await Promise.all([decode(ffmpeg, workDir, input.audio), readLyrics(input.audio.data)]);
      // A section shorter than a shot could not become a scene of its own.
      const signal = analyseSignal(pcm, SAMPLE_RATE, { minSectionMs: Math.max(MIN_SECTION_MS, minShotMs) });
      const scenes = planScenes(signal, { minShotMs, maxShotMs });
      if (lyrics) distributeLyrics(lyrics, scenes.flatMap((s) => s.shots), signal.durationMs);
      return {
        durationMs: signal.durationMs,
        bpm: signal.bpm,
        beatsMs: signal.beatsMs,
        sections: signal.sections.map(({ startMs, endMs, label }) => ({ startMs, endMs, label })),
        scenes,
        lyrics,
        offline: true,
      };
    },

    async auditShot({ prompt, requiredTerms, rules }): Promise<ShotAudit> {
      return auditPrompt(prompt, requiredTerms, rules);
    },

    async analyzeFailure({ feedback }) {
      // Offline there is no vision model: the rule comes from the user's words alone.
      return { rule: ruleFromFeedback(feedback) };
    },

    async maskFor({ image, instruction }): Promise<Media> {
      return maskImage(image, instruction);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding and tags
// ---------------------------------------------------------------------------------------------

/** Through a file rather than stdout: Ffmpeg.run buffers output, and 10 min of PCM is ~53 MB. */
async function decode(ffmpeg: Ffmpeg, workDir: string, audio: Media): Promise<Float32Array> {
  if (endianness() !== "LE") throw new Error("the offline song analyst reads f32le PCM and needs a little-endian CPU");
  const dir = join(workDir, `song-analysis-${process.pid}-${randomBytes(6).toString("hex")}`);
  await mkdir(dir, { recursive: true });
  try {
    const input = join(dir, "song.mp3");
    const output = join(dir, "song.f32");
    await writeFile(input, audio.data);
    await ffmpeg.run(["-i", input, "-vn", "-f", "f32le", "-ac", "1", "-ar", String(SAMPLE_RATE), output], {
      timeoutMs: 120_000 + Math.round(audio.data.byteLength / 100),
    });
    const bytes = await readFile(output);
    // A fresh copy: Float32Array needs 4-byte alignment, which a Buffer's offset does not promise.
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength - (bytes.byteLength % 4)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Unsynchronised lyrics from ID3 USLT. ffmpeg (`-metadata lyrics=…`) and some taggers write them as
 * a TXXX frame named USLT or LYRICS instead, so those count too.
 */
export async function readLyrics(bytes: Uint8Array): Promise<string | null> {
  try {
    const meta = await parseBuffer(bytes, { mimeType: "audio/mpeg", size: bytes.byteLength }, { skipCovers: true });
    const uslt = meta.common.lyrics?.map((l) => l.text ?? l.syncText?.map((s) => s.text).join("\n") ?? "").find((t) => t.trim());
    if (uslt) return uslt.trim();
    for (const tags of Object.values(meta.native)) {
      const txxx = tags.find((t) => /^TXXX:(USLT|LYRICS|UNSYNCEDLYRICS)$/i.test(t.id) && typeof t.value === "string");
      if (txxx && (txxx.value as string).trim()) return (txxx.value as string).trim();
    }
  } catch {
    // Unreadable tags are not a reason to refuse the song: it is analysed without lyrics.
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Signal analysis
// ---------------------------------------------------------------------------------------------

export interface SectionInfo {
  startMs: number;
  endMs: number;
  label: string;
  /** Mean loudness of the section relative to the whole song, dB. */
  relativeDb: number;
  mood: "calm" | "energetic";
}

export interface SignalAnalysis {
  durationMs: number;
  bpm: number | null;
  beatsMs: number[];
  sections: SectionInfo[];
  /** Onset strength per hop (for inspection and tests). */
  onset: Float32Array;
}

export function analyseSignal(pcm: Float32Array, sampleRate: number, options: { minSectionMs?: number } = {}): SignalAnalysis {
  const durationMs = Math.round((pcm.length * 1000) / sampleRate);
  const hopsPerS = sampleRate / HOP;
  const bands = bandEnergies(pcm, sampleRate);
  const onset = onsetStrength(bands);
  const tempo = estimateTempo(onset, hopsPerS);
  // A hop's onset is attributed to the newest samples it added: the middle of the hop.
  const hopMs = (j: number) => Math.round(((j + 0.5) * HOP * 1000) / sampleRate);
  const beatsMs = tempo ? trackBeats(onset, tempo.periodHops, hopsPerS).map(hopMs).filter((t) => t < durationMs) : [];
  const bpm = tempo ? Math.round((60 * hopsPerS * 10) / tempo.periodHops) / 10 : null;
  const sections = findSections(bands, hopsPerS, durationMs, beatsMs, bpm, options.minSectionMs ?? MIN_SECTION_MS);
  return { durationMs, bpm, beatsMs, sections, onset };
}

interface BandEnergies {
  /** Mean square per hop for each band, signal normalised to RMS 0.1. */
  low: Float64Array;
  mid: Float64Array;
  high: Float64Array;
  hops: number;
}

function bandEnergies(pcm: Float32Array, sampleRate: number): BandEnergies {
  const hops = Math.max(1, Math.ceil(pcm.length / HOP));
  const low = new Float64Array(hops), mid = new Float64Array(hops), high = new Float64Array(hops);
  const coef = (hz: number) => Math.exp((-2 * Math.PI * hz) / sampleRate);
  const a150 = coef(150), a2k = coef(2000);
  let l1 = 0, l2 = 0, m = 0, total = 0;
  for (let i = 0; i < pcm.length; i++) {
    const x = pcm[i];
    l1 = (1 - a150) * x + a150 * l1;
    l2 = (1 - a150) * l1 + a150 * l2;
    m = (1 - a2k) * x + a2k * m;
    const lo = l2, mi = m - l2, hi = x - m;
    const j = (i / HOP) | 0;
    low[j] += lo * lo;
    mid[j] += mi * mi;
    high[j] += hi * hi;
    total += x * x;
  }
  // Normalising to a fixed RMS makes every threshold below independent of the master's level.
  const scale = total > 0 ? (0.01 * pcm.length) / total : 1;
  for (let j = 0; j < hops; j++) {
    const n = Math.min(HOP, pcm.length - j * HOP) || 1;
    low[j] = (low[j] * scale) / n;
    mid[j] = (mid[j] * scale) / n;
    high[j] = (high[j] * scale) / n;
  }
  return { low, mid, high, hops };
}

/**
 * Positive rise of log-compressed band RMS over a two-hop window. log1p(100·rms) behaves like dB for
 * loud sounds but flattens near silence, so encoder noise in a quiet intro does not read as onsets.
 */
function onsetStrength(b: BandEnergies): Float32Array {
  const onset = new Float32Array(b.hops);
  const compressed = (e: Float64Array, j: number) => Math.log1p(100 * Math.sqrt((e[j] + (j > 0 ? e[j - 1] : 0)) / 2));
  let prev = [0, 0, 0];
  for (let j = 0; j < b.hops; j++) {
    const cur = [compressed(b.low, j), compressed(b.mid, j), compressed(b.high, j)];
    onset[j] = Math.max(0, cur[0] - prev[0]) + Math.max(0, cur[1] - prev[1]) + Math.max(0, cur[2] - prev[2]);
    prev = cur;
  }
  return onset;
}

/** The onset curve minus its 1 s moving average, in units of its standard deviation. */
function normalisedOnset(onset: Float32Array, hopsPerS: number): Float64Array {
  const n = onset.length, half = Math.round(hopsPerS / 2);
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + onset[i];
  const out = new Float64Array(n);
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.max(0, i - half), b = Math.min(n, i + half + 1);
    out[i] = onset[i] - (prefix[b] - prefix[a]) / (b - a);
    sq += out[i] * out[i];
  }
  const std = Math.sqrt(sq / Math.max(1, n)) || 1;
  for (let i = 0; i < n; i++) out[i] /= std;
  return out;
}

function estimateTempo(onset: Float32Array, hopsPerS: number): { periodHops: number } | null {
  const o = normalisedOnset(onset, hopsPerS);
  const n = o.length;
  const minLag = Math.floor((60 * hopsPerS) / MAX_BPM), maxLag = Math.ceil((60 * hopsPerS) / MIN_BPM);
  if (n < 2 * maxLag) return null; // under ~2 s there is no tempo to speak of
  const ac = (lag: number) => {
    let s = 0;
    for (let i = 0; i + lag < n; i++) s += o[i] * o[i + lag];
    return s / (n - lag);
  };
  const energy = ac(0);
  if (!(energy > 0)) return null;
  const r = new Float64Array(maxLag + 2);
  for (let lag = minLag - 1; lag <= maxLag + 1; lag++) r[lag] = ac(lag);
  let best = -1, bestScore = 0;
  for (let lag = minLag; lag <= maxLag; lag++) {
    const bpm = (60 * hopsPerS) / lag;
    const prior = Math.exp(-0.5 * Math.log2(bpm / 120) ** 2);
    const score = Math.max(0, r[lag]) * prior;
    if (score > bestScore) (best = lag), (bestScore = score);
  }
  if (best < 0 || r[best] / energy < MIN_PERIODICITY) return null;
  // Parabolic interpolation: a whole-hop lag alone would be up to ±1.4 bpm off at 120 bpm.
  const [a, b, c] = [r[best - 1], r[best], r[best + 1]];
  const denom = a - 2 * b + c;
  const shift = denom < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / denom)) : 0;
  return { periodHops: best + shift };
}

/** Ellis (2007) dynamic-programming beat tracker; returns beat positions in hops. */
function trackBeats(onset: Float32Array, period: number, hopsPerS: number): number[] {
  const o = normalisedOnset(onset, hopsPerS);
  const n = o.length;
  const score = new Float64Array(n);
  const back = new Int32Array(n).fill(-1);
  const lo = Math.round(period / 2), hi = Math.round(2 * period);
  for (let t = 0; t < n; t++) {
    let bestPrev = -1, best = 0;
    for (let tau = t - hi; tau <= t - lo; tau++) {
      if (tau < 0) continue;
      const s = score[tau] - TIGHTNESS * Math.log((t - tau) / period) ** 2;
      if (bestPrev < 0 || s > best) (best = s), (bestPrev = tau);
    }
    score[t] = o[t] + (bestPrev >= 0 ? best : 0);
    back[t] = bestPrev;
  }
  // The chain ends on the best-scoring hop of the last beat period.
  let end = n - 1;
  for (let t = Math.max(0, n - Math.ceil(period)); t < n; t++) if (score[t] > score[end]) end = t;
  const beats: number[] = [];
  for (let t = end; t >= 0; t = back[t]) beats.push(t);
  return beats.reverse();
}

function findSections(
  b: BandEnergies,
  hopsPerS: number,
  durationMs: number,
  beatsMs: number[],
  bpm: number | null,
  minSectionMs: number,
): SectionInfo[] {
  const n = b.hops;
  // Per-hop band loudness in dB, floored at −60 dB under the normalised level so silence is finite.
  const db = [b.low, b.mid, b.high].map((e) => {
    const prefix = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + 10 * Math.log10(e[i] + 1e-8);
    return prefix;
  });
  const mean = (band: number, from: number, to: number) => (db[band][to] - db[band][from]) / Math.max(1, to - from);
  const msToHop = (ms: number) => Math.min(n, Math.max(0, Math.round((ms / 1000) * hopsPerS)));

  const w = Math.round(NOVELTY_WINDOW_S * hopsPerS);
  const novelty = new Float64Array(n);
  for (let j = w; j + w <= n; j++) {
    let d = 0;
    for (let band = 0; band < 3; band++) d += (mean(band, j, j + w) - mean(band, j - w, j)) ** 2;
    novelty[j] = Math.sqrt(d / 3);
  }
  // Plus the snap tolerance: snapping to a beat may still move a change by up to SNAP_TOLERANCE_MS.
  const minGap = Math.ceil(((minSectionMs + SNAP_TOLERANCE_MS) / 1000) * hopsPerS);
  const peaks: number[] = [];
  for (let j = 1; j < n - 1; j++) {
    if (novelty[j] < NOVELTY_MIN_DB || novelty[j] < novelty[j - 1] || novelty[j] < novelty[j + 1]) continue;
    peaks.push(j);
  }
  // Strongest first; ties by time, so the choice is deterministic.
  peaks.sort((x, y) => novelty[y] - novelty[x] || x - y);
  const cuts: number[] = [];
  for (const p of peaks) {
    if (p < minGap || n - p < minGap || cuts.some((c) => Math.abs(c - p) < minGap)) continue;
    cuts.push(p);
  }
  const boundaries = cuts
    .map((h) => snap(Math.round((h * 1000) / hopsPerS), beatsMs, SNAP_TOLERANCE_MS))
    .sort((x, y) => x - y);
  const edges = [0, ...boundaries, durationMs];

  const profile = (startMs: number, endMs: number) => {
    const [from, to] = [msToHop(startMs), Math.max(msToHop(startMs) + 1, msToHop(endMs))];
    return [0, 1, 2].map((band) => mean(band, from, Math.min(n, to)));
  };
  const loudness = (p: number[]) => 10 * Math.log10(p.reduce((s, x) => s + 10 ** (x / 10), 0));
  const spans = edges.slice(0, -1).map((startMs, i) => ({ startMs, endMs: edges[i + 1], profile: profile(startMs, edges[i + 1]) }));
  const songDb = spans.reduce((s, x) => s + loudness(x.profile) * (x.endMs - x.startMs), 0) / Math.max(1, durationMs);

  const letters: Array<{ label: string; profile: number[] }> = [];
  return spans.map((span) => {
    const same = letters.find((l) => distanceDb(l.profile, span.profile) < SAME_SECTION_DB);
    const label = same?.label ?? String.fromCharCode(65 + (letters.length % 26));
    if (!same) letters.push({ label, profile: span.profile });
    const relativeDb = Math.round((loudness(span.profile) - songDb) * 10) / 10;
    // Clearly louder than the song's average, or about average at a danceable tempo.
    const energetic = relativeDb > 1.5 || (relativeDb > -1.5 && (bpm ?? 0) >= 100);
    return { startMs: span.startMs, endMs: span.endMs, label, relativeDb, mood: energetic ? "energetic" : "calm" } as SectionInfo;
  });
}

function distanceDb(a: number[], b: number[]): number {
  return Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0) / a.length);
}

/** The nearest beat within the tolerance, or the time itself. */
function snap(ms: number, beatsMs: number[], toleranceMs: number): number {
  let best = ms, bestD = toleranceMs + 1;
  for (const b of beatsMs) {
    const d = Math.abs(b - ms);
    if (d <= toleranceMs && d < bestD) (best = b), (bestD = d);
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Scenes and shots
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Audit: required terms and rules
// ---------------------------------------------------------------------------------------------

/**
 * The rule grammar the offline audit checks (anything else is left to a model and ignored here):
 * - "Avoid X", "Never X", "No X", "Don't X", "Do not X", "Without X": the prompt must not mention X.
 *   X may list alternatives separated by ",", ";", "/" or " or ": none may appear.
 * - "Always X", "Must X", "Ensure X": the prompt must mention X. "," or ";" list several, all needed.
 * Leading verbs and articles ("show", "include", "use", "have", "wear", "a", "the", …) are dropped from
 * X, so "Never show bare shoulders" checks "bare shoulders". Matching ignores case, treats spaces and
 * hyphens alike, accepts a plural "s", and respects word edges ("red" does not match "tired"). A
 * mention right after a negation in the same clause ("no bare shoulders", "avoid red") does not
 * count, which is also why a prompt may quote its rules.
 */
export interface ParsedRule {
  kind: "avoid" | "always";
  terms: string[];
}

const AVOID_HEAD = /^(?:avoid|never|no|don'?t|do\s+not|without)\b\s*/i;
const ALWAYS_HEAD = /^(?:always|must|ensure)\b\s*/i;
const FILLER = /^(?:(?:use|using|show|showing|include|including|draw|drawing|depict|add|have|put|keep|make|give|be|wear|wearing|any|a|an|the|her|his|their|its)\s+)+/i;

export function parseRule(rule: string): ParsedRule | null {
  const text = rule.trim().replace(/[.!]+$/, "");
  const kind = AVOID_HEAD.test(text) ? "avoid" : ALWAYS_HEAD.test(text) ? "always" : null;
  if (!kind) return null;
  const body = text.replace(kind === "avoid" ? AVOID_HEAD : ALWAYS_HEAD, "");
  const separators = kind === "avoid" ? /\s*(?:[,;/]|\bor\b)\s*/i : /\s*[,;]\s*/;
  const terms = body
    .split(separators)
    .map((t) => t.replace(FILLER, "").trim())
    .filter((t) => t.length > 0 && t.length <= 80);
  return terms.length ? { kind, terms } : null;
}

function termPattern(term: string): RegExp {
  const words = term.trim().split(/[\s-]+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  // A plural term also matches its singular ("bare shoulders" finds "bare shoulder"), not "dress" → "dres".
  const last = words.length - 1;
  if (/[^s]s$/i.test(words[last]) && words[last].length > 3) words[last] = words[last].slice(0, -1);
  return new RegExp(`(?<![\\p{L}\\p{N}])${words.join("[\\s-]+")}(?:e?s)?(?![\\p{L}\\p{N}])`, "giu");
}

const NEGATED = /\b(?:no|not|never|avoid|avoiding|without|don'?t|nor|non)\b[^.,;:!?()]*$/i;

/** Whether the prompt mentions the term outside a negation. */
export function mentions(prompt: string, term: string): boolean {
  for (const m of prompt.matchAll(termPattern(term))) {
    const before = prompt.slice(Math.max(0, m.index - 60), m.index);
    if (!NEGATED.test(before)) return true;
  }
  return false;
}

export function auditPrompt(prompt: string, requiredTerms: string[], rules: string[]): ShotAudit {
  const violations: string[] = [];
  const lower = prompt.toLowerCase();
  for (const term of requiredTerms) {
    if (!lower.includes(term.toLowerCase())) violations.push(`missing required term "${term}"`);
  }
  for (const rule of rules) {
    const parsed = parseRule(rule);
    if (!parsed) continue;
    if (parsed.kind === "avoid") {
      const found = parsed.terms.filter((t) => mentions(prompt, t));
      if (found.length) violations.push(`breaks rule "${rule}": the prompt mentions "${found.join('", "')}"`);
    } else {
      const missing = parsed.terms.filter((t) => !mentions(prompt, t));
      if (missing.length) violations.push(`breaks rule "${rule}": the prompt lacks "${missing.join('", "')}"`);
    }
  }
  return { ok: violations.length === 0, violations };
}

// ---------------------------------------------------------------------------------------------
// Failure analysis: feedback → one rule
// ---------------------------------------------------------------------------------------------

const MAX_THING_WORDS = 8;
const LEAD = /^(?:(?:the|a|an|her|his|its|their|this|that|these|those|any|some|it'?s|it\s+is|show|showing|draw|drawing|use|using|put|add|include|depict)\s+)+/i;

/**
 * One short rule in the audit's grammar ("Avoid <thing>" or "Always <thing>"), from the first clause
 * of the feedback, by the first pattern that matches:
 * 1. "always …", "make sure …", "ensure …", "keep …", "must …"             → Always …
 * 2. "add …", "include …", "show …", "I want/need/would like …"             → Always include …
 * 3. "I don't like/want …", "avoid/never/no/remove/get rid of/without/stop …" → Avoid …
 * 4. "<thing> is/are missing|gone"                                          → Always include <thing>
 * 5. "<thing> looks like <y>"                                               → Avoid <thing> that looks like <y>
 * 6. "<thing> is/are/looks/seems [too] <quality>"                           → Avoid <quality> <thing>
 * 7. "too/overly/very <quality>"                                            → Avoid <quality>
 * 8. anything else                                                          → Avoid <clause>
 */
export function ruleFromFeedback(feedback: string): string {
  const clause = feedback
    .replace(/[\x00-\x1F\x7F]+/g, " ")
    .split(/[.!?;\n]|\bbut\b/i)
    .map((c) => c.trim().replace(/\s+/g, " ").toLowerCase())
    .find((c) => c.length > 0);
  if (!clause) throw new Error("analyzeFailure needs the user's feedback to formulate a rule");
  const c = clause.replace(/^(?:please|pls|hmm|ok|okay|well|so)[,\s]+/, "");
  const rules: Array<[RegExp, (m: RegExpMatchArray) => string]> = [
    [/^(?:always|make sure(?: that| to)?|ensure(?: that)?|keep|must)\s+(.+)/, (m) => `Always ${thing(m[1])}`],
    [/^(?:add|include|show|put|give (?:her|it))\s+(.+)/, (m) => `Always include ${thing(m[1])}`],
    [/^i\s+(?:want|need|would like|'d like)\s+(.+)/, (m) => `Always include ${thing(m[1])}`],
    [/^(?:i\s+)?(?:don'?t|do not|didn'?t)\s+(?:like|want|love)\s+(.+)/, (m) => `Avoid ${thing(m[1])}`],
    [
      /^(?:avoid|never|no|remove|delete|get rid of|lose|drop|without|stop|don'?t (?:show|use|draw|add|put|make)|do not (?:show|use|draw|add|put|make))\s+(.+)/,
      (m) => `Avoid ${thing(m[1])}`,
    ],
    [/^(.+?)\s+(?:is|are|was|were)\s+(?:missing|gone|absent|not visible)$/, (m) => `Always include ${thing(m[1])}`],
    [/^(.+?)\s+(?:looks?|seems?)\s+like\s+(.+)$/, (m) => `Avoid ${thing(m[1])} that looks like ${thing(m[2])}`],
    [
      /^(.+?)\s+(?:is|are|was|were|looks?|seems?)\s+(?:too\s+|way too\s+|so\s+|very\s+|a bit\s+)?(\S+(?:\s+\S+){0,2})$/,
      (m) => `Avoid ${thing(m[2])} ${thing(m[1])}`,
    ],
    [/^(?:too|overly|very|way too)\s+(.+)/, (m) => `Avoid ${thing(m[1])}`],
  ];
  for (const [pattern, make] of rules) {
    const m = c.match(pattern);
    if (m) return make(m);
  }
  return `Avoid ${thing(c)}`;
}

function thing(text: string): string {
  const words = text.replace(LEAD, "").replace(/[,:]+$/, "").trim().split(" ");
  return words.slice(0, MAX_THING_WORDS).join(" ");
}

// ---------------------------------------------------------------------------------------------
// Masks
// ---------------------------------------------------------------------------------------------

/** A box as fractions of the image: [left, top, right, bottom]. */
type Box = [number, number, number, number];

/**
 * Where things usually are in a centred, full-figure shot. The first listed subject the instruction
 * names wins; "background" is everything but the figure.
 */
const SUBJECT_REGIONS: Array<[RegExp, Box, boolean?]> = [
  [/\b(?:face|mouth|lips?|eyes?|nose|expression|smile|head|hair|ears?|cheeks?)\b/, [0.35, 0.05, 0.65, 0.45]],
  [/\b(?:neck|neckline|collar|shoulders?)\b/, [0.3, 0.3, 0.7, 0.55]],
  [/\b(?:hands?|arms?|sleeves?|fingers?)\b/, [0.2, 0.4, 0.8, 0.75]],
  [/\b(?:dress|skirt|clothes|clothing|outfit|coat|fabric|hem|body|torso)\b/, [0.3, 0.35, 0.7, 0.95]],
  [/\b(?:legs?|feet|foot|shoes?|boots?|socks?)\b/, [0.3, 0.7, 0.7, 1]],
  [/\b(?:background|backdrop|surroundings)\b/, [0.3, 0.05, 0.7, 1], true],
  [/\b(?:sky|ceiling|clouds?)\b/, [0, 0, 1, 0.35]],
  [/\b(?:ground|floor|grass|road|water)\b/, [0, 0.75, 1, 1]],
];

export function regionFor(instruction: string): { box: Box; invert: boolean } {
  const text = instruction.toLowerCase();
  for (const [pattern, box, invert] of SUBJECT_REGIONS) if (pattern.test(text)) return { box, invert: invert ?? false };
  const left = /\bleft\b/.test(text), right = /\bright\b/.test(text);
  const top = /\b(?:top|upper)\b/.test(text), bottom = /\b(?:bottom|lower)\b/.test(text);
  const horizontal = left !== right, vertical = top !== bottom;
  if (!horizontal && !vertical) return { box: [0.25, 0.25, 0.75, 0.75], invert: false }; // centre
  const [x0, x1] = horizontal ? (left ? [0, 0.5] : [0.5, 1]) : [0, 1];
  const [y0, y1] = vertical ? (top ? [0, 0.5] : [0.5, 1]) : [0, 1];
  return { box: [x0, y0, x1, y1], invert: false };
}

async function maskImage(image: Media, instruction: string): Promise<Media> {
  const meta = await sharp(image.data, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
  const width = meta.autoOrient?.width ?? meta.width, height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new Error("maskFor: cannot read the image's size");
  const { box, invert } = regionFor(instruction);
  const [x0, y0, x1, y1] = [Math.round(box[0] * width), Math.round(box[1] * height), Math.round(box[2] * width), Math.round(box[3] * height)];
  const px = new Uint8Array(width * height).fill(invert ? 255 : 0);
  const inside = invert ? 0 : 255;
  for (let y = y0; y < y1; y++) px.fill(inside, y * width + x0, y * width + x1);
  const png = await sharp(px, { raw: { width, height, channels: 1 } }).png().toBuffer();
  return { data: new Uint8Array(png), contentType: "image/png" };
}
