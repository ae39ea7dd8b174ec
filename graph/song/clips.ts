/**
 * Which engine renders a song's shots, and how long each shot's clip is asked to be.
 *
 * Engines render fixed lengths (Kling 5 or 10 s, Luma 5 or 9 s, Veo 4, 6 or 8 s; offline any), and
 * a clip is cut to its shot in the final render. So a shot's clip is the shortest length that
 * covers the shot, and no shot may be longer than the longest clip of every engine its fallback
 * chain may end on: a fallback must never leave a shot short of picture. Shots are planned from
 * the routed engine's lengths (tools/beat-cuts.ts) so that little of each paid clip is cut away.
 */
import type { PipelineSettings } from "../context.js";
import type { ProductionEngine, VideoEngine } from "../../tools/ports.js";
import { engineChain } from "../routing.js";

/** The project's video model (globalSettings.videoModel) → the engine slot that renders it. */
export function engineForVideoModel(videoModel: string): { engine: ProductionEngine; reason: string } {
  const m = videoModel.toLowerCase();
  if (/veo|gemini/.test(m)) return { engine: "GEMINI_PRO", reason: `song route: the project's video model ${videoModel} (Veo, start and end frames)` };
  if (/luma|ray/.test(m)) return { engine: "LUMA", reason: `song route: the project's video model ${videoModel} (Luma, start and end frames)` };
  if (/kling/.test(m)) return { engine: "KLING", reason: `song route: the project's video model ${videoModel} (Kling, start and end anchor frames)` };
  return { engine: "KLING", reason: `song route: Kling with anchor frames (the project's video model ${videoModel} is not one we route to)` };
}

/** The clip length, in seconds, asked of `engine` for a shot of `shotMs`: the shortest that covers it. */
export function clipSecondsFor(engine: Pick<VideoEngine, "clipLengthsS">, shotMs: number): number {
  const lengths = engine.clipLengthsS;
  if (!lengths?.length) return shotMs / 1000;
  // 1 ms of slack: a 5000 ms shot is a 5 s clip.
  return lengths.find((s) => s * 1000 + 1 >= shotMs) ?? lengths[lengths.length - 1];
}

/** Shot length limits for a song routed to `engine`, and the clip lengths shots are planned from. */
export function shotLimitsFor(
  engines: Record<ProductionEngine, Pick<VideoEngine, "clipLengthsS">>,
  engine: ProductionEngine,
  song: PipelineSettings["song"],
): { minShotMs: number; maxShotMs: number; clipLengthsMs?: number[] } {
  const longest = engineChain(engine).map((e) => engines[e].clipLengthsS?.at(-1)).filter((s): s is number => s !== undefined);
  const maxShotMs = Math.min(song.maxShotMs, ...longest.map((s) => s * 1000));
  const lengths = engines[engine].clipLengthsS;
  return {
    minShotMs: Math.min(song.minShotMs, maxShotMs),
    maxShotMs,
    ...(lengths?.length ? { clipLengthsMs: lengths.map((s) => s * 1000) } : {}),
  };
}
