import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { contextOf, priceOf } from "../context.js";
import { stableUuid } from "../../store/ids.js";
import { beatsIn } from "../../tools/beat-cuts.js";
import { engineForVideoModel, shotLimitsFor } from "../song/clips.js";
import { roleModels } from "../song/models.js";
import { ensureReferenceSheet } from "../song/references.js";
import type { JobStateType, JobStateUpdate } from "../state.js";

/**
 * AUDIO_ANALYSIS (music-video spec §4, blank slate): the song becomes scenes and shots whose time
 * ranges cover it exactly, each with its lyrics, cut on the beats of the decoded audio. Shots run on
 * the engine of the project's video model (Kling by default, with start and end anchor frames),
 * with the fallback chain behind it; their lengths are planned from the clip lengths that engine
 * renders, and no shot is longer than any engine of the chain can cover. The project gets its
 * reference sheet here if it has none (graph/song/references.ts).
 */
export async function analyzeSong(state: JobStateType, config: LangGraphRunnableConfig): Promise<JobStateUpdate> {
  const { tools, jobs, scenes, ledger, audit, shotStates, settings, projects } = contextOf(config);
  const job = (await jobs.get(state.jobId))!;
  const project = (await projects.get(job.projectId!))!;
  const { engine, reason } = engineForVideoModel(project.config.globalSettings.videoModel);
  const limits = shotLimitsFor(tools.engines, engine, settings.song);
  const models = await roleModels(contextOf(config), project.id);
  await jobs.setStatus(job.id, "analyzing");
  await shotStates.enter(job.id, null, "AUDIO_ANALYSIS", `${job.id}:audio_analysis`);
  const analysis = await ledger.once(
    { key: `${job.id}:song_analysis`, jobId: job.id, operation: "analyze_song", provider: "song_analyst",
      // Billed by the song's length (audio tokens), known once the analysis is back.
      cost: (a: { durationMs: number }) => priceOf(settings, { name: "song_analysis", durationS: a.durationMs / 1000, model: models.ORCHESTRATOR }) },
    async () => tools.songAnalyst.analyzeSong({ audio: await tools.blobs.get(job.inputKey), ...limits, model: models.ORCHESTRATOR }),
  );
  const shots = analysis.scenes.flatMap((scene) => scene.shots.map((shot) => ({
    ...shot, section: scene.title, beatCount: beatsIn(analysis.beatsMs, shot.startMs, shot.endMs),
  })));
  const sceneIds = shots.map((_, index) => stableUuid(`${job.id}:shot:${index}`));
  await jobs.saveSongAnalysis(job.id, analysis);
  await jobs.createProduction(job.id, engine, reason, []);
  await scenes.createShots(job.id, sceneIds.map((id, i) => ({ id, ...shots[i] })));
  // Before the fan-out: every shot's first draft, drawn in parallel, is anchored to the same sheet.
  await ensureReferenceSheet(contextOf(config), job, project);
  await jobs.setStatus(job.id, "completed");
  await audit.record({
    userId: job.userId, action: "song.analyzed", entityType: "vision_job", entityId: job.id,
    details: { shots: shots.length, durationMs: analysis.durationMs, bpm: analysis.bpm, beats: analysis.beatsMs.length, engine, offline: analysis.offline },
  });
  return { sceneIds, engine, routingReason: reason, stage: "reviewing" };
}
