import type { GraphContext } from "../context.js";
import { priceOf } from "../context.js";
import { seedFor } from "./synthesizeStyle.js";
import { stableUuid } from "../../store/ids.js";
import type { JobRow } from "../../store/jobs.js";
import type { VersionKind } from "../../store/scenes.js";
import type { ProductionEngine, SceneScript, YellowContextPayload } from "../../tools/ports.js";

/**
 * The paid steps of one scene. Each runs through the ledger under a key made of the scene and
 * the loop step that asked for it, so replaying the scene's loop after a resume returns the
 * stored results and pays nothing.
 */

export interface SceneRef {
  job: JobRow;
  sceneId: string;
  sequenceIndex: number;
  sceneCount: number;
}

export interface PreviewResult {
  versionId: string;
  versionNo: number;
}

/** Renders a preview of `script` and appends it as the scene's new version (under review). */
export async function makePreview(
  ctx: GraphContext,
  scene: SceneRef,
  step: number,
  script: SceneScript,
  kind: Exclude<VersionKind, "clip" | "revert">,
  decision: { note?: string; actorId?: string } = {},
): Promise<PreviewResult> {
  const key = `${scene.sceneId}:${step}:preview`;
  return ctx.ledger.once(
    { key, jobId: scene.job.id, sceneId: scene.sceneId, operation: "preview", provider: "illustrator", cost: priceOf(ctx.settings, "preview") },
    async () => {
      const seed = seedFor(key);
      const styleReference = await ctx.tools.blobs.get(scene.job.styleReferenceKey!);
      const image = await ctx.tools.illustrator.preview({
        prompt: script.cinematographyPrompt, styleReference, seed,
        sequenceIndex: scene.sequenceIndex, sceneCount: scene.sceneCount,
      });
      const previewKey = await ctx.tools.blobs.put(image);
      const version = await ctx.scenes.append(
        {
          id: stableUuid(key), sceneId: scene.sceneId, kind, ...script, previewKey, previewSeed: seed,
          clipKey: null, engine: null, model: null, fallbackTriggered: null,
          userFeedback: decision.note ?? null, decidedBy: decision.actorId ?? null,
        },
        "review",
      );
      return { versionId: version.id, versionNo: version.versionNo };
    },
  );
}

/** YELLOW: the conversational edit with the scene's own history (spec §4 YellowContextPayload). */
export async function editScript(
  ctx: GraphContext,
  scene: SceneRef,
  step: number,
  currentVersionId: string,
  feedback: string,
): Promise<SceneScript> {
  const key = `${scene.sceneId}:${step}:edit`;
  return ctx.ledger.once(
    { key, jobId: scene.job.id, sceneId: scene.sceneId, operation: "edit", provider: "analyst", cost: priceOf(ctx.settings, "edit") },
    async () => {
      const payload = await yellowContext(ctx, scene, currentVersionId, feedback);
      await ctx.scenes.addMessage(scene.sceneId, { role: "user", content: feedback }, key);
      const edit = await ctx.tools.analyst.editScene(payload);
      await ctx.scenes.addMessage(scene.sceneId, { role: "assistant", content: edit.reply }, key);
      const current = (await ctx.scenes.version(currentVersionId))!;
      return { ...scriptOf(current), cinematographyPrompt: edit.cinematographyPrompt };
    },
  );
}

/** RED: a new script for the scene from the director (the preview follows). */
export async function rerollScript(
  ctx: GraphContext,
  scene: SceneRef,
  step: number,
  currentVersionId: string,
  engine: ProductionEngine,
): Promise<SceneScript> {
  const key = `${scene.sceneId}:${step}:reroll`;
  return ctx.ledger.once(
    { key, jobId: scene.job.id, sceneId: scene.sceneId, operation: "reroll", provider: "director", cost: priceOf(ctx.settings, "script") },
    async () => {
      const current = (await ctx.scenes.version(currentVersionId))!;
      return ctx.tools.director.rerollScene({
        analysis: scene.job.analysis!, engine, previous: scriptOf(current),
        sequenceIndex: scene.sequenceIndex, sceneCount: scene.sceneCount, attempt: step,
      });
    },
  );
}

/**
 * What a song shot adds to a clip request: its own prompt and clip length per engine (each engine
 * has its own model code and clip lengths), and an end anchor frame. The prompt is built only when
 * the clip is actually submitted.
 */
export interface ClipExtras {
  prompt?: string | ((engine: ProductionEngine) => Promise<string>);
  endFrameKey?: string;
  durationS?: number | ((engine: ProductionEngine) => number);
}

