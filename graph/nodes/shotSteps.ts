import type { GraphContext } from "../context.js";
import { priceOf } from "../context.js";
import { seedFor } from "./synthesizeStyle.js";
import { stableUuid } from "../../store/ids.js";
import type { Project } from "../../store/projects.js";
import type { SceneVersion, VersionKind } from "../../store/scenes.js";
import { revertScene, type SceneRef, type PreviewResult } from "./sceneSteps.js";
import { buildImagePrompt, characterToken, imageModelCode, parsePromptPrefix } from "../song/policy.js";
import type { RoleModels } from "../song/models.js";
import { referenceImages, referencesFor } from "../song/references.js";
import { ShotFailure, toolStep } from "../song/shotFailure.js";
import { auditFailureMessage, auditedPrompt } from "../song/validate.js";

/**
 * The paid and logged steps of one song shot, each memoised in the ledger under the shot and
 * the loop step that asked for it (a replay after a resume pays and logs nothing twice).
 */

export interface ShotRef extends SceneRef {
  project: Project;
  description: string;
  startMs: number;
  endMs: number;
  /** The length of the clip the routed engine is asked for (credits follow its price). */
  clipS: number;
  /** The model of each agent role, from the project's agent configuration. */
  models: RoleModels;
}

/** What a shot's loop holds: the image under review, or why there is none. */
export type ShotDraft = { ok: true; version: PreviewResult } | { ok: false; reason: string };

const shotNo = (shot: ShotRef) => shot.sequenceIndex + 1;

/** The number the next version of the shot gets (versions are numbered 1, 2, … per scene, clips included). */
async function nextVersionNo(ctx: GraphContext, sceneId: string): Promise<number> {
  const versions = await ctx.scenes.versions(sceneId);
  return versions.reduce((n, v) => Math.max(n, v.versionNo), 0) + 1;
}

/**
 * DRAFT → VALIDATION (with automatic fixes) → GENERATING_IMAGE → AWAITING_APPROVAL: a new image of
 * the shot, with its end frame, as the shot's next version; or FAILED with the reason on the card.
 */
export async function draftShot(
  ctx: GraphContext,
  shot: ShotRef,
  step: number,
  kind: Exclude<VersionKind, "clip" | "revert">,
  decision: { note?: string; actorId?: string; description?: string; drawFrom?: string } = {},
): Promise<ShotDraft> {
  const settings = shot.project.config.globalSettings;
  // Numbered before the audit: the tag in the prompt names the version the image becomes.
  const versionNo = await ctx.ledger.once(
    { key: `${shot.sceneId}:${step}:number`, jobId: shot.job.id, sceneId: shot.sceneId, operation: "version_number", provider: "store" },
    () => nextVersionNo(ctx, shot.sceneId),
  );
  return settled(
    ctx, shot, `${shot.sceneId}:${step}:draft`,
    async (): Promise<ShotDraft> => {
      const audited = await auditedPrompt(ctx, shot, {
        key: `${shot.sceneId}:${step}:draft`,
        description: decision.description ?? shot.description,
        build: (description, rules) => buildImagePrompt({
          shotNo: shotNo(shot), versionNo, modelCode: imageModelCode(settings.imageModel, "image"), shot: { description }, loraId: settings.loraWeightsId, rules,
        }),
      });
      if (!audited.ok) return failShot(ctx, shot, step, auditFailureMessage(shotNo(shot), audited));
      return { ok: true, version: await makeShotImage(ctx, shot, step, { prompt: audited.prompt, kind }, decision) };
    },
    (failure) => failShot(ctx, shot, step, `Shot ${shotNo(shot)}: ${failure.userMessage} Use 🟡 or 🔴 to try again.`),
  );
}

/**
 * The outcome of a step that may end in a card instead of an image, recorded once, failures
 * included. A failed tool call is not a completed ledger entry, so without this a replay (any
 * later resume of the job) would call it again and could succeed where the user was shown a
 * failure: the loop would then take another path than the one the user answered.
 */
