/** Spec §7 test 1, "Production Engine Routing", case for case, plus the fallback chains of §6.1. */
import { describe, expect, it } from "vitest";
import { determineProductionEngine, engineChain } from "../graph/routing.js";

describe("production engine routing (spec §7 test 1)", () => {
  it("routes high-physics content to Kling", () => {
    const result = determineProductionEngine({ physics: 0.85, vibe: 0.3, logic: 0.2 });
    expect(result.engine).toBe("KLING");
    expect(result.reason).toContain("physics");
  });

  it("routes high-vibe content to Luma", () => {
    expect(determineProductionEngine({ physics: 0.2, vibe: 0.9, logic: 0.3 }).engine).toBe("LUMA");
  });

  it("routes high-logic content to Gemini Pro", () => {
    expect(determineProductionEngine({ physics: 0.3, vibe: 0.2, logic: 0.85 }).engine).toBe("GEMINI_PRO");
  });

  it("prioritises physics when several scores are high", () => {
    expect(determineProductionEngine({ physics: 0.8, vibe: 0.8, logic: 0.8 }).engine).toBe("KLING");
    expect(determineProductionEngine({ physics: 0.5, vibe: 0.8, logic: 0.8 }).engine).toBe("LUMA");
  });

  it("needs a score above 0.7, not at it; with none the default is Luma, and says why", () => {
    const atThreshold = determineProductionEngine({ physics: 0.7, vibe: 0.7, logic: 0.7 });
    expect(atThreshold.engine).toBe("LUMA");
    expect(atThreshold.reason).toContain("no score above 0.7");
  });

  it("falls back along the spec's chains (§6.1)", () => {
    expect(engineChain("KLING")).toEqual(["KLING", "LUMA", "GEMINI_PRO"]);
    expect(engineChain("LUMA")).toEqual(["LUMA", "GEMINI_PRO", "KLING"]);
    expect(engineChain("GEMINI_PRO")).toEqual(["GEMINI_PRO", "LUMA", "KLING"]);
  });
});
