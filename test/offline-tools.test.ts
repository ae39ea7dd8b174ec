import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFfmpeg, type Ffmpeg } from "../tools/ffmpeg.js";
import { withFaults } from "../tools/faults.js";
import { createOfflineAnalyst } from "../tools/offline/analyst.js";
import { createOfflineDirector } from "../tools/offline/director.js";
import { concatMode, createOfflineEditor } from "../tools/offline/editor.js";
import { createOfflineTools } from "../tools/offline/index.js";
import { createOfflineIllustrator } from "../tools/offline/illustrator.js";
import { prng } from "../tools/offline/draw-helpers.js";
import { createOfflineVideoEngine } from "../tools/offline/video-engine.js";
import { createLocalBlobs } from "../store/blobs.js";
import type { BrandAnalysis, Media, YellowContextPayload } from "../tools/ports.js";

const FRAME = 1 / 24;
let dir: string;
let ffmpeg: Ffmpeg;
let colourful: Media, uniform: Media, logo: Media, tiny: Media;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "offline-tools-"));
  ffmpeg = createFfmpeg();
  colourful = { data: await colourfulImage(), contentType: "image/jpeg" };
  uniform = { data: await nearUniformImage(), contentType: "image/png" };
  logo = { data: await logoImage(), contentType: "image/png" };
  tiny = { data: await sharp(colourful.data).resize(16, 16).png().toBuffer(), contentType: "image/png" };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("offline analyst", () => {
  const analyst = createOfflineAnalyst();

  it("measures a palette of #rrggbb colours, deterministically", async () => {
    const a = await analyst.analyzeBrand(colourful);
    expect(a.colorPalette).toHaveLength(5);
    for (const hex of a.colorPalette) expect(hex).toMatch(/^#[0-9a-f]{6}$/);
    expect(await analyst.analyzeBrand(colourful)).toEqual(a);
    expect(a.offline).toBe(true);
    for (const s of [a.physics, a.vibe, a.logic, a.integrity]) {
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
      expect(Math.round(s * 100) / 100).toBe(s);
    }
    expect(a.brandEssencePrompt).toContain(a.colorPalette[0]);
    expect(a.invariantElements.join(" ")).toContain(a.colorPalette[0]);
  });

  it("flags near-uniform and tiny images and passes a photo and a logo", async () => {
    const [c, u, l, t] = await Promise.all([colourful, uniform, logo, tiny].map((m) => analyst.analyzeBrand(m)));
    expect(u.integrity).toBeLessThan(0.4);
    expect(u.integrityNotes).toMatch(/almost a single colour/);
    expect(t.integrity).toBeLessThan(0.4);
    expect(t.integrityNotes).toMatch(/16×16 px/);
    expect(c.integrity).toBeGreaterThanOrEqual(0.6);
    expect(l.integrity).toBeGreaterThanOrEqual(0.6);
  });

  it("scores texture as physics, colour as vibe and crisp few-colour marks as logic", async () => {
    const [c, u, l] = await Promise.all([colourful, uniform, logo].map((m) => analyst.analyzeBrand(m)));
    expect(c.physics).toBeGreaterThan(l.physics);
    expect(l.physics).toBeGreaterThan(u.physics);
    expect(c.vibe).toBeGreaterThan(l.vibe);
    expect(l.vibe).toBeGreaterThan(u.vibe);
    expect(l.logic).toBeGreaterThan(c.logic);
    expect(l.logic).toBeGreaterThan(u.logic);
    // The logo's brand colour is its navy mark, not the white page behind it.
    expect(l.colorPalette[0]).not.toBe("#ffffff");
    expect(l.subject).toMatch(/logo/);
  });

  it("applies YELLOW feedback while keeping earlier requests and the length bound", async () => {
    const payload = yellowPayload("Slow push-in on the mark. Warm key light.", ["make it warmer", "add mist"], "less camera shake");
    const edit = await analyst.editScene(payload);
    expect(edit.cinematographyPrompt).toContain("Slow push-in on the mark");
    for (const turn of ["make it warmer", "add mist", "less camera shake"]) expect(edit.cinematographyPrompt).toContain(turn);
    expect(edit.reply).toMatch(/less camera shake/);
    expect(edit.reply).toMatch(/kept 2 earlier/);
    // Editing the edited prompt does not duplicate what is already listed.
    const again = await analyst.editScene({ ...payload, current_scene: { ...payload.current_scene, cinematography_prompt: edit.cinematographyPrompt } });
    expect(again.cinematographyPrompt.split("add mist")).toHaveLength(2);

    const long = Array.from({ length: 12 }, (_, i) => `request ${i}: ${"detail ".repeat(8)}`);
    const trimmed = await analyst.editScene(yellowPayload("Base prompt.", long, "final tweak"));
    expect(trimmed.cinematographyPrompt.length).toBeLessThanOrEqual(600);
    expect(trimmed.cinematographyPrompt).toContain("final tweak");
    expect(trimmed.cinematographyPrompt).toContain("request 11");
    expect(trimmed.cinematographyPrompt).not.toContain("request 0:");
    expect(trimmed.reply).toMatch(/dropped/);
  });
});

describe("offline director", () => {
  let analysis: BrandAnalysis;
  beforeAll(async () => {
    analysis = await createOfflineAnalyst().analyzeBrand(logo);
  });

  it("writes distinct scenes carrying the brand essence and invariant", async () => {
    const director = createOfflineDirector();
    const scenes = await director.directScenes({ analysis, styleReferenceUrl: "file:///x.png", engine: "GEMINI_PRO", sceneCount: 4 });
    expect(scenes).toHaveLength(4);
    expect(new Set(scenes.map((s) => s.cameraMovement)).size).toBe(4);
    for (const s of scenes) {
      expect(s.durationS).toBe(5);
      expect(s.cinematographyPrompt).toContain(analysis.brandEssencePrompt);
      expect(s.cinematographyPrompt.length).toBeLessThanOrEqual(600);
      expect(s.invariantToken).toContain(analysis.colorPalette[0]);
      expect(s.lightingNotes).toContain(analysis.colorPalette[0]);
    }
    const short = await createOfflineDirector({ durationS: 3 }).directScenes({ analysis, styleReferenceUrl: "", engine: "KLING", sceneCount: 1 });
    expect(short[0].durationS).toBe(3);
  });

  it("re-rolls a scene into a different, reproducible script", async () => {
    const director = createOfflineDirector();
    const [, previous] = await director.directScenes({ analysis, styleReferenceUrl: "", engine: "LUMA", sceneCount: 3 });
    const input = { analysis, engine: "LUMA" as const, previous, sequenceIndex: 1, sceneCount: 3, attempt: 1 };
    const first = await director.rerollScene(input);
    expect(first.cameraMovement).not.toBe(previous.cameraMovement);
    expect(await director.rerollScene(input)).toEqual(first);
    const second = await director.rerollScene({ ...input, previous: first, attempt: 2 });
    expect(second.cinematographyPrompt).not.toBe(first.cinematographyPrompt);
  });
});

describe("offline illustrator", () => {
  const illustrator = createOfflineIllustrator();

  it("derives a 1280×720 style reference and previews that differ by scene and name their seed", async () => {
    const ref = await illustrator.styleReference({ image: colourful, prompt: "p", strength: 0.4, seed: 1 });
    expect(await size(ref)).toEqual({ width: 1280, height: 720 });
    expect(Buffer.from(ref.data).equals(Buffer.from(colourful.data))).toBe(false);

    const input = { prompt: "Opening shot: slow push-in on <the> mark & more", styleReference: ref, sequenceIndex: 0, sceneCount: 3 };
    const [a, b, a2, other] = await Promise.all([
      illustrator.preview({ ...input, seed: 11 }),
      illustrator.preview({ ...input, seed: 12 }),
      illustrator.preview({ ...input, seed: 11 }),
      illustrator.preview({ ...input, seed: 11, sequenceIndex: 2 }),
    ]);
    expect(a.contentType).toBe("image/jpeg");
    expect(await size(a)).toEqual({ width: 1280, height: 720 });
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(false);
    expect(Buffer.from(a.data).equals(Buffer.from(other.data))).toBe(false);
    expect(Buffer.from(a.data).equals(Buffer.from(a2.data))).toBe(true);
  });
});

describe("offline video engine and editor", () => {
  const clips: Media[] = [];

  it("renders H.264 1280×720 clips of the requested length, with and without an end frame", async () => {
    const engine = createOfflineVideoEngine({ engine: "KLING", workDir: join(dir, "engines"), ffmpeg });
    const plain = await engine.submit({ startFrame: colourful, prompt: "p", durationS: 2 }, "plain");
    const faded = await engine.submit({ startFrame: colourful, endFrame: logo, prompt: "p", durationS: 1.5 }, "faded");
    for (const [id, seconds] of [[plain.requestId, 2], [faded.requestId, 1.5]] as const) {
      const clip = await engine.result(id);
      const p = await ffmpeg.probe(await toFile(clip, `${id}.mp4`));
      expect(p).toMatchObject({ videoCodec: "h264", audioCodec: null, width: 1280, height: 720, frameRate: 24 });
      expect(Math.abs(p.durationS - seconds)).toBeLessThanOrEqual(FRAME);
      clips.push(clip);
    }
    // The cross-fade ends on the end frame: the last frame is as bright as the white logo page.
    const last = join(dir, "last.png");
    await ffmpeg.run(["-sseof", "-0.05", "-i", join(dir, `${faded.requestId}.mp4`), "-frames:v", "1", last]);
    const [lastMean, logoMean] = await Promise.all([meanLuma(last), meanLuma(Buffer.from(logo.data))]);
    expect(Math.abs(lastMean - logoMean)).toBeLessThan(20);
  });

  it("renders a key once and lets a fresh engine collect after a restart", async () => {
    const workDir = join(dir, "engines-idem");
    const counted = withFaults(ffmpeg);
    const engine = createOfflineVideoEngine({ engine: "LUMA", workDir, ffmpeg: counted.port });
    const request = { startFrame: logo, prompt: "p", durationS: 1 };
    const [a, b] = await Promise.all([engine.submit(request, "job1:scene1:1"), engine.submit(request, "job1:scene1:1")]);
    expect(a.requestId).toBe(b.requestId);
    const clip = await engine.result(a.requestId);
    expect((await engine.submit(request, "job1:scene1:1")).requestId).toBe(a.requestId);
    await engine.result(a.requestId);
    expect(counted.calls.run).toBe(1);
    expect((await engine.submit(request, "job1:scene1:2")).requestId).not.toBe(a.requestId);

    // A finished clip is collected from disk without rendering again.
    const freshCount = withFaults(ffmpeg);
    const fresh = createOfflineVideoEngine({ engine: "LUMA", workDir, ffmpeg: freshCount.port });
    expect(Buffer.from((await fresh.result(a.requestId)).data).equals(Buffer.from(clip.data))).toBe(true);
    expect(freshCount.calls.run ?? 0).toBe(0);

    // A process that died before rendering (its ffmpeg fails here) leaves a request another can render.
    const dying = withFaults(ffmpeg, { failAlways: true });
    const died = await createOfflineVideoEngine({ engine: "LUMA", workDir, ffmpeg: dying.port }).submit(request, "job2:scene1:1");
    const rendered = await fresh.result(died.requestId);
    expect(freshCount.calls.run).toBe(1);
    expect((await ffmpeg.probe(await toFile(rendered, "restart.mp4"))).videoCodec).toBe("h264");
    await expect(fresh.result("offline-luma-" + "0".repeat(32))).rejects.toThrow(/unknown request/);
    await expect(fresh.result("../../etc")).rejects.toThrow(/not a request/);

    // Status answers at once: done on disk, unknown to nobody, and a cancelled request is gone.
    expect(await fresh.status(died.requestId)).toEqual({ state: "completed" });
    expect(await fresh.status("offline-luma-" + "0".repeat(32))).toEqual({ state: "unknown" });
    const queued = await createOfflineVideoEngine({ engine: "LUMA", workDir, ffmpeg: dying.port }).submit(request, "job3:scene1:1");
    await fresh.cancel(queued.requestId);
    expect(await fresh.status(queued.requestId)).toEqual({ state: "unknown" });
  });

  it("joins matching clips by stream copy, with the summed duration", async () => {
    const engine = createOfflineVideoEngine({ engine: "GEMINI_PRO", workDir: join(dir, "engines"), ffmpeg });
    const third = await engine.result((await engine.submit({ startFrame: logo, prompt: "p", durationS: 1 }, "third")).requestId);
    const counted = withFaults(ffmpeg);
    const editorDir = join(dir, "editor");
    const editor = createOfflineEditor({ ffmpeg: counted.port, workDir: editorDir });
    const files = [await toFile(clips[0], "join-0.mp4"), await toFile(clips[1], "join-1.mp4"), await toFile(third, "join-2.mp4")];
    const joined = await editor.concat(files);
    const p = await editor.probe(joined.path);
    expect(p).toMatchObject({ videoCodec: "h264", width: 1280, height: 720 });
    expect(Math.abs(p.durationS - (2 + 1.5 + 1))).toBeLessThanOrEqual(FRAME);
    const runs = counted.log.filter((c) => c.method === "run").map((c) => c.args[0] as string[]);
    expect(runs).toHaveLength(1);
    expect(runs[0].join(" ")).toContain("-c copy");
    // Only the output is left in the editor's folder, for the caller to move into the blob store.
    expect(await readdir(editorDir)).toEqual([basename(joined.path)]);
  });

  it("re-encodes once when clips differ in size", async () => {
    const small = join(dir, "small.mp4");
    await ffmpeg.run(["-f", "lavfi", "-i", "testsrc=size=640x360:rate=24:duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", small]);
    const counted = withFaults(ffmpeg);
    const editor = createOfflineEditor({ ffmpeg: counted.port, workDir: join(dir, "editor2") });
    const joined = await editor.concat([await toFile(clips[1], "mixed-0.mp4"), small]);
    const p = await editor.probe(joined.path);
    expect(p).toMatchObject({ videoCodec: "h264", width: 1280, height: 720, frameRate: 24 });
    expect(Math.abs(p.durationS - 2.5)).toBeLessThanOrEqual(2 * FRAME);
    const runs = counted.log.filter((c) => c.method === "run").map((c) => (c.args[0] as string[]).join(" "));
    expect(runs).toHaveLength(1);
    expect(runs[0]).not.toContain("-c copy");
    expect(concatMode([{ ...probeOf(1280) }, { ...probeOf(640) }])).toBe("reencode");
    expect(concatMode([{ ...probeOf(1280) }, { ...probeOf(1280) }])).toBe("copy");
  });

  it("assembles every engine offline through createOfflineTools", async () => {
    const tools = createOfflineTools({ workDir: join(dir, "tools"), blobs: createLocalBlobs(join(dir, "blobs")), sceneDurationS: 4 });
    expect(Object.values(tools.engines).map((e) => [e.engine, e.model])).toEqual([
      ["KLING", "offline"], ["LUMA", "offline"], ["GEMINI_PRO", "offline"],
    ]);
    const analysis = await tools.analyst.analyzeBrand(logo);
    const [scene] = await tools.director.directScenes({ analysis, styleReferenceUrl: "", engine: "KLING", sceneCount: 1 });
    expect(scene.durationS).toBe(4);
  });
});

describe("fault injection", () => {
  const port = {
    name: "echo",
    async echo(x: number) { return x; },
    async wait(signal: AbortSignal) { return signal.aborted; },
  };

  it("fails the next N calls, then succeeds, and counts every call", async () => {
    const faults = withFaults(port, { failNext: 2 });
    await expect(faults.port.echo(1)).rejects.toThrow(/injected fault: echo/);
    await expect(faults.port.echo(2)).rejects.toThrow();
    expect(await faults.port.echo(3)).toBe(3);
    expect(faults.calls).toEqual({ echo: 3 });
    expect(faults.failures).toEqual({ echo: 2 });
    expect(faults.port.name).toBe("echo");

    faults.failAlways(true);
    await expect(faults.port.echo(4)).rejects.toThrow();
    faults.failAlways(false);
    faults.failNext(1);
    await expect(faults.port.echo(5)).rejects.toThrow();
    expect(await faults.port.echo(6)).toBe(6);
    expect(faults.total()).toBe(6);
  });

  it("adds latency, custom errors and hangs that honour an abort signal", async () => {
    const faults = withFaults(port, { latencyMs: 30, error: (m) => new RangeError(`boom ${m}`) });
    const started = Date.now();
    expect(await faults.port.echo(1)).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    faults.setLatency(0);
    faults.failNext(1);
    await expect(faults.port.echo(2)).rejects.toBeInstanceOf(RangeError);

    faults.setHang(Infinity);
    const controller = new AbortController();
    const hung = faults.port.wait(controller.signal);
    setTimeout(() => controller.abort(new Error("gave up")), 20);
    await expect(hung).rejects.toThrow(/gave up/);
    faults.setHang(10);
    await expect(faults.port.echo(3)).rejects.toThrow(/injected hang/);
  });
});

// ---- fixtures, made at test time -------------------------------------------------------------

/** Photo-like: colour waves, grain and a few translucent shapes. */
async function colourfulImage(w = 640, h = 480): Promise<Buffer> {
  const rand = prng(7);
  const px = Buffer.alloc(w * h * 3);
  const c = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3, grain = (rand() - 0.5) * 90;
      px[i] = c(150 + 105 * Math.sin(x / 37) + grain);
      px[i + 1] = c(120 + 100 * Math.sin(y / 23 + 1) + grain);
      px[i + 2] = c(110 + 110 * Math.sin((x + y) / 53 + 2) + grain);
    }
  }
  const shapes = `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg">
    <circle cx="200" cy="200" r="90" fill="#ffcc00" fill-opacity="0.8"/>
    <rect x="380" y="250" width="180" height="140" fill="#00b4d8" fill-opacity="0.7"/>
    <polygon points="80,420 200,300 320,440" fill="#e63946" fill-opacity="0.75"/></svg>`;
  return sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .composite([{ input: Buffer.from(shapes) }])
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** A grey-blue wall with ±2 levels of noise. */
async function nearUniformImage(w = 640, h = 480): Promise<Buffer> {
  const rand = prng(3);
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const d = Math.round((rand() - 0.5) * 4);
    px[i * 3] = 122 + d; px[i * 3 + 1] = 140 + d; px[i * 3 + 2] = 153 + d;
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

/** A navy emblem, a word mark and a red rule on white. */
async function logoImage(w = 640, h = 480): Promise<Buffer> {
  const svg = `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg">
    <rect width="100%" height="100%" fill="#ffffff"/><circle cx="170" cy="240" r="110" fill="#0b2a6f"/>
    <path d="M120 290 L170 170 L220 290 Z" fill="#ffffff"/>
    <text x="310" y="265" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="96" fill="#0b2a6f">ACME</text>
    <rect x="310" y="290" width="280" height="18" fill="#d62828"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

function yellowPayload(prompt: string, earlier: string[], feedback: string): YellowContextPayload {
  return {
    brand_essence_prompt: "essence",
    style_reference_url: "file:///ref.png",
    current_scene: {
      id: "s1", sequence_index: 0, cinematography_prompt: prompt, camera_movement: "slow push-in",
      lighting_notes: "warm", invariant_token: "#0b2a6f mark", preview_image_url: null, preview_seed: 1,
      traffic_light: "YELLOW", user_feedback: feedback, attempt_count: 1,
    },
    conversation_history: earlier.flatMap((content, i) => [
      { role: "user" as const, content, timestamp: new Date(Date.UTC(2025, 0, 1, 0, i)).toISOString() },
      { role: "assistant" as const, content: `ok: ${content}`, timestamp: new Date(Date.UTC(2025, 0, 1, 0, i, 30)).toISOString() },
    ]),
    user_assets: [],
    prompt_history: [],
    user_feedback: feedback,
  };
}

async function size(media: Media) {
  const { width, height } = await sharp(media.data).metadata();
  return { width, height };
}

async function toFile(media: Media, name: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, media.data);
  return file;
}

async function meanLuma(input: string | Buffer): Promise<number> {
  const { channels } = await sharp(input).greyscale().stats();
  return channels[0].mean;
}

function probeOf(width: number) {
  return {
    durationS: 1, videoCodec: "h264", audioCodec: null, width, height: 720, frameRate: 24,
    pixelFormat: "yuv420p", profile: "Constrained Baseline", audioSampleRate: null, audioChannels: null,
  };
}
