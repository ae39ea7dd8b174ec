/**
 * Continuity before paying (spec §6.1, FLUX.2 multi-reference): every shot image is drawn from the
 * project's reference sheet and from shots already approved.
 *
 * - The sheet: one image of the character and the look, made once per project (when none is set)
 *   right after the song is analysed, so every first draft of every shot, drawn in parallel, has
 *   the same anchor. A project can set its own (store/projects.ts updateSettings).
 * - Approved shots: shot 1 once approved, then the most recent approved shots before this one.
 * - An earlier shot a user asked to draw from (🔁 Redo on its impact note), kept like shot 1.
 * At most MAX_SHOT_REFERENCES images (what fal's FLUX.2 LoRA edit reads), sheet first.
 */
import type { GraphContext } from "../context.js";
import { priceOf } from "../context.js";
import type { JobRow } from "../../store/jobs.js";
import type { Project } from "../../store/projects.js";
import { MAX_SHOT_REFERENCES, type Media } from "../../tools/ports.js";
import { seedFor } from "../nodes/synthesizeStyle.js";
import { buildImagePrompt, imageModelCode } from "./policy.js";
import { toolStep } from "./shotFailure.js";

export interface References {
  sheetKey: string | null;
  /** Versions of earlier, approved shots, oldest first. */
  versions: Array<{ versionId: string; previewKey: string }>;
}

const SHEET_DESCRIPTION =
  "Character reference sheet: the character standing still, full body, seen from the front, on a plain light background, in even soft daylight.";

/**
 * The images a new image of shot `sequenceIndex` is drawn from; `drawFrom` is an earlier shot's
 * image version asked for explicitly (🔁 Redo on that shot's impact note), approved or not.
 */
export async function referencesFor(ctx: GraphContext, job: JobRow, project: Project, sequenceIndex: number, drawFrom?: string): Promise<References> {
  const sheetKey = project.config.globalSettings.referenceSheetKey ?? null;
  const approved = (await ctx.scenes.list(job.id))
    .filter((s) => s.sequenceIndex < sequenceIndex && s.current?.previewKey && (s.trafficLight === "GREEN" || s.current.id === drawFrom))
    .map((s) => ({ versionId: s.current!.id, previewKey: s.current!.previewKey!, first: s.sequenceIndex === 0 || s.current!.id === drawFrom }));
  const room = MAX_SHOT_REFERENCES - (sheetKey ? 1 : 0);
  const first = approved.filter((a) => a.first);
  const recent = approved.filter((a) => !a.first).slice(-(room - first.length));
  const versions = [...first, ...recent].slice(0, room).map(({ versionId, previewKey }) => ({ versionId, previewKey }));
  return { sheetKey, versions };
}

export async function referenceImages(ctx: GraphContext, refs: References): Promise<Media[]> {
  const keys = [...(refs.sheetKey ? [refs.sheetKey] : []), ...refs.versions.map((v) => v.previewKey)];
  return Promise.all(keys.map((k) => ctx.tools.blobs.get(k)));
}

/**
 * The project's sheet, made for this job when the project has none (one ledger step per job). A
 * sheet that cannot be drawn leaves the project without one: shots are then drawn from approved
 * shots alone, and the next song tries again.
 */
export async function ensureReferenceSheet(ctx: GraphContext, job: JobRow, project: Project): Promise<string | null> {
  const settings = project.config.globalSettings;
  if (settings.referenceSheetKey) return settings.referenceSheetKey;
  const key = `${job.id}:reference_sheet`;
  try {
    const { sheetKey } = await ctx.ledger.once(
      { key, jobId: job.id, operation: "reference_sheet", provider: "song_illustrator", cost: priceOf(ctx.settings, { name: "shot_image", inputImages: 0 }) },
      async () => {
        const prompt = buildImagePrompt({
          shotNo: 0, versionNo: 1, modelCode: imageModelCode(settings.imageModel, "image"), shot: { description: SHEET_DESCRIPTION }, loraId: settings.loraWeightsId,
        });
        const image = await toolStep("Drawing the reference sheet", () =>
          ctx.tools.songIllustrator.shotImage({ prompt, loraId: settings.loraWeightsId, references: [], seed: seedFor(key) }));
        return { sheetKey: await ctx.tools.blobs.put(image) };
      },
    );
    // Another song of the project may have set one meanwhile: the first one stays.
    const current = await ctx.projects.get(project.id);
    if (current?.config.globalSettings.referenceSheetKey) return current.config.globalSettings.referenceSheetKey;
    await ctx.projects.updateSettings(project.id, { referenceSheetKey: sheetKey });
    return sheetKey;
  } catch (err) {
    if ((err as { name?: string })?.name !== "ShotFailure") throw err;
    await ctx.audit.record({ userId: job.userId, action: "song.reference_sheet_failed", entityType: "vision_job", entityId: job.id, details: { reason: (err as Error).message } });
    return null;
  }
}
