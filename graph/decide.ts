import type { Decisions } from "../store/decisions.js";
import type { Jobs, JobRow } from "../store/jobs.js";
import type { SceneRow, Scenes } from "../store/scenes.js";
import type { AuditLog } from "../store/audit.js";
import type { Users } from "../store/users.js";
import type { RateLimiter } from "../store/limits.js";
import type { Credits } from "../store/credits.js";
import { creditsFor, type ClipCredits } from "./context.js";
import { isUserFacing } from "../core/errors.js";
import { DecisionSchema } from "./intake.js";
import { parseOrThrow } from "../core/text.js";
import type { PendingInterrupt } from "./interrupts.js";
import type { Decision, ReviewAnswer } from "./state.js";
import type { Actor } from "./actor.js";

export interface DecideRequest {
  jobId: string;
  /** 0-based scene index (what buttons carry); or give the interrupt id directly. */
  sceneIndex?: number;
  interruptId?: string;
  /** Version of the preview the user saw; a click on an older card is stale. */
  versionNo?: number;
  decision: Decision;
  /** YELLOW feedback. */
  note?: string;
  actor: Actor;
}

export type DecideStatus =
  | "queued" | "invalid" | "not_found" | "forbidden" | "stale" | "duplicate" | "finished" | "rate_limited" | "insufficient_credits";
export interface DecideResult {
  ok: boolean;
  status: DecideStatus;
  /** A sentence for the user (ephemeral on chat platforms when ok is false). */
  message: string;
  /** rate_limited: seconds until asking again can succeed. */
  retryAfterS?: number;
}

/** Approve all answers once for the whole batch. */
export interface ApproveAllResult extends DecideResult {
  /** Scenes approved by this click. */
  approved: number;
  /** Scenes the click could not approve (their reasons are in `message`, each once). */
  refused: number;
}

export interface RevertRequest {
  jobId: string;
  sceneIndex: number;
  /** The version to bring back (it comes back as a new version). */
  toVersion: number;
  actor: Actor;
}

/** The impact preview's offer: the later shots drawn from this shot, drawn again. */
export interface RedoRequest {
  jobId: string;
  /** The shot the others were drawn from. */
  sceneIndex: number;
  actor: Actor;
}

export interface CancelRequest {
  jobId: string;
  actor: Actor;
}

interface DeciderDeps {
  store: { jobs: Jobs; scenes: Scenes; decisions: Decisions; audit: AuditLog; users: Users; limits: RateLimiter; credits: Credits };
  /** Credits a 🟢 reserves, by the job's engine and the clip's length. */
  clipCredits: ClipCredits;
  isApprover: (actor: Actor) => boolean;
  pending: (jobId: string) => Promise<PendingInterrupt[]>;
  scenesOf: (jobId: string) => Promise<SceneRow[]>;
  /** Asks for a pass (and a chat refresh) once an answer is recorded. */
  onQueued: (jobId: string) => Promise<void>;
  onCancelled: (jobId: string) => Promise<void>;
}

const VERB: Record<Decision, string> = { GREEN: "🟢 approved", YELLOW: "🟡 edit requested", RED: "🔴 re-roll requested" };

function rateLimitedMessage(retryAfterS: number): string {
  return `Too many renders asked for in a minute; try again in ${Math.max(1, retryAfterS)} s.`;
}

/** "Shot 3", "Shots 3 and 4", "Shots 3, 4 and 6" (1-based numbers). */
export function shotList(numbers: number[]): string {
  if (numbers.length === 1) return `Shot ${numbers[0]}`;
  return `Shots ${numbers.slice(0, -1).join(", ")} and ${numbers.at(-1)}`;
}

/** What the user calls a job's parts: a song has shots, a brand video scenes. */
const unitOf = (job: JobRow) => (job.kind === "song" ? "Shot" : "Scene");

function isFinished(job: JobRow): boolean {
  return ["flagged", "failed", "cancelled"].includes(job.status) ||
    ["completed", "failed", "cancelled"].includes(job.production?.status ?? "");
}

/**
 * Turns a click into a queued resume value, after the checks that make clicks safe: the input
 * is valid, the actor may decide, the interrupt is still pending and still shows the version the
 * user saw, and nobody answered it yet. Anything else is a no-op with a clear answer.
 */
