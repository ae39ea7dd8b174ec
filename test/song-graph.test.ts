import { describe, expect, it } from "vitest";
import { dbTargets } from "./helpers/db.js";
import { createPipeline, finished, OWNER, reviewAt, reviewsOpen, songMp3, STRANGER } from "./helpers/pipeline.js";
import { impactNote, redoLabel } from "../bot/surfaces/common/impact.js";
import { sceneVersions } from "../bot/surfaces/common/versions.js";
import { ACTION_REDO, cardMessage } from "../bot/surfaces/slack/blocks.js";
import { cardBody } from "../bot/surfaces/discord/render.js";
import { decodeHistoryButton, encodeRedoButton } from "../bot/surfaces/discord/ids.js";
import { fixedLengthEngines } from "./helpers/fixed-engines.js";
import { waitUntil } from "./helpers/processes.js";
import { freezes } from "./helpers/freezes.js";
import { REQUIRED_IMAGE_TERMS, parsePromptPrefix } from "../graph/song/policy.js";
import { SHOT_STATES } from "../store/shotStates.js";
import type { ClipRequest, ShotImageInput } from "../tools/ports.js";
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
      // The shots cover the whole song without gaps or overlaps, cut on the 120 bpm beat.
      expect(shots[0].startMs).toBe(0);
      shots.slice(1).forEach((s, i) => expect(s.startMs).toBe(shots[i].endMs));
      for (const s of shots.slice(1)) expect(Math.abs(s.startMs! - Math.round(s.startMs! / 500) * 500)).toBeLessThanOrEqual(40);
      expect(cards[0].timeRange).toMatch(/^0:00–0:\d\d$/);
      // Each card carries its beat count: a kick every 500 ms.
      for (const card of cards) {
        const s = shots.find((x) => x.id === card.sceneId)!;
        expect(card.beatCount).toBe(s.beatCount);
        expect(Math.abs(card.beatCount! - (s.endMs! - s.startMs!) / 500)).toBeLessThanOrEqual(1);
      }

      // Before anyone pays: each card has a start frame, an end frame and a readable, true tag.
      for (const card of cards) {
        expect(card.previewKey).toBeTruthy();
        expect(card.endFrameKey).toBeTruthy();
        expect(card.endFrameKey).not.toBe(card.previewKey);
        expect(card.promptTag).toBe(`S${String(card.index + 1).padStart(2, "0")}_V1_FLUX2`);
      }
      // Every first draft is anchored to the project's reference sheet, made once for the project.
      const user = await p.runner.users.ensure(OWNER);
      const project = await p.runner.store.projects.ensureDefault(user.id);
      const sheetKey = project.config.globalSettings.referenceSheetKey;
      expect(sheetKey).toBeTruthy();
      for (const s of shots) expect((await p.runner.store.scenes.versions(s.id))[0].referenceSheetKey).toBe(sheetKey);
      const drafts = p.meters.songIllustrator.log.filter((l) => l.method === "shotImage").map((l) => l.args[0] as ShotImageInput);
      // (S00 is the reference sheet itself.)
      const firstDrafts = drafts.filter((d) => /^S\d\d_V1_FLUX2/.test(d.prompt) && !d.prompt.startsWith("S00_") && !d.prompt.includes("End frame:"));
      expect(firstDrafts).toHaveLength(shots.length);
      for (const d of firstDrafts) expect(d.references).toHaveLength(1);

      // 🟡 on shot 1: REFINING by an audited prompt, mask and inpaint, back to AWAITING_APPROVAL as version 2.
      const auditsBefore = p.meters.songAnalyst.calls.auditShot;
      await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "YELLOW", note: "make the top brighter", actor: OWNER });
      await reviewAt(p.runner, jobId, 0, 2);
      expect(p.meters.songAnalyst.calls.maskFor).toBe(1);
      expect(p.meters.songIllustrator.calls.inpaint).toBe(1);
      expect(p.meters.songAnalyst.calls.auditShot).toBe(auditsBefore + 1);
      const inpaint = p.meters.songIllustrator.log.find((l) => l.method === "inpaint")!.args[0] as { prompt: string };
      expect(inpaint.prompt.startsWith("S01_V2_FLUXINPAINT <lora:")).toBe(true);
      for (const term of REQUIRED_IMAGE_TERMS) expect(inpaint.prompt).toContain(term);
      expect(inpaint.prompt).toContain("make the top brighter");
      // Revert to version 1: a new version 3 carrying version 1's images.
      const revert = await p.runner.revert({ jobId, sceneIndex: 0, toVersion: 1, actor: OWNER });
      expect(revert.ok).toBe(true);
      await reviewAt(p.runner, jobId, 0, 3);
      const versions = await p.runner.versions(jobId, 0);
      expect(versions.map((v) => v.kind)).toEqual(["preview", "edit", "revert"]);
      expect(versions[2].previewKey).toBe(versions[0].previewKey);
      expect(versions[2].endFrameKey).toBe(versions[0].endFrameKey);
      expect(versions[1].previewKey).not.toBe(versions[0].previewKey);
      expect(versions[1].endFrameKey).not.toBe(versions[0].endFrameKey); // redrawn from the repainted start
      // What /versions lists: every version with who decided it.
      const listed = await p.runner.store.scenes.history(shots[0].id);
      expect(listed.map((v) => [v.versionNo, v.kind, v.decidedByName])).toEqual([[1, "preview", null], [2, "edit", "Owner"], [3, "revert", "Owner"]]);

      await p.runner.approveAll(jobId, OWNER);
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("done");

      // The final video: H.264, the MP3's audio, as long as the song within one frame.
      const video = await p.tools.blobs.file(view.finalVideoKey!);
      const probe = await p.tools.editor.probe(video.path);
      expect(probe.videoCodec).toBe("h264");
      expect(probe.audioCodec).toBeTruthy();
      // The song's length is its decoded audio (the MP3 container also counts encoder padding).
      expect(Math.abs(probe.durationS - (await decodedSeconds(mp3)))).toBeLessThanOrEqual(1 / 24);

      // Prompt policy, on what actually reached the tools.
      for (const { prompt, loraId } of drafts) {
        expect(parsePromptPrefix(prompt)).not.toBeNull();
        expect(prompt).toContain(`<lora:${loraId}>`);
        for (const term of REQUIRED_IMAGE_TERMS) expect(prompt).toContain(term);
      }
      const submits = Object.values(p.meters.engines).flatMap((e) => e.log.filter((l) => l.method === "submit")).map((l) => l.args[0] as ClipRequest);
      expect(submits).toHaveLength(shots.length);
      const finalVersions = await Promise.all(shots.map(async (s) => (await p.runner.store.scenes.versions(s.id)).filter((v) => v.kind !== "clip").at(-1)!));
      for (const v of submits) {
        const tag = parsePromptPrefix(v.prompt)!;
        // The engine that rendered it, and the image version it animates.
        expect(tag.modelCode).toBe("KLING");
        expect(tag.versionNo).toBe(finalVersions[tag.shotNo - 1].versionNo);
        expect(v.prompt.indexOf("Start frame:")).toBeGreaterThan(0);
        expect(v.prompt.indexOf("Start frame:")).toBeLessThan(v.prompt.indexOf("Action:"));
        // The end frame sent is the one the card showed.
        expect(Buffer.from(v.endFrame!.data).equals(Buffer.from((await p.tools.blobs.get(finalVersions[tag.shotNo - 1].endFrameKey!)).data))).toBe(true);
      }

      const states = new Set((await p.runner.store.shotStates.history(jobId)).map((s) => s.state));
      for (const state of SHOT_STATES.filter((s) => s !== "FAILED")) expect(states).toContain(state);
    } finally {
      await p.close();
    }
  });

  it("learns a rule from a rejection, and each automatic fix answers the audit's findings", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const user = await p.runner.users.ensure(OWNER);
      const project = await p.runner.store.projects.ensureDefault(user.id);
      // A rule the first draft breaks: the offline descriptions talk about light.
      await p.runner.store.rules.add(project.id, "Avoid light", { kind: "manual" });
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await songMp3(12), filename: "song.mp3" } });
      await reviewsOpen(p.runner, jobId, 2);
      const history = await p.runner.store.shotStates.history(jobId);
      const first = history.filter((s) => s.sceneId === history.find((h) => h.sceneId)!.sceneId);
      // VALIDATION refused the first draft; the automatic fix went back to DRAFT and passed.
      expect(first.slice(0, 5).map((s) => s.state)).toEqual(["DRAFT", "VALIDATION", "DRAFT", "VALIDATION", "GENERATING_IMAGE"]);
      expect(first[2].detail).toMatch(/^automatic fix 1: breaks rule "Avoid light"/);
      // The fix was asked with the audit's findings, and the next audit saw a different prompt.
      const fix = p.meters.songAnalyst.log.find((l) => l.method === "reviseShot")!.args[0] as { violations: string[]; description: string };
      expect(fix.violations.some((v) => v.includes('breaks rule "Avoid light"'))).toBe(true);
      const audited = p.meters.songAnalyst.log.filter((l) => l.method === "auditShot").map((l) => (l.args[0] as { prompt: string }).prompt);
      expect(new Set(audited).size).toBe(audited.length);

      // 🔴 with a reason: the failure becomes a rule, and the shot's next prompt carries it.
      await p.runner.decide({ jobId, sceneIndex: 1, versionNo: 1, decision: "RED", note: "no umbrellas please", actor: OWNER });
      await reviewAt(p.runner, jobId, 1, 2);
      const rules = await p.runner.store.rules.list(project.id);
      const learnt = rules.find((r) => /umbrella/i.test(r.text));
      expect(learnt).toBeTruthy();
      const [newest] = (await p.runner.versions(jobId, 1)).slice(-1);
      expect(newest.kind).toBe("reroll");
      expect(newest.promptTag).toBe("S02_V2_FLUX2");
      expect(newest.cinematographyPrompt).toContain(learnt!.text);
      // Who taught the rulebook what is on record.
      const [taught] = await p.runner.store.audit.list({ action: "rule.learnt", entityId: learnt!.id });
      expect(taught.details).toMatchObject({ jobId, text: learnt!.text, feedback: "no umbrellas please" });
      // Rules are listed and removable per project.
      await p.runner.store.rules.remove(project.id, learnt!.id);
      expect((await p.runner.store.rules.list(project.id)).some((r) => r.id === learnt!.id)).toBe(false);
    } finally {
      await p.close();
    }
  });

  it("keeps a shot the audit keeps refusing as a card with its reason; the job goes on and finishes once it is fixed", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const user = await p.runner.users.ensure(OWNER);
      const project = await p.runner.store.projects.ensureDefault(user.id);
      // Contradicts a mandatory term: no automatic fix can satisfy both.
      const rule = await p.runner.store.rules.add(project.id, "Never Mouth CLOSED", { kind: "manual" });
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await songMp3(12), filename: "song.mp3" } });
      const cards = await reviewsOpen(p.runner, jobId, 2);
      const view = (await p.runner.view(jobId))!;
      expect(view.stage).toBe("reviewing"); // not failed: every shot is a card
      for (const card of cards) {
        expect(card.failed).toMatch(/^Shot \d did not pass the prompt audit after 1 draft: .*Mouth CLOSED.*Use 🟡 to say what the shot should show instead, or 🔴 to draft it again\.$/);
        expect(card.failed).not.toMatch(/\/\w+/); // no slash command, real or not
        expect(card.errorMessage).toBe(card.failed);
        expect(card.previewKey).toBeNull();
      }
      // The fix found nothing it could change, so it did not send the same prompt to the audit again.
      expect(p.meters.songAnalyst.calls.auditShot).toBe(cards.length);
      const states = (await p.runner.store.shotStates.history(jobId)).map((s) => s.state);
      expect(states).toContain("FAILED");
      // Only the reference sheet was drawn: no shot image was paid for.
      expect(p.meters.songIllustrator.calls.shotImage).toBe(1);

      // Fixed from chat: the rule goes, 🔴 on one card, 🟢 on the others (🟢 on a failed card drafts it
      // again). Approve all leaves failed cards alone: it approves clips, at the price it quotes.
      await p.runner.store.rules.remove(project.id, rule.id);
      const bulk = await p.runner.approveAll(jobId, OWNER);
      expect(bulk).toMatchObject({ ok: false, approved: 0 });
      expect(bulk.message).toMatch(/could not be made; edit \(🟡\) or re-roll \(🔴\)/);
      await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 0, decision: "RED", actor: OWNER });
      await reviewAt(p.runner, jobId, 0, 1);
      for (const card of cards.filter((c) => c.index !== 0)) {
        expect((await p.runner.decide({ jobId, sceneIndex: card.index, versionNo: card.versionNo, decision: "GREEN", actor: OWNER })).ok).toBe(true);
      }
      const again = await reviewsOpen(p.runner, jobId, 1);
      expect(again.every((c) => c.failed === null && c.previewKey)).toBe(true);
      await p.runner.approveAll(jobId, OWNER);
      expect((await finished(p.runner, jobId)).stage).toBe("done");
    } finally {
      await p.close();
    }
  });

  it("shows a shot whose image cannot be drawn as a card, and draws it when asked again", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      p.meters.songIllustrator.failAlways(true);
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await songMp3(12), filename: "song.mp3" } });
      const cards = await reviewsOpen(p.runner, jobId, 2);
      for (const card of cards) expect(card.failed).toBe(`Shot ${card.index + 1}: Drawing the shot failed: injected fault: shotImage. Use 🟡 or 🔴 to try again.`);
      expect((await p.runner.view(jobId))!.stage).toBe("reviewing");

      p.meters.songIllustrator.failAlways(false);
      await p.runner.decide({ jobId, sceneIndex: 1, versionNo: 0, decision: "YELLOW", note: "at night, under street lamps", actor: OWNER });
      await reviewAt(p.runner, jobId, 1, 1);
      const [v] = await p.runner.versions(jobId, 1);
      expect(v.kind).toBe("edit");
      expect(v.cinematographyPrompt).toContain("at night, under street lamps");
      expect(v.endFrameKey).toBeTruthy();
    } finally {
      await p.close();
    }
  });

  it("renders with engines that make only 5 and 10 s clips: each clip cut to its shot, no frozen picture, tags follow a fallback", async () => {
    let fixed!: ReturnType<typeof fixedLengthEngines>;
    // Kling fails every render of shot 1: Luma takes over.
    const fails = (r: { engine: string; prompt: string }) => r.engine === "KLING" && r.prompt.startsWith("S01_");
    const p = await createPipeline(await target.open(), "postgres", {}, { engines: (dir) => (fixed = fixedLengthEngines(dir, { fails })).engines });
    try {
      const mp3 = await songMp3(12);
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: mp3, filename: "song.mp3" } });
      await reviewsOpen(p.runner, jobId, 2);
      const shots = await p.runner.store.scenes.list(jobId);
      // Shots were planned from the lengths the engine renders, and never outlast what any engine of the chain covers.
      for (const s of shots) expect(s.endMs! - s.startMs!).toBeLessThanOrEqual(10_000);
      const firstShot = shots[0].id;
      await p.runner.approveAll(jobId, OWNER);
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("done");

      for (const r of fixed.requests) {
        // Asked for the shortest clip it renders that covers the shot: nothing is ever padded.
        const tag = parsePromptPrefix(r.prompt)!;
        const shot = shots[tag.shotNo - 1];
        expect(r.rendered).toBe(r.requested);
        expect(r.rendered * 1000).toBeGreaterThanOrEqual(shot.endMs! - shot.startMs!);
        expect(r.hasEndFrame).toBe(true);
      }
      const shot1 = fixed.requests.filter((r) => r.prompt.startsWith("S01_")).map((r) => r.prompt.split(" ")[0]);
      expect(shot1).toEqual(["S01_V1_KLING", "S01_V1_LUMA"]);
      const clip = (await p.runner.store.scenes.versions(firstShot)).find((v) => v.kind === "clip")!;
      expect(clip.engine).toBe("LUMA");

      // The final video: no stretch of held picture longer than 0.1 s.
      const video = await p.tools.blobs.file(view.finalVideoKey!);
      expect(await freezes(createFfmpeg(), video.path, 0.1)).toEqual([]);
      expect(Math.abs((await p.tools.editor.probe(video.path)).durationS - (await decodedSeconds(mp3)))).toBeLessThanOrEqual(1 / 24);
    } finally {
      await p.close();
    }
  });

  it("runs each agent role on the model the project chose, booked at that model's price; knows which later shots used a shot", async () => {
    const prices = (op: { name: string; model?: string }) => (op.name === "audit" && op.model === "gemini-3.5-flash-lite" ? 0.5 : 0);
    const p = await createPipeline(await target.open(), "postgres", { prices });
    try {
      const user = await p.runner.users.ensure(OWNER);
      const project = await p.runner.store.projects.ensureDefault(user.id);
      await p.runner.store.projects.setAgentConfig(project.id, "AUDITOR", "gemini-3.5-flash-lite");
      await p.runner.store.projects.setAgentConfig(project.id, "ORCHESTRATOR", "gemini-3.8-flash");
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await songMp3(12), filename: "song.mp3" } });
      await reviewsOpen(p.runner, jobId, 2);
      const calls = p.meters.songAnalyst.log;
      expect(calls.filter((l) => l.method === "analyzeSong").map((l) => (l.args[0] as { model: string }).model)).toEqual(["gemini-3.8-flash"]);
      const audits = calls.filter((l) => l.method === "auditShot");
      expect(audits.length).toBeGreaterThan(0);
      expect(audits.every((l) => (l.args[0] as { model: string }).model === "gemini-3.5-flash-lite")).toBe(true);
      expect((await p.runner.view(jobId))!.costUsd).toBeCloseTo(0.5 * audits.length, 6);

      // Shot 1 approved, then shot 2 drawn again: shot 2 now draws on shot 1, which the impact query reports.
      const shots = await p.runner.store.scenes.list(jobId);
      expect(await p.runner.store.scenes.dependents(shots[0].id)).toEqual([]);
      await p.runner.store.projects.setAgentConfig(project.id, "VISION_ANALYZER", "gemini-3.7-flash");
      p.holdRenders(true);
      await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "GREEN", actor: OWNER });
      await p.runner.decide({ jobId, sceneIndex: 1, versionNo: 1, decision: "RED", note: "less busy", actor: OWNER });
      await reviewAt(p.runner, jobId, 1, 2);
      expect((calls.find((l) => l.method === "analyzeFailure")!.args[0] as { model: string }).model).toBe("gemini-3.7-flash");
      const dependents = await p.runner.store.scenes.dependents(shots[0].id);
      expect(dependents).toEqual([{ sceneId: shots[1].id, sequenceIndex: 1, versionNo: 2, referenceVersionNo: 1 }]);
      const redraw = (await p.runner.store.scenes.versions(shots[1].id)).at(-1)!;
      expect(redraw.referenceSheetKey).toBeTruthy();
      expect(redraw.referenceVersionIds).toHaveLength(1);
      p.holdRenders(false);
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