/** Submits the approved preview to one engine, once; the runner collects the result. */
export async function submitClip(
  ctx: GraphContext,
  scene: SceneRef,
  step: number,
  versionId: string,
  engine: ProductionEngine,
  extras: ClipExtras = {},
): Promise<{ callKey: string; submission: { ok: true; requestId: string } | { ok: false; error: string } }> {
  const callKey = `${scene.sceneId}:${step}:clip:${engine}`;
  const port = ctx.tools.engines[engine];
  const version = (await ctx.scenes.version(versionId))!;
  // Booked at the price of the clip the engine is asked for (engine and length).
  const durationS = typeof extras.durationS === "function" ? extras.durationS(engine) : extras.durationS ?? version.durationS;
  const submission = await ctx.ledger.submitOnce(
    { key: callKey, jobId: scene.job.id, sceneId: scene.sceneId, operation: "clip", provider: engine, cost: priceOf(ctx.settings, { name: `clip:${engine}`, durationS }) },
    async () => {
      const startFrame = await ctx.tools.blobs.get(version.previewKey!);
      const endFrame = extras.endFrameKey ? await ctx.tools.blobs.get(extras.endFrameKey) : undefined;
      const prompt = typeof extras.prompt === "function" ? await extras.prompt(engine) : extras.prompt ?? version.cinematographyPrompt;
      const { requestId } = await port.submit({ startFrame, endFrame, prompt, durationS }, callKey);
      return requestId;
    },
    (error) => ctx.scenes.setState(scene.sceneId, { errorMessage: `${engine} could not take this scene (${error.slice(0, 200)}).` }),
    ctx.settings.adoptGraceMs ?? 0,
  );
  return { callKey, submission };
}

function scriptOf(v: SceneScript): SceneScript {
  return {
    cinematographyPrompt: v.cinematographyPrompt, cameraMovement: v.cameraMovement,
    lightingNotes: v.lightingNotes, invariantToken: v.invariantToken, durationS: v.durationS,
  };
}

async function yellowContext(
  ctx: GraphContext,
  scene: SceneRef,
  currentVersionId: string,
  feedback: string,
): Promise<YellowContextPayload> {
  const { blobs } = ctx.tools;
  const [current, history, versions, rows] = await Promise.all([
    ctx.scenes.version(currentVersionId),
    ctx.scenes.messages(scene.sceneId),
    ctx.scenes.versions(scene.sceneId),
    ctx.scenes.list(scene.job.id),
  ]);
  const row = rows.find((r) => r.id === scene.sceneId)!;
  const urlOf = async (key: string | null) => (key ? blobs.url(key) : "");
  return {
    brand_essence_prompt: scene.job.analysis!.brandEssencePrompt,
    style_reference_url: await urlOf(scene.job.styleReferenceKey),
    current_scene: {
      id: scene.sceneId,
      sequence_index: scene.sequenceIndex,
      cinematography_prompt: current!.cinematographyPrompt,
      camera_movement: current!.cameraMovement,
      lighting_notes: current!.lightingNotes,
      invariant_token: current!.invariantToken,
      preview_image_url: await urlOf(current!.previewKey),
      preview_seed: current!.previewSeed,
      traffic_light: "YELLOW",
      user_feedback: feedback,
      attempt_count: row.attemptCount,
    },
    conversation_history: history,
    user_assets: [{ url: await urlOf(scene.job.inputKey), type: "image", uploaded_at: scene.job.createdAt }],
    prompt_history: await Promise.all(
      versions
        .filter((v) => v.previewKey)
        .map(async (v) => ({ prompt: v.cinematographyPrompt, result_url: await urlOf(v.previewKey), feedback: v.userFeedback })),
    ),
    user_feedback: feedback,
  };
}

/**
 * REVERT: an earlier version comes back as the scene's new version (history is never rewritten);
 * null when there is no such version with a preview.
 */
export async function revertScene(
  ctx: GraphContext,
  scene: { job: JobRow; sceneId: string },
  step: number,
  toVersion: number,
  actorId: string,
): Promise<PreviewResult | null> {
  const key = `${scene.sceneId}:${step}:revert`;
  return ctx.ledger.once(
    { key, jobId: scene.job.id, sceneId: scene.sceneId, operation: "revert", provider: "store" },
    async () => {
      const target = (await ctx.scenes.versions(scene.sceneId)).find((v) => v.versionNo === toVersion && v.previewKey);
      if (!target) return null;
      const version = await ctx.scenes.append(
        { ...target, id: stableUuid(key), kind: "revert", clipKey: null, userFeedback: `revert to v${toVersion}`, decidedBy: actorId },
        "review",
      );
      await ctx.scenes.setState(scene.sceneId, { errorMessage: null });
      return { versionId: version.id, versionNo: version.versionNo };
    },
  );
}
