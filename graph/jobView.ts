import type { StateSnapshot } from "@langchain/langgraph";
import type { Db } from "../store/db.js";
import type { Jobs } from "../store/jobs.js";
import type { DependentShot, Scenes } from "../store/scenes.js";
import type { Ledger } from "../store/ledger.js";
import type { Position } from "../store/tasks.js";
import type { Credits } from "../store/credits.js";
import type { ProductionEngine } from "../tools/ports.js";
import { pendingInterrupts } from "./interrupts.js";
import { creditsFor, priceOf, type ClipCredits, type Prices } from "./context.js";
import type { Decision, Stage } from "./state.js";

/**
 * The platform-neutral view of a job. Every surface (Slack, Discord, the local page, the
 * terminal) renders this and nothing else, so they all show the same thing.
 */
export interface JobView {
  jobId: string;
  kind: "image" | "song";
  ownerId: string;
  ownerName: string | null;
  stage: Stage | "cancelled";
  /** One human line: what is happening now. */
  statusLine: string;
  engine: ProductionEngine | null;
  routingReason: string | null;
  /** Credits charged for this job so far (reservations net of refunds). */
  creditsUsed: number;
  /** Estimated provider cost of this job so far, in USD (offline tools cost nothing). */
  costUsd: number;
  /**
   * Credits a 🟢 Approve reserves on this job (show it on the button before anything is paid): the
   * most any scene waiting for review costs, as credits follow each clip's price (see SceneCard).
   */
  approvalCredits: number;
  /** The job owner's credits left. */
  ownerCredits: number;
  scenes: SceneCard[];
  finalVideoKey: string | null;
  /** Why the job stopped (flagged or failed), readable by a chat user. */
  error: string | null;
  /** While the job's next pass waits for a free worker: its place in line and a rough wait. */
  queue: { ahead: number; estimateMs: number | null } | null;
  /** Approve all's price for the scenes waiting for review ("22 clips · 22 credits · ≈ $7.70"). */
  approveAll: ApproveAllQuote;
}

export interface SceneCard {
  sceneId: string;
  /** 0-based position; cards show index + 1. */
  index: number;
  count: number;
  status: "scripting" | "preview_generation" | "review" | "rendering" | "completed" | "failed";
  trafficLight: "PENDING" | "GREEN" | "YELLOW" | "RED";
  /** Version of the preview on the card; a click carries it so an old card's click is stale. */
  versionNo: number;
  previewKey: string | null;
  clipKey: string | null;
  /** Two short lines: camera and the start of the script. */
  scriptExcerpt: string;
  /** "0:12–0:16" for song shots; null for brand scenes. */
  timeRange: string | null;
  /** Song shots: how many beats of the song fall inside the shot (cuts land on beats). */
  beatCount: number | null;
  /** Song shots: the end anchor frame of the image under review, to show beside the start frame. */
  endFrameKey: string | null;
  /** Song shots: the readable tag of the image's prompt, e.g. "S03_V2_FLUX2" (a clip's is the engine's: S03_V2_KLING). */
  promptTag: string | null;
  /** Song shots: why the shot has no image to approve; the card offers 🟡 and 🔴 only. */
  failed: string | null;
  /**
   * Song shots: later shots whose current image was drawn from this shot's image (a continuity
   * reference). An edit or a revert here leaves them as they are; the card says so and offers to
   * redo them. Filled while this card waits for a review.
   */
  usedBy: Array<{ index: number; versionNo: number; fromVersionNo: number }>;
  /** Who made the last decision on this scene, and what. */
  decidedBy: string | null;
  lastDecision: Decision | null;
  /** The open question on this scene, if any. */
  awaiting: "review" | "render" | null;
  interruptId: string | null;
  engine: ProductionEngine | null;
  errorMessage: string | null;
  /** While a render waits at its provider: what the provider last said ("waiting in the provider's queue"). */
  renderNote: string | null;
  /** Credits a 🟢 on this scene reserves (its engine's price for its clip length). */
  approvalCredits: number;
  /** What that clip is estimated to cost at the provider, in USD (0 offline). */
  approvalUsd: number;
}

/** What "Approve all" would do right now: shown on the button before anything is paid. */
export interface ApproveAllQuote {
  clips: number;
  credits: number;
  usd: number;
}

export type JobEvent =
  | { type: "status"; view: JobView }
  | { type: "scene"; view: JobView; card: SceneCard }
  | { type: "final"; view: JobView }
  | { type: "error"; jobId: string; message: string; view: JobView | null };

