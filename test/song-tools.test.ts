import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDuration, inspectAudio } from "../graph/intake-audio.js";
import { failure } from "./helpers/errors.js";
import { createFfmpeg, type Ffmpeg } from "../tools/ffmpeg.js";
import { createOfflineEmbedder, cosineSimilarity } from "../tools/offline/embedder.js";
import { createOfflineSongAnalyst, distributeLyrics, parseRule, ruleFromFeedback } from "../tools/offline/song-analyst.js";
import { createOfflineSongEditor, frameCounts, stretchFactor } from "../tools/offline/song-editor.js";
import { beatsIn, planCuts } from "../tools/beat-cuts.js";
import { reviseDescription } from "../tools/offline/shot-fix.js";
import { freezes } from "./helpers/freezes.js";
import { createOfflineSongIllustrator } from "../tools/offline/song-illustrator.js";
import type { Media, SongAnalysis, SongShot } from "../tools/ports.js";

const FRAME_S = 1 / 24;
const LYRICS = "First line of the song\nSecond line here\n\nThird and last line";

let dir: string;
let ffmpeg: Ffmpeg;
/** 24 s, a kick + click every 500 ms (120 bpm), 10 dB louder from 12 s (a section change). */
let song: Media;
/** 8 s, ID3v2.4 with TIT2, TPE1 and a real USLT frame. */
let lyricSong: Media;
/** 6 s pure tone: no beat at all. */
let tone: Media;
/** 6 s at 120 bpm for the render tests. */
let shortSong: Media;
let analysis: SongAnalysis;

