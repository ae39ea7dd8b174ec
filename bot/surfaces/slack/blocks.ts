import type { types } from "@slack/bolt";
import { DECISION_LABELS, encodeButton, progressSquares, type JobView, type SceneCard } from "../../views.js";
import type { Decision } from "../../../graph/state.js";
import { impactNote, redoLabel } from "../common/impact.js";
import { approveAllPrice, credits as creditWords, forPrice, scenePrice, spentText } from "../common/money.js";

/*
 * Block Kit for the view model in bot/views.ts, and nothing else: the status message, one card
 * per scene, the edit modal. Pure functions, so they are cheap to hash and to test.
 */

type KnownBlock = types.KnownBlock;
export interface SlackMessage {
  /** Notification and screen-reader fallback. */
  text: string;
  blocks: KnownBlock[];
}

export const ACTION_APPROVE_ALL = "job_approve_all";
export const ACTION_CANCEL = "job_cancel";
export const ACTION_RETRY = "job_retry";
/** 🕘 Versions on a card; its value is `<job>:<scene index>`. */
export const ACTION_VERSIONS = "rb_versions";
/** 🔁 Redo on a shot's impact note: the later shots drawn from it; value `<job>:<shot index>`. */
export const ACTION_REDO = "rb_redo";
export const EDIT_CALLBACK = "rb_edit";
export const EDIT_BLOCK = "note";
export const NOTE_MAX = 500;

const TERMINAL: JobView["stage"][] = ["done", "flagged", "failed", "cancelled"];
export const isTerminal = (view: JobView) => TERMINAL.includes(view.stage);

const STAGE: Record<JobView["stage"], string> = {
  analyzing: "🔍 Analysing",
  styling: "🎨 Styling",
  directing: "✍️ Storyboarding",
  reviewing: "👀 Review",
  assembling: "🧵 Assembling",
  done: "🎉 Done",
  flagged: "🚩 Flagged",
  failed: "❌ Failed",
  cancelled: "🛑 Cancelled",
};

const DECIDED: Record<Decision | "REVERT", string> = {
  GREEN: "🟢 Approved", YELLOW: "🟡 Edit requested", RED: "🔴 Re-roll requested", REVERT: "↩️ Reverted",
};

/** Escapes text for mrkdwn: user- and model-written strings must not become mentions or links. */
export function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A person as the view names them: a Slack user id becomes a mention, anything else stays text. */
export function who(name: string | null): string {
  if (!name) return "someone";
  return /^[UW][A-Z0-9]{2,}$/.test(name) ? `<@${name}>` : esc(name);
}

export const shortId = (jobId: string) => jobId.slice(0, 8);

/** The job's one status message: stage, a square per scene, what was spent, and the job-wide buttons. */
export function statusMessage(view: JobView): SlackMessage {
  const squares = progressSquares(view);
  const waiting = view.scenes.filter((s) => s.awaiting === "review").length;
  const blocks: KnownBlock[] = [
    { type: "section", block_id: "status", text: { type: "mrkdwn", text: `*${STAGE[view.stage]}* · ${esc(view.statusLine)}` } },
    {
      type: "context",
      block_id: "progress",
      elements: [{
        type: "mrkdwn",
        text: [squares || "⬜", spentText(view), view.engine ? `Engine: ${view.engine}` : "", `Job \`${view.jobId}\``]
          .filter(Boolean).join("  ·  "),
      }],
    },
  ];
  if (view.error) blocks.push({ type: "section", block_id: "error", text: { type: "mrkdwn", text: `⚠️ ${esc(view.error)}` } });
  if (view.stage === "failed") {
    blocks.push({
      type: "actions", block_id: "job_actions",
      elements: [{
        type: "button", action_id: ACTION_RETRY, value: view.jobId, style: "primary",
        text: { type: "plain_text", text: "🔁 Try again", emoji: true },
        confirm: {
          title: { type: "plain_text", text: "Try this job again?" },
          text: { type: "mrkdwn", text: "It goes on from where it stopped. Everything already approved, previewed or rendered is kept and not paid again." },
          confirm: { type: "plain_text", text: "Try again" },
          deny: { type: "plain_text", text: "Not now" },
        },
      }],
    });
  }
  if (!isTerminal(view)) {
    const elements: types.Button[] = [];
    if (waiting > 0) {
      const price = approveAllPrice(view.approveAll);
      elements.push({
        type: "button", action_id: ACTION_APPROVE_ALL, value: view.jobId, style: "primary",
        // The price is on the button before anything is paid (Slack allows 75 characters).
        text: { type: "plain_text", text: `🟢 Approve all · ${price}`.slice(0, 75), emoji: true },
        confirm: {
          title: { type: "plain_text", text: `Approve every waiting ${view.kind === "song" ? "shot" : "scene"}?` },
          text: { type: "mrkdwn", text: `${price}, rendered by ${view.engine ?? "the video engine"}. ${who(view.ownerName)} has ${creditWords(view.ownerCredits)}.` },
          confirm: { type: "plain_text", text: "Approve all" },
          deny: { type: "plain_text", text: "Not yet" },
        },
      });
    }
    elements.push({
      type: "button", action_id: ACTION_CANCEL, value: view.jobId, style: "danger",
      text: { type: "plain_text", text: "🗑️ Cancel", emoji: true },
      confirm: {
        title: { type: "plain_text", text: "Cancel this job?" },
        text: { type: "mrkdwn", text: "Nothing more will be charged. Finished clips are kept." },
        confirm: { type: "plain_text", text: "Cancel job" },
        deny: { type: "plain_text", text: "Keep going" },
      },
    });
    blocks.push({ type: "actions", block_id: "job_actions", elements });
  }
  return { text: `${STAGE[view.stage]}: ${view.statusLine}`, blocks };
}

