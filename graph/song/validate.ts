/**
 * DRAFT ⇄ VALIDATION (music spec §7): a prompt is built by the policy from a shot description,
 * audited (the AUDITOR role's model plus the deterministic checks), and while the audit finds
 * violations the description goes back to DRAFT through the automatic fix: the DIRECTOR role
 * rewrites it from the audit's findings, so each attempt answers the last one's findings and no
 * two attempts send the same prompt. Drafts of new images and refine (🟡) prompts both go through
 * here. Bounded by settings.song.maxAuditAttempts; when a fix changes nothing, or the last attempt
 * still fails, the result says why in a sentence the card shows.
 *
 * Each audit and each fix is one ledger step (keyed by the shot, the loop step and the attempt),
 * so a replay after a resume pays for nothing again and takes the same path.
 */
import type { GraphContext } from "../context.js";
import { priceOf } from "../context.js";
import { PromptPolicyError, REQUIRED_IMAGE_TERMS, checkImagePrompt } from "./policy.js";
import type { ShotRef } from "../nodes/shotSteps.js";
import { toolStep } from "./shotFailure.js";

export type Audited =
  | { ok: true; prompt: string; description: string }
  | { ok: false; findings: string[]; attempts: number };

export interface AuditRequest {
  /** Ledger key prefix: `<scene>:<step>:<draft|refine>`. */
  key: string;
  description: string;
  /** The policy's prompt for a description and the rules that apply (throws PromptPolicyError). */
  build: (description: string, rules: string[]) => string;
}

export async function auditedPrompt(ctx: GraphContext, shot: ShotRef, request: AuditRequest): Promise<Audited> {
  const { job, sceneId, project, models } = shot;
  const attempts = Math.max(1, ctx.settings.song.maxAuditAttempts);
  let description = request.description;
  let findings: string[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const key = `${request.key}:audit:${attempt}`;
    const audit = await ctx.ledger.once(
      { key, jobId: job.id, sceneId, operation: "audit", provider: "song_analyst", cost: priceOf(ctx.settings, { name: "audit", model: models.AUDITOR }) },
      async () => {
        await ctx.shotStates.enter(job.id, sceneId, "DRAFT", `${key}:draft`, attempt > 0 ? `automatic fix ${attempt}: ${findings.join("; ").slice(0, 400)}` : undefined);
        const rules = (await ctx.rules.relevant(project.id, description, 3)).map((r) => r.text);
        let prompt = "";
        const found: string[] = [];
        try {
          prompt = request.build(description, rules);
          found.push(...checkImagePrompt(prompt, { loraId: project.config.globalSettings.loraWeightsId }));
        } catch (err) {
          if (!(err instanceof PromptPolicyError)) throw err;
          found.push(...err.violations);
        }
        await ctx.shotStates.enter(job.id, sceneId, "VALIDATION", `${key}:validation`);
        if (prompt) {
          const result = await toolStep("Checking the prompt", () =>
            ctx.tools.songAnalyst.auditShot({ prompt, requiredTerms: [...REQUIRED_IMAGE_TERMS], rules, model: models.AUDITOR }));
          found.push(...result.violations);
        }
        return { prompt, violations: [...new Set(found)], rules };
      },
    );
    if (audit.violations.length === 0) return { ok: true, prompt: audit.prompt, description };
    findings = audit.violations;
    if (attempt + 1 >= attempts) return { ok: false, findings, attempts: attempt + 1 };
    const fixKey = `${request.key}:revise:${attempt}`;
    const revised = await ctx.ledger.once(
      { key: fixKey, jobId: job.id, sceneId, operation: "revise", provider: "song_analyst", cost: priceOf(ctx.settings, { name: "revise", model: models.DIRECTOR }) },
      () => toolStep("Fixing the shot description", () =>
        ctx.tools.songAnalyst.reviseShot({ description, violations: findings, rules: audit.rules, model: models.DIRECTOR })),
    );
    // A fix that changes nothing would send the same prompt again: the findings stand as they are.
    if (revised.description.trim() === description.trim() || !revised.description.trim()) return { ok: false, findings, attempts: attempt + 1 };
    description = revised.description;
  }
  return { ok: false, findings, attempts };
}

/** The card's sentence for a draft the audit kept refusing: what it found, and what the user can do. */
export function auditFailureMessage(shotNo: number, failed: { findings: string[]; attempts: number }): string {
  const drafts = failed.attempts === 1 ? "1 draft" : `${failed.attempts} drafts`;
  return `Shot ${shotNo} did not pass the prompt audit after ${drafts}: ${failed.findings.slice(0, 4).join("; ")}. ` +
    "Use 🟡 to say what the shot should show instead, or 🔴 to draft it again.";
}