function settled<T>(ctx: GraphContext, shot: ShotRef, key: string, fn: () => Promise<T>, onFailure: (failure: ShotFailure) => Promise<T>): Promise<T> {
  return ctx.ledger.once({ key: `${key}:outcome`, jobId: shot.job.id, sceneId: shot.sceneId, operation: "outcome", provider: "store" }, async () => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ShotFailure) return onFailure(err);
      throw err;
    }
  });
}

/** FAILED: the reason goes on the card (scenes.error_message) and the shot stays decidable. */
async function failShot(ctx: GraphContext, shot: ShotRef, step: number, reason: string): Promise<ShotDraft> {
  await ctx.shotStates.enter(shot.job.id, shot.sceneId, "FAILED", `${shot.sceneId}:${step}:failed`, reason);
  await ctx.scenes.setState(shot.sceneId, { status: "failed", errorMessage: reason });
  return { ok: false, reason };
}

/**
 * GENERATING_IMAGE: the start frame through the LoRA, drawn from the reference sheet and approved
 * shots; then its end frame, drawn from the start frame; then the version that holds both, so the
 * card shows the two frames before anyone pays for the clip.
 */
async function makeShotImage(
  ctx: GraphContext,
  shot: ShotRef,
  step: number,
  draft: { prompt: string; kind: Exclude<VersionKind, "clip" | "revert"> },
  decision: { note?: string; actorId?: string; drawFrom?: string },
): Promise<PreviewResult> {
  const key = `${shot.sceneId}:${step}:image`;
  const settings = shot.project.config.globalSettings;
  const refs = await referencesFor(ctx, shot.job, shot.project, shot.sequenceIndex, decision.drawFrom);
  const inputImages = refs.versions.length + (refs.sheetKey ? 1 : 0);
  const start = await ctx.ledger.once(
    { key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "shot_image", provider: "song_illustrator", cost: priceOf(ctx.settings, { name: "shot_image", inputImages }) },
    async () => {
      await ctx.shotStates.enter(shot.job.id, shot.sceneId, "GENERATING_IMAGE", `${key}:generating`);
      const image = await toolStep("Drawing the shot", async () => ctx.tools.songIllustrator.shotImage({
        prompt: draft.prompt, loraId: settings.loraWeightsId, seed: seedFor(key), references: await referenceImages(ctx, refs),
      }));
      return { previewKey: await ctx.tools.blobs.put(image), referenceVersionIds: refs.versions.map((v) => v.versionId), sheetKey: refs.sheetKey };
    },
  );
  const endFrameKey = await makeEndFrame(ctx, shot, step, draft.prompt, start.previewKey);
  return appendShotVersion(ctx, shot, step, {
    kind: draft.kind, prompt: draft.prompt, previewKey: start.previewKey, endFrameKey, seed: seedFor(key),
    referenceVersionIds: start.referenceVersionIds, referenceSheetKey: start.sheetKey, decision,
  });
}

/** The end anchor frame: the same shot a moment later, drawn from its start frame (Kling start + end frames). */
async function makeEndFrame(ctx: GraphContext, shot: ShotRef, step: number, prompt: string, startKey: string): Promise<string> {
  const key = `${shot.sceneId}:${step}:end_frame`;
  const settings = shot.project.config.globalSettings;
  const { endFrameKey } = await ctx.ledger.once(
    { key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "end_frame", provider: "song_illustrator", cost: priceOf(ctx.settings, { name: "end_frame", inputImages: 1 }) },
    async () => {
      const image = await toolStep("Drawing the end frame", async () => ctx.tools.songIllustrator.shotImage({
        prompt: `${prompt} End frame: the same place and light a moment later, the action completed.`,
        loraId: settings.loraWeightsId, references: [await ctx.tools.blobs.get(startKey)], seed: seedFor(key),
      }));
      return { endFrameKey: await ctx.tools.blobs.put(image) };
    },
  );
  return endFrameKey;
}