function sceneState(view: JobView, card: SceneCard): string {
  if (card.awaiting === "review" && !isTerminal(view)) return `👀 Waiting for your review · preview v${card.versionNo}`;
  if (card.awaiting === "render") return `🎬 Rendering with ${card.engine ?? view.engine ?? "the video engine"}…${card.renderNote ? ` ${esc(card.renderNote)}` : ""}`;
  switch (card.status) {
    case "scripting": return "✍️ Writing the scene…";
    case "preview_generation": return "🎨 Making a new preview…";
    case "review": return "👀 Waiting for review";
    case "rendering": return "🎬 Rendering…";
    case "completed": return "✅ Clip ready";
    case "failed": return `❌ ${esc(card.errorMessage ?? "This scene failed.")}`;
  }
}

/** Camera on the first line, the start of the script on the second. */
export function twoLines(excerpt: string): string {
  const dot = excerpt.indexOf(". ");
  if (dot < 0 || dot > 60) return esc(excerpt);
  return `_${esc(excerpt.slice(0, dot))}_\n${esc(excerpt.slice(dot + 2))}`;
}

/**
 * One scene: state, preview image (a file already shared into this channel, see docs/slack.md),
 * the script excerpt, who decided what, and 🟢/🟡/🔴 while the scene waits for a review.
 */
export function cardMessage(view: JobView, card: SceneCard, options: { previewFileId: string | null }): SlackMessage {
  const n = `${card.index + 1}/${card.count}`;
  const unit = view.kind === "song" ? "Shot" : "Scene";
  const header = [`*${unit} ${n}*`, card.timeRange ?? "", sceneState(view, card)].filter(Boolean).join(" · ");
  const blocks: KnownBlock[] = [{ type: "section", block_id: "scene", text: { type: "mrkdwn", text: header } }];
  if (options.previewFileId) {
    blocks.push({
      type: "image", block_id: "preview", slack_file: { id: options.previewFileId },
      alt_text: `Preview of scene ${n} (version ${card.versionNo})`,
    });
  }
  if (card.scriptExcerpt) blocks.push({ type: "context", block_id: "script", elements: [{ type: "mrkdwn", text: twoLines(card.scriptExcerpt) }] });
  if (card.lastDecision && card.decidedBy) {
    blocks.push({ type: "context", block_id: "decided", elements: [{ type: "mrkdwn", text: `${DECIDED[card.lastDecision]} by ${who(card.decidedBy)}` }] });
  }
  const impact = isTerminal(view) ? null : impactNote(view, card);
  if (impact) blocks.push({ type: "context", block_id: "impact", elements: [{ type: "mrkdwn", text: `↪️ ${esc(impact)}` }] });
  const redo = isTerminal(view) ? null : redoLabel(view, card);
  // Offered while the card waits for a review (where Revert can act); once decided, a card keeps no
  // buttons, like an edited chat message, and /versions still lists its history.
  const versions: types.Button = {
    type: "button", action_id: ACTION_VERSIONS, value: `${view.jobId}:${card.index}`,
    text: { type: "plain_text", text: "🕘 Versions", emoji: true },
  };
  if (card.awaiting === "review" && !isTerminal(view)) {
    const id = (decision: Decision) => encodeButton({ jobId: view.jobId, sceneIndex: card.index, versionNo: card.versionNo, decision });
    const engine = card.engine ?? view.engine ?? "the video engine";
    const price = scenePrice(card);
    blocks.push({
      type: "actions",
      block_id: "decide",
      elements: [
        {
          type: "button", action_id: id("GREEN"), value: id("GREEN"), style: "primary",
          // The price is on the button, and again in the confirmation, before anything is paid.
          text: { type: "plain_text", text: `${DECISION_LABELS.GREEN} · ${price}`.slice(0, 75), emoji: true },
          confirm: {
            title: { type: "plain_text", text: `Approve ${unit.toLowerCase()} ${card.index + 1}?` },
            text: { type: "mrkdwn", text: `${unit} ${n} goes to ${engine} ${forPrice(price)}. ${who(view.ownerName)} has ${creditWords(view.ownerCredits)}.` },
            confirm: { type: "plain_text", text: "Approve" },
            deny: { type: "plain_text", text: "Not yet" },
          },
        },
        { type: "button", action_id: id("YELLOW"), value: id("YELLOW"), text: { type: "plain_text", text: DECISION_LABELS.YELLOW, emoji: true } },
        { type: "button", action_id: id("RED"), value: id("RED"), style: "danger", text: { type: "plain_text", text: DECISION_LABELS.RED, emoji: true } },
        ...(card.versionNo > 1 ? [versions] : []),
        ...(redo ? [{ type: "button" as const, action_id: ACTION_REDO, value: `${view.jobId}:${card.index}`, text: { type: "plain_text" as const, text: redo, emoji: true } }] : []),
      ],
    });
  }
  return { text: `${unit} ${n}: ${sceneState(view, card)}`, blocks };
}

