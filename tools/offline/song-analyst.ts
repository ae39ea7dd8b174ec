/**
 * The offline song analyst: shots timed to the song from the real signal, without a model. All of
 * it is deterministic; each job lives in its own file:
 * - audio-signal.ts: decoding to PCM, bands, onsets, tempo, beat grid, sections; the lyrics tag.
 * - shot-planner.ts: sections → scenes → shots cut on beats, template descriptions, lyrics spread.
 * - shot-rules.ts: the rule grammar, the prompt audit, feedback → one rule.
 * - shot-fix.ts: the automatic fix of a refused draft, from the audit's findings.
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
import { reviseDescription } from "./shot-fix.js";
import type { SongSignal } from "../song-plan.js";

export { analyseSignal, readLyrics, type SectionInfo, type SignalAnalysis } from "./audio-signal.js";
export { distributeLyrics, planScenes } from "./shot-planner.js";
export { auditPrompt, mentions, parseRule, ruleFromFeedback, type ParsedRule } from "./shot-rules.js";
export { regionFor } from "./shot-mask.js";

export interface OfflineSongAnalystOptions {
  ffmpeg: Ffmpeg;
  /** Scratch space for the decoded PCM (one subfolder per call, removed after); the OS temp dir by default. */
  workDir?: string;
}

/**
 * The song's timing from its decoded audio (duration, tempo, beats, downbeats, sections), for an
 * analyst that plans with a model but must cut on the beats the audio really has.
 */
export function createSongSignal(options: OfflineSongAnalystOptions): (audio: Media, minShotMs?: number) => Promise<SongSignal> {
  const workDir = options.workDir ?? tmpdir();
  return async (audio, minShotMs = 0) => {
    const signal = analyseSignal(await decodePcm(options.ffmpeg, workDir, audio), SAMPLE_RATE, { minSectionMs: Math.max(MIN_SECTION_MS, minShotMs) });
    return {
      durationMs: signal.durationMs, bpm: signal.bpm, beatsMs: signal.beatsMs, downbeatsMs: signal.downbeatsMs,
      sections: signal.sections.map(({ startMs, endMs, label }) => ({ startMs, endMs, label })),
    };
  };
}

export function createOfflineSongAnalyst(options: OfflineSongAnalystOptions): SongAnalyst {
  const { ffmpeg } = options;
  const workDir = options.workDir ?? tmpdir();

  return {
    model: "offline",

    async analyzeSong(input: SongAnalysisInput): Promise<SongAnalysis> {
      const { minShotMs, maxShotMs } = input;
      if (!(minShotMs > 0) || !(maxShotMs >= minShotMs)) {
        throw new Error(`need 0 < minShotMs <= maxShotMs, got ${minShotMs} and ${maxShotMs}`);
      }
      const [pcm, lyrics] = await Promise.all([decodePcm(ffmpeg, workDir, input.audio), readLyrics(input.audio.data)]);
      // A section shorter than a shot could not become a scene of its own.
      const signal = analyseSignal(pcm, SAMPLE_RATE, { minSectionMs: Math.max(MIN_SECTION_MS, minShotMs) });
      const scenes = planScenes(signal, { minShotMs, maxShotMs, clipLengthsMs: input.clipLengthsMs });
      if (lyrics) distributeLyrics(lyrics, scenes.flatMap((s) => s.shots), signal.durationMs);
      return {
        durationMs: signal.durationMs,
        bpm: signal.bpm,
        beatsMs: signal.beatsMs,
        downbeatsMs: signal.downbeatsMs,
        sections: signal.sections.map(({ startMs, endMs, label }) => ({ startMs, endMs, label })),
        scenes,
        lyrics,
        offline: true,
      };
    },

    async auditShot({ prompt, requiredTerms, rules }): Promise<ShotAudit> {
      return auditPrompt(prompt, requiredTerms, rules);
    },

    async reviseShot({ description, violations, rules }) {
      return { description: reviseDescription(description, violations, rules) };
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
