import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { Tools } from "../tools/ports.js";
import type { Jobs } from "../store/jobs.js";
import type { Scenes } from "../store/scenes.js";
import type { Ledger } from "../store/ledger.js";
import type { AuditLog } from "../store/audit.js";
import type { Credits } from "../store/credits.js";
import type { Projects } from "../store/projects.js";
import type { Rules } from "../store/rules.js";
import type { ShotStates } from "../store/shotStates.js";
import type { ProductionEngine } from "../tools/ports.js";

/** Knobs of the pipeline; defaults live in bot/config.ts. */
export interface PipelineSettings {
  /** Scenes per storyboard (at least 3 previews, spec §4). */
  sceneCount: number;
  /** Below this integrity score a job is flagged (spec §1: 0.4). */
  integrityThreshold: number;
  /** img2img strength of the style reference, 0.3–0.5 (spec §2). */
  styleStrength: number;
  /** USD cost of each paid operation, recorded against the job (bot/prices.ts; tests pass a flat table). */
  prices: Prices;
  /** Song route: shot length bounds and how often the audit may send a shot back to DRAFT. */
  song: { minShotMs: number; maxShotMs: number; maxAuditAttempts: number };
  /** Credits a 🟢 approval reserves from the job owner, for the job's routed engine and the clip's length (0 = free). */
  clipCredits: ClipCredits;
  /**
   * How long a video submission whose answer was lost in a crash is left to be adopted by its
   * webhook before it is sent again (0: no webhooks, send again at once). See Ledger.submitOnce.
   */
  adoptGraceMs?: number;
  /** Credits a person starts with when their users row is created (NEW_USER_CREDITS); unset: the column default. */
  newUserCredits?: number;
}

/** A paid operation as the price list sees it. */
export interface PricedOperation {
  /**
   * "analysis", "edit", "script", "style", "preview", "song_analysis", "audit", "revise",
   * "failure_analysis", "refine", "shot_image", "end_frame", or "clip:<ENGINE>".
   */
  name: string;
  /** Clips: the requested length; a song analysis: the song's length. */
  durationS?: number;
  /** Images sent along with the prompt (FLUX.2 edits bill them too). */
  inputImages?: number;
  /** The model the call runs on, when the project chose it (song route agent roles); else the configured one. */
  model?: string;
}

/** USD per operation: the price list, or a flat table by operation name (tests and benches). */
export type Prices = Record<string, number> | ((op: PricedOperation) => number);

/** Credits a 🟢 reserves for one clip: following its price, or flat per engine. */
export type ClipCredits = Record<ProductionEngine, number> | ((engine: ProductionEngine, durationS: number) => number);

/** Kling makes 5–10 s clips; max ≥ 2 × min lets the shot planner cut on bars. */
export const DEFAULT_SONG_SETTINGS: PipelineSettings["song"] = { minShotMs: 3_000, maxShotMs: 10_000, maxAuditAttempts: 3 };

/**
 * What every node gets through the LangGraph runtime context. Context is not checkpointed, so
 * the runner passes it again on every invoke and resume; nodes never read env.
 */
export interface GraphContext {
  tools: Tools;
  jobs: Jobs;
  scenes: Scenes;
  ledger: Ledger;
  audit: AuditLog;
  credits: Credits;
  projects: Projects;
  rules: Rules;
  shotStates: ShotStates;
  settings: PipelineSettings;
}

export function contextOf(config: LangGraphRunnableConfig): GraphContext {
  const context = (config as { context?: GraphContext }).context;
  if (!context) throw new Error("graph invoked without its runtime context (tools and store)");
  return context;
}

/** The price of an operation, 0 when the table has none (offline tools are free). */
export function priceOf(settings: Pick<PipelineSettings, "prices">, operation: string | PricedOperation): number {
  const op = typeof operation === "string" ? { name: operation } : operation;
  return typeof settings.prices === "function" ? settings.prices(op) : settings.prices[op.name] ?? 0;
}

/** Credits a 🟢 on a clip of this engine and length reserves. */
export function creditsFor(credits: ClipCredits, engine: ProductionEngine, durationS: number): number {
  return typeof credits === "function" ? credits(engine, durationS) : credits[engine];
}