const analyst = () => createOfflineSongAnalyst({ ffmpeg, workDir: dir });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "song-tools-"));
  ffmpeg = createFfmpeg();
  const beat = "(0.8*sin(2*PI*60*t)*exp(-25*mod(t,0.5))+0.5*sin(2*PI*1000*t)*exp(-60*mod(t,0.5))+0.05*sin(2*PI*220*t))";
  [song, lyricSong, tone, shortSong] = await Promise.all([
    mp3(`aevalsrc='(0.3+0.7*gte(t,12))*${beat}':s=44100:d=24`, "song", ["-metadata", "title=Click Song", "-metadata", "artist=Test Band"]),
    mp3(`aevalsrc='${beat}':s=44100:d=8`, "lyrics", ["-id3v2_version", "0"]).then((m) => withId3(m, "Lyric Song", "Miri", LYRICS)),
    mp3("sine=f=300:d=6", "tone"),
    mp3(`aevalsrc='${beat}':s=44100:d=6`, "short"),
  ]);
  analysis = await analyst().analyzeSong({ audio: song, minShotMs: 2000, maxShotMs: 6000 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function mp3(lavfi: string, name: string, extra: string[] = []): Promise<Media> {
  const file = join(dir, `${name}.mp3`);
  await ffmpeg.run(["-f", "lavfi", "-i", lavfi, "-c:a", "libmp3lame", "-b:a", "128k", ...extra, file]);
  return { data: new Uint8Array(await readFile(file)), contentType: "audio/mpeg" };
}

/**
 * This ffmpeg writes `-metadata lyrics=…` as a TXXX frame named USLT, not as a USLT frame, so the
 * lyrics fixture gets a hand-made ID3v2.4 tag (UTF-8 text frames and a real USLT frame).
 */
function withId3(audio: Media, title: string, artist: string, lyrics: string): Media {
  const syncsafe = (n: number) => Buffer.from([(n >> 21) & 0x7f, (n >> 14) & 0x7f, (n >> 7) & 0x7f, n & 0x7f]);
  const frame = (id: string, body: Buffer) => Buffer.concat([Buffer.from(id, "latin1"), syncsafe(body.length), Buffer.from([0, 0]), body]);
  const utf8 = (s: string) => Buffer.concat([Buffer.from([3]), Buffer.from(s, "utf8")]);
  const frames = Buffer.concat([
    frame("TIT2", utf8(title)),
    frame("TPE1", utf8(artist)),
    frame("USLT", Buffer.concat([Buffer.from([3]), Buffer.from("eng", "latin1"), Buffer.from([0]), Buffer.from(lyrics, "utf8")])),
  ]);
  const tag = Buffer.concat([Buffer.from("ID3", "latin1"), Buffer.from([4, 0, 0]), syncsafe(frames.length), frames]);
  return { data: new Uint8Array(Buffer.concat([tag, audio.data])), contentType: "audio/mpeg" };
}

function expectTiling(shots: SongShot[], durationMs: number) {
  expect(shots[0].startMs).toBe(0);
  for (let i = 1; i < shots.length; i++) expect(shots[i].startMs).toBe(shots[i - 1].endMs);
  expect(shots[shots.length - 1].endMs).toBe(durationMs);
  for (const s of shots) {
    expect(Number.isInteger(s.startMs) && Number.isInteger(s.endMs)).toBe(true);
    expect(s.endMs).toBeGreaterThan(s.startMs);
  }
}

describe("inspectAudio", () => {
  it("accepts an MP3 by content and reads duration, hash and tags", async () => {
    const info = await inspectAudio(song.data);
    expect(info).toMatchObject({ mimeType: "audio/mpeg", extension: "mp3", sizeBytes: song.data.byteLength, title: "Click Song", artist: "Test Band" });
    expect(Math.abs(info.durationMs - 24_000)).toBeLessThan(60);
    expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(info.lyrics).toBeUndefined();
    const tagged = await inspectAudio(lyricSong.data);
    expect(tagged).toMatchObject({ title: "Lyric Song", artist: "Miri", lyrics: LYRICS });
  });

  it("refuses other types, empty and damaged files with messages a user can act on", async () => {
    const wavFile = join(dir, "song.wav");
    await ffmpeg.run(["-f", "lavfi", "-i", "sine=d=1", wavFile]);
    const wav = await failure(inspectAudio(new Uint8Array(await readFile(wavFile))));
    expect(wav.code).toBe("UNSUPPORTED_FILE");
    expect(wav.userMessage).toMatch(/^That file is a WAV file, not an MP3\. Send the song as an MP3 \(up to 20 MB and 10 min\)\.$/);
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#fff" } }).png().toBuffer();
    expect((await failure(inspectAudio(png))).code).toBe("UNSUPPORTED_FILE");
    expect((await failure(inspectAudio(new Uint8Array(1000).fill(7)))).userMessage).toMatch(/not a file type I can recognise/);
    expect((await failure(inspectAudio(new Uint8Array(0)))).code).toBe("VALIDATION_ERROR");
  });

  it("caps size and duration", async () => {
    const big = await failure(inspectAudio(song.data, { maxBytes: 100_000 }));
    expect(big.code).toBe("FILE_TOO_LARGE");
    expect(big.userMessage).toMatch(/over the 0\.1 MB limit\. Export the MP3 at a lower bitrate/);
    const long = await failure(inspectAudio(song.data, { maxDurationS: 10 }));
    expect(long.code).toBe("VALIDATION_ERROR");
    expect(long.userMessage).toBe("That song is 25 s long; the limit is 10 s. Trim it and send it again.");
    expect(formatDuration(840)).toBe("14 min");
    expect(formatDuration(860)).toBe("14 min 20 s");
    const short = await failure(inspectAudio(song.data, { minDurationS: 30 }));
    expect(short.userMessage).toMatch(/^That song is only 24\.0 s long; I need at least 30 s/);
  });
});

describe("offline song analyst: analyzeSong", () => {
  it("measures the song: duration, tempo, beats and the section change", async () => {
    const probed = await ffmpeg.probe(join(dir, "song.mp3"));
    expect(Math.abs(analysis.durationMs / 1000 - probed.durationS)).toBeLessThan(FRAME_S);
    expect(Math.abs(analysis.durationMs - 24_000)).toBeLessThanOrEqual(5);
    expect(analysis.bpm).toBeGreaterThanOrEqual(118);
    expect(analysis.bpm).toBeLessThanOrEqual(122);
    expect(analysis.beatsMs.length).toBeGreaterThanOrEqual(44);
    for (const b of analysis.beatsMs) expect(Math.abs(b - Math.round(b / 500) * 500)).toBeLessThanOrEqual(30);
    expect(analysis.sections.length).toBe(2);
    expect(Math.abs(analysis.sections[1].startMs - 12_000)).toBeLessThanOrEqual(100);
    expect(analysis.sections[0].label).not.toBe(analysis.sections[1].label);
    expect(analysis.offline).toBe(true);
    expect(analysis.lyrics).toBeNull();
  });

  it("tiles the song with shots on beats or section changes, within the length limits", () => {
    const shots = analysis.scenes.flatMap((s) => s.shots);
    expectTiling(shots, analysis.durationMs);
    const sectionChanges = analysis.sections.slice(1).map((s) => s.startMs);
    for (const shot of shots.slice(1)) {
      const onBeat = Math.abs(shot.startMs - Math.round(shot.startMs / 500) * 500) <= 60;
      const onSection = sectionChanges.some((c) => Math.abs(c - shot.startMs) <= 60);
      expect(onBeat || onSection).toBe(true);
    }
    for (const shot of shots) {
      expect(shot.endMs - shot.startMs).toBeGreaterThanOrEqual(2000);
      expect(shot.endMs - shot.startMs).toBeLessThanOrEqual(6000);
      expect(shot.lyricsSnippet).toBe("");
      expect(shot.description).toMatch(/(calm|energetic)/);
    }
    // One scene per section, each starting where its section starts.
    expect(analysis.scenes.map((s) => s.shots[0].startMs)).toEqual(analysis.sections.map((s) => s.startMs));
    expect(analysis.scenes[0].title).toMatch(/calm/);
    expect(analysis.scenes[1].title).toMatch(/energetic/);
  });

  it("honours other limits, is deterministic, and still tiles a song without a beat", async () => {
    const again = await analyst().analyzeSong({ audio: song, minShotMs: 2000, maxShotMs: 6000 });
    expect(again).toEqual(analysis);
    const long = await analyst().analyzeSong({ audio: song, minShotMs: 5000, maxShotMs: 10_000 });
    const shots = long.scenes.flatMap((s) => s.shots);
    expectTiling(shots, long.durationMs);
    for (const s of shots) {
      expect(s.endMs - s.startMs).toBeGreaterThanOrEqual(5000);
      expect(s.endMs - s.startMs).toBeLessThanOrEqual(10_000);
    }

    const flat = await analyst().analyzeSong({ audio: tone, minShotMs: 2000, maxShotMs: 4000 });
    expect(flat.bpm).toBeNull();
    expect(flat.beatsMs).toEqual([]);
    expectTiling(flat.scenes.flatMap((s) => s.shots), flat.durationMs);
    await expect(analyst().analyzeSong({ audio: tone, minShotMs: 3000, maxShotMs: 2000 })).rejects.toThrow(/minShotMs/);
  });

  it("spreads ID3 USLT lyrics over the shots in proportion to time", async () => {
    const a = await analyst().analyzeSong({ audio: lyricSong, minShotMs: 2000, maxShotMs: 3000 });
    expect(a.lyrics).toBe(LYRICS);
    const shots = a.scenes.flatMap((s) => s.shots);
    expect(shots.length).toBeGreaterThanOrEqual(3);
    const sung = shots.map((s) => s.lyricsSnippet).filter(Boolean).join(" / ");
    expect(sung).toBe("First line of the song / Second line here / Third and last line");

    const manual: SongShot[] = [0, 1, 2, 3].map((i) => ({ startMs: i * 3000, endMs: (i + 1) * 3000, lyricsSnippet: "", description: "" }));
    distributeLyrics("a\nb", manual, 12_000); // lines at 3 s and 9 s
    expect(manual.map((s) => s.lyricsSnippet)).toEqual(["", "a", "", "b"]);
  });
});

describe("beats, downbeats and where shots are cut", () => {
  it("finds the bar's first beat when the audio accents it, and guesses none when it does not", async () => {
    // 120 bpm, the third beat of every bar (from 1 s, every 2 s) twice as loud.
    const accented = await mp3("aevalsrc='sin(2*PI*60*t)*exp(-25*mod(t,0.5))*(0.45+0.45*between(mod(t,2),1,1.49))':s=44100:d=12", "accented");
    const a = await analyst().analyzeSong({ audio: accented, minShotMs: 2000, maxShotMs: 4000 });
    expect(a.downbeatsMs.length).toBeGreaterThanOrEqual(5);
    for (const d of a.downbeatsMs) {
      const phase = (((d - 1000) % 2000) + 2000) % 2000;
      expect(Math.min(phase, 2000 - phase)).toBeLessThanOrEqual(40);
    }
    // Every kick alike: no phase stands out, so no downbeat is invented.
    expect(analysis.beatsMs.length).toBeGreaterThan(40);
    expect(analysis.downbeatsMs).toEqual([]);
  });

  it("plans shots from the clip lengths the engine renders: less of each paid clip is cut away", async () => {
    const rendered = (a: SongAnalysis) => a.scenes.flatMap((s) => s.shots).map((s) => {
      const len = s.endMs - s.startMs;
      return len <= 5000 ? 5000 : 10_000; // Kling: the shortest clip that covers the shot
    }).reduce((x, y) => x + y, 0);
    const any = await analyst().analyzeSong({ audio: song, minShotMs: 3000, maxShotMs: 10_000 });
    const kling = await analyst().analyzeSong({ audio: song, minShotMs: 3000, maxShotMs: 10_000, clipLengthsMs: [5000, 10_000] });
    const shots = kling.scenes.flatMap((s) => s.shots);
    expectTiling(shots, kling.durationMs);
    for (const shot of shots.slice(1)) expect(kling.beatsMs.includes(shot.startMs) || kling.sections.some((x) => x.startMs === shot.startMs)).toBe(true);
    expect(rendered(kling)).toBeLessThan(rendered(any));
    expect(rendered(kling) - kling.durationMs).toBeLessThanOrEqual(0.25 * kling.durationMs);
  });

  it("cuts on the model's cuts moved to their nearest beat, on downbeats when free, and without waste when it can", () => {
    const beats = Array.from({ length: 24 }, (_, i) => i * 500);
    const cuts = planCuts(0, 12_000, { beatsMs: beats, modelCutsMs: [3_130, 7_880] }, { minShotMs: 2_000, maxShotMs: 6_000, lengthWeight: 0.05 });
    expect(cuts).toEqual([0, 3_000, 8_000, 12_000]);
    // Clip lengths 5 and 10 s, shots of at most 8 s: two 5 s shots waste nothing, so they beat
    // cutting on the 4 s downbeat (a 4 s and a 6 s shot: 1 s and 4 s of paid clip thrown away).
    const bars = { beatsMs: beats.filter((b) => b < 10_000), downbeatsMs: [0, 2_000, 4_000, 6_000, 8_000] };
    expect(planCuts(0, 10_000, bars, { minShotMs: 3_000, maxShotMs: 8_000, clipLengthsMs: [5_000, 10_000] })).toEqual([0, 5_000, 10_000]);
    // An engine that renders any length: the cut goes on a downbeat (4 s or 6 s cost the same).
    const free = planCuts(0, 10_000, bars, { minShotMs: 3_000, maxShotMs: 8_000 });
    expect(free).toHaveLength(3);
    expect([4_000, 6_000]).toContain(free[1]);
    // No beats and no model: only lengths decide, on a 100 ms grid.
    expect(planCuts(0, 9_000, { beatsMs: [] }, { minShotMs: 2_000, maxShotMs: 4_000 })).toEqual([0, 3_000, 6_000, 9_000]);
    expect(beatsIn(beats, 1_000, 3_000)).toBe(4);
  });

  it("fixes a refused description from the audit's findings, and leaves it when there is nothing it can fix", () => {
    const findings = ['breaks rule "Avoid umbrellas": the prompt mentions "umbrellas"', 'breaks rule "Always soft light": the prompt lacks "soft light"'];
    expect(reviseDescription("The character holds red umbrellas in the rain", findings, [])).toBe("The character holds in the rain, soft light");
    const contradiction = ['missing required term "Mouth CLOSED"'];
    expect(reviseDescription("A quiet street at dawn", contradiction, ["Never Mouth CLOSED"])).toBe("A quiet street at dawn");
  });
});

describe("offline song analyst: audit, failures, masks", () => {
  const required = ["Child physique", "Young girl", "Mouth CLOSED"];

  it("finds missing required terms, case-insensitively", async () => {
    const a = analyst();
    expect(await a.auditShot({ prompt: "young girl, child PHYSIQUE, mouth closed", requiredTerms: required, rules: [] })).toEqual({ ok: true, violations: [] });
    const audit = await a.auditShot({ prompt: "Young girl in a field", requiredTerms: required, rules: [] });
    expect(audit.ok).toBe(false);
    expect(audit.violations).toEqual(['missing required term "Child physique"', 'missing required term "Mouth CLOSED"']);
  });

  it("checks avoid/always rules by the documented grammar", async () => {
    const a = analyst();
    const base = "Young girl, Child physique, Mouth CLOSED";
    const rules = ["Avoid bare shoulders", "Always soft light", "Never show red or orange", "Make it pretty"];
    const bad = await a.auditShot({ prompt: `${base}, bare shoulder, bright orange sky`, requiredTerms: required, rules });
    expect(bad.violations).toEqual([
      'breaks rule "Avoid bare shoulders": the prompt mentions "bare shoulders"',
      'breaks rule "Always soft light": the prompt lacks "soft light"',
      'breaks rule "Never show red or orange": the prompt mentions "orange"',
    ]);
    // Negated mentions, word edges and quoted rules are fine.
    const good = await a.auditShot({ prompt: `${base}, tired smile, soft-light glow, no bare shoulders. Rules: Avoid red.`, requiredTerms: required, rules });
    expect(good).toEqual({ ok: true, violations: [] });
    expect(parseRule("Never show bare shoulders.")).toEqual({ kind: "avoid", terms: ["bare shoulders"] });
    expect(parseRule("Always include a hat, a scarf")).toEqual({ kind: "always", terms: ["hat", "scarf"] });
    expect(parseRule("Make it pretty")).toBeNull();
  });

  it("turns feedback into one short rule the audit can check", async () => {
    const a = analyst();
    const cases: Array<[string, string]> = [
      ["Her mouth is open!", "Avoid open mouth"],
      ["too dark", "Avoid dark"],
      ["Please add a red scarf", "Always include red scarf"],
      ["I don't like the bare shoulders. Otherwise fine", "Avoid bare shoulders"],
      ["the hat is missing", "Always include hat"],
      ["The dress looks like a nightgown", "Avoid dress that looks like nightgown"],
      ["Never show her barefoot", "Avoid barefoot"],
      ["weird extra fingers", "Avoid weird extra fingers"],
    ];
    for (const [feedback, rule] of cases) {
      expect((await a.analyzeFailure({ prompt: "p", feedback, image: null })).rule).toBe(rule);
    }
    expect(ruleFromFeedback("Her mouth is open!")).toBe(ruleFromFeedback("Her mouth is open!"));
    const { rule } = await a.analyzeFailure({ prompt: "p", feedback: "her mouth is open", image: null });
    expect((await a.auditShot({ prompt: "an open mouth", requiredTerms: [], rules: [rule] })).ok).toBe(false);
    await expect(a.analyzeFailure({ prompt: "p", feedback: "  ", image: null })).rejects.toThrow(/feedback/);
  });

  it("masks the named region: a PNG of the image's size, white there, black elsewhere", async () => {
    const image = await createOfflineSongIllustrator().shotImage({ prompt: "p", loraId: "miriN14", references: [], seed: 1 });
    const a = analyst();
    const at = async (instruction: string) => {
      const mask = await a.maskFor({ image, instruction });
      expect(mask.contentType).toBe("image/png");
      const { data, info } = await sharp(mask.data).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([1280, 720]);
      return (fx: number, fy: number) => data[(Math.floor(fy * info.height) * info.width + Math.floor(fx * info.width)) * info.channels];
    };
    const face = await at("Close her mouth, fix the face");
    expect(face(0.5, 0.25)).toBe(255);
    expect(face(0.5, 0.8)).toBe(0);
    expect(face(0.05, 0.05)).toBe(0);
    const left = await at("make the left side brighter");
    expect(left(0.25, 0.5)).toBe(255);
    expect(left(0.75, 0.5)).toBe(0);
    const topRight = await at("remove the lamp in the top right");
    expect(topRight(0.75, 0.25)).toBe(255);
    expect(topRight(0.25, 0.25)).toBe(0);
    expect(topRight(0.75, 0.75)).toBe(0);
    const fallback = await at("make it nicer");
    expect(fallback(0.5, 0.5)).toBe(255);
    expect(fallback(0.05, 0.05)).toBe(0);
  });
});

describe("offline embedder", () => {
  it("embeds deterministically into unit vectors where shared words mean near", async () => {
    const e = createOfflineEmbedder();
    expect(e).toMatchObject({ model: "offline-hash", dimensions: 256 });
    const texts = ["Avoid bare shoulders", "Always soft morning light", "Avoid open mouth", "She shows her bare shoulder in the dress", ""];
    const [shoulders, light, mouth, query, empty] = await e.embed(texts);
    expect(shoulders).toHaveLength(256);
    expect(Math.hypot(...shoulders)).toBeCloseTo(1, 6);
    expect(empty.every((x) => x === 0)).toBe(true);
    expect(await e.embed(texts)).toEqual([shoulders, light, mouth, query, empty]);
    const toQuery = [shoulders, light, mouth].map((v) => cosineSimilarity(v, query));
    expect(toQuery[0]).toBeGreaterThan(0.4);
    expect(toQuery[0]).toBeGreaterThan(toQuery[1] + 0.3);
    expect(toQuery[0]).toBeGreaterThan(toQuery[2] + 0.3);
    expect(Math.abs(cosineSimilarity(light, shoulders))).toBeLessThan(0.3);
    expect((await createOfflineEmbedder({ dimensions: 64 }).embed(["x"]))[0]).toHaveLength(64);
  });
});

describe("offline song illustrator", () => {
  const illustrator = createOfflineSongIllustrator();
  const solid = async (background: string): Promise<Media> => ({
    data: await sharp({ create: { width: 64, height: 64, channels: 3, background } }).png().toBuffer(),
    contentType: "image/png",
  });

  it("makes a 1280×720 JPEG that follows prompt, seed and references", async () => {
    const input = { prompt: "[s1]_[v1]_[OFF] <lora:miriN14> miriN14 on a hill", loraId: "miriN14", references: [], seed: 7 };
    const a = await illustrator.shotImage(input);
    expect(a.contentType).toBe("image/jpeg");
    expect(await sharp(a.data).metadata()).toMatchObject({ width: 1280, height: 720, format: "jpeg" });
    expect(Buffer.from((await illustrator.shotImage(input)).data).equals(Buffer.from(a.data))).toBe(true);
    expect(Buffer.from((await illustrator.shotImage({ ...input, seed: 8 })).data).equals(Buffer.from(a.data))).toBe(false);
    const mean = async (m: Media) => (await sharp(m.data).stats()).channels.slice(0, 3).map((c) => c.mean);
    const [r1, g1, b1] = await mean(await illustrator.shotImage({ ...input, references: [await solid("#d02020"), await solid("#b03030")] }));
    expect(r1).toBeGreaterThan(g1 + 40);
    expect(r1).toBeGreaterThan(b1 + 40);
    const [r2, g2, b2] = await mean(await illustrator.shotImage({ ...input, references: [await solid("#2030d0")] }));
    expect(b2).toBeGreaterThan(r2 + 40);
    expect(b2).toBeGreaterThan(g2 + 40);
  });

  it("inpaints inside the mask only", async () => {
    const image = await illustrator.shotImage({ prompt: "a quiet street", loraId: "miriN14", references: [], seed: 3 });
    const mask = await analyst().maskFor({ image, instruction: "close her mouth" });
    const out = await illustrator.inpaint({ image, mask, prompt: "close her mouth", seed: 3 });
    expect(out.contentType).toBe("image/png");
    const before = await sharp(image.data).raw().toBuffer({ resolveWithObject: true });
    const after = await sharp(out.data).raw().toBuffer({ resolveWithObject: true });
    const m = await sharp(mask.data).raw().toBuffer({ resolveWithObject: true });
    expect([after.info.width, after.info.height, after.info.channels]).toEqual([1280, 720, 3]);
    let outsideChanged = 0, insideChanged = 0, inside = 0;
    for (let p = 0; p < 1280 * 720; p++) {
      const differs = [0, 1, 2].some((c) => before.data[p * 3 + c] !== after.data[p * 3 + c]);
      if (m.data[p * m.info.channels] === 0) outsideChanged += differs ? 1 : 0;
      else (inside++, (insideChanged += differs ? 1 : 0));
    }
    expect(outsideChanged).toBe(0);
    expect(insideChanged / inside).toBeGreaterThan(0.5);
  });
});

describe("offline song editor", () => {
  const COLOURS = ["red", "lime", "blue"] as const;
  const DURATIONS = [2000, 1500, 2500];
  const shortSongFile = () => join(dir, "short.mp3");

  async function clip(colour: string, o: { size: string; fps: number; frames: number }): Promise<string> {
    const file = join(dir, `clip-${colour}-${o.size}-${o.fps}-${o.frames}.mp4`);
    await ffmpeg.run([
      "-f", "lavfi", "-i", `color=c=${colour}:s=${o.size}:r=${o.fps}`, "-frames:v", String(o.frames),
      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", file,
    ]);
    return file;
  }

  /** Which of red/green/blue dominates each frame of the render. */
  async function frameColours(file: string, name: string): Promise<number[]> {
    const raw = join(dir, `${name}.rgb`);
    await ffmpeg.run(["-i", file, "-an", "-vf", "scale=4:4", "-f", "rawvideo", "-pix_fmt", "rgb24", raw]);
    const bytes = await readFile(raw);
    const frames: number[] = [];
    for (let f = 0; f < bytes.length / 48; f++) {
      const sums = [0, 0, 0];
      for (let p = 0; p < 16; p++) for (let c = 0; c < 3; c++) sums[c] += bytes[f * 48 + p * 3 + c];
      frames.push(sums.indexOf(Math.max(...sums)));
    }
    return frames;
  }

  async function expectCutsOnShots(file: string, name: string) {
    const colours = await frameColours(file, name);
    const counts = frameCounts(DURATIONS, 24);
    expect(counts).toEqual([48, 36, 60]);
    const expected = counts.flatMap((n, shot) => Array<number>(n).fill(shot)); // red=0, lime=1, blue=2
    expect(colours).toEqual(expected);
  }

  /** The top-level boxes of an MP4, in file order. */
  async function boxes(file: string): Promise<string[]> {
    const bytes = await readFile(file);
    const types: string[] = [];
    for (let o = 0; o + 8 <= bytes.length; ) {
      let size = bytes.readUInt32BE(o);
      if (size === 1) size = Number(bytes.readBigUInt64BE(o + 8));
      types.push(bytes.toString("latin1", o + 4, o + 8));
      if (size < 8) break;
      o += size;
    }
    return types;
  }

  it("stream-copies clips that already fit and muxes the song, file to file, index first", async () => {
    const workDir = join(dir, "render-copy");
    const editor = createOfflineSongEditor({ ffmpeg, workDir });
    const clips = await Promise.all(COLOURS.map((c, i) => clip(c, { size: "320x180", fps: 24, frames: (DURATIONS[i] * 24) / 1000 })));
    const { output, mode } = await editor.renderSong({ clips, durationsMs: DURATIONS, audio: shortSongFile() });
    expect(mode).toBe("copy");
    // The output is a new file the caller owns; the editor's scratch folder is gone.
    expect(await readdir(workDir)).toEqual([basename(output.path)]);
    const p = await ffmpeg.probeDetails(output.path);
    const songS = (await ffmpeg.probe(shortSongFile())).durationS;
    // Nothing is re-encoded in copy mode: the MP3 stream is muxed as it is.
    expect(p).toMatchObject({ videoCodec: "h264", audioCodec: "mp3", width: 320, height: 180 });
    expect(Math.abs(p.durationS - songS)).toBeLessThan(FRAME_S);
    expect(Math.abs(p.durationS - 6)).toBeLessThan(FRAME_S);
    // Chat players can start it before the download ends: the index comes before the media data.
    const order = await boxes(output.path);
    expect(order.indexOf("moov")).toBeGreaterThan(-1);
    expect(order.indexOf("moov")).toBeLessThan(order.indexOf("mdat"));
    await expectCutsOnShots(output.path, "copy-frames");
  });

  it("re-encodes once when clips differ or do not fit: cut, slowed, scaled, on the boundaries", async () => {
    const editor = createOfflineSongEditor({ ffmpeg, workDir: dir });
    const clips = await Promise.all([
      clip("red", { size: "640x360", fps: 30, frames: 120 }), // too long: cut to 2 s
      clip("lime", { size: "320x180", fps: 24, frames: 24 }), // too short: slowed to 1.5 s
      clip("blue", { size: "320x240", fps: 25, frames: 75 }), // other size and rate, too long
    ]);
    const { output, mode } = await editor.renderSong({ clips, durationsMs: DURATIONS, audio: shortSongFile() });
    expect(mode).toBe("reencode");
    const p = await ffmpeg.probeDetails(output.path);
    expect(p).toMatchObject({ videoCodec: "h264", audioCodec: "aac", width: 640, height: 360 });
    expect(p.frameRate).toBeCloseTo(24, 3);
    const songS = (await ffmpeg.probe(shortSongFile())).durationS;
    expect(Math.abs(p.durationS - songS)).toBeLessThan(FRAME_S);
    await expectCutsOnShots(output.path, "reencode-frames");
  });

  it("never holds a short clip's last frame: it is slowed to fill its shot (freezedetect finds nothing)", async () => {
    // Moving pictures (a test pattern with a running clock): any held frame shows as a freeze.
    const moving = async (name: string, seconds: number) => {
      const file = join(dir, `moving-${name}.mp4`);
      await ffmpeg.run(["-f", "lavfi", "-i", `testsrc2=s=320x180:r=24:d=${seconds}`, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", file]);
      return file;
    };
    const clips = [await moving("a", 3), await moving("b", 1), await moving("c", 3)]; // b: 1 s for a 1.5 s shot
    const editor = createOfflineSongEditor({ ffmpeg, workDir: dir });
    const { output } = await editor.renderSong({ clips, durationsMs: DURATIONS, audio: shortSongFile() });
    expect(await freezes(ffmpeg, output.path)).toEqual([]);
    expect(stretchFactor(1, 36, 24)).toBeCloseTo(1.5, 6);
    expect(stretchFactor(3, 36, 24)).toBe(1);
  });

  it("refuses shots that do not belong to the song", async () => {
    const editor = createOfflineSongEditor({ ffmpeg, workDir: dir });
    const one = await clip("red", { size: "320x180", fps: 24, frames: 24 });
    await expect(editor.renderSong({ clips: [one], durationsMs: [1000], audio: shortSongFile() })).rejects.toThrow(/not this song's shots/);
    await expect(editor.renderSong({ clips: [one], durationsMs: [1000, 5000], audio: shortSongFile() })).rejects.toThrow(/1 clips for 2/);
  });
});
