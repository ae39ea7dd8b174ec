/**
 * Project and agent configuration of the song route: the music spec §7 schemas, field for field.
 * Differences from the spec's text, all additive: every global setting has the default the spec
 * gives as its example (so an MP3 dropped with no set-up works), `globalSettings` may be omitted
 * as a whole (prefault parses `{}` through the object, filling each default), and the project may
 * hold a reference sheet (`referenceSheetKey`, a blob key): the image every first draft of every
 * shot is drawn from (FLUX.2 multi-reference, spec §6.1), made once per project when none is set.
 * `z.uuid()` and `z.iso.datetime()` are zod 4's names for the spec's `z.string().uuid()` / `.datetime()`.
 */
import { z } from "zod";

export const DEFAULT_GLOBAL_SETTINGS = {
  llmModel: "gemini-3.1-pro-preview",
  imageModel: "flux-2-turbo",
  videoModel: "kling-o3",
  loraWeightsId: "miriN14",
  requireHumanApproval: true,
} as const;

export const GlobalSettingsSchema = z.object({
  llmModel: z.string().min(1).default(DEFAULT_GLOBAL_SETTINGS.llmModel),
  imageModel: z.string().min(1).default(DEFAULT_GLOBAL_SETTINGS.imageModel),
  videoModel: z.string().min(1).default(DEFAULT_GLOBAL_SETTINGS.videoModel),
  loraWeightsId: z.string().min(1).default(DEFAULT_GLOBAL_SETTINGS.loraWeightsId),
  requireHumanApproval: z.boolean().default(DEFAULT_GLOBAL_SETTINGS.requireHumanApproval),
  /** Blob key of the project's character and style sheet; absent until one is made or set. */
  referenceSheetKey: z.string().regex(/^[0-9a-f]{64}\.(png|jpg|webp)$/).optional(),
});
export type GlobalSettings = z.output<typeof GlobalSettingsSchema>;

export const ProjectConfigSchema = z.object({
  projectId: z.uuid(),
  projectName: z.string(),
  globalSettings: GlobalSettingsSchema.prefault({}),
  creationTimestamp: z.iso.datetime(),
});
export type ProjectConfig = z.output<typeof ProjectConfigSchema>;

export const AGENT_ROLES = ["ORCHESTRATOR", "AUDITOR", "VISION_ANALYZER", "DIRECTOR"] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

export const AgentConfigSchema = z.object({
  configId: z.uuid(),
  role: z.enum(AGENT_ROLES),
  modelString: z.string(),
  active: z.boolean(),
  updatedAt: z.iso.datetime(),
});
export type AgentConfig = z.output<typeof AgentConfigSchema>;

/**
 * What each role does on the song route: its active agent_configs row chooses the model of these
 * calls (graph/song/models.ts).
 * - ORCHESTRATOR: listens to the song and breaks it into scenes and timed shots (AUDIO_ANALYSIS).
 * - DIRECTOR: rewrites a refused shot description from the audit's findings (the automatic fix).
 * - AUDITOR: checks every image prompt against the constraints and the rulebook (VALIDATION).
 * - VISION_ANALYZER: looks at a rejected image to learn a rule, and finds the region a 🟡 edit names.
 */
export const AGENT_ROLE_TASKS: Record<AgentRole, string> = {
  ORCHESTRATOR: "song analysis: scenes and timed shots",
  DIRECTOR: "automatic fix of refused shot descriptions",
  AUDITOR: "prompt audit against the constraints and the rulebook",
  VISION_ANALYZER: "rules from rejected images, and the region a 🟡 edit names",
};

/**
 * The model a role uses until someone sets one: the project's LLM for every role, since the spec
 * has one LLM family (Gemini) analyse the song, audit prompts, look at images and direct shots.
 */
export function defaultAgentModel(_role: AgentRole, settings: GlobalSettings): string {
  return settings.llmModel;
}
