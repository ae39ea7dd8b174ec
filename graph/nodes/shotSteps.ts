import type { GraphContext } from "../context.js";
import { priceOf } from "../context.js";
import { seedFor } from "./synthesizeStyle.js";
import { stableUuid } from "../../store/ids.js";
import type { Project } from "../../store/projects.js";
import type { VersionKind } from "../../store/scenes.js";
import type { SceneRef, PreviewResult } from "./sceneSteps.js";
import { autoFixDescription } from "../song/autoFix.js";
import {
  REQUIRED_IMAGE_TERMS, PromptPolicyError, buildImagePrompt, characterToken, checkImagePrompt, modelCodeFor, promptPrefix,
} from "../song/policy.js";

/**
 * The paid and logged steps of one song shot, each memoised in the ledger under the shot and
 * the loop step that asked for it (a replay after a resume pays and logs nothing twice).
 */

export interface ShotRef extends SceneRef {
  project: Project;
  description: string;
  startMs: number;
  endMs: number;
}

export type Draft = { ok: true; prompt: string; versionId: string } | { ok: false; reason: string };

const durationS = (shot: ShotRef) => (shot.endMs - shot.startMs) / 1000;

/**
 * DRAFT → VALIDATION, and back to DRAFT through the automatic fix while the audit finds
 * violations (bounded); FAILED with the audit's reasons when the last draft still fails.
 */
export async function draftAndValidate(ctx: GraphContext, shot: ShotRef, step: number): Promise<Draft> {
  const { project, sceneId } = shot;
  const settings = project.config.globalSettings;
  const versionId = stableUuid(`${sceneId}:${step}:image`);
  let violations: string[] = [];
  for (let attempt = 0; attempt < ctx.settings.song.maxAuditAttempts; attempt++) {
    const key = `${sceneId}:${step}:audit:${attempt}`;
    const result = await ctx.ledger.once(
      { key, jobId: shot.job.id, sceneId, operation: "audit", provider: "song_analyst", cost: priceOf(ctx.settings, "audit") },
      async () => {
        await ctx.shotStates.enter(shot.job.id, sceneId, "DRAFT", `${key}:draft`, attempt > 0 ? `automatic fix ${attempt}` : undefined);
        const rules = (await ctx.rules.relevant(project.id, shot.description, 3)).map((r) => r.text);
        const description = attempt === 0 ? shot.description : autoFixDescription(shot.description, rules);
        let prompt = "";
        const found: string[] = [];
        try {
          prompt = buildImagePrompt({
            shotId: sceneId, versionId, modelCode: modelCodeFor(settings.imageModel, "image"),
            shot: { description }, loraId: settings.loraWeightsId, rules,
          });
          found.push(...checkImagePrompt(prompt, { loraId: settings.loraWeightsId }));
        } catch (err) {
          if (!(err instanceof PromptPolicyError)) throw err;
          found.push(err.message);
        }
        await ctx.shotStates.enter(shot.job.id, sceneId, "VALIDATION", `${key}:validation`);
        if (prompt) {
          const audit = await ctx.tools.songAnalyst.auditShot({ prompt, requiredTerms: [...REQUIRED_IMAGE_TERMS], rules });
          found.push(...audit.violations);
        }
        return { prompt, violations: found };
      },
    );
    if (result.violations.length === 0) return { ok: true, prompt: result.prompt, versionId };
    violations = result.violations;
  }
  const reason =
    `Shot ${shot.sequenceIndex + 1} failed the audit after ${ctx.settings.song.maxAuditAttempts} drafts: ` +
    `${violations.join("; ")}. Remove or rephrase the conflicting rule (/rules) and try again.`;
  await ctx.shotStates.enter(shot.job.id, sceneId, "FAILED", `${sceneId}:${step}:failed`, reason);
  return { ok: false, reason };
}

/** GENERATING_IMAGE → AWAITING_APPROVAL: the shot image through the LoRA, with continuity references. */
export async function makeShotImage(ctx: GraphContext, shot: ShotRef, step: number, draft: { prompt: string; versionId: string }, kind: Exclude<VersionKind, "clip" | "revert">, decision: { note?: string; actorId?: string } = {}): Promise<PreviewResult> {
  const key = `${shot.sceneId}:${step}:image`;
  const settings = shot.project.config.globalSettings;
  // FLUX.2 edits bill their reference images too: count them before booking (loaded only when paid for).
  const earlier = await approvedShots(ctx, shot);
  return ctx.ledger.once(
    { key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "shot_image", provider: "song_illustrator", cost: priceOf(ctx.settings, { name: "shot_image", inputImages: earlier.length }) },
    async () => {
      await ctx.shotStates.enter(shot.job.id, shot.sceneId, "GENERATING_IMAGE", `${key}:generating`);
      const image = await ctx.tools.songIllustrator.shotImage({
        prompt: draft.prompt, loraId: settings.loraWeightsId, seed: seedFor(key),
        references: await Promise.all(earlier.map((s) => ctx.tools.blobs.get(s.current!.previewKey!))),
      });
      const version = await ctx.scenes.append(
        {
          id: draft.versionId, sceneId: shot.sceneId, kind, cinematographyPrompt: draft.prompt, cameraMovement: "anchor frames",
          lightingNotes: "", invariantToken: characterToken(settings.loraWeightsId), durationS: durationS(shot),
          previewKey: await ctx.tools.blobs.put(image), previewSeed: seedFor(key), clipKey: null, engine: null, model: null,
          fallbackTriggered: null, userFeedback: decision.note ?? null, decidedBy: decision.actorId ?? null,
        },
        "review",
      );
      await ctx.shotStates.enter(shot.job.id, shot.sceneId, "AWAITING_APPROVAL", `${key}:awaiting`);
      return { versionId: version.id, versionNo: version.versionNo };
    },
  );
}