interface NewShotVersion {
  kind: VersionKind;
  prompt: string;
  previewKey: string;
  endFrameKey: string | null;
  seed: number;
  referenceVersionIds: string[];
  referenceSheetKey: string | null;
  decision: { note?: string; actorId?: string };
}

/** AWAITING_APPROVAL: the version is appended once (its own ledger step: a replay never moves the scene back to it). */
async function appendShotVersion(ctx: GraphContext, shot: ShotRef, step: number, v: NewShotVersion): Promise<PreviewResult> {
  const key = `${shot.sceneId}:${step}:version`;
  const settings = shot.project.config.globalSettings;
  return ctx.ledger.once({ key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "version", provider: "store" }, async () => {
    const tag = parsePromptPrefix(v.prompt);
    const version = await ctx.scenes.append(
      {
        id: stableUuid(`${shot.sceneId}:${step}:image`), sceneId: shot.sceneId, kind: v.kind, cinematographyPrompt: v.prompt,
        cameraMovement: "anchor frames", lightingNotes: "", invariantToken: characterToken(settings.loraWeightsId), durationS: shot.clipS,
        previewKey: v.previewKey, previewSeed: v.seed, clipKey: null, engine: null, model: null, fallbackTriggered: null,
        userFeedback: v.decision.note ?? null, decidedBy: v.decision.actorId ?? null,
        endFrameKey: v.endFrameKey, referenceVersionIds: v.referenceVersionIds, referenceSheetKey: v.referenceSheetKey,
        promptTag: tag ? v.prompt.slice(0, v.prompt.indexOf(" ")) : null,
      },
      "review",
    );
    await ctx.scenes.setState(shot.sceneId, { errorMessage: null });
    await ctx.shotStates.enter(shot.job.id, shot.sceneId, "AWAITING_APPROVAL", `${key}:awaiting`);
    return { versionId: version.id, versionNo: version.versionNo };
  });
}

/**
 * REFINING (the mini-chat): the note is turned into an inpainting prompt by the same policy and
 * audit as a draft; a mask of the region it names is repainted and the end frame redrawn from the
 * result, as a new version. A note the audit keeps refusing changes nothing: the current version
 * stays under review and the card says why.
 */
