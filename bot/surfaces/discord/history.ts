/**
 * A scene's versions and a project's rules as private Discord replies: text, thumbnails as
 * attachments, and buttons (Revert, Remove) within Discord's limits (5 buttons a row, 5 rows,
 * 10 attachments, 2000 characters).
 */
import sharp from "sharp";
import { ButtonStyle, ComponentType, escapeMarkdown, type APIActionRowComponent, type APIButtonComponent } from "discord.js";
import type { Blobs } from "../../../tools/ports.js";
import type { SceneVersions } from "../common/versions.js";
import { versionLine } from "../common/versions.js";
import type { Rule } from "../../../store/rules.js";
import type { Project } from "../../../store/projects.js";
import { encodeRevertButton, encodeRuleButton, shortId } from "./ids.js";

export interface PrivateReply {
  content: string;
  files: Array<{ attachment: Buffer; name: string }>;
  components: APIActionRowComponent<APIButtonComponent>[];
}

const rows = (buttons: APIButtonComponent[]): APIActionRowComponent<APIButtonComponent>[] => {
  const out: APIActionRowComponent<APIButtonComponent>[] = [];
  for (let i = 0; i < buttons.length && out.length < 5; i += 5) out.push({ type: ComponentType.ActionRow, components: buttons.slice(i, i + 5) });
  return out;
};

/** A 320×180 JPEG: small enough that ten of them stay far below the upload limit. */
async function thumbnail(blobs: Blobs, key: string): Promise<Buffer> {
  const media = await blobs.get(key);
  return sharp(media.data).resize(320, 180, { fit: "cover" }).jpeg({ quality: 75 }).toBuffer();
}

export async function versionsReply(blobs: Blobs, jobId: string, unit: "Scene" | "Shot", list: SceneVersions): Promise<PrivateReply> {
  const lines = [`**${unit} ${list.card.index + 1}/${list.card.count}** of job \`${shortId(jobId)}\`: ${list.entries.length} version${list.entries.length === 1 ? "" : "s"}, newest first (thumbnails below, named after them)`];
  const files: PrivateReply["files"] = [];
  for (const e of list.entries) {
    lines.push(`• ${escapeMarkdown(versionLine(e))}`);
    if (e.previewKey && files.length < 10) files.push({ attachment: await thumbnail(blobs, e.previewKey), name: `v${e.versionNo}.jpg` });
  }
  if (list.hidden) lines.push(`${list.hidden} older version${list.hidden === 1 ? "" : "s"} not shown.`);
  if (list.revertNote) lines.push(list.revertNote);
  if (list.impact) lines.push(`↪️ ${list.impact}`);
  const buttons = list.entries.filter((e) => e.revertable).map((e): APIButtonComponent => ({
    type: ComponentType.Button, style: ButtonStyle.Secondary, label: `↩️ Revert to v${e.versionNo}`,
    custom_id: encodeRevertButton(jobId, list.card.index, e.versionNo),
  }));
  return { content: lines.join("\n").slice(0, 2000), files, components: rows(buttons) };
}

/** The newest 25 rules (one Remove button each), numbered as listed. */
export function rulesReply(project: Project, rules: Rule[], mayRemove: boolean): PrivateReply {
  if (rules.length === 0) {
    return { content: `Project “${escapeMarkdown(project.name)}” has no learnt rules yet: a 🔴 with a reason teaches one.`, files: [], components: [] };
  }
  const shown = rules.slice(-25);
  const lines = [`**Project “${escapeMarkdown(project.name)}”** has ${rules.length} learnt rule${rules.length === 1 ? "" : "s"}:`];
  shown.forEach((r, i) => lines.push(`${i + 1}. ${escapeMarkdown(r.text)}`));
  if (rules.length > shown.length) lines.push(`The ${rules.length - shown.length} oldest are not shown.`);
  const buttons = mayRemove
    ? shown.map((r, i): APIButtonComponent => ({ type: ComponentType.Button, style: ButtonStyle.Danger, label: `Remove ${i + 1}`, custom_id: encodeRuleButton(project.id, r.id) }))
    : [];
  return { content: lines.join("\n").slice(0, 2000), files: [], components: rows(buttons) };
}
