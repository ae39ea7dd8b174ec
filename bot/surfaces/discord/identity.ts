import { GuildMember, type APIInteractionGuildMember, type User } from "discord.js";
import type { Actor } from "../../../graph/actor.js";
import type { ChatLocation } from "../../../store/chatMessages.js";
import type { JobOrigin } from "../../../store/jobs.js";

type AnyMember = GuildMember | APIInteractionGuildMember | null | undefined;

/**
 * The runner's Actor for a Discord user. Approvers are configured as role ids, so the member's
 * roles travel with every decision; in DMs there is no guild, hence no roles and an empty team.
 */
export function actorOf(user: User, member: AnyMember, guildId: string | null): Actor {
  return {
    platform: "discord",
    teamId: guildId ?? "",
    userId: user.id,
    name: displayName(user, member),
    roles: rolesOf(member, guildId),
  };
}

function rolesOf(member: AnyMember, guildId: string | null): string[] {
  if (!member) return [];
  // Uncached guilds hand over the raw API member, whose roles are plain ids.
  if (!(member instanceof GuildMember)) return Array.isArray(member.roles) ? [...member.roles] : [];
  return [...member.roles.cache.keys()].filter((id) => id !== guildId); // not @everyone
}

function displayName(user: User, member: AnyMember): string {
  if (member instanceof GuildMember) return member.displayName;
  return member?.nick ?? user.globalName ?? user.username;
}

/**
 * Where a job's messages go. `channelId` is the channel the conversation started in (a text
 * channel, or the DM channel); `threadId` is the job's thread, empty when messages go straight
 * into the channel (DMs, or no permission to create threads). Posts go to threadId || channelId.
 */
export function postTarget(location: ChatLocation): string {
  return location.threadId || location.channelId;
}

export function sameLocation(a: ChatLocation, b: ChatLocation): boolean {
  return a.platform === b.platform && a.channelId === b.channelId && a.threadId === b.threadId;
}

/** The location a job's origin names, if the job was started on Discord. */
export function locationOfOrigin(origin: JobOrigin): ChatLocation | null {
  if (origin.platform !== "discord" || typeof origin.channelId !== "string" || !origin.channelId) return null;
  return { platform: "discord", channelId: origin.channelId, threadId: typeof origin.threadId === "string" ? origin.threadId : "" };
}

/** Whether a message in `channelId` belongs to a job with this origin (its thread, or its channel when it has none). */
export function originIsChannel(origin: JobOrigin, channelId: string): boolean {
  const at = locationOfOrigin(origin);
  return !!at && postTarget(at) === channelId;
}