/** Builds the surfaces' view of a job from SQL (domain data) and the checkpoint (where it stands). */
export function createJobViews(deps: {
  db: Db; jobs: Jobs; scenes: Scenes; ledger: Ledger; credits: Credits; clipCredits: ClipCredits; prices: Prices;
}) {
  const { db, jobs, scenes, ledger, credits } = deps;

  async function userNames(ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const r = await db.query<{ id: string; name: string | null; platform_user_id: string }>(
      "SELECT id, name, platform_user_id FROM users WHERE id = ANY($1::uuid[])",
      [ids],
    );
    return new Map(r.rows.map((u) => [u.id, u.name ?? u.platform_user_id]));
  }

  async function lastDecisions(jobId: string): Promise<Map<string, Decision>> {
    const r = await db.query<{ scene_id: string; value: { decision?: Decision } }>(
      `SELECT DISTINCT ON (scene_id) scene_id, value FROM job_decisions
       WHERE job_id = $1 AND kind = 'review' AND status <> 'stale' ORDER BY scene_id, created_at DESC`,
      [jobId],
    );
    return new Map(r.rows.filter((d) => d.value.decision).map((d) => [d.scene_id, d.value.decision!]));
  }

  /** What each pending render's provider last said, by call key. */
  async function renderNotes(jobId: string): Promise<Map<string, string>> {
    const r = await db.query<{ idempotency_key: string; provider_status: string | null; provider_position: number | null }>(
      "SELECT idempotency_key, provider_status, provider_position FROM provider_calls WHERE job_id = $1 AND status = 'submitted' AND provider_status IS NOT NULL",
      [jobId],
    );
    return new Map(r.rows.map((row) => [row.idempotency_key, renderNote(row.provider_status!, row.provider_position)]));
  }

  async function build(jobId: string, snapshot: StateSnapshot | null, position: Position | null = null): Promise<JobView | null> {
    const job = await jobs.get(jobId);
    if (!job) return null;
    const rows = await scenes.list(jobId);
    // An interrupt with a queued answer is no longer a question for the user.
    const answered = new Set((await db.query<{ interrupt_id: string }>(
      "SELECT interrupt_id FROM job_decisions WHERE job_id = $1", [jobId],
    )).rows.map((d) => d.interrupt_id));
    const pending = (snapshot ? pendingInterrupts(snapshot) : []).filter((p) => !answered.has(p.id));
    const names = await userNames([job.userId, ...rows.flatMap((s) => (s.decidedBy ? [s.decidedBy] : []))]);
    const decisions = await lastDecisions(jobId);
    const values = (snapshot?.values ?? {}) as { stage?: Stage };
    const notes = pending.some((p) => p.value.kind === "render") ? await renderNotes(jobId) : new Map<string, string>();
    const impact = job.kind === "song" && pending.some((p) => p.value.kind === "review") ? await scenes.impact(jobId) : new Map<string, DependentShot[]>();

    const cards: SceneCard[] = rows.map((s) => {
      const open = pending.find((p) => p.value.sceneId === s.id);
      const v = s.current;
      return {
        sceneId: s.id,
        index: s.sequenceIndex,
        count: rows.length,
        // A scene back at review after a failed render still has status "rendering" in SQL.
        status: open?.value.kind === "review" ? "review" : s.status,
        trafficLight: s.trafficLight,
        versionNo: open?.value.kind === "review" ? open.value.versionNo : v?.versionNo ?? 0,
        previewKey: v?.previewKey ?? null,
        clipKey: v?.clipKey ?? null,
        scriptExcerpt: s.startMs !== null
          ? excerpt(`${s.lyricsSnippet ? `“${s.lyricsSnippet}” · ` : ""}${s.description ?? ""}`)
          : v ? excerpt(`${v.cameraMovement}. ${v.cinematographyPrompt}`) : "",
        timeRange: s.startMs !== null && s.endMs !== null ? `${clock(s.startMs)}–${clock(s.endMs)}` : null,
        beatCount: s.beatCount,
        endFrameKey: v?.endFrameKey ?? null,
        promptTag: v?.promptTag ?? null,
        failed: open?.value.kind === "review" ? open.value.failed ?? null : null,
        usedBy: open?.value.kind === "review"
          ? (impact.get(s.id) ?? []).map((d) => ({ index: d.sequenceIndex, versionNo: d.versionNo, fromVersionNo: d.referenceVersionNo }))
          : [],
        decidedBy: s.decidedBy ? names.get(s.decidedBy) ?? null : null,
        lastDecision: decisions.get(s.id) ?? null,
        awaiting: open?.value.kind ?? null,
        interruptId: open?.id ?? null,
        engine: open?.value.kind === "render" ? open.value.engine : v?.engine ?? null,
        errorMessage: s.errorMessage,
        renderNote: open?.value.kind === "render" ? notes.get(open.value.callKey) ?? null : null,
        approvalCredits: job.production && v ? creditsFor(deps.clipCredits, job.production.engine, v.durationS) : 0,
        approvalUsd: job.production && v ? priceOf({ prices: deps.prices }, { name: `clip:${job.production.engine}`, durationS: v.durationS }) : 0,
      };
    });

    const cancelled = job.status === "cancelled" || job.production?.status === "cancelled";
    const stage: JobView["stage"] = cancelled
      ? "cancelled"
      : job.status === "flagged" ? "flagged"
      : job.status === "failed" || job.production?.status === "failed" ? "failed"
      : job.production?.status === "completed" ? "done"
      : cards.length > 0 && cards.every((c) => c.status === "completed") ? "assembling"
      : values.stage ?? "analyzing";
    return {
      jobId,
      kind: job.kind,
      ownerId: job.userId,
      ownerName: names.get(job.userId) ?? null,
      stage,
      statusLine: inLine(position, stage) ?? statusLine(stage, cards, job.kind),
      engine: job.production?.engine ?? null,
      routingReason: job.production?.routingReason ?? null,
      creditsUsed: await credits.spentOn(jobId),
      costUsd: await ledger.totalCost(jobId),
      approvalCredits: Math.max(0, ...(cards.some((c) => c.awaiting === "review") ? cards.filter((c) => c.awaiting === "review") : cards).map((c) => c.approvalCredits)),
      ownerCredits: await credits.balance(job.userId),
      scenes: cards,
      finalVideoKey: job.production?.finalVideoKey ?? null,
      error: stage === "flagged" || stage === "failed" ? job.errorMessage : null,
      queue: position && !TERMINAL_STAGES.includes(stage) ? position : null,
      // A failed shot cannot be rendered as it is: it asks for 🟡 or 🔴, not a price.
      approveAll: quote(cards.filter((c) => c.awaiting === "review" && !c.failed)),
    };
  }

  return { build };
}

