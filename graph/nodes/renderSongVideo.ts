import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf } from "../context.js";
import type { JobStateType, JobStateUpdate } from "../state.js";

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
      const clips = await Promise.all(shots.map((s) => tools.blobs.get(state.clips[s.id])));
      const rendered = await tools.songEditor.renderSong({
        clips, durationsMs: shots.map((s) => s.endMs! - s.startMs!), audio: await tools.blobs.get(job.inputKey),
      });
      return { key: await tools.blobs.put(rendered.media), mode: rendered.mode };
    },
  );
  await jobs.setProductionStatus(job.id, "completed", key);
  await audit.record({ userId: job.userId, action: "job.completed", entityType: "vision_job", entityId: job.id, details: { finalVideoKey: key, mode } });
  return { finalVideoKey: key, stage: "done" };
}
