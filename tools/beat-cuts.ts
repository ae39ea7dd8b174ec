/**
 * Where a song's shots are cut, on both routes: a shortest path over candidate cut points from the
 * start of a range to its end, every step a shot between minShotMs and maxShotMs.
 *
 * Candidates and what a cut there costs (lower is better):
 * - a section change or a cut the model planned (snapped to its nearest beat first): 0;
 * - a downbeat (the first beat of a bar): 0.1; any other beat: 0.5;
 * - a 100 ms grid point off the beat: 4 when the song has beats (a last resort, for when no beats
 *   fit the length limits); without beats 1 when a model planned cuts (its cuts are the better
 *   points), else 0 (only the lengths decide).
 * With model cuts, every other point adds up to 0.5 the further it lies from the nearest one (within
 * half a minimum shot), and each model cut a shot jumps over costs 1: the plan moves as little as
 * the beats and the limits need.
 *
 * Each shot adds a length cost. When the engine renders fixed clip lengths (Kling 5 or 10 s), a shot
 * is rendered as the shortest clip that covers it and cut: every second of paid clip thrown away
 * costs WASTE_PER_SECOND, as much as a cut off the downbeat, so shots are planned from the lengths
 * the engine renders (with Kling or Luma, shots of about 5 s rather than 8 s rendered as 10 or 9).
 * A small term for the distance from a target length (lengthWeight) breaks ties and, for engines
 * that render any length, keeps shots near the middle of the range.
 *
 * When no path exists (a range shorter than a shot, or a max under twice the min with an unlucky
 * length) the range is divided evenly into ceil(length / max) shots.
 */

const GRID_MS = 100;
const COST = { section: 0, model: 0, downbeat: 0.1, beat: 0.5, offbeatWithBeats: 4, offbeatBesideModelCuts: 1 } as const;
const NEAR_MODEL_COST = 0.5;
const DROPPED_MODEL_CUT = 1;
const WASTE_PER_SECOND = 0.5;

export interface CutCandidates {
  /** Beats of the decoded audio. */
  beatsMs: readonly number[];
  downbeatsMs?: readonly number[];
  /** Section changes: free cuts. */
  sectionsMs?: readonly number[];
  /** Cuts a model planned; each is moved to its nearest beat when the song has beats. */
  modelCutsMs?: readonly number[];
}

export interface CutLimits {
  minShotMs: number;
  maxShotMs: number;
  /** Clip lengths the engine renders (ms); absent when it renders any length. */
  clipLengthsMs?: readonly number[];
  /** The length shots should tend to; the middle of [min, max] by default. */
  targetMs?: number;
  /** Weight of the squared relative distance from targetMs: 1 by default, 0.05 with clip lengths. */
  lengthWeight?: number;
}

interface Point {
  t: number;
  cost: number;
  model: boolean;
}

