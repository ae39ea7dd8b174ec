import { describe, expect, it } from "vitest";
import type { JobView, SceneCard } from "../bot/views.js";
import { cardMessage, statusMessage } from "../bot/surfaces/slack/blocks.js";
import { cardBody, statusBody } from "../bot/surfaces/discord/render.js";
import { approveAllPrice, scenePrice, spentText } from "../bot/surfaces/common/money.js";
import { progressText } from "../bot/surfaces/local/events.js";

/*
 * With real engines a price has dollars as well as credits (offline engines cost $0, so the surface
 * suites see credits only): each surface's rendering of a priced view, as pure functions.
 */

function scene(index: number, over: Partial<SceneCard> = {}): SceneCard {
  return {
    sceneId: `s${index}`, index, count: 2, status: "review", trafficLight: "PENDING", versionNo: 1, previewKey: null, clipKey: null,
    scriptExcerpt: "slow push-in. Hero shot", timeRange: null, decidedBy: null, lastDecision: null, awaiting: "review",
    interruptId: `i${index}`, engine: "KLING", errorMessage: null, renderNote: null, approvalCredits: 2, approvalUsd: 0.7,
    beatCount: null, endFrameKey: null, promptTag: null, failed: null, usedBy: [], ...over,
  };
}

const view: JobView = {
  jobId: "0b8f3c2e-1111-4222-8333-444455556666", kind: "image", ownerId: "u1", ownerName: "ann", stage: "reviewing",
  statusLine: "2 scenes waiting for your review", engine: "KLING", routingReason: null, creditsUsed: 3, costUsd: 2.14,
  approvalCredits: 2, ownerCredits: 9, scenes: [scene(0), scene(1, { approvalCredits: 4, approvalUsd: 1.4 })], finalVideoKey: null,
  error: null, queue: null, approveAll: { clips: 2, credits: 6, usd: 2.1 },
};

const buttons = (blocks: any[]) => blocks.filter((b) => b.type === "actions").flatMap((b) => b.elements);

describe("prices before money is spent, in credits and dollars", () => {
  it("words them the same everywhere", () => {
    expect(scenePrice(view.scenes[1])).toBe("4 credits · ≈ $1.40");
    expect(scenePrice({ approvalCredits: 0, approvalUsd: 0 })).toBe("no charge");
    expect(approveAllPrice(view.approveAll)).toBe("2 clips · 6 credits · ≈ $2.10");
    expect(approveAllPrice({ clips: 22, credits: 22, usd: 7.7 })).toBe("22 clips · 22 credits · ≈ $7.70");
    expect(spentText(view)).toBe("Spent 3 credits · $2.14 at the providers");
    expect(progressText(view)).toBe("0 of 2 scenes done · 2 waiting for review");
  });

  it("Slack: on each 🟢 (each scene its own price), on Approve all, in their confirmations, and the cost line", () => {
    const green = buttons(cardMessage(view, view.scenes[1], { previewFileId: null }).blocks)[0];
    expect(green.text.text).toBe("🟢 Approve · 4 credits · ≈ $1.40");
    expect(green.confirm.text.text).toBe("Scene 2/2 goes to KLING for 4 credits · ≈ $1.40. ann has 9 credits.");
    const status = statusMessage(view);
    const all = buttons(status.blocks)[0];
    expect(all.text.text).toBe("🟢 Approve all · 2 clips · 6 credits · ≈ $2.10");
    expect(all.confirm.text.text).toBe("2 clips · 6 credits · ≈ $2.10, rendered by KLING. ann has 9 credits.");
    expect(JSON.stringify(status.blocks)).toContain("Spent 3 credits · $2.14 at the providers");
  });

  it("Discord: on each 🟢, on Approve all, and the cost line with the owner's balance", () => {
    expect(cardBody(view, view.scenes[0]).components[0].components[0]).toMatchObject({ label: "🟢 Approve · 2 credits · ≈ $0.70" });
    const status = statusBody(view);
    expect(status.components[0].components[0]).toMatchObject({ label: "🟢 Approve all · 2 clips · 6 credits · ≈ $2.10" });
    expect(status.content).toContain("Spent 3 credits · $2.14 at the providers · 9 left");
  });
});