describe.each(dbTargets)("impact preview on $name", (target) => {
  it("a shot later shots were drawn from names them on its card before an edit, and 🔁 Redo draws them again from its new version", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await songMp3(12), filename: "song.mp3" } });
      await reviewsOpen(p.runner, jobId, 2);
      // Shot 1 approved, but no engine can render it: it comes back to its card, still approved.
      for (const engine of Object.values(p.meters.engines)) engine.failAlways(true);
      await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "GREEN", actor: OWNER });
      await waitUntil("shot 1 back on its card", async () => {
        const card = (await p.runner.view(jobId))!.scenes[0];
        return card.awaiting === "review" && /could not take this scene/.test(card.errorMessage ?? "");
      });
      for (const engine of Object.values(p.meters.engines)) engine.failAlways(false);
      // Shot 2 re-rolled meanwhile: drawn from approved shot 1.
      await p.runner.decide({ jobId, sceneIndex: 1, versionNo: 1, decision: "RED", actor: OWNER });
      await reviewAt(p.runner, jobId, 1, 2);
      let view = (await p.runner.view(jobId))!;
      expect(view.scenes[0].usedBy).toEqual([{ index: 1, versionNo: 2, fromVersionNo: 1 }]);
      expect(view.scenes[1].usedBy).toEqual([]);
      expect(impactNote(view, view.scenes[0])).toBe(
        "Shot 2 was drawn from this shot (v1): an edit or a revert here leaves it as it is. Use 🔁 Redo to draw it again from this shot as it is now.",
      );
      expect(redoLabel(view, view.scenes[0])).toBe("🔁 Redo shot 2");
      // Every surface shows the note and the offer on the card, and in its versions list.
      const slack = cardMessage(view, view.scenes[0], { previewFileId: null });
      expect(JSON.stringify(slack.blocks.find((b) => b.block_id === "impact"))).toContain("Shot 2 was drawn from this shot (v1)");
      expect(slack.blocks.flatMap((b) => (b.type === "actions" ? b.elements : []))).toContainEqual(expect.objectContaining({ action_id: ACTION_REDO, value: `${jobId}:0` }));
      const discord = cardBody(view, view.scenes[0]);
      expect(discord.content).toContain("↪️ Shot 2 was drawn from this shot (v1)");
      expect(discord.components[0].components.map((c) => ("custom_id" in c ? c.custom_id : null))).toContain(encodeRedoButton(jobId, 0));
      expect(decodeHistoryButton(encodeRedoButton(jobId, 0))).toEqual({ kind: "redo", jobId, sceneIndex: 0 });

      // 🟡 on shot 1: its new version is under review; shot 2 still shows the old one's influence.
      await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "YELLOW", note: "wider, more sky", actor: OWNER });
      await reviewAt(p.runner, jobId, 0, 2);
      view = (await p.runner.view(jobId))!;
      expect(view.scenes[0].usedBy).toEqual([{ index: 1, versionNo: 2, fromVersionNo: 1 }]);
      expect((await sceneVersions(p.runner, view, 0))!.impact).toContain("Shot 2 was drawn from this shot (v1)");
      // A stranger may not redo; the owner's click draws shot 2 again from shot 1 v2 (one refine request).
      expect((await p.runner.redo({ jobId, sceneIndex: 0, actor: STRANGER })).status).toBe("forbidden");
      const redone = await p.runner.redo({ jobId, sceneIndex: 0, actor: OWNER });
      expect(redone).toMatchObject({ ok: true, message: "Shot 2 is drawn again from shot 1 as it is now (v2)." });
      await reviewAt(p.runner, jobId, 1, 3);
      const shots = await p.runner.store.scenes.list(jobId);
      const [v3] = (await p.runner.store.scenes.versions(shots[1].id)).slice(-1);
      expect(v3.kind).toBe("reroll");
      expect(v3.referenceVersionIds).toContain(shots[0].current!.id);
      view = (await p.runner.view(jobId))!;
      expect(view.scenes[0].usedBy).toEqual([{ index: 1, versionNo: 3, fromVersionNo: 2 }]);
      // Nothing left to redo is said as such, and nothing is re-rolled twice.
      expect(redoLabel(view, view.scenes[0])).toBe("🔁 Redo shot 2");
      await p.runner.decide({ jobId, sceneIndex: 1, versionNo: 3, decision: "GREEN", actor: OWNER });
      const again = await p.runner.redo({ jobId, sceneIndex: 0, actor: OWNER });
      expect(again).toMatchObject({ ok: false, status: "stale" });
      expect(again.message).toMatch(/already approved/);
      expect((await p.runner.store.audit.list({ action: "redo.refused", entityId: jobId })).length).toBe(2);
    } finally {
      await p.close();
    }
  });
});
