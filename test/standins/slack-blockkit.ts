/**
 * The Block Kit and text limits Slack enforces on what a bot posts, as the Slack stand-in checks
 * them. Each limit cites the page that states it. A violation is reported the way Slack reports
 * it: `invalid_blocks` (messages) or `invalid_arguments` (views) with a message naming a JSON
 * pointer (shape from slackapi/python-slack-sdk#1658: "invalid slack file [json-pointer:/blocks/0/slack_file]").
 */

export interface Violation {
  /** What Slack says, e.g. "must be less than 76 characters". */
  message: string;
  /** JSON pointer of the offending field, e.g. /blocks/3/elements/0/text. */
  pointer: string;
}

/** Whether a slack_file id may be shown in `channel` now (uploaded, shared there, processed). */
export type SlackFileCheck = (fileId: string, channel: string) => string | null;

const BLOCK_LIMITS = {
  // https://docs.slack.dev/reference/block-kit/blocks : "a maximum of 50 blocks in each message, and 100 blocks in modals".
  messageBlocks: 50,
  viewBlocks: 100,
  // https://docs.slack.dev/reference/block-kit/blocks : block_id "Maximum length for this field is 255 characters", unique per message.
  blockId: 255,
  // https://docs.slack.dev/reference/block-kit/blocks/section-block : text "Maximum length ... 3000", fields max 10 items of 2000.
  sectionText: 3000,
  sectionFields: 10,
  sectionField: 2000,
  // https://docs.slack.dev/reference/block-kit/blocks/context-block : "Maximum number of items is 10".
  contextElements: 10,
  // https://docs.slack.dev/reference/block-kit/blocks/actions-block : "There is a maximum of 25 elements".
  actionsElements: 25,
  // https://docs.slack.dev/reference/block-kit/blocks/header-block : text "Maximum length ... 150".
  headerText: 150,
  // https://docs.slack.dev/reference/block-kit/blocks/image-block : alt_text and title 2000, image_url 3000.
  altText: 2000,
  imageUrl: 3000,
  // https://docs.slack.dev/reference/block-kit/block-elements/button-element : text 75, action_id 255, value 2000, url 3000.
  buttonText: 75,
  actionId: 255,
  buttonValue: 2000,
  buttonUrl: 3000,
  // https://docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object : title 100, text 300, confirm/deny 30.
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  // https://docs.slack.dev/reference/block-kit/blocks/input-block : label and hint 2000.
  inputLabel: 2000,
  // https://docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element : placeholder 150, max_length up to 3000.
  placeholder: 150,
  inputMaxLength: 3000,
  // https://docs.slack.dev/reference/views/modal-views (view object): title, submit and close 24; private_metadata 3000; callback_id 255.
  viewTitle: 24,
  privateMetadata: 3000,
  callbackId: 255,
} as const;

/**
 * https://docs.slack.dev/reference/methods/chat.postMessage : "The text field … will be truncated
 * at 40,000 characters"; longer text is refused with msg_too_long.
 */
export const MESSAGE_TEXT_MAX = 40_000;

/** https://docs.slack.dev/reference/block-kit/composition-objects/slack-file-object : only png, jpg, jpeg and gif. */
export const SLACK_FILE_TYPES = ["png", "jpg", "jpeg", "gif"];

class Checker {
  violation: Violation | null = null;
  fail(pointer: string, message: string): false {
    this.violation ??= { pointer, message };
    return false;
  }
  text(obj: any, pointer: string, max: number, kind?: "plain_text" | "mrkdwn"): boolean {
    if (!obj || typeof obj.text !== "string" || obj.text.length === 0) return this.fail(pointer, "must provide a text object with non-empty text");
    if (kind && obj.type !== kind) return this.fail(`${pointer}/type`, `must be a ${kind} text object`);
    if (obj.type !== "plain_text" && obj.type !== "mrkdwn") return this.fail(`${pointer}/type`, "must be plain_text or mrkdwn");
    if (obj.text.length > max) return this.fail(`${pointer}/text`, `must be less than ${max + 1} characters`);
    return true;
  }
  length(value: unknown, pointer: string, max: number, required = false): boolean {
    if (value === undefined || value === null) return required ? this.fail(pointer, "is required") : true;
    if (typeof value !== "string") return this.fail(pointer, "must be a string");
    if (required && value.length === 0) return this.fail(pointer, "must not be empty");
    if (value.length > max) return this.fail(pointer, `must be less than ${max + 1} characters`);
    return true;
  }
}

