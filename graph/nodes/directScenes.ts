import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf, priceOf } from "../context.js";
import { determineProductionEngine } from "../routing.js";
import { stableUuid } from "../../store/ids.js";
import type { JobStateType, JobStateUpdate } from "../state.js";

/**
 * The Technical Director (spec §1): routes the job to an engine and writes one technical script
 * per scene (camera, lighting, invariant token). Scenes get stable ids so a replay creates
 * nothing twice.
 */
export async function directScenes(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const { tools, jobs, scenes, ledger, audit, settings } = contextOf(config);
  const job = await jobs.get(state.jobId);
  if (!job?.analysis || !state.styleReferenceKey) throw new Error(`job ${state.jobId} is not ready for directing`);
  const analysis = job.analysis;
  const { engine, reason } = determineProductionEngine(analysis);

  const scripts = await ledger.once(
    { key: `${job.id}:storyboard`, jobId: job.id, operation: "direct_scenes", provider: "director", cost: priceOf(settings, "script") },
    async () =>
      tools.director.directScenes({
        analysis, engine, sceneCount: settings.sceneCount,
        styleReferenceUrl: await tools.blobs.url(state.styleReferenceKey!),
      }),
  );
  const sceneIds = scripts.map((_, index) => stableUuid(`${job.id}:scene:${index}`));
  await jobs.createProduction(job.id, engine, reason, scripts);
  await scenes.create(job.id, sceneIds);
  await audit.record({
    userId: job.userId, action: "job.directed", entityType: "vision_job", entityId: job.id,
    details: { engine, reason, scenes: sceneIds.length },
  });
  return { engine, routingReason: reason, sceneIds, stage: "reviewing" };
}
