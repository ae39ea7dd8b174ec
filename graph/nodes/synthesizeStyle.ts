import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { createHash } from "node:crypto";
import { contextOf, priceOf } from "../context.js";
import type { JobStateType, JobStateUpdate } from "../state.js";

export const STYLE_METHOD = "flux-dev-img2img";

/** A reproducible seed per job, recorded so the style reference can be regenerated (spec §2). */
export function seedFor(key: string): number {
  return createHash("sha256").update(key).digest().readUInt32BE(0) & 0x7fffffff;
}

/**
 * Brand essence distillation (spec §2): img2img of the upload at low strength into a clean,
 * noise-free style reference that every later prompt and preview is anchored to.
 */
export async function synthesizeStyle(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const { tools, jobs, ledger, settings } = contextOf(config);
  const job = await jobs.get(state.jobId);
  if (!job?.analysis) throw new Error(`job ${state.jobId} has no analysis`);
  const analysis = job.analysis;
  const strength = Math.min(0.5, Math.max(0.3, settings.styleStrength));
  const seed = seedFor(`${job.id}:style`);

  const { key } = await ledger.once(
    { key: `${job.id}:style`, jobId: job.id, operation: "style_reference", provider: "illustrator", cost: priceOf(settings, "style") },
    async () => {
      const image = await tools.blobs.get(job.inputKey);
      const styled = await tools.illustrator.styleReference({ image, prompt: analysis.brandEssencePrompt, strength, seed });
      return { key: await tools.blobs.put(styled) };
    },
  );
  await jobs.saveStyleReference(job.id, key, { method: STYLE_METHOD, strength, seed });
  return { styleReferenceKey: key, stage: "directing" };
}
