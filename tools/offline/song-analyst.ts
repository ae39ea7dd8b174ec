/**
 * The offline song analyst: shots timed to the song from the real signal, without a model. All of
 * it is deterministic; each job lives in its own file:
 * - audio-signal.ts: decoding to PCM, bands, onsets, tempo, beat grid, sections; the lyrics tag.
 * - shot-planner.ts: sections → scenes → shots cut on beats, template descriptions, lyrics spread.
 * - shot-rules.ts: the rule grammar, the prompt audit, feedback → one rule.
 * - shot-mask.ts: the region an edit instruction names → an inpainting mask.
 * The names they export are exported here too.
 */
import { tmpdir } from "node:os";
import type { Ffmpeg } from "../ffmpeg.js";
import type { Media, ShotAudit, SongAnalysis, SongAnalysisInput, SongAnalyst } from "../ports.js";
import { MIN_SECTION_MS, SAMPLE_RATE, analyseSignal, decodePcm, readLyrics } from "./audio-signal.js";
import { distributeLyrics, planScenes } from "./shot-planner.js";
import { auditPrompt, ruleFromFeedback } from "./shot-rules.js";
import { maskImage } from "./shot-mask.js";

export { analyseSignal, readLyrics, type SectionInfo, type SignalAnalysis } from "./audio-signal.js";
export { distributeLyrics, planScenes } from "./shot-planner.js";
export { auditPrompt, mentions, parseRule, ruleFromFeedback, type ParsedRule } from "./shot-rules.js";
export { regionFor } from "./shot-mask.js";

export interface OfflineSongAnalystOptions {
  ffmpeg: Ffmpeg;
  /** Scratch space for the decoded PCM (one subfolder per call, removed after); the OS temp dir by default. */
  workDir?: string;
}

export function createOfflineSongAnalyst(options: OfflineSongAnalystOptions): SongAnalyst {
  const { ffmpeg } = options;
  const workDir = options.workDir ?? tmpdir();

  return {
    async analyzeSong(input: SongAnalysisInput): Promise<SongAnalysis> {
      const { minShotMs, maxShotMs } = input;
      if (!(minShotMs > 0) || !(maxShotMs >= minShotMs)) {
        throw new Error(`need 0 < minShotMs <= maxShotMs, got ${minShotMs} and ${maxShotMs}`);
      }
      const [pcm, lyrics] = await Promise.all([decodePcm(ffmpeg, workDir, input.audio), readLyrics(input.audio.data)]);
      // A section shorter than a shot could not become a scene of its own.
      const signal = analyseSignal(pcm, SAMPLE_RATE, { minSectionMs: Math.max(MIN_SECTION_MS, minShotMs) });
      const scenes = planScenes(signal, { minShotMs, maxShotMs });
      if (lyrics) distributeLyrics(lyrics, scenes.flatMap((s) => s.shots), signal.durationMs);
      return {
        durationMs: signal.durationMs,
        bpm: signal.bpm,
        beatsMs: signal.beatsMs,
        sections: signal.sections.map(({ startMs, endMs, label }) => ({ startMs, endMs, label })),
        scenes,
        lyrics,
        offline: true,
      };
    },

    async auditShot({ prompt, requiredTerms, rules }): Promise<ShotAudit> {
      return auditPrompt(prompt, requiredTerms, rules);
    },

    async analyzeFailure({ feedback }) {
      // Offline there is no vision model: the rule comes from the user's words alone.
      return { rule: ruleFromFeedback(feedback) };
    },

    async maskFor({ image, instruction }): Promise<Media> {
      return maskImage(image, instruction);
    },
  };
}
