import type { Actor } from "../../../graph/actor.js";
import { createApproverCheck } from "../../../graph/actor.js";
import type { Env } from "../../config.js";

/**
 * Who may grant credits and change a project from chat: the configured approvers (Slack user ids,
 * Discord roles) and the admin list (ADMIN_IDS: `slack:U0123`, `discord:4567`). The local page
 * has no accounts; its server decides for itself (only when it listens on this machine).
 */
export function createAdminCheck(env: Pick<Env, "ADMIN_IDS" | "SLACK_APPROVER_IDS" | "DISCORD_APPROVER_ROLE_IDS">) {
  const approver = createApproverCheck({ slackUserIds: env.SLACK_APPROVER_IDS, discordRoleIds: env.DISCORD_APPROVER_ROLE_IDS });
  const listed = new Set(env.ADMIN_IDS);
  return (actor: Actor): boolean => approver(actor) || listed.has(`${actor.platform}:${actor.userId}`);
}

export const NOT_ADMIN = "Only an approver or an admin (ADMIN_IDS) can do that. Ask whoever runs this bot.";
