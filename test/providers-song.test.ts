/**
 * The song route's real adapters (@langchain/google-genai, @fal-ai/client) against the loopback
 * stand-ins: the MP3 reaches Gemini inline, the model's approximate plan becomes exact coverage,
 * audit / failure rule / mask, embeddings with their length asserted, FLUX.2 LoRA images and
 * inpainting. Every test asserts how many calls the stand-in recorded: that is what is paid for.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Media, SongAnalysis, SongShot } from "../tools/ports.js";
import pino from "pino";
import { ClientError, ProviderError, SPEC_POLICIES, createResilience } from "../tools/resilience.js";
import { createGeminiSongAnalyst, normaliseScenes, shortRule, toBox, type ModelScene } from "../tools/gemini-song.js";
import { createSongSignal } from "../tools/offline/song-analyst.js";
import { createFfmpeg } from "../tools/ffmpeg.js";
import { prng } from "../tools/offline/draw-helpers.js";
import { createGeminiEmbedder } from "../tools/gemini-embedder.js";
import { createFalSongIllustrator, loraUrlFromTemplate, FLUX2_LORA_EDIT_MODEL, FLUX2_LORA_MODEL, FLUX_INPAINT_MODEL } from "../tools/fal-song.js";
import { createDownloader, createFal } from "../tools/fal.js";
import { REQUIRED_IMAGE_TERMS } from "../graph/song/policy.js";
import { createGeminiStandin, SAMPLE_SONG_PLAN, standinVector, type GeminiStandin } from "./standins/gemini.js";
import { createFalStandin, tinyPng, type FalStandin } from "./standins/fal.js";

const GEMINI_KEY = "gemini-test-key";
const FAL_KEY = "fal-test-key";
const LYRICS_TAG = "la la la / sing along";

let gemini: GeminiStandin;
let fal: FalStandin;
let mp3: Media;
let png: Media;

/** A 12 s 440 Hz sine as MP3 (libmp3lame), with lyrics in an ID3 tag. */
async function sineMp3(): Promise<Uint8Array> {
  const ffmpegPath = ((await import("@ffmpeg-installer/ffmpeg")) as unknown as { default: { path: string } }).default.path;
  const dir = await mkdtemp(join(tmpdir(), "song-providers-"));
  const out = join(dir, "song.mp3");
  try {
    await promisify(execFile)(ffmpegPath, [
      "-hide_banner", "-loglevel", "error", "-y",
      "-f", "lavfi", "-i", "sine=frequency=440:duration=12",
      "-c:a", "libmp3lame", "-b:a", "64k", "-metadata", `lyrics=${LYRICS_TAG}`, out,
    ]);
    return new Uint8Array(await readFile(out));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  [gemini, fal] = await Promise.all([createGeminiStandin({ apiKey: GEMINI_KEY }), createFalStandin({ apiKey: FAL_KEY })]);
  mp3 = { data: await sineMp3(), contentType: "audio/mpeg" };
  png = { data: await tinyPng({ r: 30, g: 90, b: 160 }), contentType: "image/png" };
});

afterAll(async () => {
  await Promise.all([gemini?.close(), fal?.close()]);
});

beforeEach(() => {
  gemini.reset();
  fal.reset();
});

const analyst = () => createGeminiSongAnalyst({ apiKey: GEMINI_KEY, model: "gemini-3.8-flash", baseUrl: gemini.url, deadlineMs: 5_000, songDeadlineMs: 5_000 });
const userText = (i = 0) => gemini.requests[i].body.contents?.[0].parts.map((p) => p.text ?? "").join("\n") ?? "";
const flat = (scenes: Array<{ shots: SongShot[] }>) => scenes.flatMap((s) => s.shots);
const shotsOf = (a: { scenes: Array<{ shots: SongShot[] }> }) => flat(a.scenes);
const isPng = (m: Media) => Buffer.from(m.data.subarray(0, 8)).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