function confirm(c: Checker, obj: any, p: string): void {
  if (obj === undefined) return;
  c.text(obj.title, `${p}/title`, BLOCK_LIMITS.confirmTitle, "plain_text");
  c.text(obj.text, `${p}/text`, BLOCK_LIMITS.confirmText);
  c.text(obj.confirm, `${p}/confirm`, BLOCK_LIMITS.confirmButton, "plain_text");
  c.text(obj.deny, `${p}/deny`, BLOCK_LIMITS.confirmButton, "plain_text");
}

/** An image given as a slack_file (an image block, a section's accessory, a context element). */
function slackFile(c: Checker, file: any, p: string, channel: string | null, files: SlackFileCheck): void {
  const id = file?.id;
  const problem = typeof id === "string" && channel ? files(id, channel) : "invalid slack file";
  if (problem) c.fail(p, problem);
}

function element(c: Checker, el: any, p: string, actionIds: Set<string>, channel: string | null, files: SlackFileCheck): void {
  if (el.type === "image") {
    // https://docs.slack.dev/reference/block-kit/block-elements/image-element : alt_text required, and
    // image_url or slack_file (the same file rules as an image block).
    c.length(el.alt_text, `${p}/alt_text`, BLOCK_LIMITS.altText, true);
    if ((el.image_url === undefined) === (el.slack_file === undefined)) c.fail(p, "must provide either image_url or slack_file");
    if (el.slack_file !== undefined) slackFile(c, el.slack_file, `${p}/slack_file`, channel, files);
    return;
  }
  if (el.type === "button") {
    c.text(el.text, `${p}/text`, BLOCK_LIMITS.buttonText, "plain_text");
    c.length(el.value, `${p}/value`, BLOCK_LIMITS.buttonValue);
    c.length(el.url, `${p}/url`, BLOCK_LIMITS.buttonUrl);
    // https://docs.slack.dev/reference/block-kit/block-elements/button-element : style is "primary" or "danger" only.
    if (el.style !== undefined && el.style !== "primary" && el.style !== "danger") c.fail(`${p}/style`, "must be primary or danger");
    confirm(c, el.confirm, `${p}/confirm`);
  }
  if (el.type === "plain_text_input") {
    if (el.placeholder) c.text(el.placeholder, `${p}/placeholder`, BLOCK_LIMITS.placeholder, "plain_text");
    if (el.max_length !== undefined && (el.max_length < 1 || el.max_length > BLOCK_LIMITS.inputMaxLength)) c.fail(`${p}/max_length`, "must be between 1 and 3000");
  }
  if (el.action_id !== undefined || el.type === "button") {
    // action_id is optional for a button (Slack generates one), but when given it is bounded and unique per block set.
    if (el.action_id !== undefined) {
      c.length(el.action_id, `${p}/action_id`, BLOCK_LIMITS.actionId, true);
      if (actionIds.has(el.action_id)) c.fail(`${p}/action_id`, "must be unique");
      actionIds.add(el.action_id);
    }
  }
}

