import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  AGENT_ROLES,
  AgentConfigSchema,
  DEFAULT_GLOBAL_SETTINGS,
  ProjectConfigSchema,
} from "../core/project-config.js";
import {
  buildImagePrompt,
  buildVideoPrompt,
  checkImagePrompt,
  checkVideoPrompt,
  engineModelCode,
  findIdentityDescriptors,
  imageModelCode,
  parsePromptPrefix,
  PromptPolicyError,
  promptPrefix,
  REQUIRED_IMAGE_TERMS,
  sanitizeDescription,
} from "../graph/song/policy.js";
import { auditPrompt } from "../tools/offline/song-analyst.js";

const tag = { shotNo: 3, versionNo: 2 };
const IDENTITY_HEAVY =
  "Miri, a 12-year-old girl with long blonde hair and blue eyes, freckled and slim, runs along the beach at sunset.";

describe("prompt prefix", () => {
  it("is [ShotID]_[VersionID]_[ModelCode] as a person reads it (S03_V2_KLING) and parses back", () => {
    const prefix = promptPrefix({ ...tag, modelCode: "KLING" });
    expect(prefix).toBe("S03_V2_KLING");
    expect(parsePromptPrefix(`${prefix} rest of prompt`)).toEqual({ shotNo: 3, versionNo: 2, modelCode: "KLING" });
    expect(promptPrefix({ shotNo: 112, versionNo: 14, modelCode: "FLUX2" })).toBe("S112_V14_FLUX2");
    expect(parsePromptPrefix("no prefix here")).toBeNull();
    expect(parsePromptPrefix("S03_V2_KLINGdom")).toBeNull();
    expect(() => promptPrefix({ shotNo: 1.5, versionNo: 1, modelCode: "FLUX2" })).toThrow(/positive integers/);
    expect(() => promptPrefix({ ...tag, modelCode: "x y" })).toThrow(/model code/);
  });

  it("names the model family the prompt is sent to: the image model, or the engine that renders the clip", () => {
    expect(imageModelCode(DEFAULT_GLOBAL_SETTINGS.imageModel, "image")).toBe("FLUX2");
    expect(imageModelCode(DEFAULT_GLOBAL_SETTINGS.imageModel, "inpaint")).toBe("FLUXINPAINT");
    expect(imageModelCode("offline", "image")).toBe("OFFLINE");
    // Another family is named by its own name, so the tag stays true.
    expect(imageModelCode("sdxl-turbo", "image")).toBe("SDXL");
    expect([engineModelCode("KLING"), engineModelCode("LUMA"), engineModelCode("GEMINI_PRO")]).toEqual(["KLING", "LUMA", "VEO"]);
  });
});

