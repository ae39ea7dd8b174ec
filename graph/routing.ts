import type { ProductionEngine, RoutingScores } from "../tools/ports.js";

/** A score above this routes to its engine (spec §1). */
export const ROUTING_THRESHOLD = 0.7;

/**
 * When no score is high, Luma: its "vibe transfer" is the most forgiving engine for ordinary
 * brand imagery, and it is the middle of the spec's fallback chains.
 */
export const DEFAULT_ENGINE: ProductionEngine = "LUMA";

/** Spec §6.1: who takes over when an engine fails. */
export const ENGINE_FALLBACK_CHAIN: Record<ProductionEngine, ProductionEngine[]> = {
  KLING: ["LUMA", "GEMINI_PRO"],
  LUMA: ["GEMINI_PRO", "KLING"],
  GEMINI_PRO: ["LUMA", "KLING"],
};

/** Routes a job to a production engine: physics > vibe > logic, each above 0.7 (spec §1). */
export function determineProductionEngine(scores: RoutingScores): { engine: ProductionEngine; reason: string } {
  const fmt = (n: number) => n.toFixed(2);
  if (scores.physics > ROUTING_THRESHOLD) {
    return { engine: "KLING", reason: `physics score ${fmt(scores.physics)} > ${ROUTING_THRESHOLD}: Kling handles physics and liquid dynamics` };
  }
  if (scores.vibe > ROUTING_THRESHOLD) {
    return { engine: "LUMA", reason: `vibe score ${fmt(scores.vibe)} > ${ROUTING_THRESHOLD}: Luma transfers aesthetic motion` };
  }
  if (scores.logic > ROUTING_THRESHOLD) {
    return { engine: "GEMINI_PRO", reason: `logic score ${fmt(scores.logic)} > ${ROUTING_THRESHOLD}: Gemini Pro keeps text and logic legible` };
  }
  return {
    engine: DEFAULT_ENGINE,
    reason: `no score above ${ROUTING_THRESHOLD} (physics ${fmt(scores.physics)}, vibe ${fmt(scores.vibe)}, logic ${fmt(scores.logic)}): default engine Luma`,
  };
}

/** The engines to try for a scene, primary first. */
export function engineChain(primary: ProductionEngine): ProductionEngine[] {
  return [primary, ...ENGINE_FALLBACK_CHAIN[primary]];
}
