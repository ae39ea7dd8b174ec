import type { types } from "@slack/bolt";
import type { SceneVersions } from "../common/versions.js";
import { versionLine } from "../common/versions.js";
import type { Rule } from "../../../store/rules.js";
import type { Project } from "../../../store/projects.js";
import { esc, shortId, type SlackMessage } from "./blocks.js";

/*
 * Block Kit for the project from chat: a scene's versions (thumbnails, what each was, who asked,
 * Revert) and a project's learnt rules (Remove). Pure functions, like blocks.ts.
 */

type KnownBlock = types.KnownBlock;

/** Revert buttons: `rb_revert:<version>` (unique per message); the value says job, scene and version. */
export const ACTION_REVERT_PREFIX = "rb_revert:";
export const ACTION_RULE_REMOVE_PREFIX = "rb_rule_rm:";

/**
 * Newest first. `files` holds the slack_file id of each version's preview shared in this channel;
 * a version without one is listed without its thumbnail.
 */
export function versionsMessage(jobId: string, unit: "Scene" | "Shot", list: SceneVersions, files: Map<number, string>): SlackMessage {
  const title = `${unit} ${list.card.index + 1}/${list.card.count} of job \`${shortId(jobId)}\`: ${list.entries.length} version${list.entries.length === 1 ? "" : "s"}`;
  const blocks: KnownBlock[] = [{ type: "section", block_id: "head", text: { type: "mrkdwn", text: `*${title}*` } }];
  for (const e of list.entries) {
    const file = files.get(e.versionNo);
    blocks.push({
      type: "section", block_id: `v${e.versionNo}`,
      // "*v3* · 🟡 edit · “warmer light” · by ann": the number in bold, the rest as written.
      text: { type: "mrkdwn", text: `*v${e.versionNo}* · ${esc(versionLine(e).replace(/^v\d+ · /, ""))}` },
      ...(file ? { accessory: { type: "image", slack_file: { id: file }, alt_text: `Version ${e.versionNo}` } } : {}),
    });
    if (e.revertable) {
      blocks.push({
        type: "actions", block_id: `revert${e.versionNo}`,
        elements: [{
          type: "button", action_id: `${ACTION_REVERT_PREFIX}${e.versionNo}`, value: `${jobId}:${list.card.index}:${e.versionNo}`,
          text: { type: "plain_text", text: `↩️ Revert to v${e.versionNo}`, emoji: true },
        }],
      });
    }
  }
  const notes = [list.hidden ? `${list.hidden} older version${list.hidden === 1 ? "" : "s"} not shown.` : "", list.revertNote ?? "", list.impact ? `↪️ ${list.impact}` : ""].filter(Boolean);
  if (notes.length) blocks.push({ type: "context", block_id: "notes", elements: [{ type: "mrkdwn", text: esc(notes.join(" ")) }] });
  return { text: title, blocks };
}

/** At most 40 rules with a Remove button each (two blocks per rule; Slack allows 50 per message). */
export function rulesMessage(project: Project, rules: Rule[], mayRemove: boolean): SlackMessage {
  const shown = rules.slice(-22);
  const title = rules.length
    ? `Project “${project.name}” has ${rules.length} learnt rule${rules.length === 1 ? "" : "s"}`
    : `Project “${project.name}” has no learnt rules yet: a 🔴 with a reason teaches one.`;
  const blocks: KnownBlock[] = [{ type: "section", block_id: "head", text: { type: "mrkdwn", text: `*${esc(title)}*` } }];
  shown.forEach((rule, i) => {
    blocks.push({
      type: "section", block_id: `rule${i}`,
      text: { type: "mrkdwn", text: `${i + 1 + rules.length - shown.length}. ${esc(rule.text)}` },
      ...(mayRemove
        ? { accessory: { type: "button", action_id: `${ACTION_RULE_REMOVE_PREFIX}${i}`, value: `${project.id}:${rule.id}`, text: { type: "plain_text", text: "Remove" } } }
        : {}),
    });
  });
  if (rules.length > shown.length) {
    blocks.push({ type: "context", block_id: "more", elements: [{ type: "mrkdwn", text: `The ${rules.length - shown.length} oldest are not shown.` }] });
  }
  return { text: title, blocks };
}
