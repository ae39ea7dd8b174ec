import { interrupt, type LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf, type GraphContext } from "../context.js";
import type { JobStateType, JobStateUpdate, ReviewAnswer, ReviewRequest } from "../state.js";
import { buildVideoPrompt, engineModelCode } from "../song/policy.js";
import { clipSecondsFor } from "../song/clips.js";
import { roleModels } from "../song/models.js";
import type { ProductionEngine } from "../../tools/ports.js";
import { renderWithFallback } from "./produceScene.js";
import { draftShot, learnFromRejection, refineShot, revertShot, type ShotDraft, type ShotRef } from "./shotSteps.js";

/**
 * One shot of a song, as one branch of the Send fan-out (music-video spec lifecycle):
 * DRAFT ⇄ VALIDATION → GENERATING_IMAGE (start and end frames) → AWAITING_APPROVAL
 *   ─┬ GREEN  → GENERATING_VIDEO → COMPLETED
 *    ├ YELLOW → REFINING (audited prompt, mask + inpaint) → AWAITING_APPROVAL
 *    ├ RED    → rule learnt → DRAFT again
 *    └ REVERT → an earlier version, as a new one
 * A shot that fails (the audit keeps refusing it, or a tool gives up) is FAILED on its card and
 * waits for 🟡 (say what to show instead) or 🔴 (draft again); 🟢 on it drafts again too, since
 * there is nothing to render. Every other shot goes on meanwhile.
 * Control flow depends only on interrupt answers and ledger results, which replay identically.
 */
export async function produceShot(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const ctx = contextOf(config);
  const shot = await shotRefOf(ctx, state);
  const { job } = shot;
  const autoApprove = !shot.project.config.globalSettings.requireHumanApproval;

  let current: ShotDraft = await draftShot(ctx, shot, 0, "preview");
  for (let step = 1; ; step++) {
    const answer: ReviewAnswer = current.ok && autoApprove
      ? await approvedByPolicy(ctx, shot.sceneId, job.userId)
      : interrupt<ReviewRequest, ReviewAnswer>({
          kind: "review", sceneId: shot.sceneId, sequenceIndex: shot.sequenceIndex,
          versionNo: current.ok ? current.version.versionNo : 0, ...(current.ok ? {} : { failed: current.reason }),
        });

    if (!current.ok) {
      // Nothing to render: whatever was clicked, the shot is drafted again (credits reserved by a 🟢 come back).
      if (answer.creditKey) await ctx.credits.refund(answer.creditKey);
      if (answer.decision === "RED" && answer.note) await learnFromRejection(ctx, shot, step, null, answer.note);
      const description = answer.decision === "YELLOW" && answer.note ? `${shot.description}. ${answer.note}` : undefined;
      current = await draftShot(ctx, shot, step, answer.decision === "YELLOW" ? "edit" : "reroll", { ...answer, description });
      continue;
    }

    const version = (await ctx.scenes.version(current.version.versionId))!;
    if (answer.decision === "GREEN") {
      const clipKey = await renderShot(ctx, shot, step, version.id, version.versionNo, state);
      if (clipKey) {
        await ctx.shotStates.enter(job.id, shot.sceneId, "COMPLETED", `${shot.sceneId}:${step}:completed`);
        return { clips: { [shot.sceneId]: clipKey } };
      }
      if (answer.creditKey && (await ctx.credits.refund(answer.creditKey))) {
        await ctx.scenes.setState(shot.sceneId, {
          errorMessage: `No engine could render shot ${shot.sequenceIndex + 1}, so its credits were refunded. Approve to try again, or re-roll it.`,
        });
      }
      // With nobody to approve, a shot no engine can render waits on its card for a human.
      if (autoApprove) current = { ok: false, reason: `No engine could render shot ${shot.sequenceIndex + 1}. Use 🔴 to draft it again, or 🟡 to change it.` };
      continue;
    }
    if (answer.decision === "YELLOW") {
      current = { ok: true, version: await refineShot(ctx, shot, step, version, answer.note ?? "", answer.actorId) };
    } else if (answer.decision === "REVERT") {
      const reverted = await revertShot(ctx, shot, step, answer.toVersion ?? 0, answer.actorId);
      if (reverted) current = { ok: true, version: reverted };
    } else {
      if (answer.note) await learnFromRejection(ctx, shot, step, version.id, answer.note);
      current = await draftShot(ctx, shot, step, "reroll", answer);
    }
  }
}

async function shotRefOf(ctx: GraphContext, state: JobStateType): Promise<ShotRef> {
  const sceneId = state.sceneId!;
  const job = (await ctx.jobs.get(state.jobId))!;
  const project = (await ctx.projects.get(job.projectId!))!;
  const row = (await ctx.scenes.list(job.id)).find((s) => s.id === sceneId)!;
  const engine = state.engine ?? job.production?.engine ?? "KLING";
  return {
    job, project, sceneId, description: row.description ?? "", sequenceIndex: row.sequenceIndex, sceneCount: state.sceneIds.length,
    startMs: row.startMs!, endMs: row.endMs!, clipS: clipSecondsFor(ctx.tools.engines[engine], row.endMs! - row.startMs!),
    models: await roleModels(ctx, project.id),
  };
}

/** requireHumanApproval off: the project's policy approves, on the owner's behalf, and the card says so. */
async function approvedByPolicy(ctx: GraphContext, sceneId: string, ownerId: string): Promise<ReviewAnswer> {
  await ctx.scenes.setState(sceneId, { trafficLight: "GREEN", decidedBy: ownerId });
  return { decision: "GREEN", actorId: ownerId };
}

/**
 * GENERATING_VIDEO: the approved start and end frames to the engine, then down its fallback chain.
 * Each engine gets its own prompt (its model code in the tag: S03_V2_KLING, then S03_V2_LUMA after a
 * fallback) and the shortest clip it renders that covers the shot; the final render cuts it.
 */
async function renderShot(ctx: GraphContext, shot: ShotRef, step: number, versionId: string, versionNo: number, state: JobStateType) {
  await ctx.shotStates.enter(shot.job.id, shot.sceneId, "GENERATING_VIDEO", `${shot.sceneId}:${step}:generating_video`);
  const version = (await ctx.scenes.version(versionId))!;
  const shotMs = shot.endMs - shot.startMs;
  return renderWithFallback(ctx, shot, step, versionId, state, {
    endFrameKey: version.endFrameKey ?? undefined,
    durationS: (engine: ProductionEngine) => clipSecondsFor(ctx.tools.engines[engine], shotMs),
    // Built when the clip is submitted, so the rules are looked up once, not on every replay.
    prompt: async (engine: ProductionEngine) => buildVideoPrompt({
      shotNo: shot.sequenceIndex + 1, versionNo, modelCode: engineModelCode(engine), shot: { description: shot.description },
      rules: (await ctx.rules.relevant(shot.project.id, shot.description, 3)).map((r) => r.text),
    }),
  });
}