describe("image prompts", () => {
  it("start with the prefix, name the character only through the LoRA and carry every required term", () => {
    const prompt = buildImagePrompt({
      ...tag,
      modelCode: "FLUX2",
      shot: { description: IDENTITY_HEAVY },
      loraId: "miriN14",
      rules: ["Avoid bare shoulders", "Always blonde hair", "Always soft light"],
    });
    expect(prompt.startsWith("S03_V2_FLUX2 <lora:miriN14> miriN14,")).toBe(true);
    for (const term of REQUIRED_IMAGE_TERMS) expect(prompt).toContain(term);
    expect(checkImagePrompt(prompt, { loraId: "miriN14" })).toEqual([]);
    for (const word of ["blonde", "blue eyes", "12-year-old", "freckled", "slim", "Miri,"]) expect(prompt).not.toContain(word);
    expect(prompt).toContain("the character runs along the beach at sunset");
    // Rules are appended, except a positive rule that would describe her looks.
    expect(prompt).toContain("Rules: Avoid bare shoulders. Always soft light.");
    expect(prompt).not.toContain("Always blonde hair");
    // The offline audit agrees: required terms present, rules honoured.
    expect(auditPrompt(prompt, [...REQUIRED_IMAGE_TERMS], ["Avoid bare shoulders", "Always soft light"])).toEqual({ ok: true, violations: [] });
  });

  it("reports what a hand-written prompt gets wrong", () => {
    const violations = checkImagePrompt("A blonde girl with blue eyes, Young girl, Mouth CLOSED", { loraId: "miriN14" });
    expect(violations).toContain("missing the [ShotID]_[VersionID]_[ModelCode] prefix at the start");
    expect(violations).toContain('missing required term "Child physique"');
    expect(violations).toContain("the character is not drawn through the LoRA: no <lora:…> token");
    const identity = violations.find((v) => v.startsWith("describes the character outside the LoRA"));
    expect(identity).toMatch(/"blonde"/);
    expect(identity).toMatch(/blue eyes"/);
    const other = buildImagePrompt({ ...tag, modelCode: "FLUX2", shot: { description: "x" }, loraId: "otherLora" });
    expect(checkImagePrompt(other, { loraId: "miriN14" })).toEqual(["the prompt uses a LoRA other than the project's miriN14: otherLora"]);
    expect(() => buildImagePrompt({ ...tag, modelCode: "FLUX2", shot: { description: "x" }, loraId: "bad id>" })).toThrow(/LoRA/);
  });

  it("strips identity descriptors but keeps what the shot is about; negations are not descriptions", () => {
    expect(sanitizeDescription("The girl with short curly hair sits on a red bench")).toBe("the character sits on a red bench");
    expect(findIdentityDescriptors("avoid blonde hair, no freckles")).toEqual([]);
    expect(findIdentityDescriptors("tall grass and a white dress")).toEqual([]);
    expect(findIdentityDescriptors("a teenage woman with green eyes")).toEqual(expect.arrayContaining(["teenage", "woman", "with green eyes"]));
  });
});

describe("video prompts", () => {
  it("describe the static start frame first, then the action", () => {
    const prompt = buildVideoPrompt({ ...tag, modelCode: "KLING", shot: { description: IDENTITY_HEAVY }, rules: ["Avoid fast cuts"] });
    expect(prompt.startsWith("S03_V2_KLING Start frame: ")).toBe(true);
    const start = prompt.indexOf("Start frame:"), action = prompt.indexOf("Action:");
    expect(start).toBeGreaterThan(0);
    expect(action).toBeGreaterThan(start);
    expect(prompt.slice(start, action)).toMatch(/stands still in a resting pose/);
    expect(prompt.slice(action)).toMatch(/^Action: the character runs along the beach at sunset\. Rules: Avoid fast cuts\.$/);
    for (const term of REQUIRED_IMAGE_TERMS) expect(prompt.slice(start, action)).toContain(term);
    expect(checkVideoPrompt(prompt)).toEqual([]);
    expect(prompt).not.toMatch(/blonde|12-year-old/);
  });

  it("refuses motion in the start frame and action first", () => {
    expect(() => buildVideoPrompt({ ...tag, modelCode: "KLING", shot: { description: "x" }, startFrame: "she walks into the room" })).toThrow(PromptPolicyError);
    const terms = REQUIRED_IMAGE_TERMS.join(", ");
    const swapped = `S03_V2_KLING Action: she dances. Start frame: ${terms}, standing still.`;
    expect(checkVideoPrompt(swapped)).toEqual(expect.arrayContaining(['"Action:" comes before "Start frame:"', '"Start frame:" must come first, right after the prefix']));
    const restless = `S03_V2_KLING Start frame: ${terms}, spinning in the rain. Action: she stops.`;
    expect(checkVideoPrompt(restless)).toEqual([
      'the start frame describes motion ("spinning"); it must be the static resting state',
      "the start frame does not describe a resting state (still, standing, sitting…)",
    ]);
  });
});

describe("config schemas", () => {
  it("fill the spec's defaults", () => {
    const base = { projectId: randomUUID(), projectName: "Songs", creationTimestamp: new Date().toISOString() };
    expect(ProjectConfigSchema.parse(base).globalSettings).toEqual({
      llmModel: "gemini-3.1-pro-preview",
      imageModel: "flux-2-turbo",
      videoModel: "kling-o3",
      loraWeightsId: "miriN14",
      requireHumanApproval: true,
    });
    const custom = ProjectConfigSchema.parse({ ...base, globalSettings: { loraWeightsId: "miriN15", requireHumanApproval: false } });
    expect(custom.globalSettings).toMatchObject({ loraWeightsId: "miriN15", requireHumanApproval: false, imageModel: "flux-2-turbo" });
    expect(ProjectConfigSchema.safeParse({ ...base, projectId: "nope" }).success).toBe(false);
    expect(ProjectConfigSchema.safeParse({ ...base, creationTimestamp: "yesterday" }).success).toBe(false);
  });

  it("know the four agent roles", () => {
    expect(AGENT_ROLES).toEqual(["ORCHESTRATOR", "AUDITOR", "VISION_ANALYZER", "DIRECTOR"]);
    const config = { configId: randomUUID(), role: "AUDITOR", modelString: "gemini-3.1-pro-preview", active: true, updatedAt: new Date().toISOString() };
    expect(AgentConfigSchema.parse(config)).toEqual(config);
    expect(AgentConfigSchema.safeParse({ ...config, role: "BOSS" }).success).toBe(false);
    expect(AgentConfigSchema.safeParse({ ...config, active: undefined }).success).toBe(false);
  });
});