export async function refineShot(ctx: GraphContext, shot: ShotRef, step: number, current: SceneVersion, note: string, actorId: string): Promise<PreviewResult> {
  const key = `${shot.sceneId}:${step}:refine`;
  const settings = shot.project.config.globalSettings;
  await ctx.shotStates.enter(shot.job.id, shot.sceneId, "REFINING", `${key}:refining`, note);
  await ctx.scenes.addMessage(shot.sceneId, { role: "user", content: note }, key);
  const versionNo = await ctx.ledger.once(
    { key: `${key}:number`, jobId: shot.job.id, sceneId: shot.sceneId, operation: "version_number", provider: "store" },
    () => nextVersionNo(ctx, shot.sceneId),
  );
  const unchanged = async (why: string) => {
    await ctx.scenes.addMessage(shot.sceneId, { role: "assistant", content: why }, key);
    await ctx.scenes.setState(shot.sceneId, { errorMessage: why });
    await ctx.shotStates.enter(shot.job.id, shot.sceneId, "AWAITING_APPROVAL", `${key}:kept`, why);
    return { versionId: current.id, versionNo: current.versionNo };
  };
  return settled(
    ctx, shot, key,
    async () => {
      const audited = await auditedPrompt(ctx, shot, {
        key,
        description: `${note}. ${shot.description}`,
        build: (description, rules) => buildImagePrompt({
          shotNo: shotNo(shot), versionNo, modelCode: imageModelCode(settings.imageModel, "inpaint"), shot: { description }, loraId: settings.loraWeightsId, rules,
        }),
      });
      if (!audited.ok) {
        return unchanged(`Your edit of shot ${shotNo(shot)} was not applied: the prompt audit found ${audited.findings.slice(0, 3).join("; ")}. ` +
          "Describe the change another way with 🟡, or use 🔴 to draft the shot again.");
      }
      const { previewKey } = await ctx.ledger.once(
        { key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "inpaint", provider: "song_illustrator", cost: priceOf(ctx.settings, { name: "refine", model: shot.models.VISION_ANALYZER }) },
        async () => {
          const image = await ctx.tools.blobs.get(current.previewKey!);
          const mask = await toolStep("Finding the part to change", () =>
            ctx.tools.songAnalyst.maskFor({ image, instruction: note, model: shot.models.VISION_ANALYZER }));
          const painted = await toolStep("Repainting the shot", () =>
            ctx.tools.songIllustrator.inpaint({ image, mask, prompt: audited.prompt, seed: seedFor(key) }));
          return { previewKey: await ctx.tools.blobs.put(painted) };
        },
      );
      const endFrameKey = await makeEndFrame(ctx, shot, step, audited.prompt, previewKey);
      const version = await appendShotVersion(ctx, shot, step, {
        kind: "edit", prompt: audited.prompt, previewKey, endFrameKey, seed: seedFor(key),
        referenceVersionIds: current.referenceVersionIds ?? [], referenceSheetKey: current.referenceSheetKey ?? null, decision: { note, actorId },
      });
      await ctx.scenes.addMessage(shot.sceneId, { role: "assistant", content: `Repainted the part you described: "${note}".` }, key);
      return version;
    },
    (failure) => unchanged(`Your edit of shot ${shotNo(shot)} was not applied: ${failure.userMessage} Try 🟡 again, or 🔴 to draft the shot again.`),
  );
}

/** A rejection with a reason becomes a rule of the project's rulebook (the active rulebook). */
export async function learnFromRejection(ctx: GraphContext, shot: ShotRef, step: number, versionId: string | null, feedback: string): Promise<string | null> {
  const key = `${shot.sceneId}:${step}:rule`;
  return settled(
    ctx, shot, key,
    () => ctx.ledger.once(
      { key, jobId: shot.job.id, sceneId: shot.sceneId, operation: "failure_analysis", provider: "song_analyst", cost: priceOf(ctx.settings, { name: "failure_analysis", model: shot.models.VISION_ANALYZER }) },
      async () => {
        const version = versionId ? await ctx.scenes.version(versionId) : null;
        const image = version?.previewKey ? await ctx.tools.blobs.get(version.previewKey) : null;
        const { rule } = await toolStep("Learning from the rejection", () =>
          ctx.tools.songAnalyst.analyzeFailure({ prompt: version?.cinematographyPrompt ?? shot.description, feedback, image, model: shot.models.VISION_ANALYZER }));
        const added = await ctx.rules.add(shot.project.id, rule, { kind: "rejection", jobId: shot.job.id, shotId: shot.sceneId, versionId, feedback });
        // The rulebook changes every later draft of the project: who taught it what is on record.
        await ctx.audit.record({
          userId: shot.job.userId, action: "rule.learnt", entityType: "rule", entityId: added.id,
          details: { projectId: shot.project.id, jobId: shot.job.id, shotId: shot.sceneId, text: rule, feedback },
        });
        return rule;
      },
    ),
    // The rejection still drafts the shot again; only the rule is missing, which is no reason for a failed card.
    async () => null,
  );
}

/** A revert is a new version: the earlier version's images and prompt, appended again. */
export async function revertShot(ctx: GraphContext, shot: ShotRef, step: number, toVersion: number, actorId: string): Promise<PreviewResult | null> {
  const reverted = await revertScene(ctx, shot, step, toVersion, actorId);
  if (reverted) await ctx.shotStates.enter(shot.job.id, shot.sceneId, "AWAITING_APPROVAL", `${shot.sceneId}:${step}:revert:awaiting`);
  return reverted;
}
