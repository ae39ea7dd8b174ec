/**
 * An offline production engine with fal's queue semantics: submit persists the request and returns
 * at once, status reports it, result waits for the clip. The request lives on disk under an id derived from the
 * idempotency key, so a resubmit never renders twice and a restarted process can still collect.
 * The clip is a real H.264 MP4: a slow zoom over the start frame, cross-fading to the end frame.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import type { ClipRequest, Media, ProductionEngine, RenderStatus, VideoEngine } from "../ports.js";
import type { Ffmpeg } from "../ffmpeg.js";
import { MAX_INPUT_PIXELS } from "./image-stats.js";

export interface OfflineVideoEngineOptions {
  engine: ProductionEngine;
  /** Requests and clips live in `<workDir>/<requestId>/`; engines may share one workDir. */
  workDir: string;
  ffmpeg: Ffmpeg;
  fps?: number;
}

interface StoredRequest {
  engine: ProductionEngine;
  prompt: string;
  durationS: number;
  fps: number;
  startFrame: string;
  endFrame: string | null;
}

const W = 1280;
const H = 720;
/** How far the slow push-in travels over a clip. */
const ZOOM = 0.12;
/** Longest cross-fade to the end frame; shorter clips fade over their second half. */
const MAX_FADE_S = 1.5;
const REQUEST_FILE = "request.json";
const CLIP_FILE = "clip.mp4";

export function createOfflineVideoEngine(options: OfflineVideoEngineOptions): VideoEngine {
  const { engine, workDir, ffmpeg } = options;
  const fps = options.fps ?? 24;
  const idPattern = new RegExp(`^offline-${engine.toLowerCase()}-[0-9a-f]{32}$`);
  /** In-flight work per request, shared by concurrent callers; settled entries are dropped. */
  const work = new Map<string, { persisted: Promise<void>; rendered?: Promise<string> }>();
  const dirOf = (id: string) => join(workDir, id);

  function render(id: string): Promise<string> {
    const entry = work.get(id) ?? { persisted: Promise.resolve() };
    if (!entry.rendered) {
      entry.rendered = entry.persisted.then(() => renderOnce(ffmpeg, dirOf(id)));
      // Once settled the disk is the record: a finished clip is found there, and a failed render is
      // retried by the next collect, since rendering is free offline (fal would keep the failure).
      const forget = () => {
        if (work.get(id) === entry) work.delete(id);
      };
      entry.rendered.then(forget, forget);
      work.set(id, entry);
    }
    return entry.rendered;
  }

  return {
    engine,
    model: "offline",

    async submit(request: ClipRequest, idempotencyKey: string) {
      const requestId = `offline-${engine.toLowerCase()}-${sha256(`${engine}\n${idempotencyKey}`).slice(0, 32)}`;
      let entry = work.get(requestId);
      if (!entry) {
        entry = { persisted: persist(dirOf(requestId), request, engine, fps) };
        work.set(requestId, entry);
        entry.persisted.catch(() => work.delete(requestId));
      }
      await entry.persisted;
      // Like a queue accepting the job: work starts now, the caller collects later.
      render(requestId).catch(() => undefined);
      return { requestId };
    },

    async status(requestId: string): Promise<RenderStatus> {
      checkId(requestId);
      if (await exists(join(dirOf(requestId), CLIP_FILE))) return { state: "completed" };
      if (!work.has(requestId) && !(await exists(join(dirOf(requestId), REQUEST_FILE)))) return { state: "unknown" };
      // A request on disk that nobody renders (its process died) is picked up by whoever asks.
      render(requestId).catch(() => undefined);
      return { state: "running" };
    },

    async result(requestId: string, signal?: AbortSignal): Promise<Media> {
      checkId(requestId);
      signal?.throwIfAborted();
      if (!work.has(requestId) && !(await exists(join(dirOf(requestId), REQUEST_FILE)))) {
        throw new Error(`unknown request ${requestId}`);
      }
      const clipPath = await abortable(render(requestId), signal);
      return { data: new Uint8Array(await readFile(clipPath)), contentType: "video/mp4" };
    },

    async cancel(requestId: string): Promise<void> {
      checkId(requestId);
      // Nothing is billed offline; a request nobody renders yet is dropped like a queued fal request.
      if (!work.has(requestId)) await rm(dirOf(requestId), { recursive: true, force: true });
    },
  };

  function checkId(requestId: string): void {
    if (!idPattern.test(requestId)) throw new Error(`not a request of the offline ${engine} engine: ${requestId}`);
  }
}