/** Cut points from startMs to endMs, both included, in integer ms. */
export function planCuts(startMs: number, endMs: number, candidates: CutCandidates, limits: CutLimits): number[] {
  const start = Math.round(startMs), end = Math.round(endMs);
  const { minShotMs, maxShotMs } = limits;
  if (!(end > start)) throw new Error(`planCuts needs a range, got ${startMs}–${endMs}`);
  const points = candidatePoints(start, end, candidates, minShotMs);
  const target = limits.targetMs ?? (minShotMs + maxShotMs) / 2;
  const clips = limits.clipLengthsMs?.length ? [...limits.clipLengthsMs].sort((a, b) => a - b) : null;
  const lengthWeight = limits.lengthWeight ?? (clips ? 0.05 : 1);
  const lengthCost = (len: number) => {
    let c = lengthWeight * ((len - target) / target) ** 2;
    if (clips) {
      // 1 ms of slack: a shot of 5000 ms is a 5 s clip, not a 10 s one.
      const clip = clips.find((l) => l + 1 >= len);
      c += clip === undefined ? Infinity : (WASTE_PER_SECOND * Math.max(0, clip - len)) / 1000;
    }
    return c;
  };

  const n = points.length;
  const modelBefore = new Int32Array(n + 1);
  for (let k = 0; k < n; k++) modelBefore[k + 1] = modelBefore[k] + (points[k].model ? 1 : 0);
  const cost = new Float64Array(n).fill(Infinity);
  const back = new Int32Array(n).fill(-1);
  cost[0] = 0;
  let first = 0;
  for (let i = 1; i < n; i++) {
    while (points[i].t - points[first].t > maxShotMs) first++;
    for (let j = first; j < i; j++) {
      const len = points[i].t - points[j].t;
      if (len < minShotMs) break;
      if (cost[j] === Infinity) continue;
      const dropped = modelBefore[i] - modelBefore[j + 1];
      const c = cost[j] + points[i].cost + DROPPED_MODEL_CUT * dropped + lengthCost(len);
      if (c < cost[i]) (cost[i] = c), (back[i] = j);
    }
  }
  if (cost[n - 1] === Infinity) {
    const count = Math.max(1, Math.ceil((end - start) / maxShotMs));
    return Array.from({ length: count + 1 }, (_, i) => (i === count ? end : start + Math.round(((end - start) * i) / count)));
  }
  const cuts: number[] = [];
  for (let k = n - 1; k >= 0; k = back[k]) cuts.push(points[k].t);
  return cuts.reverse();
}

/** How many beats fall inside [startMs, endMs): what a shot card shows beside its time range. */
export function beatsIn(beatsMs: readonly number[], startMs: number, endMs: number): number {
  return beatsMs.filter((b) => b >= startMs && b < endMs).length;
}

function candidatePoints(start: number, end: number, c: CutCandidates, minShotMs: number): Point[] {
  const inside = (t: number) => t > start && t < end;
  const beats = c.beatsMs.map(Math.round).filter(inside);
  const hasBeats = c.beatsMs.length > 0;
  const byTime = new Map<number, Point>();
  const add = (t: number, cost: number, model = false) => {
    const p = byTime.get(t);
    if (p) (p.cost = Math.min(p.cost, cost)), (p.model ||= model);
    else byTime.set(t, { t, cost, model });
  };
  const modelCuts = (c.modelCutsMs ?? []).map((m) => (hasBeats ? nearest(c.beatsMs, m) : Math.round(m))).filter(inside);
  const offbeat = hasBeats ? COST.offbeatWithBeats : modelCuts.length ? COST.offbeatBesideModelCuts : 0;
  for (let t = start + GRID_MS; t < end; t += GRID_MS) add(t, offbeat);
  for (const b of beats) add(b, COST.beat);
  for (const d of (c.downbeatsMs ?? []).map(Math.round).filter(inside)) add(d, COST.downbeat);
  for (const s of (c.sectionsMs ?? []).map(Math.round).filter(inside)) add(s, COST.section);
  for (const m of modelCuts) add(m, COST.model, true);

  const points = [...byTime.values()].sort((a, b) => a.t - b.t);
  if (modelCuts.length) {
    // Nearer the model's cuts is cheaper: a cut it did not plan should still be close to one it did.
    const radius = Math.max(GRID_MS, minShotMs / 2);
    const sorted = [...new Set(modelCuts)].sort((a, b) => a - b);
    for (const p of points) {
      if (p.model) continue;
      let d = Infinity;
      for (const m of sorted) d = Math.min(d, Math.abs(m - p.t));
      p.cost += (NEAR_MODEL_COST * Math.min(d, radius)) / radius;
    }
  }
  return [{ t: start, cost: 0, model: false }, ...points, { t: end, cost: 0, model: false }];
}

function nearest(sorted: readonly number[], t: number): number {
  let best = sorted[0], d = Math.abs(sorted[0] - t);
  for (const x of sorted) {
    const e = Math.abs(x - t);
    if (e < d) (best = x), (d = e);
  }
  return Math.round(best);
}