export function createDecider(deps: DeciderDeps) {
  const { store } = deps;

  async function authorise(jobId: string, actor: Actor) {
    const user = await store.users.ensure(actor);
    // The spec's general limit (§5.3): every request, whatever it asks for.
    const general = await store.limits.consume(user.id, "general");
    if (!general.allowed) {
      return { error: { ok: false, status: "rate_limited", message: `Too many requests in a minute; try again in ${general.retryAfterS} s.`, retryAfterS: general.retryAfterS } as DecideResult, user };
    }
    const job = await store.jobs.get(jobId);
    if (!job) return { error: { ok: false, status: "not_found", message: `I can't find job ${jobId}.` } as DecideResult, user };
    if (user.id !== job.userId && !deps.isApprover(actor)) {
      return { error: { ok: false, status: "forbidden", message: "Only the person who started this job or a configured approver can decide on it." } as DecideResult, user };
    }
    return { job, user };
  }

  /** Refused, stale and rate-limited requests are audited too: who asked what, and why nothing changed. */
  async function audited<R extends DecideResult>(action: string, jobId: string, actor: Actor, run: () => Promise<R>, details: Record<string, unknown> = {}): Promise<R> {
    const result = await run();
    if (!result.ok) {
      const user = await store.users.ensure(actor);
      await store.audit.record({
        userId: user.id, action: `${action}.refused`, entityType: "vision_job", entityId: jobId,
        details: { ...details, status: result.status, message: result.message },
      });
    }
    return result;
  }

  function decide(request: DecideRequest): Promise<DecideResult> {
    return audited("decision", request.jobId, request.actor, () => decideOnce(request), {
      decision: request.decision, sceneIndex: request.sceneIndex ?? null, versionNo: request.versionNo ?? null,
    });
  }

  async function decideOnce(request: DecideRequest): Promise<DecideResult> {
    let answer: { decision: Decision; note?: string };
    try {
      answer = parseOrThrow(DecisionSchema, { decision: request.decision, note: request.note });
    } catch (err) {
      return { ok: false, status: "invalid", message: isUserFacing(err) ? err.userMessage : "That decision is not valid." };
    }
    const auth = await authorise(request.jobId, request.actor);
    if ("error" in auth) return auth.error as DecideResult;
    const { job, user } = auth;
    if (isFinished(job)) return { ok: false, status: "finished", message: "This job is finished; nothing was changed." };
    const reviews = (await deps.pending(job.id)).filter((p) => p.value.kind === "review");
    const { result } = await answerReview(job, user.id, reviews, request, answer, false);
    if (result.ok) await deps.onQueued(job.id);
    return result;
  }

  /** The checks and bookkeeping of one answer to one review, given the job's pending reviews. */
  async function answerReview(
    job: JobRow,
    userId: string,
    reviews: PendingInterrupt[],
    request: Pick<DecideRequest, "interruptId" | "sceneIndex" | "versionNo">,
    answer: { decision: Decision; note?: string; drawFrom?: string },
    /** Part of Approve all: held until the batch is released, and its rate limit already counted. */
    batch: boolean,
  ): Promise<{ result: DecideResult; decisionId?: string }> {
    const user = { id: userId };
    const open = request.interruptId
      ? reviews.find((p) => p.id === request.interruptId)
      : reviews.find((p) => p.value.sequenceIndex === request.sceneIndex);
    const label = `${unitOf(job)} ${(open?.value.sequenceIndex ?? request.sceneIndex ?? 0) + 1}`;
    const fail = (status: DecideStatus, message: string) => ({ result: { ok: false, status, message } });
    if (!open || open.value.kind !== "review") {
      return fail("stale", `${label} is not waiting for a review any more; nothing was changed.`);
    }
    if (request.versionNo !== undefined && request.versionNo !== open.value.versionNo) {
      return fail("stale", `${label} has a newer preview; decide on the latest card.`);
    }

    // Checked before the rate limit so a double click costs no quota; enqueue stays the real guard.
    if (await store.decisions.exists(job.id, open.id)) {
      return fail("duplicate", `${label} was already decided; nothing was changed.`);
    }
    if (!batch) {
      const limit = await store.limits.consume(user.id, answer.decision === "GREEN" ? "production" : "refine");
      if (!limit.allowed) return { result: { ok: false, status: "rate_limited", message: rateLimitedMessage(limit.retryAfterS), retryAfterS: limit.retryAfterS } };
    }
    const value: ReviewAnswer = {
      decision: answer.decision, actorId: user.id, ...(answer.note ? { note: answer.note } : {}), ...(answer.drawFrom ? { drawFrom: answer.drawFrom } : {}),
    };
    // 🟢 is where money is spent: the job owner's credits are reserved before the render is queued.
    const price = answer.decision === "GREEN" && job.production
      ? creditsFor(deps.clipCredits, job.production.engine, await clipLength(job.id, open.value.sceneId))
      : 0;
    if (price > 0) {
      value.creditKey = `reserve:${open.id}`;
      try {
        await store.credits.reserve({ userId: job.userId, jobId: job.id, sceneId: open.value.sceneId, key: value.creditKey, amount: price });
      } catch (err) {
        if (isUserFacing(err) && err.code === "INSUFFICIENT_CREDITS") return fail("insufficient_credits", err.userMessage);
        throw err;
      }
    }
    const decisionId = await store.decisions.enqueue(
      { jobId: job.id, interruptId: open.id, sceneId: open.value.sceneId, kind: "review", value: { ...value }, actorId: user.id },
      batch,
    );
    if (!decisionId) {
      if (value.creditKey) await store.credits.refund(value.creditKey);
      return fail("duplicate", `${label} was already decided; nothing was changed.`);
    }

    await store.scenes.setState(open.value.sceneId, {
      trafficLight: answer.decision,
      decidedBy: user.id,
      errorMessage: null,
      status: answer.decision === "GREEN" ? "rendering" : "preview_generation",
    });
    await store.audit.record({
      userId: user.id, action: `scene.${answer.decision.toLowerCase()}`, entityType: "scene", entityId: open.value.sceneId,
      details: { jobId: job.id, versionNo: open.value.versionNo, note: answer.note ?? null },
    });
    return { result: { ok: true, status: "queued", message: `${label} ${VERB[answer.decision]}.` }, decisionId };
  }

  /** The length of the clip a 🟢 on this scene asks for: its current version's (credits follow price). */
  async function clipLength(jobId: string, sceneId: string): Promise<number> {
    const scene = (await deps.scenesOf(jobId)).find((s) => s.id === sceneId);
    return scene?.current?.durationS ?? 0;
  }

  /** Brings an earlier version of a scene back, as a new version, while the scene awaits review. */
  async function revert(request: RevertRequest): Promise<DecideResult> {
    const auth = await authorise(request.jobId, request.actor);
    if ("error" in auth) return auth.error as DecideResult;
    const { job, user } = auth;
    if (isFinished(job)) return { ok: false, status: "finished", message: "This job is finished; nothing was changed." };
    const label = `${unitOf(job)} ${request.sceneIndex + 1}`;
    const open = (await deps.pending(job.id)).find((p) => p.value.kind === "review" && p.value.sequenceIndex === request.sceneIndex);
    if (!open) return { ok: false, status: "stale", message: `${label} is not waiting for a review; revert it when it is.` };
    const versions = await store.scenes.versions(open.value.sceneId);
    if (!versions.some((v) => v.versionNo === request.toVersion && v.previewKey && v.versionNo !== (open.value as { versionNo: number }).versionNo)) {
      return { ok: false, status: "invalid", message: `${label} has no earlier version ${request.toVersion} to bring back.` };
    }
    const value: ReviewAnswer = { decision: "REVERT", toVersion: request.toVersion, actorId: user.id };
    const queued = await store.decisions.enqueue({
      jobId: job.id, interruptId: open.id, sceneId: open.value.sceneId, kind: "review", value: { ...value }, actorId: user.id,
    });
    if (!queued) return { ok: false, status: "duplicate", message: `${label} was already decided; nothing was changed.` };
    await store.audit.record({
      userId: user.id, action: "scene.revert", entityType: "scene", entityId: open.value.sceneId, details: { jobId: job.id, toVersion: request.toVersion },
    });
    await deps.onQueued(job.id);
    return { ok: true, status: "queued", message: `${label}: version ${request.toVersion} comes back as a new version.` };
  }

  /**
   * 🟢 for every scene that waits for a review: one request against the rate limit however many
   * scenes it approves, and one answer (refusals are summed up, never repeated per scene).
   */
  async function approveAll(jobId: string, actor: Actor): Promise<ApproveAllResult> {
    const none = (result: DecideResult) => ({ ...result, approved: 0, refused: 0 });
    const auth = await authorise(jobId, actor);
    if ("error" in auth) return none(auth.error as DecideResult);
    const { job, user } = auth;
    if (isFinished(job)) return none({ ok: false, status: "finished", message: "This job is finished; nothing was changed." });
    const pending = (await deps.pending(jobId)).filter((p) => p.value.kind === "review");
    // A shot that failed is not approved in bulk: it needs 🟡 or 🔴 (a 🟢 on its own card redrafts it).
    const failed = pending.filter((p) => p.value.kind === "review" && p.value.failed);
    const reviews = pending.filter((p) => !failed.includes(p));
    if (reviews.length === 0) {
      const message = failed.length > 0
        ? `No scene can be approved as it is: ${failed.length === 1 ? "one shot" : `${failed.length} shots`} could not be made; edit (🟡) or re-roll (🔴) ${failed.length === 1 ? "it" : "them"} first.`
        : "No scene is waiting for a review; nothing was changed.";
      return none({ ok: false, status: "stale", message });
    }
    const limit = await store.limits.consume(user.id, "production");
    if (!limit.allowed) return none({ ok: false, status: "rate_limited", message: rateLimitedMessage(limit.retryAfterS), retryAfterS: limit.retryAfterS });
    // Every answer is held, then released together: one graph pass renders all the scenes.
    const answered = [];
    for (const r of reviews) answered.push(await answerReview(job, user.id, reviews, { interruptId: r.id }, { decision: "GREEN" }, true));
    await store.decisions.release(answered.flatMap((a) => (a.decisionId ? [a.decisionId] : [])));
    const approved = answered.filter((a) => a.result.ok).length;
    if (approved > 0) await deps.onQueued(jobId);
    // A scene someone already decided (a double click, a render on its way) is not a refusal.
    const refused = answered.filter((a) => !a.result.ok && a.result.status !== "duplicate");
    const refusals = [...new Set(refused.map((a) => a.result.message))];
    if (approved === 0) {
      const first = (refused[0] ?? answered[0]).result;
      return { ...none({ ok: false, status: first.status, message: refusals.join(" ") || first.message }), refused: refused.length };
    }
    const label = `${approved} ${unitOf(job).toLowerCase()}${approved > 1 ? "s" : ""} 🟢 approved.`;
    const skipped = failed.length > 0 ? [`${failed.length === 1 ? "One shot" : `${failed.length} shots`} could not be made and ${failed.length === 1 ? "waits" : "wait"} for 🟡 or 🔴.`] : [];
    return { ok: true, status: "queued", message: [label, ...refusals, ...skipped].join(" "), approved, refused: refused.length + failed.length };
  }

  /**
   * The later shots drawn from this shot's image (its impact), drawn again from its image under
   * review now (after an edit or a revert) and the shots approved: 🔴 without a note on each one
   * still waiting for a review. One request against the refine
   * limit, like Approve all; shots already approved or rendered stay as they are.
   */
  async function redo(request: RedoRequest): Promise<DecideResult> {
    const none = (result: DecideResult) => result;
    const auth = await authorise(request.jobId, request.actor);
    if ("error" in auth) return none(auth.error as DecideResult);
    const { job, user } = auth;
    if (isFinished(job)) return none({ ok: false, status: "finished", message: "This job is finished; nothing was changed." });
    const source = (await deps.scenesOf(job.id)).find((s) => s.sequenceIndex === request.sceneIndex);
    const drawnFrom = source ? (await store.scenes.impact(job.id)).get(source.id) ?? [] : [];
    const label = `shot ${request.sceneIndex + 1}`;
    if (drawnFrom.length === 0) return none({ ok: false, status: "stale", message: `No later shot was drawn from ${label}; nothing to redo.` });
    const pending = await deps.pending(job.id);
    const candidates = pending.filter((p) =>
      p.value.kind === "review" && !p.value.failed && drawnFrom.some((d) => d.sceneId === p.value.sceneId));
    // A shot someone just decided (its answer waits for the next pass) is not redone over it.
    const reviews = [];
    for (const c of candidates) if (!(await store.decisions.exists(job.id, c.id))) reviews.push(c);
    // The shot's image under review now (after an edit or a revert) is what they are drawn from again.
    const sourceReview = pending.find((p) => p.value.kind === "review" && p.value.sceneId === source?.id && !p.value.failed)?.value;
    const current = source?.current;
    const drawFrom = sourceReview?.kind === "review" && current && current.versionNo === sourceReview.versionNo ? current : undefined;
    if (reviews.length === 0) {
      return none({ ok: false, status: "stale", message: `The shots drawn from ${label} are already approved or being redrawn; nothing was changed.` });
    }
    const limit = await store.limits.consume(user.id, "refine");
    if (!limit.allowed) return none({ ok: false, status: "rate_limited", message: rateLimitedMessage(limit.retryAfterS), retryAfterS: limit.retryAfterS });
    const answered: Array<{ result: DecideResult; decisionId?: string }> = [];
    for (const r of reviews) answered.push(await answerReview(job, user.id, reviews, { interruptId: r.id }, { decision: "RED", drawFrom: drawFrom?.id }, true));
    await store.decisions.release(answered.flatMap((a) => (a.decisionId ? [a.decisionId] : [])));
    const redone = reviews.filter((_, i) => answered[i].result.ok).map((r) => r.value.sequenceIndex + 1);
    if (redone.length === 0) return none(answered[0].result);
    await deps.onQueued(job.id);
    const kept = drawnFrom.length - redone.length;
    return {
      ok: true, status: "queued",
      message: `${shotList(redone)} ${redone.length === 1 ? "is" : "are"} drawn again` +
        (drawFrom ? ` from ${label} as it is now (v${drawFrom.versionNo}).` : " from the shots approved now.") +
        (kept > 0 ? ` ${kept === 1 ? "One shot was" : `${kept} shots were`} already approved and ${kept === 1 ? "stays" : "stay"} as ${kept === 1 ? "it is" : "they are"}.` : ""),
    };
  }

  /** Stops a job: nothing more is paid for; finished clips stay where they are. */
  async function cancel(request: CancelRequest): Promise<DecideResult> {
    const auth = await authorise(request.jobId, request.actor);
    if ("error" in auth) return auth.error as DecideResult;
    const { job, user } = auth;
    if (isFinished(job)) return { ok: false, status: "finished", message: "This job is already finished." };
    await store.jobs.setStatus(job.id, "cancelled");
    if (job.production) await store.jobs.setProductionStatus(job.id, "cancelled");
    await store.audit.record({ userId: user.id, action: "job.cancelled", entityType: "vision_job", entityId: job.id });
    await deps.onCancelled(job.id);
    return { ok: true, status: "queued", message: "Job cancelled. Finished clips are kept; nothing more will be charged." };
  }

  /**
   * Runs a job that failed as a whole again from where it stopped: what was approved, previewed
   * or rendered is kept (the graph continues from its last checkpoint and re-runs only the step
   * that failed). A flagged, cancelled or finished job cannot be retried.
   */
  async function retry(request: CancelRequest): Promise<DecideResult> {
    const auth = await authorise(request.jobId, request.actor);
    if ("error" in auth) return auth.error as DecideResult;
    const { job, user } = auth;
    const failed = job.status === "failed" || job.production?.status === "failed";
    if (!failed) {
      return { ok: false, status: "invalid", message: "Only a job that failed can be tried again; this one has not failed." };
    }
    await store.jobs.setStatus(job.id, job.analysis ? "completed" : "pending", null);
    if (job.production) await store.jobs.setProductionStatus(job.id, "review");
    await store.audit.record({ userId: user.id, action: "job.retried", entityType: "vision_job", entityId: job.id });
    await deps.onQueued(job.id);
    return { ok: true, status: "queued", message: "Trying again from where it stopped; everything already approved is kept." };
  }

  return {
    decide,
    approveAll: (jobId: string, actor: Actor) => audited("approve_all", jobId, actor, () => approveAll(jobId, actor)),
    cancel: (request: CancelRequest) => audited("cancel", request.jobId, request.actor, () => cancel(request)),
    revert: (request: RevertRequest) => audited("revert", request.jobId, request.actor, () => revert(request), { sceneIndex: request.sceneIndex, toVersion: request.toVersion }),
    retry: (request: CancelRequest) => audited("retry", request.jobId, request.actor, () => retry(request)),
    redo: (request: RedoRequest) => audited("redo", request.jobId, request.actor, () => redo(request), { sceneIndex: request.sceneIndex }),
  };
}
