import { END, START, Send, StateGraph, type BaseCheckpointSaver } from "@langchain/langgraph";
import { JobState, type JobStateType } from "./state.js";
import { analyzeBrand } from "./nodes/analyzeBrand.js";
import { synthesizeStyle } from "./nodes/synthesizeStyle.js";
import { directScenes } from "./nodes/directScenes.js";
import { produceScene } from "./nodes/produceScene.js";
import { assembleVideo } from "./nodes/assembleVideo.js";

/** Which entry route a job takes. */
function routeByKind(_state: JobStateType): "analyzeBrand" {
  return "analyzeBrand";
}

/** A flagged job stops before anything else is paid for. */
function afterAnalysis(state: JobStateType): "synthesizeStyle" | typeof END {
  return state.stage === "flagged" ? END : "synthesizeStyle";
}

/** One branch per scene, so scenes are previewed, reviewed and rendered independently. */
function fanOutScenes(state: JobStateType): Send[] {
  return state.sceneIds.map((sceneId) => new Send("produceScene", { ...state, sceneId }));
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
      // The input kind picks the route: a brand image starts with its analysis.
      .addConditionalEdges(START, routeByKind, ["analyzeBrand"])
      // Low integrity ends the job here: the integrity filter of spec §1.
      .addConditionalEdges("analyzeBrand", afterAnalysis, ["synthesizeStyle", END])
      // The director needs the style reference every preview is anchored to.
      .addEdge("synthesizeStyle", "directScenes")
      // Each scene runs its own preview/review/render loop in parallel.
      .addConditionalEdges("directScenes", fanOutScenes, ["produceScene"])
      // The superstep ends only when every scene has its clip: then assemble once.
      .addEdge("produceScene", "assembleVideo")
      .addEdge("assembleVideo", END)
      .compile({ checkpointer })
  );
}

export type ProductionGraph = ReturnType<typeof createProductionGraph>;
