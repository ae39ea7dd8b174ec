import sharp from "sharp";
import type { BrandAnalysis, Blobs, Media, Tools, VideoEngine, ProductionEngine } from "../../tools/ports.js";
import { createFfmpeg } from "../../tools/ffmpeg.js";
import { createOfflineTools } from "../../tools/offline/index.js";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/** Provider latencies of the benchmark's fake tools, in ms. */
export interface Latencies {
  analysis: number;
  style: number;
  script: number;
  preview: number;
  submit: number;
  render: number;
  assemble: number;
}

/** The sum along one scene's path: what a perfectly concurrent pipeline would take. */
export function criticalPath(l: Latencies): number {
  return l.analysis + l.style + l.script + l.preview + l.submit + l.render + l.assemble;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Tools that answer after a fixed latency with media made once up front, so the benchmark
 * measures the graph, runner and store rather than image or video encoding.
 */
export async function createFixedLatencyTools(blobs: Blobs, l: Latencies, onCall: (name: string) => void = () => undefined): Promise<Tools> {
  const image: Media = {
    data: await sharp({ create: { width: 320, height: 180, channels: 3, background: "#3366aa" } }).jpeg().toBuffer(),
    contentType: "image/jpeg",
  };
  const dir = mkdtempSync(path.join(tmpdir(), "bench-clip-"));
  const file = path.join(dir, "clip.mp4");
  await createFfmpeg().run(["-y", "-f", "lavfi", "-i", "color=c=blue:s=320x180:d=1:r=24", "-c:v", "libx264", "-pix_fmt", "yuv420p", file]);
  const clip: Media = { data: readFileSync(file), contentType: "video/mp4" };
  const analysis: BrandAnalysis = {
    physics: 0.8, vibe: 0.5, logic: 0.3, integrity: 0.9, brandEssencePrompt: "a bold blue brand", colorPalette: ["#3366aa"],
    invariantElements: ["blue mark"], subject: "logo", mood: "bold", integrityNotes: "clear", offline: true,
  };
  const script = { cinematographyPrompt: "hero shot", cameraMovement: "push-in", lightingNotes: "soft", invariantToken: "blue mark", durationS: 1 };
  const submittedAt = new Map<string, number>();
  const engine = (name: ProductionEngine): VideoEngine => ({
    engine: name,
    model: "bench",
    async submit(_req, key) {
      await sleep(l.submit);
      submittedAt.set(`bench-${key}`, Date.now());
      return { requestId: `bench-${key}` };
    },
    // The render takes l.render from its submission, whoever asks and however often.
    async status(requestId) {
      const at = submittedAt.get(requestId);
      if (at === undefined) return { state: "unknown" };
      return Date.now() - at >= l.render ? { state: "completed" } : { state: "running" };
    },
    async result() {
      return clip;
    },
    async cancel() {},
  });
  // The song route is benchmarked with its real offline tools (bench-song), not these fakes.
  const { songAnalyst, embedder, songIllustrator, songEditor } = createOfflineTools({ workDir: dir, blobs });
  return {
    songAnalyst, embedder, songIllustrator, songEditor,
    analyst: {
      analyzeBrand: async () => (await sleep(l.analysis), analysis),
      editScene: async () => (await sleep(l.script), { cinematographyPrompt: "edited", reply: "ok" }),
    },
    director: {
      directScenes: async ({ sceneCount }) => (await sleep(l.script), Array.from({ length: sceneCount }, () => script)),
      rerollScene: async () => (onCall("rerollScene"), await sleep(l.script), script),
    },
    illustrator: {
      styleReference: async () => (await sleep(l.style), image),
      preview: async () => (await sleep(l.preview), image),
    },
    engines: { KLING: engine("KLING"), LUMA: engine("LUMA"), GEMINI_PRO: engine("GEMINI_PRO") },
    editor: {
      // A new file per call, as the real editor makes: the caller moves it into the blob store.
      concat: async () => {
        await sleep(l.assemble);
        const out = path.join(dir, `out-${randomBytes(6).toString("hex")}.mp4`);
        await copyFile(file, out);
        return { path: out, contentType: "video/mp4" };
      },
      probe: async () => ({ durationS: 1, videoCodec: "h264", audioCodec: null, width: 320, height: 180, frameRate: 24 }),
    },
    blobs,
  };
}