function block(c: Checker, b: any, p: string, channel: string | null, files: SlackFileCheck, actionIds: Set<string>): void {
  switch (b.type) {
    case "section":
      if (b.text) c.text(b.text, `${p}/text`, BLOCK_LIMITS.sectionText);
      if (b.fields) {
        if (b.fields.length > BLOCK_LIMITS.sectionFields) c.fail(`${p}/fields`, "must have at most 10 items");
        b.fields.forEach((f: any, i: number) => c.text(f, `${p}/fields/${i}`, BLOCK_LIMITS.sectionField));
      }
      if (!b.text && !b.fields) c.fail(p, "must provide text or fields");
      if (b.accessory) element(c, b.accessory, `${p}/accessory`, actionIds, channel, files);
      break;
    case "context":
      if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > BLOCK_LIMITS.contextElements) {
        c.fail(`${p}/elements`, "must have 1 to 10 items");
      } else b.elements.forEach((e: any, i: number) => (e.type === "image" ? element(c, e, `${p}/elements/${i}`, actionIds, channel, files) : c.text(e, `${p}/elements/${i}`, BLOCK_LIMITS.sectionText)));
      break;
    case "actions":
      if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > BLOCK_LIMITS.actionsElements) {
        c.fail(`${p}/elements`, "must have 1 to 25 items");
      } else b.elements.forEach((e: any, i: number) => element(c, e, `${p}/elements/${i}`, actionIds, channel, files));
      break;
    case "header":
      c.text(b.text, `${p}/text`, BLOCK_LIMITS.headerText, "plain_text");
      break;
    case "divider":
      break;
    case "image": {
      c.length(b.alt_text, `${p}/alt_text`, BLOCK_LIMITS.altText, true);
      if (b.title) c.text(b.title, `${p}/title`, BLOCK_LIMITS.altText, "plain_text");
      // https://docs.slack.dev/reference/block-kit/blocks/image-block : exactly one of image_url and slack_file.
      if ((b.image_url === undefined) === (b.slack_file === undefined)) {
        c.fail(p, "must provide either image_url or slack_file");
        break;
      }
      if (b.image_url !== undefined) c.length(b.image_url, `${p}/image_url`, BLOCK_LIMITS.imageUrl, true);
      if (b.slack_file !== undefined) slackFile(c, b.slack_file, `${p}/slack_file`, channel, files);
      break;
    }
    case "input":
      c.text(b.label, `${p}/label`, BLOCK_LIMITS.inputLabel, "plain_text");
      if (b.hint) c.text(b.hint, `${p}/hint`, BLOCK_LIMITS.inputLabel, "plain_text");
      if (!b.element) c.fail(`${p}/element`, "is required");
      else element(c, b.element, `${p}/element`, actionIds, channel, files);
      break;
    default:
      c.fail(`${p}/type`, `unsupported block type ${String(b.type)}`);
  }
}

function blocks(c: Checker, list: unknown, max: number, channel: string | null, files: SlackFileCheck): void {
  if (!Array.isArray(list)) return void c.fail("/blocks", "must be an array");
  if (list.length > max) return void c.fail("/blocks", `must have at most ${max} items`);
  const blockIds = new Set<string>();
  const actionIds = new Set<string>();
  list.forEach((b: any, i: number) => {
    if (b.block_id !== undefined) {
      c.length(b.block_id, `/blocks/${i}/block_id`, BLOCK_LIMITS.blockId, true);
      if (blockIds.has(b.block_id)) c.fail(`/blocks/${i}/block_id`, "must be unique");
      blockIds.add(b.block_id);
    }
    block(c, b, `/blocks/${i}`, channel, files, actionIds);
  });
}

/** Blocks of a chat.postMessage / chat.update: null when Slack would take them. */
export function messageBlocksViolation(list: unknown, channel: string, files: SlackFileCheck): Violation | null {
  if (list === undefined) return null;
  const c = new Checker();
  blocks(c, list, BLOCK_LIMITS.messageBlocks, channel, files);
  return c.violation;
}

/** A view of views.open / views.update: null when Slack would take it. */
export function viewViolation(view: any): Violation | null {
  const c = new Checker();
  if (!view || view.type !== "modal") return c.fail("/view/type", "must be modal") || c.violation;
  c.text(view.title, "/view/title", BLOCK_LIMITS.viewTitle, "plain_text");
  if (view.submit) c.text(view.submit, "/view/submit", BLOCK_LIMITS.viewTitle, "plain_text");
  if (view.close) c.text(view.close, "/view/close", BLOCK_LIMITS.viewTitle, "plain_text");
  c.length(view.private_metadata, "/view/private_metadata", BLOCK_LIMITS.privateMetadata);
  c.length(view.callback_id, "/view/callback_id", BLOCK_LIMITS.callbackId);
  // https://docs.slack.dev/reference/views/modal-views : a modal with an input block needs a submit button.
  if (Array.isArray(view.blocks) && view.blocks.some((b: any) => b.type === "input") && !view.submit) c.fail("/view/submit", "is required with input blocks");
  blocks(c, view.blocks, BLOCK_LIMITS.viewBlocks, null, () => "invalid slack file");
  return c.violation;
}
