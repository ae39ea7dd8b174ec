import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf } from "../context.js";
import type { JobStateType, JobStateUpdate } from "../state.js";
import { withBlobFiles } from "./blobFiles.js";

/**
 * FINAL_RENDER: every shot's clip cut to its shot's duration, concatenated in order and muxed
 * with the original MP3, so cuts land on the shot boundaries and the video lasts as long as the song.
 */
export async function renderSongVideo(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const { tools, jobs, scenes, ledger, audit, shotStates } = contextOf(config);
  const job = (await jobs.get(state.jobId))!;
  await jobs.setProductionStatus(job.id, "rendering");
  await shotStates.enter(job.id, null, "FINAL_RENDER", `${job.id}:final_render`);
  const { key, mode } = await ledger.once(
    { key: `${job.id}:final_render`, jobId: job.id, operation: "final_render", provider: "editor" },
    async () => {
      const shots = await scenes.list(job.id);
      // Read where they are: the song and every clip as files, never whole in memory.
      const rendered = await withBlobFiles(tools.blobs, [job.inputKey, ...shots.map((s) => state.clips[s.id])], ([audio, ...clips]) =>
        tools.songEditor.renderSong({ clips, durationsMs: shots.map((s) => s.endMs! - s.startMs!), audio }),
      );
      return { key: await tools.blobs.putFile(rendered.output.path, rendered.output.contentType), mode: rendered.mode };
    },
  );
  await jobs.setProductionStatus(job.id, "completed", key);
  await audit.record({ userId: job.userId, action: "job.completed", entityType: "vision_job", entityId: job.id, details: { finalVideoKey: key, mode } });
  return { finalVideoKey: key, stage: "done" };
}
