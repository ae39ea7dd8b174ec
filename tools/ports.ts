/**
 * Ports: what the graph needs from the outside world. Each port has an offline adapter
 * (tools/offline, no network, real media) and a real one (Gemini, DeepSeek, fal).
 * Nodes receive ports through the LangGraph runtime context and never read env.
 *
 * Images and short media cross ports as bytes in memory; videos that get long (a stitched song)
 * cross as files: the editors read clips where the blob store keeps them and write their output to
 * a file the caller moves into the store. Either way only blob keys ever reach graph state.
 */

/** Bytes plus their MIME type. Never put one of these into graph state. */
export interface Media {
  data: Uint8Array;
  contentType: string;
}

export const PRODUCTION_ENGINES = ["KLING", "LUMA", "GEMINI_PRO"] as const;
/** FLUX.2 multi-reference: references a shot image is drawn with (fal's flux-2/lora/edit reads 3). */
export const MAX_SHOT_REFERENCES = 3;
/** A video engine of the spec's routing table. */
export type ProductionEngine = (typeof PRODUCTION_ENGINES)[number];

/** Scores in 0..1 that drive engine routing (spec §1). */
export interface RoutingScores {
  physics: number;
  vibe: number;
  logic: number;
}

/** The Strategist's output (spec §1–2): brand DNA, scores and the integrity filter input. */
export interface BrandAnalysis extends RoutingScores {
  /** 0..1; below 0.4 the job is flagged and nothing more is spent. */
  integrity: number;
  /** Distilled description injected into every downstream prompt. */
  brandEssencePrompt: string;
  /** Dominant colours as #rrggbb. */
  colorPalette: string[];
  /** Visual anchors that must persist across every scene. */
  invariantElements: string[];
  subject: string;
  mood: string;
  /** Why the integrity score is what it is (shown to the user when flagged). */
  integrityNotes: string;
  /** True when produced without a model (offline adapter). */
  offline: boolean;
}

/** One scene of the Technical Director's storyboard (spec §3 SceneData, director fields). */
export interface SceneScript {
  cinematographyPrompt: string;
  cameraMovement: string;
  lightingNotes: string;
  /** Visual anchor that must persist in this scene. */
  invariantToken: string;
  /** Clip length in seconds. */
  durationS: number;
}

/** A turn of a scene's YELLOW conversation (stored in SQL, never in graph state). */
export interface ConversationTurn {
  role: "user" | "assistant";
  content: string;
  timestamp: string;
}

/** Spec §4 YellowContextPayload: everything Gemini gets for a conversational edit. */
export interface YellowContextPayload {
  brand_essence_prompt: string;
  style_reference_url: string;
  current_scene: {
    id: string;
    sequence_index: number;
    cinematography_prompt: string;
    camera_movement: string;
    lighting_notes: string;
    invariant_token: string;
    preview_image_url: string | null;
    preview_seed: number | null;
    traffic_light: "PENDING" | "GREEN" | "YELLOW" | "RED";
    user_feedback: string | null;
    attempt_count: number;
  };
  conversation_history: ConversationTurn[];
  user_assets: Array<{ url: string; type: "image" | "video"; uploaded_at: string }>;
  prompt_history: Array<{ prompt: string; result_url: string; feedback: string | null }>;
  user_feedback: string;
}

/** The result of a conversational edit. */
export interface SceneEdit {
  cinematographyPrompt: string;
  /** What the assistant says back to the user (stored as the assistant turn). */
  reply: string;
}

/** The Strategist (Gemini): analysis and conversational edits. */
export interface Analyst {
  analyzeBrand(image: Media): Promise<BrandAnalysis>;
  editScene(payload: YellowContextPayload): Promise<SceneEdit>;
}

export interface DirectInput {
  analysis: BrandAnalysis;
  /** URL of the style reference (signed or local), for directors that look at it. */
  styleReferenceUrl: string;
  engine: ProductionEngine;
  sceneCount: number;
}

export interface RerollInput {
  analysis: BrandAnalysis;
  engine: ProductionEngine;
  previous: SceneScript;
  sequenceIndex: number;
  sceneCount: number;
  /** Increases with every re-roll of the scene so a deterministic director still varies. */
  attempt: number;
}

/** The Technical Director (DeepSeek): storyboard scripts. Routing itself is a pure function. */
export interface Director {
  directScenes(input: DirectInput): Promise<SceneScript[]>;
  rerollScene(input: RerollInput): Promise<SceneScript>;
}

