import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf, priceOf } from "../context.js";
import { stableUuid } from "../../store/ids.js";
import type { JobStateType, JobStateUpdate } from "../state.js";

/**
 * AUDIO_ANALYSIS (music-video spec §4, blank slate): the song becomes scenes and shots whose time
 * ranges cover it exactly, each with its lyrics. Shots run on Kling (the spec's kling-o3 with
 * start and end anchor frames), with the brand route's fallback chain behind it.
 */
export async function analyzeSong(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const { tools, jobs, scenes, ledger, audit, shotStates, settings } = contextOf(config);
  const job = (await jobs.get(state.jobId))!;
  await jobs.setStatus(job.id, "analyzing");
  await shotStates.enter(job.id, null, "AUDIO_ANALYSIS", `${job.id}:audio_analysis`);
  const analysis = await ledger.once(
    { key: `${job.id}:song_analysis`, jobId: job.id, operation: "analyze_song", provider: "song_analyst",
      // Billed by the song's length (audio tokens), known once the analysis is back.
      cost: (a: { durationMs: number }) => priceOf(settings, { name: "song_analysis", durationS: a.durationMs / 1000 }) },
    async () =>
      tools.songAnalyst.analyzeSong({
        audio: await tools.blobs.get(job.inputKey), minShotMs: settings.song.minShotMs, maxShotMs: settings.song.maxShotMs,
      }),
  );
  const shots = analysis.scenes.flatMap((scene) => scene.shots.map((shot) => ({ ...shot, section: scene.title })));
  const sceneIds = shots.map((_, index) => stableUuid(`${job.id}:shot:${index}`));
  await jobs.saveSongAnalysis(job.id, analysis);
  await jobs.createProduction(job.id, "KLING", "song route: Kling anchor frames (start and end frame per shot)", []);
  await scenes.createShots(job.id, sceneIds.map((id, i) => ({ id, ...shots[i] })));
  await jobs.setStatus(job.id, "completed");
  await audit.record({
    userId: job.userId, action: "song.analyzed", entityType: "vision_job", entityId: job.id,
    details: { shots: shots.length, durationMs: analysis.durationMs, bpm: analysis.bpm, offline: analysis.offline },
  });
  return { sceneIds, engine: "KLING", routingReason: "song route", stage: "reviewing" };
}
