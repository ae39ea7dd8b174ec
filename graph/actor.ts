import type { Platform } from "../store/users.js";

/** Who is acting, as a surface knows them. */
export interface Actor {
  platform: Platform;
  /** Slack workspace or Discord guild id; empty elsewhere. */
  teamId?: string;
  userId: string;
  name?: string;
  /** Discord role ids of the member, for role-based approvers. */
  roles?: string[];
}

/** Configured approvers: Slack user ids and Discord role ids that may decide on anyone's job. */
export function createApproverCheck(config: { slackUserIds: string[]; discordRoleIds: string[] }) {
  return (actor: Actor): boolean =>
    (actor.platform === "slack" && config.slackUserIds.includes(actor.userId)) ||
    (actor.platform === "discord" && (actor.roles ?? []).some((role) => config.discordRoleIds.includes(role)));
}
