/**
 * The job view model as Discord message bodies (REST JSON). Pure: no I/O, so the publisher can
 * hash what a message would show and skip edits that change nothing.
 *
 * Layout: one status message (stage, one square per scene, credits, Approve all / Cancel), one
 * message per scene (the preview as a plain attachment, "Scene n/N", two lines of script, who
 * decided what, one row of 🟢/🟡/🔴), and one final message (the MP4, a link, or why it stopped).
 * Plain attachments plus one action row are used instead of Components V2 or embed grids because
 * they render the same everywhere and can be edited without changing message flags.
 */
import { ButtonStyle, ComponentType, escapeMarkdown, type APIActionRowComponent, type APIButtonComponent } from "discord.js";
import { DECISION_LABELS, encodeButton, progressSquares, type JobView, type SceneCard } from "../../views.js";
import type { Decision } from "../../../graph/state.js";
import { encodeJobButton, encodeRedoButton, encodeVersionsButton, shortId } from "./ids.js";
import { impactNote, redoLabel } from "../common/impact.js";
import { approveAllPrice, scenePrice, spentText } from "../common/money.js";

export interface MessageBody {
  content: string;
  components: APIActionRowComponent<APIButtonComponent>[];
  /** Never ping anyone: names, notes and scripts are user-controlled text. */
  allowed_mentions: { parse: [] };
}

const TERMINAL: JobView["stage"][] = ["done", "flagged", "failed", "cancelled"];
export const isTerminal = (view: JobView) => TERMINAL.includes(view.stage);

/** The status line already names the stage ("Analysing the brand image…"); the emoji marks it. */
const STAGE_EMOJI: Record<JobView["stage"], string> = {
  analyzing: "🔎", styling: "🎨", directing: "🎬", reviewing: "👀", assembling: "🧵",
  done: "🎉", flagged: "🚩", failed: "⚠️", cancelled: "🗑️",
};

const STAGE: Record<JobView["stage"], string> = {
  analyzing: "🔎 Analysing",
  styling: "🎨 Styling",
  directing: "🎬 Directing",
  reviewing: "👀 Review",
  assembling: "🧵 Assembling",
  done: "🎉 Done",
  flagged: "🚩 Flagged",
  failed: "⚠️ Failed",
  cancelled: "🗑️ Cancelled",
};

const DECIDED: Record<Decision | "REVERT", string> = {
  GREEN: "🟢 Approved",
  YELLOW: "🟡 Edit requested",
  RED: "🔴 Re-roll requested",
  REVERT: "↩️ Reverted",
};

const BUTTON_STYLE: Record<Decision, ButtonStyle.Success | ButtonStyle.Secondary | ButtonStyle.Danger> = {
  GREEN: ButtonStyle.Success,
  YELLOW: ButtonStyle.Secondary,
  RED: ButtonStyle.Danger,
};

const body = (content: string, components: MessageBody["components"] = []): MessageBody => ({
  content: content.length > 2000 ? `${content.slice(0, 1999)}…` : content,
  components,
  allowed_mentions: { parse: [] },
});

const button = (custom_id: string, label: string, style: ButtonStyle.Success | ButtonStyle.Secondary | ButtonStyle.Danger, disabled = false): APIButtonComponent =>
  ({ type: ComponentType.Button, custom_id, label, style, disabled });

const row = (components: APIButtonComponent[]): APIActionRowComponent<APIButtonComponent> => ({ type: ComponentType.ActionRow, components });

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** A label with its price, within Discord's 80 characters (the price is shown before anything is paid). */
const priced = (label: string, price: string) => `${label} · ${price}`.slice(0, 80);

/** The job's one status message, edited in place. */
export function statusBody(view: JobView): MessageBody {
  const done = view.scenes.filter((s) => s.status === "completed").length;
  const squares = progressSquares(view);
  const lines = [
    `**${view.kind === "song" ? "Music video" : "Brand video"}** · job \`${shortId(view.jobId)}\`${view.ownerName ? ` · started by ${escapeMarkdown(view.ownerName)}` : ""}`,
    `${STAGE_EMOJI[view.stage]} ${escapeMarkdown(view.statusLine)}`,
    [squares, view.scenes.length ? `${done}/${plural(view.scenes.length, view.kind === "song" ? "shot" : "scene")} done` : "", spentText(view),
      `${view.ownerCredits} left`]
      .filter(Boolean).join(" · "),
  ];
  if (view.engine) lines.push(`Engine: ${view.engine}${view.routingReason ? ` (${escapeMarkdown(view.routingReason)})` : ""}`);
  if (view.error) lines.push(`⚠️ ${escapeMarkdown(view.error)}`);
  // A job that failed as a whole goes on from where it stopped (runner.retry).
  if (view.stage === "failed") return body(lines.join("\n"), [row([button(encodeJobButton("retry", view.jobId), "🔁 Try again", ButtonStyle.Success)])]);
  if (isTerminal(view)) return body(lines.join("\n"));
  const waiting = view.scenes.filter((s) => s.awaiting === "review").length;
  return body(lines.join("\n"), [
    row([
      button(encodeJobButton("all", view.jobId), waiting > 0 ? priced("🟢 Approve all", approveAllPrice(view.approveAll)) : "🟢 Approve all", ButtonStyle.Success, waiting === 0),
      button(encodeJobButton("cancel", view.jobId), "🗑️ Cancel", ButtonStyle.Danger),
    ]),
  ]);
}