export interface StyleReferenceInput {
  image: Media;
  prompt: string;
  /** img2img strength, 0.3–0.5 keeps the brand while removing noise. */
  strength: number;
  seed: number;
}

export interface PreviewInput {
  prompt: string;
  styleReference: Media;
  seed: number;
  /** 0-based scene index and count, for captions. */
  sequenceIndex: number;
  sceneCount: number;
}

/** The Artistic Director (Flux): style reference and scene previews. */
export interface Illustrator {
  /** Flux-dev img2img of the upload into a clean style reference. */
  styleReference(input: StyleReferenceInput): Promise<Media>;
  /** Flux-schnell preview of one scene. */
  preview(input: PreviewInput): Promise<Media>;
}

export interface ClipRequest {
  /** The approved preview: the clip's first frame. */
  startFrame: Media;
  /** Optional last frame (Kling anchor frames, song route). */
  endFrame?: Media;
  prompt: string;
  durationS: number;
}

/** Where a render stands at the provider, as one status call reports it. */
export type RenderStatus =
  | { state: "queued"; position?: number }
  | { state: "running" }
  /** Finished: `result` fetches the clip, or throws RenderFailedError when the render itself failed. */
  | { state: "completed" }
  /** The provider does not know this request (not ours, or not visible from here). */
  | { state: "unknown" };

/**
 * A production engine with queue semantics, as fal exposes them: submit returns at once with a
 * request id; the runner stores it, then asks `status` now and then (a delayed task, never a
 * blocking wait) and fetches `result` once it completes. Waiting in the provider's queue is not
 * failing: only `result` throwing RenderFailedError moves a scene down the fallback chain.
 */
export interface VideoEngine {
  readonly engine: ProductionEngine;
  /** Model id or "offline", recorded with every clip. */
  readonly model: string;
  /**
   * The clip lengths it can render, in seconds, shortest first (Kling 5 and 10); absent when it
   * renders any length. A request for another length gets the nearest of these.
   */
  readonly clipLengthsS?: readonly number[];
  submit(request: ClipRequest, idempotencyKey: string): Promise<{ requestId: string }>;
  /** One status call; never waits for the render. */
  status(requestId: string, signal?: AbortSignal): Promise<RenderStatus>;
  /**
   * The finished clip (H.264 MP4). Throws RenderFailedError when the provider reports that the
   * render failed; any other error means fetching it failed, and fetching again may work.
   */
  result(requestId: string, signal?: AbortSignal): Promise<Media>;
  /** Asks the provider to drop the request: a queued one is removed and not billed. */
  cancel(requestId: string): Promise<void>;
}

/**
 * A blob as a file on this machine, for tools that read files (ffmpeg). Call release() when done:
 * a local store hands out its own file (release does nothing), remote storage a temp download.
 */
export interface BlobFile {
  path: string;
  release(): Promise<void>;
}

/** A file an editor wrote; the caller owns it (moves it into the blob store, or deletes it). */
export interface EditorOutput {
  path: string;
  contentType: string;
}

export interface ProbeResult {
  durationS: number;
  videoCodec: string | null;
  audioCodec: string | null;
  width: number;
  height: number;
  frameRate: number;
}

/** ffmpeg: assembling and inspecting media, file to file. */
export interface Editor {
  /** Concatenates clip files in order into one H.264 MP4, written to a new file the caller owns. */
  concat(clips: string[]): Promise<EditorOutput>;
  /** Bytes are written to scratch first; a path is read where it is. */
  probe(media: Media | string): Promise<ProbeResult>;
}

/** Content-addressed media storage: the same bytes always get the same key. */
export interface Blobs {
  put(media: Media): Promise<string>;
  get(key: string): Promise<Media>;
  /** A URL a surface or provider can fetch: file:// locally, a signed https URL on Supabase. */
  url(key: string): Promise<string>;
  has(key: string): Promise<boolean>;
  /** The blob as a file: the store's own file locally, downloaded once to a temp file otherwise. */
  file(key: string): Promise<BlobFile>;
  /**
   * Stores a file's bytes under their hash, streaming them (never whole in memory). The file is
   * moved into the store (or uploaded and deleted): it is no longer the caller's afterwards.
   */
  putFile(path: string, contentType: string): Promise<string>;
}


// ---------------------------------------------------------------------------------------------
// Song route (music-video spec): analysis of the MP3, shot audit, rulebook, images, final render.
// ---------------------------------------------------------------------------------------------

