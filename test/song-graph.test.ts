import { describe, expect, it } from "vitest";
import { dbTargets } from "./helpers/db.js";
import { createPipeline, finished, OWNER, reviewsOpen, songMp3 } from "./helpers/pipeline.js";
import { REQUIRED_IMAGE_TERMS, parsePromptPrefix } from "../graph/song/policy.js";
import { SHOT_STATES } from "../store/shotStates.js";
import type { ShotImageInput } from "../tools/ports.js";
import { createFfmpeg } from "../tools/ffmpeg.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

describe.each(dbTargets)("song route on $name", (target) => {
  it("turns an MP3 into a video timed to the song, through every state of the shot lifecycle", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const mp3 = await songMp3(12);
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: mp3, filename: "song.mp3" } });
      const cards = await reviewsOpen(p.runner, jobId, 2);
      const shots = await p.runner.store.scenes.list(jobId);
      expect(shots.length).toBeGreaterThanOrEqual(2);
      // The shots cover the whole song without gaps or overlaps.
      expect(shots[0].startMs).toBe(0);
      shots.slice(1).forEach((s, i) => expect(s.startMs).toBe(shots[i].endMs));
      expect(cards[0].timeRange).toMatch(/^0:00–0:\d\d$/);

      // 🟡 on shot 1: REFINING by mask and inpaint, back to AWAITING_APPROVAL as version 2.
      await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "YELLOW", note: "make the top brighter", actor: OWNER });
      await waitForVersion(p, jobId, 0, 2);
      expect(p.meters.songAnalyst.calls.maskFor).toBe(1);
      expect(p.meters.songIllustrator.calls.inpaint).toBe(1);
      // Revert to version 1: a new version 3 carrying version 1's image.
      const revert = await p.runner.revert({ jobId, sceneIndex: 0, toVersion: 1, actor: OWNER });
      expect(revert.ok).toBe(true);
      await waitForVersion(p, jobId, 0, 3);
      const versions = await p.runner.versions(jobId, 0);
      expect(versions.map((v) => v.kind)).toEqual(["preview", "edit", "revert"]);
      expect(versions[2].previewKey).toBe(versions[0].previewKey);
      expect(versions[1].previewKey).not.toBe(versions[0].previewKey);

      await p.runner.approveAll(jobId, OWNER);
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("done");

      // The final video: H.264, the MP3's audio, as long as the song within one frame.
      const video = await p.tools.blobs.get(view.finalVideoKey!);
      const probe = await p.tools.editor.probe(video);
      expect(probe.videoCodec).toBe("h264");
      expect(probe.audioCodec).toBeTruthy();
      // The song's length is its decoded audio (the MP3 container also counts encoder padding).
      expect(Math.abs(probe.durationS - (await decodedSeconds(mp3)))).toBeLessThanOrEqual(1 / 24);

      // Prompt policy, on what actually reached the tools.
      for (const call of p.meters.songIllustrator.log.filter((l) => l.method === "shotImage")) {
        const { prompt, loraId } = call.args[0] as ShotImageInput;
        expect(parsePromptPrefix(prompt)).not.toBeNull();
        expect(prompt).toContain(`<lora:${loraId}>`);
        for (const term of REQUIRED_IMAGE_TERMS) expect(prompt).toContain(term);
      }
      const videoPrompts = Object.values(p.meters.engines).flatMap((e) => e.log.filter((l) => l.method === "submit"))
        .map((l) => (l.args[0] as { prompt: string; endFrame?: unknown }));
      expect(videoPrompts).toHaveLength(shots.length);
      for (const v of videoPrompts) {
        expect(parsePromptPrefix(v.prompt)).not.toBeNull();
        expect(v.prompt.indexOf("Start frame:")).toBeGreaterThan(0);
        expect(v.prompt.indexOf("Start frame:")).toBeLessThan(v.prompt.indexOf("Action:"));
        expect(v.endFrame).toBeTruthy(); // anchor frames: start and end
      }
      // Later shots use earlier approved shots as references (continuity); the first has none.
      const refs = p.meters.songIllustrator.log.filter((l) => l.method === "shotImage").map((l) => (l.args[0] as ShotImageInput).references.length);
      expect(refs[0]).toBe(0);

      const states = new Set((await p.runner.store.shotStates.history(jobId)).map((s) => s.state));
      for (const state of SHOT_STATES.filter((s) => s !== "FAILED")) expect(states).toContain(state);
    } finally {
      await p.close();
    }
  });

  it("learns a rule from a rejection, applies it to later drafts, and fixes drafts the audit refuses", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const user = await p.runner.users.ensure(OWNER);
      const project = await p.runner.store.projects.ensureDefault(user.id);
      // A rule the first draft breaks: the offline descriptions talk about light.
      await p.runner.store.rules.add(project.id, "Avoid light", { kind: "manual" });
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await songMp3(12), filename: "song.mp3" } });
      await reviewsOpen(p.runner, jobId, 2);
      const history = await p.runner.store.shotStates.history(jobId);
      const first = history.filter((s) => s.sceneId === history.find((h) => h.sceneId)!.sceneId).map((s) => s.state);
      // VALIDATION refused the first draft; the automatic fix went back to DRAFT and passed.
      expect(first.slice(0, 5)).toEqual(["DRAFT", "VALIDATION", "DRAFT", "VALIDATION", "GENERATING_IMAGE"]);

      // 🔴 with a reason: the failure becomes a rule, and the shot's next prompt carries it.
      await p.runner.decide({ jobId, sceneIndex: 1, versionNo: 1, decision: "RED", note: "no umbrellas please", actor: OWNER });
      await waitForVersion(p, jobId, 1, 2);
      const rules = await p.runner.store.rules.list(project.id);
      const learnt = rules.find((r) => /umbrella/i.test(r.text));
      expect(learnt).toBeTruthy();
      const [newest] = (await p.runner.versions(jobId, 1)).slice(-1);
      expect(newest.kind).toBe("reroll");
      expect(newest.cinematographyPrompt).toContain(learnt!.text);
      // Rules are listed and removable per project.
      await p.runner.store.rules.remove(project.id, learnt!.id);
      expect((await p.runner.store.rules.list(project.id)).some((r) => r.id === learnt!.id)).toBe(false);
    } finally {
      await p.close();
    }
  });

  it("stops with a reason the user sees when a shot keeps failing the audit", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const user = await p.runner.users.ensure(OWNER);
      const project = await p.runner.store.projects.ensureDefault(user.id);
      // Contradicts a mandatory term: no automatic fix can satisfy both.
      await p.runner.store.rules.add(project.id, "Never Mouth CLOSED", { kind: "manual" });
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await songMp3(12), filename: "song.mp3" } });
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("failed");
      expect(view.error).toMatch(/failed the audit after 3 drafts/);
      const states = (await p.runner.store.shotStates.history(jobId)).map((s) => s.state);
      expect(states).toContain("FAILED");
      expect(states.filter((s) => s === "DRAFT").length).toBeGreaterThanOrEqual(3);
      expect(p.meters.songIllustrator.calls.shotImage ?? 0).toBe(0);
    } finally {
      await p.close();
    }
  });
});

/** Decodes the MP3 to WAV with ffmpeg and reads the WAV's exact length. */
async function decodedSeconds(mp3: Buffer): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), "reelbot-decode-"));
  try {
    writeFileSync(path.join(dir, "in.mp3"), mp3);
    const ffmpeg = createFfmpeg();
    await ffmpeg.run(["-i", path.join(dir, "in.mp3"), "-f", "wav", path.join(dir, "out.wav")]);
    return (await ffmpeg.probe(path.join(dir, "out.wav"))).durationS;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitForVersion(p: { runner: import("../graph/runner.js").Runner }, jobId: string, index: number, versionNo: number) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await p.runner.idle();
    const card = (await p.runner.view(jobId))!.scenes[index];
    if (card.awaiting === "review" && card.versionNo === versionNo) return;
    if (Date.now() > deadline) throw new Error(`scene ${index} never reached version ${versionNo}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