/** The two script lines of a card: the camera move, then the start of the shot description. */
export function scriptLines(excerpt: string): [string, string] | null {
  const text = excerpt.trim();
  if (!text) return null;
  const cut = text.indexOf(". ");
  const [first, second] = cut > 0 && cut < 80 ? [text.slice(0, cut + 1), text.slice(cut + 2)] : [text.slice(0, 70), text.slice(70)];
  return [first.trim(), second.trim()];
}

function cardState(card: SceneCard): string {
  switch (card.status) {
    case "scripting": return "✍️ writing the script…";
    case "preview_generation": return "🎨 making a preview…";
    case "review": return card.awaiting === "review" ? "👀 waiting for a decision" : "⏳ decision received";
    case "rendering": return `🎞️ rendering the clip${card.engine ? ` (${card.engine})` : ""}…`;
    case "completed": return "✅ clip ready";
    case "failed": return `⚠️ ${card.errorMessage ? escapeMarkdown(card.errorMessage) : "this scene failed"}`;
  }
}

/** A preview's file name on Discord: scene-2-v3.jpg. */
export function previewFilename(card: SceneCard): string | null {
  if (!card.previewKey) return null;
  const ext = card.previewKey.split(".").pop() ?? "png";
  return `scene-${card.index + 1}-v${card.versionNo}.${ext}`;
}

/** One scene card. Buttons only while the scene waits for a review of exactly this version. */
export function cardBody(view: JobView, card: SceneCard): MessageBody {
  // The version matters while a preview is judged; later versions are clips the user never picks.
  const version = card.versionNo > 0 && (card.status === "review" || card.status === "preview_generation") ? `v${card.versionNo}` : null;
  const header = [`**${view.kind === "song" ? "Shot" : "Scene"} ${card.index + 1}/${card.count}**`, card.timeRange, version, cardState(card)]
    .filter(Boolean).join(" · ");
  const lines = [header];
  const script = scriptLines(card.scriptExcerpt);
  if (script) lines.push(...script.filter(Boolean).map((l) => `> ${escapeMarkdown(l)}`));
  if (card.lastDecision && card.decidedBy) lines.push(`${DECIDED[card.lastDecision]} by ${escapeMarkdown(card.decidedBy)}`);
  if (card.awaiting === "render" && card.renderNote) lines.push(`⏳ ${escapeMarkdown(card.renderNote)}`);
  if (card.awaiting !== "review" || card.versionNo < 1 || isTerminal(view)) return body(lines.join("\n"));
  const impact = impactNote(view, card);
  if (impact) lines.push(`↪️ ${impact}`);
  const redo = redoLabel(view, card);
  const decisions: Decision[] = ["GREEN", "YELLOW", "RED"];
  return body(lines.join("\n"), [
    row([
      ...decisions.map((decision) =>
        button(
          encodeButton({ jobId: view.jobId, sceneIndex: card.index, versionNo: card.versionNo, decision }),
          decision === "GREEN" ? priced(DECISION_LABELS.GREEN, scenePrice(card)) : DECISION_LABELS[decision],
          BUTTON_STYLE[decision],
        )),
      // While the card waits for a review, where Revert can act; /versions lists a decided one.
      ...(card.versionNo > 1 ? [button(encodeVersionsButton(view.jobId, card.index), "🕘 Versions", ButtonStyle.Secondary)] : []),
      ...(redo ? [button(encodeRedoButton(view.jobId, card.index), redo, ButtonStyle.Secondary)] : []),
    ]),
  ]);
}

export type FinalDelivery =
  | { kind: "attachment"; filename: string; bytes: number }
  | { kind: "link"; url: string; expiresAt: Date; bytes: number; limit: number }
  | { kind: "too_large"; bytes: number; limit: number; where: string };

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** The job's last message: the video (or a link to it), or why the job stopped. */
export function finalBody(view: JobView, delivery: FinalDelivery | null): MessageBody & { linkUrl?: string } {
  if (view.stage !== "done") {
    const why = view.error ?? (view.stage === "flagged" ? "The image was flagged." : "The job stopped.");
    return body(`${STAGE[view.stage]} · job \`${shortId(view.jobId)}\`\n${escapeMarkdown(why)}\nDrop another image or use \`/render\` to start again.`);
  }
  const head = `🎉 **Final video** · job \`${shortId(view.jobId)}\` · ${plural(view.scenes.length, view.kind === "song" ? "shot" : "scene")} · ${spentText(view)}`;
  if (!delivery || delivery.kind === "attachment") return body(head);
  if (delivery.kind === "link") {
    return {
      // <t:…:f> and <t:…:R> show the expiry in each reader's time zone and as "in 7 days"
      // (https://discord.com/developers/docs/reference#message-formatting-timestamp-styles).
      ...body(`${head}\nThe video is ${mb(delivery.bytes)}, over the ${mb(delivery.limit)} upload limit here, so it is linked instead. ` +
        `The link works until <t:${Math.floor(delivery.expiresAt.getTime() / 1000)}:f> (<t:${Math.floor(delivery.expiresAt.getTime() / 1000)}:R>); ` +
        `after that, \`/show job:${shortId(view.jobId)}\` posts a fresh one.`, [
        { type: ComponentType.ActionRow, components: [{ type: ComponentType.Button, style: ButtonStyle.Link, label: "⬇️ Download the video", url: delivery.url }] },
      ]),
      linkUrl: delivery.url,
    };
  }
  return body(
    `${head}\nThe video is ${mb(delivery.bytes)}, over the ${mb(delivery.limit)} upload limit here, and I have no public address to link it from. ` +
      `It is stored in the bot's media store as \`${delivery.where}\`; ask the operator for it (setting PUBLIC_URL lets me post a link).`,
  );
}
