import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { createFfmpeg } from "../../tools/ffmpeg.js";
import { PRODUCTION_ENGINES, type ClipRequest, type ProductionEngine, type VideoEngine } from "../../tools/ports.js";
import { RenderFailedError } from "../../tools/provider-errors.js";

/**
 * Engines that, like the real ones, render only fixed clip lengths: a request for any other length
 * gets the nearest one (ties to the longer, as fal's billedClip picks). Their clips are a moving
 * test pattern with a running clock, so any held frame in a final video shows up in freezedetect.
 * They record what they were asked for; `fails` picks requests whose render the provider reports failed.
 */
export function fixedLengthEngines(
  workDir: string,
  options: { lengthsS?: readonly number[]; fails?: (request: { engine: ProductionEngine; prompt: string }) => boolean } = {},
) {
  const lengthsS = options.lengthsS ?? [5, 10];
  const ffmpeg = createFfmpeg();
  mkdirSync(workDir, { recursive: true });
  const requests: Array<{ engine: ProductionEngine; requested: number; rendered: number; prompt: string; hasEndFrame: boolean }> = [];
  const nearest = (s: number) => lengthsS.reduce((b, v) => (Math.abs(v - s) < Math.abs(b - s) || (Math.abs(v - s) === Math.abs(b - s) && v > b) ? v : b));
  const rendered = new Map<string, Promise<string>>();
  const failing = new Set<string>();
  const engine = (name: ProductionEngine): VideoEngine => ({
    engine: name,
    model: `fixed-${lengthsS.join("-")}s`,
    clipLengthsS: lengthsS,
    async submit(request: ClipRequest, key: string) {
      const requestId = `${name}-${requests.length}-${key.replace(/[^a-z0-9]/gi, "")}`.slice(0, 120);
      const seconds = nearest(request.durationS);
      requests.push({ engine: name, requested: request.durationS, rendered: seconds, prompt: request.prompt, hasEndFrame: Boolean(request.endFrame) });
      if (options.fails?.({ engine: name, prompt: request.prompt })) failing.add(requestId);
      const file = path.join(workDir, `${requestId}.mp4`);
      rendered.set(requestId, ffmpeg.run([
        "-f", "lavfi", "-i", `testsrc2=s=640x360:r=24:d=${seconds}`, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", file,
      ]).then(() => file));
      return { requestId };
    },
    async status(requestId: string) {
      return rendered.has(requestId) ? { state: "completed" as const } : { state: "unknown" as const };
    },
    async result(requestId: string) {
      if (failing.has(requestId)) throw new RenderFailedError({ provider: name, message: `${name} could not render this clip` });
      return { data: new Uint8Array(readFileSync(await rendered.get(requestId)!)), contentType: "video/mp4" };
    },
    async cancel() {},
  });
  const engines = Object.fromEntries(PRODUCTION_ENGINES.map((e) => [e, engine(e)])) as Record<ProductionEngine, VideoEngine>;
  return { engines, requests };
}
