import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf, priceOf } from "../context.js";
import type { JobStateType, JobStateUpdate } from "../state.js";

/**
 * The Strategist: brand DNA, routing scores and the integrity filter (spec §1–2). The same user
 * dropping the same bytes again reuses the earlier analysis instead of paying for a new one.
 */
export async function analyzeBrand(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const { tools, jobs, ledger, audit, settings } = contextOf(config);
  const job = await jobs.get(state.jobId);
  if (!job) throw new Error(`job ${state.jobId} not found`);
  await jobs.setStatus(job.id, "analyzing");

  const reused = job.analysis ?? (job.fileHash ? await jobs.reusableAnalysis(job.userId, job.fileHash, job.id) : null);
  const analysis =
    reused ??
    (await ledger.once(
      { key: `${job.id}:analysis`, jobId: job.id, operation: "analyze_brand", provider: "analyst", cost: priceOf(settings, "analysis") },
      async () => tools.analyst.analyzeBrand(await tools.blobs.get(job.inputKey)),
    ));
  await jobs.saveAnalysis(job.id, analysis);
  await audit.record({
    userId: job.userId, action: "job.analyzed", entityType: "vision_job", entityId: job.id,
    details: { reusedAnalysis: reused !== null, integrity: analysis.integrity, offline: analysis.offline },
  });

  if (analysis.integrity < settings.integrityThreshold) {
    const reason =
      `Flagged for review: integrity score ${analysis.integrity.toFixed(2)} is below ${settings.integrityThreshold}` +
      ` (${analysis.integrityNotes}). Nothing more was spent. Try a clearer brand image.`;
    await jobs.setStatus(job.id, "flagged", reason);
    await audit.record({ userId: job.userId, action: "job.flagged", entityType: "vision_job", entityId: job.id, details: { reason } });
    return { stage: "flagged", integrity: analysis.integrity, flaggedReason: reason };
  }
  await jobs.setStatus(job.id, "completed");
  return { stage: "styling", integrity: analysis.integrity };
}