async function persist(dir: string, request: ClipRequest, engine: ProductionEngine, fps: number): Promise<void> {
  // Same key, same request: a resubmit after a restart finds it on disk and keeps the first version.
  if (await exists(join(dir, REQUEST_FILE))) return;
  if (!(request.durationS > 0) || request.durationS > 60) throw new Error(`durationS out of range: ${request.durationS}`);
  await mkdir(dir, { recursive: true });
  await writeAtomic(join(dir, "start.jpg"), await normaliseFrame(request.startFrame));
  if (request.endFrame) await writeAtomic(join(dir, "end.jpg"), await normaliseFrame(request.endFrame));
  const stored: StoredRequest = {
    engine,
    prompt: request.prompt,
    durationS: request.durationS,
    fps,
    startFrame: "start.jpg",
    endFrame: request.endFrame ? "end.jpg" : null,
  };
  // Written last: its presence means the whole request is on disk.
  await writeAtomic(join(dir, REQUEST_FILE), JSON.stringify(stored, null, 2));
}

/** Frames of any size and format become 1280×720 JPEGs that the bundled ffmpeg decodes reliably. */
async function normaliseFrame(frame: Media): Promise<Buffer> {
  return sharp(frame.data, { limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true })
    .flatten({ background: "#000000" })
    .resize(W, H, { fit: "cover" })
    .jpeg({ quality: 92 })
    .toBuffer();
}

async function renderOnce(ffmpeg: Ffmpeg, dir: string): Promise<string> {
  const clipPath = join(dir, CLIP_FILE);
  if (await exists(clipPath)) return clipPath;
  const req = JSON.parse(await readFile(join(dir, REQUEST_FILE), "utf8")) as StoredRequest;
  const frames = Math.max(1, Math.round(req.durationS * req.fps));
  const tmp = join(dir, `clip.${randomBytes(6).toString("hex")}.tmp.mp4`);
  const inputs = ["-i", join(dir, req.startFrame)];
  // Zooming a 2× upscale keeps zoompan's integer crop offsets from visibly jittering.
  const zoom = (expr: string) =>
    `scale=${W * 2}:${H * 2},zoompan=z='${expr}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'` +
    `:d=${frames}:s=${W}x${H}:fps=${req.fps},format=yuv420p`;
  let graph = `[0:v]${zoom(`1+${ZOOM}*on/${frames}`)}[v]`;
  if (req.endFrame && frames >= 4) {
    inputs.push("-i", join(dir, req.endFrame));
    // The end frame zooms out to rest exactly on itself at the last frame (an anchor frame), and
    // fades in over the clip's tail so the final frame shows it fully.
    const fadeFrames = Math.max(2, Math.min(Math.floor(frames / 2), Math.round(MAX_FADE_S * req.fps)));
    const fadeStart = (frames - fadeFrames) / req.fps;
    const fadeDur = (fadeFrames - 1) / req.fps;
    graph =
      `[0:v]${zoom(`1+${ZOOM}*on/${frames}`)}[s];` +
      `[1:v]${zoom(`1+${ZOOM}-${ZOOM}*on/${frames - 1}`)},format=yuva420p,` +
      `fade=t=in:st=${fadeStart.toFixed(4)}:d=${fadeDur.toFixed(4)}:alpha=1[e];` +
      `[s][e]overlay=format=yuv420,format=yuv420p[v]`;
  }
  try {
    await ffmpeg.run([
      ...inputs,
      "-filter_complex", graph,
      "-map", "[v]",
      "-frames:v", String(frames),
      "-r", String(req.fps),
      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
      "-movflags", "+faststart",
      "-metadata", `comment=OFFLINE render (${req.engine})`,
      "-an",
      tmp,
    ]);
    await rename(tmp, clipPath);
  } finally {
    await rm(tmp, { force: true });
  }
  return clipPath;
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
