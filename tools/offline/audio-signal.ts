/**
 * What the song's file holds, without a model: its signal (tempo, beats, sections) and its lyrics tag.
 *
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
 * - Downbeats (4/4 assumed): the bar's first beat is the accented one. Each beat's accent is the
 *   low band's energy (the kick) at it; of the four phases, the one whose beats clearly carry the most
 *   (DOWNBEAT_MARGIN times the others' mean) gives every fourth beat. With no clear accent (a flat
 *   drum loop, or a kick on 1 and 3 alike) downbeats stay empty rather than guessed.
 * - Sections: novelty of the band loudness (dB) between the 2 s before and after each hop; peaks of
 *   at least 3 dB, at least 6 s (and minShotMs) apart and from the ends, become section changes. Sections whose band balance is within
 *   3 dB of an earlier one get its letter (A, B, A, …), loudness relative to the song gives the mood.
 *   Section changes are snapped to the nearest beat within 200 ms.
 *
 * durationMs is the decoded length: what the listener hears. ffprobe and music-metadata report the
 * MP3's frame count, which includes the encoder's priming and padding (~25–50 ms more).
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { endianness } from "node:os";
import { join } from "node:path";
import { parseBuffer } from "music-metadata";
import type { Ffmpeg } from "../ffmpeg.js";
import type { Media } from "../ports.js";

export const SAMPLE_RATE = 22_050;
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
export const MIN_SECTION_MS = 6_000;
const SAME_SECTION_DB = 3;
const SNAP_TOLERANCE_MS = 200;
/** How much more low-band energy the downbeat phase's beats must carry than the other phases' mean. */
const DOWNBEAT_MARGIN = 1.5;
const BEATS_PER_BAR = 4;

// ---------------------------------------------------------------------------------------------
// Decoding and tags
// ---------------------------------------------------------------------------------------------

/** Through a file rather than stdout: Ffmpeg.run buffers output, and 10 min of PCM is ~53 MB. */
export async function decodePcm(ffmpeg: Ffmpeg, workDir: string, audio: Media): Promise<Float32Array> {
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
  /** The first beat of each bar; empty when no phase is clearly accented. */
  downbeatsMs: number[];
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
  const beatHops = tempo ? trackBeats(onset, tempo.periodHops, hopsPerS).filter((j) => hopMs(j) < durationMs) : [];
  const beatsMs = beatHops.map(hopMs);
  const bpm = tempo ? Math.round((60 * hopsPerS * 10) / tempo.periodHops) / 10 : null;
  const downbeatsMs = downbeatPhase(beatHops, bands).map(hopMs);
  const sections = findSections(bands, hopsPerS, durationMs, beatsMs, bpm, options.minSectionMs ?? MIN_SECTION_MS);
  return { durationMs, bpm, beatsMs, downbeatsMs, sections, onset };
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

/** Every fourth beat hop from the clearly accented phase, or [] (see the header). */
function downbeatPhase(beats: number[], b: BandEnergies): number[] {
  if (beats.length < 2 * BEATS_PER_BAR) return [];
  // Raw low-band energy (not log-compressed: a kick twice as loud must count four times as much),
  // the peak within a hop or two of the beat, since the tracker may land a hop early or late.
  const accent = beats.map((j) => {
    let peak = 0;
    for (let k = Math.max(0, j - 1); k <= Math.min(b.hops - 1, j + 2); k++) peak = Math.max(peak, b.low[k]);
    return peak;
  });
  const means = Array.from({ length: BEATS_PER_BAR }, (_, phase) => {
    const xs = accent.filter((_, i) => i % BEATS_PER_BAR === phase);
    return xs.reduce((a, x) => a + x, 0) / xs.length;
  });
  const best = means.indexOf(Math.max(...means));
  const others = means.filter((_, i) => i !== best).reduce((a, x) => a + x, 0) / (BEATS_PER_BAR - 1);
  if (!(means[best] > DOWNBEAT_MARGIN * others)) return [];
  return beats.filter((_, i) => i % BEATS_PER_BAR === best);
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