/** Shots start at 0, end at durationMs, touch each other, and are whole milliseconds. */
function expectTiling(shots: SongShot[], durationMs: number) {
  expect(shots[0].startMs).toBe(0);
  expect(shots.at(-1)!.endMs).toBe(durationMs);
  shots.forEach((s, i) => {
    expect(Number.isInteger(s.startMs) && Number.isInteger(s.endMs)).toBe(true);
    expect(s.endMs).toBeGreaterThan(s.startMs);
    if (i > 0) expect(s.startMs).toBe(shots[i - 1].endMs);
  });
}

// ------------------------------------------------------------------------------------------------

describe("Gemini song analyst (@langchain/google-genai → stand-in)", () => {
  it("sends the MP3 inline as audio/mp3 and turns an approximate plan into exact coverage", async () => {
    const analysis: SongAnalysis = await analyst().analyzeSong({ audio: mp3, minShotMs: 2_000, maxShotMs: 5_000 });

    expect(gemini.requests).toHaveLength(1);
    const [req] = gemini.requests;
    expect(req.keyOk).toBe(true);
    expect(req.model).toBe("gemini-3.8-flash");
    expect(req.media).toEqual([{ mimeType: "audio/mp3", bytes: mp3.data.byteLength }]);
    expect(req.body.contents?.[0].parts.find((p) => p.inlineData)?.inlineData?.data).toBe(Buffer.from(mp3.data).toString("base64"));
    expect(Object.keys(req.body.generationConfig?.responseSchema?.properties ?? {})).toEqual(expect.arrayContaining(["scenes", "bpm", "sections", "lyrics", "duration_ms"]));
    expect(req.body.systemInstruction?.parts[0].text).toContain("music supervisor");
    expect(userText()).toContain("between 2000 and 5000 ms");
    expect(userText()).toContain(LYRICS_TAG); // the ID3 lyrics help the model
    expect(userText()).toMatch(new RegExp(`The track is ${analysis.durationMs} ms long`));

    // Measured from the file (frames incl. encoder padding), not taken from the model's 12 000.
    expect(analysis.durationMs).toBeGreaterThanOrEqual(11_950);
    expect(analysis.durationMs).toBeLessThan(12_200);
    const shots = shotsOf(analysis);
    expectTiling(shots, analysis.durationMs);
    for (const s of shots) {
      expect(s.endMs - s.startMs).toBeGreaterThanOrEqual(2_000);
      expect(s.endMs - s.startMs).toBeLessThanOrEqual(5_000);
    }
    // The model's content follows its times: first shot, lyrics in order, the sliver's line kept.
    expect(shots[0].description).toBe("Wide shot of a quiet street at dawn");
    expect(analysis.scenes.map((s) => s.title)).toEqual(["Intro", "Chorus"]);
    expect(shots.flatMap((s) => (s.lyricsSnippet ? s.lyricsSnippet.split(" / ") : []))).toEqual(["la la la", "sing along", "sing along", "hey", "goodbye"]);
    expect(shots.at(-1)!.lyricsSnippet).toContain("goodbye");
    expect(analysis.sections.map((s) => s.label)).toEqual(["intro", "chorus"]);
    expect(analysis.sections[0].startMs).toBe(0);
    expect(analysis.sections[1].startMs).toBe(analysis.sections[0].endMs);
    expect(analysis.sections[1].endMs).toBe(analysis.durationMs);
    // Without the decoded signal there are no beats to cut on: the model's tempo is kept.
    expect(analysis).toMatchObject({ bpm: 120, beatsMs: [], downbeatsMs: [], offline: false, lyrics: SAMPLE_SONG_PLAN.lyrics });
  });

  it("scales a plan answered in seconds; refuses a plan that covers a fraction of the song (retryable)", async () => {
    const inSeconds = {
      ...SAMPLE_SONG_PLAN,
      duration_ms: 12,
      scenes: [{ title: "All", shots: [{ start_ms: 0, end_ms: 6, lyrics_snippet: "", description: "a" }, { start_ms: 6, end_ms: 12, lyrics_snippet: "", description: "b" }] }],
    };
    gemini.setHandler(() => inSeconds);
    const a = await analyst().analyzeSong({ audio: mp3, minShotMs: 2_000, maxShotMs: 8_000 });
    const shots = shotsOf(a);
    expectTiling(shots, a.durationMs);
    expect(shots.map((s) => s.description)).toEqual(["a", "b"]);
    expect(shots[0].endMs).toBe(6_000);

    gemini.setHandler(() => ({ ...SAMPLE_SONG_PLAN, scenes: [{ title: "Intro", shots: [{ start_ms: 0, end_ms: 3_000, lyrics_snippet: "", description: "a" }] }] }));
    const err = await analyst().analyzeSong({ audio: mp3, minShotMs: 2_000, maxShotMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ provider: "GEMINI", code: "INVALID_RESPONSE", retryable: true });
    expect((err as Error).message).toMatch(/cover 25 %/);
    expect(gemini.requests).toHaveLength(2);
  });

  it("maps a 429 to EXTERNAL_RATE_LIMIT with RetryInfo, and a blocked song to a ClientError", async () => {
    gemini.rateLimit(1, "7s");
    const limited = await analyst().analyzeSong({ audio: mp3, minShotMs: 2_000, maxShotMs: 5_000 }).catch((e: unknown) => e);
    expect(limited).toMatchObject({ code: "EXTERNAL_RATE_LIMIT", retryable: true, retryAfterMs: 7_000, status: 429 });
    gemini.blockNext("PROHIBITED_CONTENT");
    const blocked = await analyst().analyzeSong({ audio: mp3, minShotMs: 2_000, maxShotMs: 5_000 }).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(ClientError);
    expect(blocked).toMatchObject({ code: "CONTENT_BLOCKED", retryable: false });
    expect(JSON.stringify(blocked)).not.toContain(GEMINI_KEY);
    expect(gemini.requests).toHaveLength(2); // SDK retries are off

    // Through the resilience layer the 429 is retried after RetryInfo's delay (scaled down here).
    gemini.reset();
    gemini.rateLimit(1, "7s");
    const layer = createResilience({ policies: SPEC_POLICIES, delayScale: 0.001, logger: pino({ level: "silent" }) });
    try {
      const a = analyst();
      const analyzeSong = layer.wrap("GEMINI", a.analyzeSong.bind(a));
      await expect(analyzeSong({ audio: mp3, minShotMs: 2_000, maxShotMs: 5_000 })).resolves.toMatchObject({ offline: false });
      expect(gemini.requests).toHaveLength(2);
    } finally {
      await layer.shutdown();
    }
  });

  it("audits a shot prompt: the model's findings united with the deterministic checks", async () => {
    const full = `[s1]_[v1]_[F2] <lora:miriN14> miriN14, ${REQUIRED_IMAGE_TERMS.join(", ")}. Scene: the character in a meadow.`;
    await expect(analyst().auditShot({ prompt: full, requiredTerms: [...REQUIRED_IMAGE_TERMS], rules: ["Avoid red shoes"] })).resolves.toEqual({ ok: true, violations: [] });

    const bad = full.replace("Mouth CLOSED", "smiling").replace("in a meadow", "with bare shoulders and red shoes in a meadow");
    const audit = await analyst().auditShot({ prompt: bad, requiredTerms: [...REQUIRED_IMAGE_TERMS], rules: ["Avoid red shoes"] });
    expect(audit.ok).toBe(false);
    // The same finding from both sides is listed once.
    expect(audit.violations.filter((v) => v === 'missing required term "Mouth CLOSED"')).toHaveLength(1);
    expect(audit.violations).toContain("bare shoulders are immodest for a child"); // only the model saw this
    expect(audit.violations.some((v) => v.includes('breaks rule "Avoid red shoes"'))).toBe(true); // only the code saw this
    expect(gemini.requests).toHaveLength(2);
    expect(JSON.parse(userText(1))).toEqual({ prompt: bad, required_terms: [...REQUIRED_IMAGE_TERMS], rules: ["Avoid red shoes"] });
    expect(Object.keys(gemini.requests[1].body.generationConfig?.responseSchema?.properties ?? {})).toEqual(["ok", "violations"]);
  });

  it("turns a rejection into one short rule, with the rejected image inline", async () => {
    const { rule } = await analyst().analyzeFailure({ prompt: "[s1]_[v1]_[F2] a shot", feedback: "Bare shoulders.", image: png });
    expect(rule).toBe("Avoid bare shoulders");
    expect(gemini.requests[0].media).toEqual([{ mimeType: "image/png", bytes: png.data.byteLength }]);

    const long = `Avoid ${"very ".repeat(40)}long rules.`;
    gemini.setHandler(() => ({ rule: `"${long}"\n` }));
    const short = await analyst().analyzeFailure({ prompt: "p", feedback: "too long", image: null });
    expect(short.rule.length).toBeLessThanOrEqual(120);
    expect(short.rule).toMatch(/^Avoid very very/);
    expect(short.rule).not.toMatch(/["\n]|\s$/);
    expect(gemini.requests[1].media).toEqual([]);
    expect(gemini.requests).toHaveLength(2);
  });

  it("draws a PNG mask of the image's size, white inside Gemini's box", async () => {
    const image = { data: new Uint8Array(await sharp({ create: { width: 200, height: 100, channels: 3, background: "#336699" } }).jpeg().toBuffer()), contentType: "image/jpeg" };
    const mask = await analyst().maskFor({ image, instruction: "make her umbrella red" });
    expect(mask.contentType).toBe("image/png");
    expect(isPng(mask)).toBe(true);
    const { data, info } = await sharp(mask.data).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([200, 100]);
    const at = (x: number, y: number) => data[y * info.width + x];
    // SAMPLE_REGION: x 0.25–0.75 (50–150 px), y 0.1–0.5 (10–50 px), plus a 2 % margin.
    for (const [x, y] of [[50, 10], [100, 30], [149, 49]]) expect(at(x, y)).toBe(255);
    for (const [x, y] of [[10, 90], [190, 5], [100, 60], [40, 30]]) expect(at(x, y)).toBe(0);
    expect(gemini.requests).toHaveLength(1);
    expect(gemini.requests[0].media).toEqual([{ mimeType: "image/jpeg", bytes: image.data.byteLength }]);
    expect(userText()).toContain("make her umbrella red");

    // An unreadable image fails before Gemini is paid, as a ClientError (never retried).
    const err = await analyst().maskFor({ image: { data: new Uint8Array([1, 2, 3]), contentType: "image/png" }, instruction: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(gemini.requests).toHaveLength(1);
  });

  it("moves the plan's cuts onto the beats of the decoded audio, and plans from the engine's clip lengths", async () => {
    const dir = await mkdtemp(join(tmpdir(), "song-beats-"));
    try {
      const ffmpeg = createFfmpeg();
      const file = join(dir, "beat.mp3");
      // 120 bpm: a kick every 500 ms, the first beat of every bar twice as loud.
      const kick = "sin(2*PI*60*t)*exp(-25*mod(t,0.5))*(0.45+0.45*lt(mod(t,2),0.5))";
      await ffmpeg.run(["-f", "lavfi", "-i", `aevalsrc='${kick}':s=44100:d=12`, "-c:a", "libmp3lame", "-b:a", "96k", file]);
      const audio = { data: new Uint8Array(await readFile(file)), contentType: "audio/mpeg" };
      const withSignal = createGeminiSongAnalyst({
        apiKey: GEMINI_KEY, model: "gemini-3.8-flash", baseUrl: gemini.url, songSignal: createSongSignal({ ffmpeg, workDir: dir }),
      });
      const a = await withSignal.analyzeSong({ audio, minShotMs: 2_000, maxShotMs: 5_000, clipLengthsMs: [4_000, 5_000] });
      expect(gemini.requests).toHaveLength(1);
      // The model is told the tempo and the bars the audio really has.
      expect(userText()).toMatch(/Measured tempo: 1(19|20|21)(\.\d)? bpm \(a beat every 500 ms, the first at \d+ ms; bars start at \d+ ms and every (199\d|200\d) ms after\)/);
      expect(Math.abs(a.durationMs - 12_000)).toBeLessThanOrEqual(30); // decoded, not the file's frame count
      expect(a.beatsMs.length).toBeGreaterThanOrEqual(22);
      expect(a.downbeatsMs.length).toBeGreaterThanOrEqual(5);
      for (const d of a.downbeatsMs) expect(Math.abs(d - Math.round(d / 2000) * 2000)).toBeLessThanOrEqual(40);
      const shots = shotsOf(a);
      expectTiling(shots, a.durationMs);
      // Every cut is a beat of the audio, not a point of the model's 100 ms guesses.
      for (const s of shots.slice(1)) expect(a.beatsMs).toContain(s.startMs);
      for (const s of shots) {
        expect(s.endMs - s.startMs).toBeGreaterThanOrEqual(2_000);
        expect(s.endMs - s.startMs).toBeLessThanOrEqual(5_000);
      }
      // The model's content still follows its times.
      expect(shots[0].description).toBe("Wide shot of a quiet street at dawn");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runs each call on the model it names, rewrites a refused shot from the findings, and refuses a model it cannot use", async () => {
    const a = analyst();
    expect(a.model).toBe("gemini-3.8-flash");
    const revised = await a.reviseShot({
      description: "the character under red umbrellas in the rain",
      violations: ['breaks rule "Avoid umbrellas": the prompt mentions "umbrellas"'],
      rules: ["Avoid umbrellas"],
      model: "gemini-3.5-flash-lite",
    });
    expect(revised.description).not.toMatch(/umbrella/);
    expect(revised.description).toContain("in the rain");
    expect(gemini.requests.map((r) => r.model)).toEqual(["gemini-3.5-flash-lite"]);
    expect(JSON.parse(userText(0))).toEqual({
      description: "the character under red umbrellas in the rain", findings: ['breaks rule "Avoid umbrellas": the prompt mentions "umbrellas"'], rules: ["Avoid umbrellas"],
    });
    await a.auditShot({ prompt: "p", requiredTerms: [], rules: [], model: "gemini-3.7-flash" });
    await a.auditShot({ prompt: "p", requiredTerms: [], rules: [] });
    expect(gemini.requests.map((r) => r.model)).toEqual(["gemini-3.5-flash-lite", "gemini-3.7-flash", "gemini-3.8-flash"]);
    const refused = await a.auditShot({ prompt: "p", requiredTerms: [], rules: [], model: "gpt-4o" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ClientError);
    expect((refused as ClientError).userMessage).toBe('The project\'s model "gpt-4o" cannot be used here: set a gemini-2.x or gemini-3.x model for this role.');
    expect(gemini.requests).toHaveLength(3); // refused before anything was sent
  });

  it("refuses model names the SDK cannot send audio to", () => {
    expect(() => createGeminiSongAnalyst({ apiKey: GEMINI_KEY, model: "gemini-flash-latest" })).toThrow(/gemini-2\.x or gemini-3\.x/);
  });
});

describe("song plan normalisation (pure)", () => {
  it("tiles 300 random, messy plans exactly, every shot within [min, max], no lyric lost", () => {
    const rand = prng(42); // mulberry32, so failures reproduce
    for (let run = 0; run < 300; run++) {
      const minShotMs = 1_000 + Math.round(rand() * 3_000);
      const maxShotMs = 2 * minShotMs + Math.round(rand() * 6_000);
      const durationMs = minShotMs + Math.round(rand() * 240_000);
      let line = 0;
      const scenes: ModelScene[] = Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, k) => ({
        title: `S${k}`,
        shots: Array.from({ length: 1 + Math.floor(rand() * 8) }, () => {
          const start = (rand() * 1.2 - 0.1) * durationMs;
          return { startMs: start, endMs: start + (rand() * 1.5 - 0.2) * maxShotMs, lyricsSnippet: rand() < 0.5 ? `line ${line++}` : "", description: "d" };
        }),
      }));
      const lines = scenes.flatMap((s) => s.shots).filter((s) => s.lyricsSnippet && Math.min(s.startMs, s.endMs) < durationMs && Math.max(s.startMs, s.endMs) > 0 && s.startMs !== s.endMs);
      let out: Array<{ shots: SongShot[] }>;
      try {
        out = normaliseScenes(scenes, { durationMs, minShotMs, maxShotMs });
      } catch (err) {
        expect((err as Error).message).toMatch(/no shot inside the song/); // every random shot fell outside
        continue;
      }
      const shots = out.flatMap((s) => s.shots);
      expectTiling(shots, durationMs);
      for (const s of shots) {
        expect(s.endMs - s.startMs).toBeGreaterThanOrEqual(minShotMs);
        expect(s.endMs - s.startMs).toBeLessThanOrEqual(maxShotMs);
      }
      const kept = shots.flatMap((s) => (s.lyricsSnippet ? s.lyricsSnippet.split(" / ") : []));
      expect(kept.sort()).toEqual(lines.map((s) => s.lyricsSnippet).sort());
    }
  });

  it("keeps the model's cuts when they are valid, splits a long shot evenly, and handles a song shorter than a shot", () => {
    const shot = (startMs: number, endMs: number, description: string): SongShot => ({ startMs, endMs, lyricsSnippet: "", description });
    const kept = flat(normaliseScenes([{ title: "A", shots: [shot(0, 3_000, "a"), shot(3_000, 7_000, "b"), shot(7_000, 10_000, "c")] }], { durationMs: 10_000, minShotMs: 2_000, maxShotMs: 5_000 }));
    expect(kept.map((s) => [s.startMs, s.endMs, s.description])).toEqual([[0, 3_000, "a"], [3_000, 7_000, "b"], [7_000, 10_000, "c"]]);

    const split = flat(normaliseScenes([{ title: "A", shots: [shot(0, 12_000, "long")] }], { durationMs: 12_000, minShotMs: 2_000, maxShotMs: 5_000 }));
    expect(split.map((s) => s.endMs - s.startMs)).toEqual([4_000, 4_000, 4_000]);
    expect(split.every((s) => s.description === "long")).toBe(true);

    const tiny = flat(normaliseScenes([{ title: "A", shots: [shot(0, 900, "x")] }], { durationMs: 1_500, minShotMs: 2_000, maxShotMs: 5_000 }));
    expect(tiny.map((s) => [s.startMs, s.endMs])).toEqual([[0, 1_500]]);
  });

  it("reads Gemini's box format and cuts long rules at a word", () => {
    expect(toBox([100, 250, 500, 750])).toEqual({ x: 0.25, y: 0.1, w: 0.5, h: 0.4 });
    expect(toBox([0.1, 0.25, 0.5, 0.75])).toEqual({ x: 0.25, y: 0.1, w: 0.5, h: 0.4 });
    expect(() => toBox([100, 100, 100, 500])).toThrow(ProviderError);
    expect(shortRule("Avoid bare shoulders. Also keep the hem long, the sleeves down to the elbow and the collar high in every single shot of the whole video")).toBe("Avoid bare shoulders.");
  });
});

// ------------------------------------------------------------------------------------------------

describe("Gemini embedder (GoogleGenerativeAIEmbeddings → stand-in)", () => {
  const embedder = () => createGeminiEmbedder({ apiKey: GEMINI_KEY, baseUrl: gemini.url });
  const unit = (v: number[]) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };

  it("embeds in batches of at most 100, asks for 768 dimensions, returns unit vectors", async () => {
    const texts = Array.from({ length: 250 }, (_, i) => `rule ${i}: avoid bare shoulders`);
    texts.splice(10, 0, "   "); // blank: a zero vector, never sent
    const e = embedder();
    expect([e.model, e.dimensions]).toEqual(["gemini-embedding-001", 768]);
    const vectors = await e.embed(texts);
    expect(vectors).toHaveLength(251);
    expect(vectors.every((v) => v.length === 768)).toBe(true);
    expect(vectors[10].every((x) => x === 0)).toBe(true);
    const close = (a: number[], b: number[]) => a.every((x, i) => Math.abs(x - b[i]) < 1e-12);
    expect(close(vectors[0], unit(standinVector(texts[0], 768)))).toBe(true);
    expect(close(vectors[250], unit(standinVector(texts[250], 768)))).toBe(true);
    expect(Math.hypot(...vectors[123])).toBeCloseTo(1, 10);

    expect(gemini.embedRequests.map((r) => r.texts.length)).toEqual([100, 100, 50]);
    expect(gemini.embedRequests.every((r) => r.method === "batchEmbedContents" && r.model === "gemini-embedding-001" && r.keyOk)).toBe(true);
    expect(gemini.embedRequests[0]).toMatchObject({ outputDimensionality: 768, taskType: "SEMANTIC_SIMILARITY" });
    expect(gemini.embedRequests.flatMap((r) => r.texts)).not.toContain("   ");
    expect(gemini.requests).toHaveLength(0);
  });

  it("a vector of the wrong length is a ProviderError, not a silent short vector", async () => {
    gemini.shortVectorsNext(12);
    const err = await embedder().embed(["hello", "world"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ provider: "GEMINI", code: "INVALID_RESPONSE", retryable: false });
    expect((err as Error).message).toMatch(/not 768 finite numbers \(lengths 12\)/);
    expect(gemini.embedRequests).toHaveLength(1);
  });

  it("a failed batch, which the SDK turns into [] vectors, is a retryable ProviderError", async () => {
    gemini.failEmbedNext(500);
    const err = await embedder().embed(["hello"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ code: "INVALID_RESPONSE", retryable: true });
    expect((err as Error).message).toMatch(/batch 1 of 1 failed/);
    expect(gemini.embedRequests).toHaveLength(1);
    await expect(embedder().embed(["hello"])).resolves.toHaveLength(1); // the next call works
  });
});

// ------------------------------------------------------------------------------------------------

describe("fal song illustrator (@fal-ai/client → stand-in)", () => {
  const template = "https://weights.example.invalid/loras/{id}.safetensors";
  const illustrator = (extra: { maxReferences?: number } = {}) =>
    createFalSongIllustrator({
      client: createFal({ apiKey: FAL_KEY, fetch: fal.fetch }), download: createDownloader({ fetch: fal.fetch }),
      loraUrlOf: loraUrlFromTemplate(template), pollIntervalMs: 10, deadlineMs: 5_000, ...extra,
    });
  const prompt = `[s1]_[v1]_[F2] <lora:miriN14> miriN14, ${REQUIRED_IMAGE_TERMS.join(", ")}.`;

  it("shotImage with 2 references: uploads both, FLUX.2 LoRA edit with image_urls, the LoRA path and the seed", async () => {
    const out = await illustrator().shotImage({ prompt, loraId: "miriN14", references: [png, png], seed: 77 });
    expect(isPng(out)).toBe(true);
    expect(fal.uploads).toHaveLength(2);
    expect(fal.submissions).toHaveLength(1);
    const [sub] = fal.submissions;
    expect(sub.model).toBe(FLUX2_LORA_EDIT_MODEL);
    expect(sub.input).toMatchObject({
      // 1280×720: the shot is a clip's first frame (the landscape_16_9 preset is 1024×576, below 720p).
      prompt, seed: 77, image_size: { width: 1280, height: 720 }, num_images: 1,
      loras: [{ path: "https://weights.example.invalid/loras/miriN14.safetensors", scale: 1 }],
    });
    const urls = sub.input.image_urls as string[];
    expect(urls).toHaveLength(2);
    for (const u of urls) expect(u).toMatch(/^https:\/\/v3\.fal\.media\/files\//);
    expect(fal.requests.some((r) => r.path === `/fal-ai/flux-2/requests/${sub.requestId}/status`)).toBe(true);
  });

  it("the first shot (no references) uses FLUX.2 LoRA text-to-image; more than 3 references keep the most recent 3", async () => {
    await illustrator().shotImage({ prompt, loraId: "miriN14", references: [], seed: 1 });
    expect(fal.uploads).toHaveLength(0);
    expect(fal.submissions[0].model).toBe(FLUX2_LORA_MODEL);
    expect(fal.submissions[0].input).not.toHaveProperty("image_urls");
    expect(fal.submissions[0].input.loras).toEqual([{ path: "https://weights.example.invalid/loras/miriN14.safetensors", scale: 1 }]);

    fal.reset();
    const refs = await Promise.all([10, 60, 110, 160, 210].map(async (r) => ({ data: await tinyPng({ r, g: 0, b: 0 }), contentType: "image/png" })));
    await illustrator().shotImage({ prompt, loraId: "miriN14", references: refs, seed: 2 });
    expect(fal.submissions[0].input.image_urls as string[]).toHaveLength(3);
    expect(fal.uploads.map((u) => u.size).sort()).toEqual(refs.slice(-3).map((r) => r.data.byteLength).sort());
    expect(fal.submissions).toHaveLength(1);
  });

  it("inpaint uploads image and mask and sends image_url + mask_url to the inpainting model", async () => {
    const mask = { data: new Uint8Array(await sharp({ create: { width: 64, height: 36, channels: 3, background: "#000000" } }).png().toBuffer()), contentType: "image/png" };
    const out = await illustrator().inpaint({ image: png, mask, prompt: "[s1]_[v2]_[F2I] make the umbrella red", seed: 5 });
    expect(isPng(out)).toBe(true);
    expect(fal.uploads.map((u) => u.size).sort()).toEqual([png.data.byteLength, mask.data.byteLength].sort());
    expect(fal.submissions).toHaveLength(1);
    const [sub] = fal.submissions;
    expect(sub.model).toBe(FLUX_INPAINT_MODEL);
    expect(sub.input).toMatchObject({ prompt: "[s1]_[v2]_[F2I] make the umbrella red", seed: 5 });
    expect(sub.input.image_url).toMatch(/^https:\/\/v3\.fal\.media\/files\//);
    expect(sub.input.mask_url).toMatch(/^https:\/\/v3\.fal\.media\/files\//);
    expect(sub.input.mask_url).not.toBe(sub.input.image_url);
  });

  it("maps LoRA ids through the template; a bad id fails before anything is uploaded or paid", async () => {
    expect(() => loraUrlFromTemplate("https://x.example/{id}/w.safetensors")("a b")).toThrow(/LoRA id "a b" is not valid/);
    expect(() => loraUrlFromTemplate("https://x.example/w.safetensors")).toThrow(/\{id\}/);
    expect(() => loraUrlFromTemplate("ftp://x.example/{id}")).toThrow(/http/);
    expect(loraUrlFromTemplate("https://x.example/{id}.safetensors")("miri.N_14")).toBe("https://x.example/miri.N_14.safetensors");
    const err = await illustrator().shotImage({ prompt, loraId: "../etc", references: [png], seed: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ provider: "FLUX", code: "INVALID_REQUEST" });
    expect(fal.uploads).toHaveLength(0);
    expect(fal.submissions).toHaveLength(0);
  });

  it("a 422 from fal is a ClientError with the field and type", async () => {
    fal.rejectNextSubmit("image_too_large", "image_urls");
    const err = await illustrator().shotImage({ prompt, loraId: "miriN14", references: [png], seed: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as Error).message).toContain("image_urls: image_too_large");
    expect(fal.submissions).toHaveLength(1);
  });
});
