import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf } from "../context.js";
import type { JobStateType, JobStateUpdate } from "../state.js";
import { withBlobFiles } from "./blobFiles.js";

/** Every scene has a clip: concatenate them in storyboard order into the final MP4, file to file. */
export async function assembleVideo(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const { tools, jobs, ledger, audit } = contextOf(config);
  const job = (await jobs.get(state.jobId))!;
  await jobs.setProductionStatus(job.id, "rendering");
  const { key } = await ledger.once(
    { key: `${job.id}:assemble`, jobId: job.id, operation: "assemble", provider: "editor" },
    async () => {
      const output = await withBlobFiles(tools.blobs, state.sceneIds.map((id) => state.clips[id]), (paths) => tools.editor.concat(paths));
      return { key: await tools.blobs.putFile(output.path, output.contentType) };
    },
  );
  await jobs.setProductionStatus(job.id, "completed", key);
  await audit.record({
    userId: job.userId, action: "job.completed", entityType: "vision_job", entityId: job.id,
    details: { finalVideoKey: key, scenes: state.sceneIds.length },
  });
  return { finalVideoKey: key, stage: "done" };
}
