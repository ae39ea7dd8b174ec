/**
 * The embedded default as a person uses it, with real processes: `npm run render` and `npm start`
 * on one data directory. One process owns the embedded database; the CLI attaches to a running
 * bot instead of opening it a second time, a second bot is refused in a sentence, and bad files
 * are refused before anything is opened.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { brandImage, songMp3 } from "./helpers/pipeline.js";
import { createFfmpeg } from "../tools/ffmpeg.js";
import { spawnBot, type BotProcess } from "./helpers/processes.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** `npm run render -- …` without npm: the same script, the same way. */
function render(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/render.ts", ...args], {
      cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started }));
  });
}

describe("the embedded default: one data directory, one owner", () => {
  let dir: string;
  const bots: BotProcess[] = [];
  afterEach(async () => {
    for (const b of bots.splice(0)) if (b.child.exitCode === null && b.child.signalCode === null) await b.kill9();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a bad file in a sentence before opening anything", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "reelbot-cli-"));
    const data = path.join(dir, "data");
    const bad = path.join(dir, "song.mp3");
    await writeFile(bad, Buffer.from("ID3 this is not really a song"));
    const r = await render([bad, "--auto"], { DATA_DIR: data });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^✖ That MP3 looks damaged/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(existsSync(data)).toBe(false); // nothing was created
    const usage = await render([], { DATA_DIR: data });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("<brand image (PNG, JPEG, WebP) or song (MP3)>");
  });

  it("runs two --auto jobs in a row, attaches to a running bot, and a second bot on the same folder is refused", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "reelbot-cli-"));
    // One-second clips: the test is about who owns the folder, not about encoding.
    const env = { DATA_DIR: path.join(dir, "data"), LOG_LEVEL: "warn", SCENE_DURATION_S: "1" };
    const image = path.join(dir, "brand.png");
    await writeFile(image, await brandImage(51));
    const out = path.join(dir, "out");

    // Alone: this process owns the data directory; twice in a row, both finish.
    for (let i = 0; i < 2; i++) {
      const r = await render([image, "--auto", "--out", out], env);
      expect(r.code, r.stderr).toBe(0);
      const last = r.stdout.trim().split("\n").at(-1)!;
      expect(last).toMatch(new RegExp(`^${out}/[0-9a-f-]{36}\\.mp4$`));
      expect(existsSync(last)).toBe(true);
      expect(r.stderr).toContain("Approve all: 3 clips");
    }

    // With the bot running on the same folder: the CLI attaches, the bot's workers make the video.
    const bot = spawnBot({ ...env, PORT: "0", LOG_LEVEL: "info" });
    bots.push(bot);
    await bot.waitForLog((l) => l.msg === "bot started");
    const attached = await render([image, "--auto", "--out", out], env);
    expect(attached.code, attached.stderr).toBe(0);
    expect(attached.stderr).toContain("Attached to the bot already running");
    expect(bot.logs.some((l) => l.msg === "job stage changed" && l.stage === "done")).toBe(true);

    // A second bot on the same folder would corrupt it: refused in one sentence.
    const second = spawnBot({ ...env, PORT: "0" });
    bots.push(second);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toMatch(/^Another reelbot process \(pid \d+\) is using .*Stop it first, or give this one its own folder with DATA_DIR=…\n$/);

    // The folder is intact: after the first bot stops, a new one starts on it.
    expect(await bot.terminate()).toBe(0);
    const again = spawnBot({ ...env, PORT: "0", LOG_LEVEL: "info" });
    bots.push(again);
    await again.waitForLog((l) => l.msg === "bot started");
    expect(await again.terminate()).toBe(0);
  }, 240_000);

  it("makes a 3-minute song with --auto twice in a row in one data directory: one Approve all each, the whole song, no warnings", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "reelbot-cli-"));
    const env = { DATA_DIR: path.join(dir, "data"), LOG_LEVEL: "warn" };
    const song = path.join(dir, "song.mp3");
    await writeFile(song, await songMp3(180));
    const out = path.join(dir, "out");
    for (let i = 0; i < 2; i++) {
      const r = await render([song, "--auto", "--out", out], env);
      expect(r.code, r.stderr).toBe(0);
      const video = r.stdout.trim().split("\n").at(-1)!;
      expect(video).toMatch(new RegExp(`^${out}/[0-9a-f-]{36}\\.mp4$`));
      // One click approved every shot, its price said first.
      expect(r.stderr.match(/Approve all: \d+ clips/g)).toHaveLength(1);
      expect(r.stderr).toMatch(/\d+ shots? 🟢 approved\./);
      expect(r.stderr).not.toMatch(/Warning|✖/);
      const probe = await createFfmpeg().probe(video);
      expect(probe.durationS).toBeGreaterThan(179);
      expect(probe.durationS).toBeLessThan(181);
    }
  }, 360_000);
});
