/**
 * The offline Technical Director: storyboard scripts from templates filled with the brand analysis.
 * Deterministic, so tests and replays get the same storyboard; re-rolls vary by attempt so a RED
 * decision always produces a visibly different scene.
 */
import type { BrandAnalysis, Director, ProductionEngine, RerollInput, SceneScript } from "../ports.js";
import { colourName } from "./image-stats.js";

export interface OfflineDirectorOptions {
  /** Clip length written into every script. */
  durationS?: number;
}

const CAMERA_MOVES = [
  "slow push-in",
  "orbit around the subject",
  "crane up",
  "dolly left",
  "pull-back reveal",
  "tracking shot right",
  "tilt down",
  "locked-off shot with a rack focus",
] as const;

/** Story beats of a short brand film; the last scene always closes, extra scenes get a number. */
const BEATS = ["Opening", "Detail", "Hero", "Atmosphere"] as const;

const LENSES = ["35mm", "50mm", "85mm", "24mm wide", "100mm macro"] as const;

/** What each engine is routed for (spec §1), so the script asks for what the engine does best. */
const ENGINE_FOCUS: Record<ProductionEngine, string> = {
  KLING: "emphasise physical motion of the material: flowing, splashing, settling",
  LUMA: "let the mood carry the motion: drifting light, soft atmosphere",
  GEMINI_PRO: "keep every letterform and logo edge sharp and legible",
};

export function createOfflineDirector(options: OfflineDirectorOptions = {}): Director {
  const durationS = options.durationS ?? 5;

  return {
    async directScenes({ analysis, engine, sceneCount }) {
      return Array.from({ length: sceneCount }, (_, i) =>
        script({ analysis, engine, index: i, sceneCount, variant: 0, durationS }),
      );
    },

    async rerollScene(input: RerollInput): Promise<SceneScript> {
      const { analysis, engine, sequenceIndex, sceneCount, previous } = input;
      // Step through variants until the camera differs from the rejected scene, so a re-roll is
      // never a copy of what the user just turned down.
      for (let step = 0; step < CAMERA_MOVES.length; step++) {
        const candidate = script({
          analysis, engine, index: sequenceIndex, sceneCount, variant: input.attempt + step, durationS,
        });
        if (candidate.cameraMovement !== previous.cameraMovement) return candidate;
      }
      return script({ analysis, engine, index: sequenceIndex, sceneCount, variant: input.attempt + 1, durationS });
    },
  };
}

interface ScriptInput {
  analysis: BrandAnalysis;
  engine: ProductionEngine;
  index: number;
  sceneCount: number;
  /** 0 for the first storyboard, the attempt number for re-rolls. */
  variant: number;
  durationS: number;
}

function script({ analysis, engine, index, sceneCount, variant, durationS }: ScriptInput): SceneScript {
  // Spacing scenes by 3 and variants by 5 (both coprime with 8 moves) keeps neighbours distinct.
  const cameraMovement = CAMERA_MOVES[(index * 3 + variant * 5) % CAMERA_MOVES.length];
  const lens = LENSES[(index + variant * 2) % LENSES.length];
  const beat =
    sceneCount > 1 && index === sceneCount - 1
      ? "Closing"
      : BEATS[index % BEATS.length] + (index >= BEATS.length ? ` ${index + 1}` : "");
  const invariantToken = invariantOf(analysis);
  const lightingNotes = lighting(analysis, variant);
  const take = variant > 0 ? ` (take ${variant + 1})` : "";
  const cinematographyPrompt = [
    `${beat} shot${take}: ${cameraMovement}, ${lens} lens.`,
    analysis.brandEssencePrompt,
    `${capitalise(ENGINE_FOCUS[engine])}. ${lightingNotes}. Keep ${invariantToken} visible throughout.`,
  ].join(" ");
  return { cinematographyPrompt: cinematographyPrompt.slice(0, 600), cameraMovement, lightingNotes, invariantToken, durationS };
}

function invariantOf(analysis: BrandAnalysis): string {
  const primary = analysis.colorPalette[0];
  return primary ? `${colourName(primary)} (${primary}) ${analysis.subject}` : analysis.subject;
}

/** Lighting follows the analysed mood and palette: warm moods get a warm key, cool moods a cool rim. */
function lighting(analysis: BrandAnalysis, variant: number): string {
  const [primary, accent] = analysis.colorPalette;
  const mood = analysis.mood.toLowerCase();
  const warm = /warm|sunny|vibrant|inviting|rich/.test(mood);
  const cool = /cool|serene|nocturnal|electric|calm/.test(mood);
  const dark = /dramatic|nocturnal|deep|stark/.test(mood);
  const key = warm ? "warm golden key light" : cool ? "cool soft key light" : "neutral soft key light";
  const contrast = dark ? "low-key with deep shadows" : "high-key with gentle falloff";
  const times = ["", ", late-afternoon angle", ", overhead diffusion", ", backlit haze"];
  const tint = primary ? ` tinted ${colourName(primary)} (${primary})` : "";
  const fill = accent ? `, ${colourName(accent)} (${accent}) accent rim` : "";
  return `${capitalise(key)}${tint}, ${contrast}${fill}${times[variant % times.length]}`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
