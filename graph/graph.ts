import { END, START, Send, StateGraph, type BaseCheckpointSaver } from "@langchain/langgraph";
import { JobState, type JobStateType } from "./state.js";
import { analyzeBrand } from "./nodes/analyzeBrand.js";
import { synthesizeStyle } from "./nodes/synthesizeStyle.js";
import { directScenes } from "./nodes/directScenes.js";
import { produceScene } from "./nodes/produceScene.js";
import { assembleVideo } from "./nodes/assembleVideo.js";
import { analyzeSong } from "./nodes/analyzeSong.js";
import { produceShot } from "./nodes/produceShot.js";
import { renderSongVideo } from "./nodes/renderSongVideo.js";

/** Which entry route a job takes. */
function routeByKind(state: JobStateType): "analyzeBrand" | "analyzeSong" {
  return state.kind === "song" ? "analyzeSong" : "analyzeBrand";
}

/** A flagged job stops before anything else is paid for. */
function afterAnalysis(state: JobStateType): "synthesizeStyle" | typeof END {
  return state.stage === "flagged" ? END : "synthesizeStyle";
}

/** One branch per scene, so scenes are previewed, reviewed and rendered independently. */
function fanOutScenes(state: JobStateType): Send[] {
  return state.sceneIds.map((sceneId) => new Send("produceScene", { ...state, sceneId }));
}

/** One branch per shot of the song. */
function fanOutShots(state: JobStateType): Send[] {
  return state.sceneIds.map((sceneId) => new Send("produceShot", { ...state, sceneId }));
}

/** Builds the production graph; compile it with a checkpointer (MemorySaver or PostgresSaver). */
export function createProductionGraph(checkpointer: BaseCheckpointSaver) {
  return (
    new StateGraph(JobState)
      .addNode("analyzeBrand", analyzeBrand)
      .addNode("synthesizeStyle", synthesizeStyle)
      .addNode("directScenes", directScenes)
      .addNode("produceScene", produceScene)
      .addNode("assembleVideo", assembleVideo)
      .addNode("analyzeSong", analyzeSong)
      .addNode("produceShot", produceShot)
      .addNode("renderSongVideo", renderSongVideo)
      // The input kind picks the route: a brand image starts with its analysis, an MP3 with the song's.
      .addConditionalEdges(START, routeByKind, ["analyzeBrand", "analyzeSong"])
      // Low integrity ends the job here: the integrity filter of spec §1.
      .addConditionalEdges("analyzeBrand", afterAnalysis, ["synthesizeStyle", END])
      // The director needs the style reference every preview is anchored to.
      .addEdge("synthesizeStyle", "directScenes")
      // Each scene runs its own preview/review/render loop in parallel.
      .addConditionalEdges("directScenes", fanOutScenes, ["produceScene"])
      // The superstep ends only when every scene has its clip: then assemble once.
      .addEdge("produceScene", "assembleVideo")
      .addEdge("assembleVideo", END)
      // Song route: every shot runs its own draft/audit/image/review/video loop in parallel.
      .addConditionalEdges("analyzeSong", fanOutShots, ["produceShot"])
      // When every shot is COMPLETED: cut, concatenate and mux the song, once.
      .addEdge("produceShot", "renderSongVideo")
      .addEdge("renderSongVideo", END)
      .compile({ checkpointer })
  );
}

export type ProductionGraph = ReturnType<typeof createProductionGraph>;
