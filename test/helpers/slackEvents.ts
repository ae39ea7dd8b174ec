/**
 * What Slack's servers send a bot when people act, signed like Slack signs it (HMAC v0): events,
 * slash commands, button clicks and modal submissions, to the real Bolt HTTPReceiver. Shared by
 * the Slack suites; payload shapes follow https://docs.slack.dev/reference/interaction-payloads.
 */
import { createHmac } from "node:crypto";
import type { SlackStandin, StandinMessage } from "../standins/slack.js";

export interface SlackSender {
  post(body: string, contentType: string, headers?: Record<string, string>, secret?: string): Promise<Response>;
  eventBody(event: Record<string, unknown>, eventId?: string): string;
  sendEvent(body: string, headers?: Record<string, string>): Promise<Response>;
  command(name: string, text: string, user: string, channel: string): Promise<{ res: Response; responseId: string }>;
  responseText(id: string): string;
  click(message: StandinMessage, actionId: string, user: string, value?: string): Promise<Response>;
  submitEdit(privateMetadata: string, note: string, user: string): Promise<Response>;
  fileShareEvent(file: object, ts: string, user: string, channel: string): Record<string, unknown>;
}

/** `slack` and `port` are read when a request is made (suites create them in beforeAll). */
export function slackSender(options: { slack: () => SlackStandin; port: () => number; secret: string; team: string; names?: Record<string, string> }): SlackSender {
  const { secret: SECRET, team: TEAM } = options;
  const slack = { trigger: () => options.slack().trigger(), responseUrl: (id: string) => options.slack().responseUrl(id), responses: () => options.slack().responses };
  const nameOf = (user: string) => options.names?.[user] ?? user.toLowerCase();
  let eventSeq = 0;
  let responseSeq = 0;

  const post = (body: string, contentType: string, headers: Record<string, string> = {}, secret = SECRET) => {
    const ts = Math.floor(Date.now() / 1000);
    const signature = "v0=" + createHmac("sha256", secret).update(`v0:${ts}:${body}`).digest("hex");
    return fetch(`http://127.0.0.1:${options.port()}/slack/events`, {
      method: "POST", body,
      headers: { "content-type": contentType, "x-slack-request-timestamp": String(ts), "x-slack-signature": signature, ...headers },
    });
  };
  const eventBody = (event: Record<string, unknown>, eventId = `Ev${Date.now()}x${++eventSeq}`) =>
    JSON.stringify({
      token: "legacy", team_id: TEAM, api_app_id: "A0APP", type: "event_callback", event_id: eventId, event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ team_id: TEAM, user_id: "UBOT", is_bot: true }], event,
    });
  return {
    post,
    eventBody,
    sendEvent: (body, headers = {}) => post(body, "application/json", headers),
    async command(name, text, user, channel) {
      const responseId = `r${++responseSeq}`;
      const body = new URLSearchParams({
        token: "legacy", team_id: TEAM, team_domain: "standin", channel_id: channel, channel_name: "general", user_id: user,
        user_name: nameOf(user), command: name, text, api_app_id: "A0APP",
        response_url: slack.responseUrl(responseId), trigger_id: slack.trigger(),
      }).toString();
      return { res: await post(body, "application/x-www-form-urlencoded"), responseId };
    },
    responseText: (id) => slack.responses().filter((r) => r.id === id).map((r) => String(r.body.text)).join("\n"),
    click(message, actionId, user, value = actionId) {
      const payload = {
        type: "block_actions", team: { id: TEAM, domain: "standin" }, api_app_id: "A0APP", token: "legacy",
        user: { id: user, username: nameOf(user), name: nameOf(user), team_id: TEAM },
        container: { type: "message", message_ts: message.ts, channel_id: message.channel, is_ephemeral: false, ...(message.threadTs ? { thread_ts: message.threadTs } : {}) },
        trigger_id: slack.trigger(), channel: { id: message.channel, name: "general" },
        // Slack sends the clicked message, blocks included.
        message: { type: "message", ts: message.ts, text: message.text, blocks: message.blocks, ...(message.threadTs ? { thread_ts: message.threadTs } : {}) },
        response_url: slack.responseUrl("click"),
        actions: [{ type: "button", action_id: actionId, block_id: "decide", value, action_ts: String(Date.now() / 1000), text: { type: "plain_text", text: "x" } }],
      };
      return post(`payload=${encodeURIComponent(JSON.stringify(payload))}`, "application/x-www-form-urlencoded");
    },
    submitEdit(privateMetadata, note, user) {
      const payload = {
        type: "view_submission", team: { id: TEAM, domain: "standin" }, api_app_id: "A0APP", token: "legacy", trigger_id: slack.trigger(),
        user: { id: user, username: nameOf(user), name: nameOf(user), team_id: TEAM },
        view: {
          id: "V0EDIT", team_id: TEAM, type: "modal", callback_id: "rb_edit", private_metadata: privateMetadata, hash: "h", blocks: [],
          title: { type: "plain_text", text: "Edit" }, close: null, submit: null, state: { values: { note: { note: { type: "plain_text_input", value: note } } } },
          app_id: "A0APP", bot_id: "BBOT", root_view_id: "V0EDIT", previous_view_id: null, external_id: "", clear_on_close: false, notify_on_close: false,
          app_installed_team_id: TEAM,
        },
        response_urls: [],
      };
      return post(`payload=${encodeURIComponent(JSON.stringify(payload))}`, "application/x-www-form-urlencoded");
    },
    fileShareEvent: (file, ts, user, channel) => ({
      type: "message", subtype: "file_share", text: "", files: [file], upload: false, user, display_as_bot: false, ts, channel,
      channel_type: channel.startsWith("D") ? "im" : "channel", event_ts: ts,
    }),
  };
}

export const buttonsOf = (m: StandinMessage): any[] => m.blocks.filter((b) => b.type === "actions").flatMap((b) => b.elements);
const sceneNo = (m: StandinMessage) => Number(/(?:Scene|Shot) (\d+)\//.exec(m.blocks[0].text.text)?.[1] ?? 0);
export const cardsIn = (slack: SlackStandin, channel: string, threadTs: string) =>
  slack.thread(channel, threadTs).filter((m) => m.blocks.some((b) => b.block_id === "scene")).sort((a, b) => sceneNo(a) - sceneNo(b));
export const buttonFor = (m: StandinMessage, decision: "G" | "Y" | "R") =>
  buttonsOf(m).find((e) => String(e.action_id).endsWith(`:${decision}`))?.action_id as string;
export const textOf = (m: StandinMessage) => JSON.stringify(m.blocks);
