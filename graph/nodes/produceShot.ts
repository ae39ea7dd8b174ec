import { interrupt, type LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf } from "../context.js";
import { UserFacingError } from "../../core/errors.js";
import type { JobStateType, JobStateUpdate, ReviewAnswer, ReviewRequest } from "../state.js";
import { buildVideoPrompt, modelCodeFor } from "../song/policy.js";
import { renderWithFallback } from "./produceScene.js";
import { draftAndValidate, learnFromRejection, makeEndFrame, makeShotImage, refineShot, revertShot, type ShotRef } from "./shotSteps.js";

/**
 * One shot of a song, as one branch of the Send fan-out (music-video spec lifecycle):
 * DRAFT ⇄ VALIDATION → GENERATING_IMAGE → AWAITING_APPROVAL ─┬ GREEN  → GENERATING_VIDEO → COMPLETED
 *                                              ▲             ├ YELLOW → REFINING (mask + inpaint)
 *                                              └─────────────┼ RED    → rule learnt → DRAFT again
 *                                                            └ REVERT → an earlier version, as a new one
 * Control flow depends only on interrupt answers and ledger results, which replay identically.
 */
export async function produceShot(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const ctx = contextOf(config);
  const sceneId = state.sceneId!;
  const job = (await ctx.jobs.get(state.jobId))!;
  const project = (await ctx.projects.get(job.projectId!))!;
  const row = (await ctx.scenes.list(job.id)).find((s) => s.id === sceneId)!;
  const shot: ShotRef = {
    job, project, sceneId, description: row.description ?? "", sequenceIndex: row.sequenceIndex, sceneCount: state.sceneIds.length,
    startMs: row.startMs!, endMs: row.endMs!,
  };

  const firstDraft = await draftAndValidate(ctx, shot, 0);
  if (!firstDraft.ok) throw new UserFacingError("VALIDATION_ERROR", firstDraft.reason);
  let current = await makeShotImage(ctx, shot, 0, firstDraft, "preview");
  const approval = project.config.globalSettings.requireHumanApproval;

  for (let step = 1; ; step++) {
    const answer: ReviewAnswer = approval
      ? interrupt<ReviewRequest, ReviewAnswer>({ kind: "review", sceneId, sequenceIndex: shot.sequenceIndex, versionNo: current.versionNo })
      : { decision: "GREEN", actorId: job.userId };
    if (answer.decision === "GREEN") {
      const clipKey = await renderShot(ctx, shot, step, current.versionId, state);
      if (clipKey) {
        await ctx.shotStates.enter(job.id, sceneId, "COMPLETED", `${sceneId}:${step}:completed`);
        return { clips: { [sceneId]: clipKey } };
      }
      if (answer.creditKey) await ctx.credits.refund(answer.creditKey);
      if (!approval) throw new UserFacingError("PROVIDER_FAILED", `No engine could render shot ${shot.sequenceIndex + 1}. Try again later.`);
      continue;
    }
    if (answer.decision === "YELLOW") {
      current = await refineShot(ctx, shot, step, current.versionId, answer.note ?? "", answer.actorId);
    } else if (answer.decision === "REVERT") {
      current = (await revertShot(ctx, shot, step, answer.toVersion ?? 0, answer.actorId)) ?? current;
    } else {
      if (answer.note) await learnFromRejection(ctx, shot, step, current.versionId, answer.note);
      const draft = await draftAndValidate(ctx, shot, step);
      if (!draft.ok) throw new UserFacingError("VALIDATION_ERROR", draft.reason);
      current = await makeShotImage(ctx, shot, step, draft, "reroll", answer);
    }
  }
}

/** GENERATING_VIDEO: an end anchor frame, then the clip between the two frames, timed to the shot. */
async function renderShot(ctx: ReturnType<typeof contextOf>, shot: ShotRef, step: number, versionId: string, state: JobStateType) {
  const endFrameKey = await makeEndFrame(ctx, shot, step, versionId);
  const settings = shot.project.config.globalSettings;
  const rules = (await ctx.rules.relevant(shot.project.id, shot.description, 3)).map((r) => r.text);
  const prompt = buildVideoPrompt({
    shotId: shot.sceneId, versionId, modelCode: modelCodeFor(settings.videoModel, "video"), shot: { description: shot.description }, rules,
  });
  return renderWithFallback(ctx, shot, step, versionId, state, { prompt, endFrameKey, durationS: (shot.endMs - shot.startMs) / 1000 });
}