/** The same card without its image: for when Slack refuses the file reference (still processing). */
export function withoutImage(message: SlackMessage): SlackMessage {
  return { ...message, blocks: message.blocks.filter((b) => b.type !== "image") };
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/**
 * The final video as a link, with when the link stops working: Slack renders `<!date^…>` in each
 * reader's own time zone (https://docs.slack.dev/messaging/formatting-message-text#date-formatting).
 */
export function finalLinkText(f: { jobId: string; summary: string; bytes: number; limit: number; link: { url: string; expiresAt: Date } | null; key: string }): string {
  const head = `🎉 The final video is ready (${f.summary}). At ${mb(f.bytes)} it is over the ${mb(f.limit)} upload limit`;
  if (!f.link) return `${head}, and this bot has no public address to link it from. It is kept in the bot's media store as \`${esc(f.key)}\`; ask the operator for it.`;
  const unix = Math.floor(f.link.expiresAt.getTime() / 1000);
  const days = Math.round((f.link.expiresAt.getTime() - Date.now()) / 86_400_000);
  const until = `<!date^${unix}^{date_long_pretty} at {time}|${f.link.expiresAt.toISOString()}>`;
  return `${head}, so here is a link: <${f.link.url}|Download the video>. The link works until ${until}` +
    `${days >= 1 ? ` (${days} day${days === 1 ? "" : "s"})` : ""}; after that, \`/show ${shortId(f.jobId)}\` posts a fresh one.`;
}

/** Where a modal's answer goes; carried in private_metadata (Slack gives it back verbatim). */
export interface EditMetadata {
  /** The 🟡 button's encoded action. */
  action: string;
  channel: string;
  threadTs?: string;
}

/** 🟡: what should change, required, at most 500 characters. `script` is the card's script line, already mrkdwn. */
export function editModal(metadata: EditMetadata, sceneLabel: string, script: string): types.ModalView {
  const blocks: KnownBlock[] = [];
  if (script) blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: script }] });
  blocks.push({
    type: "input",
    block_id: EDIT_BLOCK,
    label: { type: "plain_text", text: "What should change?" },
    element: {
      type: "plain_text_input", action_id: EDIT_BLOCK, multiline: true, max_length: NOTE_MAX, min_length: 1,
      placeholder: { type: "plain_text", text: "e.g. warmer light, slower camera, logo bigger" },
    },
  });
  return {
    type: "modal",
    callback_id: EDIT_CALLBACK,
    private_metadata: JSON.stringify(metadata),
    title: { type: "plain_text", text: modalTitle(`Edit ${sceneLabel}`) },
    submit: { type: "plain_text", text: "Request edit" },
    close: { type: "plain_text", text: "Cancel" },
    blocks,
  };
}

/** A modal that only says something (an open 🟡 modal turned into a refusal). */
export function noticeModal(title: string, text: string): types.ModalView {
  return {
    type: "modal",
    title: { type: "plain_text", text: modalTitle(title) },
    close: { type: "plain_text", text: "OK" },
    blocks: [{ type: "section", text: { type: "mrkdwn", text: esc(text) } }],
  };
}

/** Modal titles are at most 24 characters (https://docs.slack.dev/reference/views/modal-views). */
const modalTitle = (text: string) => (text.length > 24 ? `${text.slice(0, 23)}…` : text);
