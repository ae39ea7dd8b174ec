import { interrupt, type LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf } from "../context.js";
import { engineChain } from "../routing.js";
import type { JobStateType, JobStateUpdate, RenderAnswer, RenderWait, ReviewAnswer, ReviewRequest } from "../state.js";
import { editScript, makePreview, rerollScript, revertScene, submitClip, type ClipExtras, type SceneRef } from "./sceneSteps.js";

/**
 * One scene, from preview to clip, as one branch of the Send fan-out:
 * preview → review ─┬ GREEN  → submit clip → wait for the engine (fallback chain) → done
 *                   ├ YELLOW → conversational edit → new preview → review
 *                   └ RED    → new script → new preview → review
 *
 * Every resume re-runs this function from the top (in every still-pending scene), so control
 * flow depends only on values that replay identically: interrupt answers and ledger results.
 * Paid work happens only inside the ledger steps.
 */
export async function produceScene(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const ctx = contextOf(config);
  const sceneId = state.sceneId!;
  const job = (await ctx.jobs.get(state.jobId))!;
  const sequenceIndex = state.sceneIds.indexOf(sceneId);
  const scene: SceneRef = { job, sceneId, sequenceIndex, sceneCount: state.sceneIds.length };
  const storyboard = await ctx.jobs.storyboard(job.id);

  let current = await makePreview(ctx, scene, 0, storyboard[sequenceIndex], "preview");
  for (let step = 1; ; step++) {
    const answer = interrupt<ReviewRequest, ReviewAnswer>({
      kind: "review", sceneId, sequenceIndex, versionNo: current.versionNo,
    });
    if (answer.decision === "GREEN") {
      const clipKey = await renderWithFallback(ctx, scene, step, current.versionId, state);
      if (clipKey) return { clips: { [sceneId]: clipKey } };
      // Every engine failed: the credits come back (idempotent, so a replay refunds nothing more)
      // and the same preview goes back to review with its buttons live.
      if (answer.creditKey && (await ctx.credits.refund(answer.creditKey))) {
        await ctx.scenes.setState(sceneId, {
          errorMessage: "No engine could render this scene, so its credits were refunded. Approve to try again, or re-roll it.",
        });
      }
      continue;
    }
    if (answer.decision === "REVERT") {
      current = (await revertScene(ctx, scene, step, answer.toVersion ?? 0, answer.actorId)) ?? current;
      continue;
    }
    const script =
      answer.decision === "YELLOW"
        ? await editScript(ctx, scene, step, current.versionId, answer.note ?? "")
        : await rerollScript(ctx, scene, step, current.versionId, state.engine!);
    current = await makePreview(ctx, scene, step, script, answer.decision === "YELLOW" ? "edit" : "reroll", answer);
  }
}

/** Tries the routed engine, then its fallbacks (spec §6.1); null when all of them failed. */
export async function renderWithFallback(
  ctx: ReturnType<typeof contextOf>,
  scene: SceneRef,
  step: number,
  versionId: string,
  state: JobStateType,
  extras: ClipExtras = {},
): Promise<string | null> {
  for (const engine of engineChain(state.engine!)) {
    const { callKey, submission } = await submitClip(ctx, scene, step, versionId, engine, extras);
    if (!submission.ok) continue;
    const result = interrupt<RenderWait, RenderAnswer>({
      kind: "render", sceneId: scene.sceneId, sequenceIndex: scene.sequenceIndex,
      engine, requestId: submission.requestId, callKey,
    });
    if (result.ok) return result.clipKey;
  }
  return null;
}