/** A shot of the song: a time range that, with its siblings, covers the song without gaps. */
export interface SongShot {
  startMs: number;
  endMs: number;
  /** Lyrics sung during the shot ("" when instrumental or unknown). */
  lyricsSnippet: string;
  /** What the shot shows, before the prompt policy adds its mandatory terms. */
  description: string;
}

export interface SongScene {
  title: string;
  shots: SongShot[];
}

export interface SongAnalysis {
  durationMs: number;
  bpm: number | null;
  /** Beats detected in the decoded audio (ms): shot boundaries are cut on them. */
  beatsMs: number[];
  /** The first beat of each bar, when the audio shows which one it is; preferred cut points. */
  downbeatsMs: number[];
  /** Section changes (verse/chorus/…), when the signal shows them. */
  sections: Array<{ startMs: number; endMs: number; label: string }>;
  scenes: SongScene[];
  lyrics: string | null;
  offline: boolean;
}

export interface SongAnalysisInput {
  audio: Media;
  /** Shots longer than this are split: no engine of the fallback chain could render them whole. */
  maxShotMs: number;
  minShotMs: number;
  /**
   * The clip lengths the routed engine renders (Kling 5 and 10 s): each shot's clip is the shortest
   * of them that covers it and is cut to the shot, so shots are planned to waste little of it.
   * Absent: the engine renders any length.
   */
  clipLengthsMs?: number[];
}

/** Result of the VALIDATION state: does a drafted shot prompt honour constraints and rules? */
export interface ShotAudit {
  ok: boolean;
  violations: string[];
}

/**
 * The song route's language and vision model. Every call may name the model it runs on: the
 * project's agent configuration chooses one per role (core/project-config.ts AGENT_ROLES); without
 * one, the adapter's own default (`model`) answers.
 */
export interface SongAnalyst {
  /** The model used when a call names none ("offline" for the offline analyst). */
  readonly model: string;
  analyzeSong(input: SongAnalysisInput & { model?: string }): Promise<SongAnalysis>;
  auditShot(input: { prompt: string; requiredTerms: string[]; rules: string[]; model?: string }): Promise<ShotAudit>;
  /**
   * The automatic fix of a refused draft: the shot's description rewritten so that the audit's
   * findings no longer hold (what the rules forbid removed, what they require added), everything
   * else kept. Returns the description unchanged when it finds nothing to change.
   */
  reviseShot(input: { description: string; violations: string[]; rules: string[]; model?: string }): Promise<{ description: string }>;
  /** Turns a rejection into one short, reusable rule (the active rulebook). */
  analyzeFailure(input: { prompt: string; feedback: string; image: Media | null; model?: string }): Promise<{ rule: string }>;
  /** A mask (white = change) of the region the instruction talks about, same size as the image. */
  maskFor(input: { image: Media; instruction: string; model?: string }): Promise<Media>;
}

export interface Embedder {
  readonly model: string;
  readonly dimensions: number;
  embed(texts: string[]): Promise<number[][]>;
}

export interface ShotImageInput {
  prompt: string;
  /** The project's character LoRA: the only way the character may be drawn. */
  loraId: string;
  /** Earlier approved shots, for continuity (FLUX.2 multi-reference). */
  references: Media[];
  seed: number;
}

export interface SongIllustrator {
  shotImage(input: ShotImageInput): Promise<Media>;
  inpaint(input: { image: Media; mask: Media; prompt: string; seed: number }): Promise<Media>;
}

export interface SongRenderInput {
  /** One clip file per shot, in order (read where they are; see Blobs.file). */
  clips: string[];
  /** Each shot's exact duration; clips are cut to it. */
  durationsMs: number[];
  /** The original MP3's file, muxed as the soundtrack. */
  audio: string;
}

export interface SongEditor {
  /**
   * Cuts, concatenates and muxes in one pass, or copies streams when clips already fit. Writes a
   * new file the caller owns.
   */
  renderSong(input: SongRenderInput): Promise<{ output: EditorOutput; mode: "copy" | "reencode" }>;
}

/** Every port the graph uses, injected once through the runtime context. */
export interface Tools {
  analyst: Analyst;
  director: Director;
  illustrator: Illustrator;
  engines: Record<ProductionEngine, VideoEngine>;
  editor: Editor;
  blobs: Blobs;
  songAnalyst: SongAnalyst;
  embedder: Embedder;
  songIllustrator: SongIllustrator;
  songEditor: SongEditor;
}
