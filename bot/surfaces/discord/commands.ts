/**
 * The slash commands, defined once for the surface and for scripts/register-discord.ts.
 * Registration is a separate step (Discord limits command creates per day): run the script
 * after changing anything here.
 */
import {
  ApplicationIntegrationType,
  InteractionContextType,
  SlashCommandBuilder,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from "discord.js";
import { MAX_GRANT } from "../../../store/accounts.js";

const contexts = [InteractionContextType.Guild, InteractionContextType.BotDM];

const jobOption = (required: boolean) => (o: import("discord.js").SlashCommandStringOption) =>
  o.setName("job").setDescription("Job id (the 8-character id shown on the job's messages)").setRequired(required).setMinLength(4).setMaxLength(36);

export const COMMANDS = {
  render: new SlashCommandBuilder()
    .setName("render")
    .setDescription("Turn a brand image (or an MP3 song) into a short video, scene by scene, with your approval")
    .setContexts(...contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addAttachmentOption((o) => o.setName("file").setDescription("A JPEG, PNG or WebP brand image (up to 10 MB), or an MP3 song").setRequired(true)),
  status: new SlashCommandBuilder()
    .setName("status")
    .setDescription("Show your recent video jobs, or one job")
    .setContexts(...contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addStringOption(jobOption(false)),
  show: new SlashCommandBuilder()
    .setName("show")
    .setDescription("Post a job's status and scene cards, with working buttons, in this channel")
    .setContexts(...contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addStringOption(jobOption(true)),
  cancel: new SlashCommandBuilder()
    .setName("cancel")
    .setDescription("Stop a job: nothing more is charged, finished clips are kept")
    .setContexts(...contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addStringOption(jobOption(true)),
  link: new SlashCommandBuilder()
    .setName("link")
    .setDescription("Be one person on Discord and Slack: get a code to type there, or type the code you got there")
    .setContexts(...contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addStringOption((o) => o.setName("code").setDescription("The code /link gave you on Slack (leave empty to get one for Slack)").setRequired(false).setMinLength(8).setMaxLength(12)),
  credits: new SlashCommandBuilder()
    .setName("credits")
    .setDescription("Your credits and recent spend; approvers: someone's, or grant them credits")
    .setContexts(...contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addUserOption((o) => o.setName("user").setDescription("Whose credits (approvers and admins only)").setRequired(false))
    .addIntegerOption((o) => o.setName("amount").setDescription("Credits to grant to that person (approvers and admins only)").setRequired(false).setMinValue(1).setMaxValue(MAX_GRANT))
    .addStringOption((o) => o.setName("reason").setDescription("Why, for the audit log").setRequired(false).setMaxLength(200)),
  versions: new SlashCommandBuilder()
    .setName("versions")
    .setDescription("A scene's versions with thumbnails and who asked for each; revert one")
    .setContexts(...contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addStringOption(jobOption(true))
    .addIntegerOption((o) => o.setName("scene").setDescription("Scene (or shot) number, as on its card").setRequired(true).setMinValue(1).setMaxValue(99)),
  rules: new SlashCommandBuilder()
    .setName("rules")
    .setDescription("The rules your music videos learnt from 🔴; remove one")
    .setContexts(...contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addStringOption(jobOption(false)),
  project: new SlashCommandBuilder()
    .setName("project")
    .setDescription("A music video project's LoRA, models and approval; approvers change them")
    .setContexts(...contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addStringOption(jobOption(false))
    .addStringOption((o) => o.setName("lora").setDescription("New LoRA weights id (approvers)").setRequired(false).setMaxLength(200))
    .addBooleanOption((o) => o.setName("approval").setDescription("Ask for 🟢 on every shot (approvers)").setRequired(false))
    .addStringOption((o) => o.setName("role").setDescription("The agent whose model to change (approvers)").setRequired(false).addChoices(
      { name: "orchestrator", value: "ORCHESTRATOR" }, { name: "auditor", value: "AUDITOR" },
      { name: "vision analyser", value: "VISION_ANALYZER" }, { name: "director", value: "DIRECTOR" },
    ))
    .addStringOption((o) => o.setName("model").setDescription("Its new model id, e.g. gemini-3.1-pro-preview (approvers)").setRequired(false).setMaxLength(200)),
};

export type CommandName = keyof typeof COMMANDS;

/** Where a set of definitions is meant to be used (https://discord.com/developers/docs/interactions/application-commands#interaction-contexts). */
export type CommandScope = "everywhere" | "guild" | "dm";

/**
 * The JSON Discord expects in `PUT /applications/:id/commands` (or a guild's). Guild-registered
 * commands exist in that guild only and never in DMs, and `contexts` is honoured on global
 * commands only; so a development setup registers the guild set ("guild") plus a global set
 * limited to DMs with the bot ("dm"), which appears nowhere else, and production registers one
 * global set ("everywhere").
 */
export function commandDefinitions(scope: CommandScope = "everywhere"): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  const only = scope === "guild" ? [InteractionContextType.Guild] : scope === "dm" ? [InteractionContextType.BotDM] : contexts;
  return Object.values(COMMANDS).map((c) => ({ ...c.toJSON(), contexts: only }));
}