const TERMINAL_STAGES: JobView["stage"][] = ["done", "flagged", "failed", "cancelled"];

function quote(cards: SceneCard[]): ApproveAllQuote {
  return {
    clips: cards.length,
    credits: cards.reduce((sum, c) => sum + c.approvalCredits, 0),
    usd: Math.round(cards.reduce((sum, c) => sum + c.approvalUsd, 0) * 100) / 100,
  };
}

/** "22 clips · 22 credits · ≈ $7.70": what Approve all costs, in words every surface shows. */
export function quoteLine(q: ApproveAllQuote): string {
  const clips = `${q.clips} clip${q.clips === 1 ? "" : "s"}`;
  const credits = `${q.credits} credit${q.credits === 1 ? "" : "s"}`;
  return q.usd > 0 ? `${clips} · ${credits} · ≈ $${q.usd.toFixed(2)}` : `${clips} · ${credits}`;
}

/** "3rd in line · about 2 min" while the job's next pass waits for a worker. */
function inLine(position: Position | null, stage: JobView["stage"]): string | null {
  if (!position || TERMINAL_STAGES.includes(stage)) return null;
  const place = position.ahead + 1;
  const wait = position.estimateMs === null ? "" : ` · about ${humanDuration(position.estimateMs)}`;
  return `${ordinal(place)} in line${wait}`;
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${suffix}`;
}

function humanDuration(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  return `${Math.round(s / 60)} min`;
}

function renderNote(status: string, position: number | null): string {
  if (status === "queued") return position !== null ? `waiting in the provider's queue (${ordinal(position + 1)})` : "waiting in the provider's queue";
  if (status === "running") return "rendering at the provider";
  return "the provider does not know this render yet";
}

/** m:ss of a time in the song. */
function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function excerpt(text: string): string {
  const clean = text.replace(/\s+/g, " ").trim();
  return clean.length > 140 ? `${clean.slice(0, 137)}…` : clean;
}

/** A song's words differ from a brand image's: it is listened to, and it is cut into shots. */
function statusLine(stage: JobView["stage"], cards: SceneCard[], kind: JobView["kind"]): string {
  const song = kind === "song";
  const unit = song ? "shot" : "scene";
  const waiting = cards.filter((c) => c.awaiting === "review").length;
  const rendering = cards.filter((c) => c.awaiting === "render").length;
  const done = cards.filter((c) => c.status === "completed").length;
  switch (stage) {
    case "analyzing": return song ? "Listening to the song and planning its shots…" : "Analysing the brand image…";
    case "styling": return "Distilling the style reference…";
    case "directing": return "Writing the storyboard…";
    case "reviewing":
      return [
        waiting ? `${waiting} ${unit}${waiting > 1 ? "s" : ""} waiting for your review` : "",
        rendering ? `${rendering} rendering` : "",
        done ? `${done}/${cards.length} done` : "",
      ].filter(Boolean).join(" · ") || (song ? "Drawing the shots…" : "Making previews…");
    case "assembling": return song ? "Cutting the shots to the song…" : "Stitching the final video…";
    case "done": return "Done: the final video is ready.";
    case "flagged": return song ? "Flagged: the song could not be used." : "Flagged by the integrity filter.";
    case "failed": return "Failed.";
    case "cancelled": return "Cancelled.";
  }
}