/** Earlier shots already approved: FLUX.2 multi-reference keeps the character and look continuous. */
async function approvedShots(ctx: GraphContext, shot: ShotRef) {
  return (await ctx.scenes.list(shot.job.id))
    .filter((s) => s.sequenceIndex < shot.sequenceIndex && s.trafficLight === "GREEN" && s.current?.previewKey)
    .slice(-4);
}

/** REFINING (the mini-chat): a mask of the region the user names, inpainted, as a new version. */
export async function refineShot(ctx: GraphContext, shot: ShotRef, step: number, currentVersionId: string, note: string, actorId: string): Promise<PreviewResult> {
  const key = `${shot.sceneId}:${step}:refine`;
  return ctx.ledger.once(
    { key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "inpaint", provider: "song_illustrator", cost: priceOf(ctx.settings, "refine") },
    async () => {
      await ctx.shotStates.enter(shot.job.id, shot.sceneId, "REFINING", `${key}:refining`, note);
      await ctx.scenes.addMessage(shot.sceneId, { role: "user", content: note }, key);
      const current = (await ctx.scenes.version(currentVersionId))!;
      const image = await ctx.tools.blobs.get(current.previewKey!);
      const mask = await ctx.tools.songAnalyst.maskFor({ image, instruction: note });
      const settings = shot.project.config.globalSettings;
      const versionId = stableUuid(key);
      const prompt = `${promptPrefix({ shotId: shot.sceneId, versionId, modelCode: modelCodeFor(settings.imageModel, "inpaint") })} ${note}`;
      const painted = await ctx.tools.songIllustrator.inpaint({ image, mask, prompt, seed: seedFor(key) });
      const version = await ctx.scenes.append(
        { ...current, id: versionId, kind: "edit", previewKey: await ctx.tools.blobs.put(painted), previewSeed: seedFor(key), clipKey: null, engine: null, model: null, fallbackTriggered: null, userFeedback: note, decidedBy: actorId },
        "review",
      );
      await ctx.scenes.addMessage(shot.sceneId, { role: "assistant", content: `Repainted the part you described: "${note}".` }, key);
      await ctx.shotStates.enter(shot.job.id, shot.sceneId, "AWAITING_APPROVAL", `${key}:awaiting`);
      return { versionId: version.id, versionNo: version.versionNo };
    },
  );
}

/** A rejection with a reason becomes a rule of the project's rulebook (the active rulebook). */
export async function learnFromRejection(ctx: GraphContext, shot: ShotRef, step: number, versionId: string, feedback: string): Promise<string> {
  const key = `${shot.sceneId}:${step}:rule`;
  return ctx.ledger.once(
    { key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "failure_analysis", provider: "song_analyst", cost: priceOf(ctx.settings, "failure_analysis") },
    async () => {
      const version = (await ctx.scenes.version(versionId))!;
      const image = version.previewKey ? await ctx.tools.blobs.get(version.previewKey) : null;
      const { rule } = await ctx.tools.songAnalyst.analyzeFailure({ prompt: version.cinematographyPrompt, feedback, image });
      await ctx.rules.add(shot.project.id, rule, { kind: "rejection", jobId: shot.job.id, shotId: shot.sceneId, versionId, feedback });
      return rule;
    },
  );
}

/** A revert is a new version: the earlier version's image and prompt, appended again. */
export async function revertShot(ctx: GraphContext, shot: ShotRef, step: number, toVersion: number, actorId: string): Promise<PreviewResult | null> {
  const key = `${shot.sceneId}:${step}:revert`;
  return ctx.ledger.once(
    { key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "revert", provider: "store" },
    async () => {
      const target = (await ctx.scenes.versions(shot.sceneId)).find((v) => v.versionNo === toVersion && v.previewKey);
      if (!target) return null;
      const version = await ctx.scenes.append(
        { ...target, id: stableUuid(key), kind: "revert", clipKey: null, userFeedback: `revert to v${toVersion}`, decidedBy: actorId },
        "review",
      );
      await ctx.shotStates.enter(shot.job.id, shot.sceneId, "AWAITING_APPROVAL", `${key}:awaiting`);
      return { versionId: version.id, versionNo: version.versionNo };
    },
  );
}

/** The end anchor frame of the shot (Kling start + end frames), from the approved start frame. */
export async function makeEndFrame(ctx: GraphContext, shot: ShotRef, step: number, versionId: string): Promise<string> {
  const key = `${shot.sceneId}:${step}:end_frame`;
  const settings = shot.project.config.globalSettings;
  const { endFrameKey } = await ctx.ledger.once(
    { key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "end_frame", provider: "song_illustrator", cost: priceOf(ctx.settings, { name: "end_frame", inputImages: 1 }) },
    async () => {
      await ctx.shotStates.enter(shot.job.id, shot.sceneId, "GENERATING_VIDEO", `${key}:generating_video`);
      const start = (await ctx.scenes.version(versionId))!;
      const image = await ctx.tools.songIllustrator.shotImage({
        prompt: `${start.cinematographyPrompt} End of the shot: the action has completed.`,
        loraId: settings.loraWeightsId, references: [await ctx.tools.blobs.get(start.previewKey!)], seed: seedFor(key),
      });
      return { endFrameKey: await ctx.tools.blobs.put(image) };
    },
  );
  return endFrameKey;
}
