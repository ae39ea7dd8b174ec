/**
 * Every port offline: no accounts, no network, real images and real MP4s. This is the embedded
 * default and what tests run against.
 */
import { join } from "node:path";
import { PRODUCTION_ENGINES, type Blobs, type ProductionEngine, type Tools, type VideoEngine } from "../ports.js";
import { createFfmpeg } from "../ffmpeg.js";
import { createOfflineAnalyst } from "./analyst.js";
import { createOfflineDirector } from "./director.js";
import { createOfflineEditor } from "./editor.js";
import { createOfflineIllustrator } from "./illustrator.js";
import { createOfflineVideoEngine } from "./video-engine.js";
import { createOfflineSongAnalyst } from "./song-analyst.js";
import { createOfflineEmbedder } from "./embedder.js";
import { createOfflineSongIllustrator } from "./song-illustrator.js";
import { createOfflineSongEditor } from "./song-editor.js";

export interface OfflineToolsOptions {
  /** Scratch and render space (clips under `engines/`, edits under `editor/`). */
  workDir: string;
  /** FFMPEG_PATH / FFPROBE_PATH from config; the bundled binaries otherwise. */
  ffmpegPath?: string;
  ffprobePath?: string;
  blobs: Blobs;
  /** Length of every scripted scene and its clip. */
  sceneDurationS?: number;
}

export function createOfflineTools(options: OfflineToolsOptions): Tools {
  const ffmpeg = createFfmpeg({ ffmpegPath: options.ffmpegPath, ffprobePath: options.ffprobePath });
  const enginesDir = join(options.workDir, "engines");
  const engines = Object.fromEntries(
    PRODUCTION_ENGINES.map((engine) => [engine, createOfflineVideoEngine({ engine, workDir: enginesDir, ffmpeg })]),
  ) as Record<ProductionEngine, VideoEngine>;
  return {
    analyst: createOfflineAnalyst(),
    director: createOfflineDirector({ durationS: options.sceneDurationS }),
    illustrator: createOfflineIllustrator(),
    engines,
    editor: createOfflineEditor({ ffmpeg, workDir: join(options.workDir, "editor") }),
    blobs: options.blobs,
    songAnalyst: createOfflineSongAnalyst({ ffmpeg, workDir: join(options.workDir, "song-analyst") }),
    embedder: createOfflineEmbedder(),
    songIllustrator: createOfflineSongIllustrator(),
    songEditor: createOfflineSongEditor({ ffmpeg, workDir: join(options.workDir, "song-editor") }),
  };
}

export { createOfflineAnalyst, createOfflineDirector, createOfflineEditor, createOfflineIllustrator, createOfflineVideoEngine };
