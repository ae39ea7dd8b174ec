/**
 * The stand-ins refuse what Slack and Discord refuse. Each rule the surfaces rely on is checked
 * here once, through the real clients (@slack/web-api, @discordjs/rest) where they make the call,
 * so a stand-in that starts accepting something the platform refuses fails here, not in production.
 */
import { REST, DiscordAPIError, Routes } from "discord.js";
import { webApi } from "@slack/bolt";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSlackStandin, type SlackStandin } from "./standins/slack.js";
import { createDiscordStandin, type DiscordStandin } from "./standins/discord.js";
import { DEFAULT_BOT_PERMISSIONS, PERMISSIONS } from "./standins/discord-rules.js";
import { commandDefinitions } from "../bot/surfaces/discord/commands.js";

const SLACK_TOKEN = "xoxb-standin-self-test";
const DISCORD_TOKEN = "MTAxNTk3NjQ4MzI5MTIzODQwMA.GfAkE1.standin-self-test";

describe("Slack stand-in", () => {
  let slack: SlackStandin;
  let client: webApi.WebClient;
  const png = () => sharp({ create: { width: 8, height: 8, channels: 3, background: "#f00" } }).png().toBuffer();
  /** The error code Slack answered, or "ok". */
  const outcome = (p: Promise<unknown>) => p.then(() => "ok", (err: { data?: { error?: string }; code?: string }) => err.data?.error ?? err.code ?? String(err));

  beforeAll(async () => {
    slack = await createSlackStandin({ token: SLACK_TOKEN, channels: { C1: ["UBOT", "U1"], C2: ["U1"] } });
    client = new webApi.WebClient(SLACK_TOKEN, { slackApiUrl: slack.apiUrl, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });
  });
  afterAll(() => slack.close());

  it("enforces Block Kit and text limits", async () => {
    const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
    const button = (over: Record<string, unknown>) => ({ type: "actions", elements: [{ type: "button", action_id: "a", text: { type: "plain_text", text: "ok" }, ...over }] });
    const post = (blocks: unknown[], text = "x") => outcome(client.chat.postMessage({ channel: "C1", text, blocks: blocks as never }));
    expect(await post(Array.from({ length: 50 }, (_, i) => ({ ...section("s"), block_id: `b${i}` })))).toBe("ok");
    await new Promise((r) => setTimeout(r, 1100)); // chat.postMessage: about one a second per channel
    expect(await post(Array.from({ length: 51 }, () => section("s")))).toBe("invalid_blocks");
    expect(await post([section("x".repeat(3001))])).toBe("invalid_blocks");
    expect(await post([button({ text: { type: "plain_text", text: "x".repeat(76) } })])).toBe("invalid_blocks");
    expect(await post([button({ action_id: "x".repeat(256) })])).toBe("invalid_blocks");
    expect(await post([button({ value: "x".repeat(2001) })])).toBe("invalid_blocks");
    expect(await post([button({ style: "warning" })])).toBe("invalid_blocks");
    expect(await post([{ ...section("a"), block_id: "same" }, { ...section("b"), block_id: "same" }])).toBe("invalid_blocks");
    expect(await outcome(client.chat.postMessage({ channel: "C1", text: "x".repeat(40_001) }))).toBe("msg_too_long");
    const refused = await client.chat.postMessage({ channel: "C1", text: "x", blocks: [button({ text: { type: "plain_text", text: "x".repeat(76) } })] as never })
      .catch((err: { data: { errors: string[] } }) => err.data.errors[0]);
    expect(refused).toBe("must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]");
  });

  it("shows a slack_file only once processed (about a second), in the channel it was shared to, and only png/jpg/gif", async () => {
    const image = (id: string) => [{ type: "image", alt_text: "p", slack_file: { id } }];
    const uploaded = (await client.filesUploadV2({ channel_id: "C1", file: await png(), filename: "p.png" })) as { files: Array<{ files: Array<{ id: string }> }> };
    const id = uploaded.files[0].files[0].id;
    expect(await outcome(client.chat.postMessage({ channel: "C1", text: "x", blocks: image(id) as never }))).toBe("invalid_blocks");
    await new Promise((r) => setTimeout(r, 1100));
    expect(await outcome(client.chat.postMessage({ channel: "C1", text: "x", blocks: image(id) as never }))).toBe("ok");
    slack.addChannel("C3", ["UBOT"]);
    expect(await outcome(client.chat.postMessage({ channel: "C3", text: "x", blocks: image(id) as never }))).toBe("invalid_blocks");
    const webp = (await client.filesUploadV2({ channel_id: "C3", file: await png(), filename: "p.webp" })) as { files: Array<{ files: Array<{ id: string }> }> };
    await new Promise((r) => setTimeout(r, 1100));
    expect(await outcome(client.chat.postMessage({ channel: "C3", text: "x", blocks: image(webp.files[0].files[0].id) as never }))).toBe("invalid_blocks");
  });

  it("checks a slack_file used as a section's image accessory or a context image like an image block's", async () => {
    const uploaded = (await client.filesUploadV2({ channel_id: "C1", file: await png(), filename: "t.png" })) as { files: Array<{ files: Array<{ id: string }> }> };
    const id = uploaded.files[0].files[0].id;
    await new Promise((r) => setTimeout(r, 1100));
    const accessory = (fileId: string) => [{ type: "section", text: { type: "mrkdwn", text: "v1" }, accessory: { type: "image", alt_text: "v1", slack_file: { id: fileId } } }];
    const context = (fileId: string) => [{ type: "context", elements: [{ type: "image", alt_text: "v1", slack_file: { id: fileId } }, { type: "mrkdwn", text: "v1" }] }];
    expect(await outcome(client.chat.postEphemeral({ channel: "C1", user: "U1", text: "x", blocks: accessory(id) as never }))).toBe("ok");
    expect(await outcome(client.chat.postEphemeral({ channel: "C1", user: "U1", text: "x", blocks: accessory("F0NOPE") as never }))).toBe("invalid_blocks");
    expect(await outcome(client.chat.postEphemeral({ channel: "C1", user: "U1", text: "x", blocks: context("F0NOPE") as never }))).toBe("invalid_blocks");
    const noAlt = [{ type: "section", text: { type: "mrkdwn", text: "v1" }, accessory: { type: "image", slack_file: { id } } }];
    expect(await outcome(client.chat.postEphemeral({ channel: "C1", user: "U1", text: "x", blocks: noAlt as never }))).toBe("invalid_blocks");
  });

  it("rate-limits a burst of posts in one channel with 429 and Retry-After", async () => {
    slack.addChannel("C4", ["UBOT"]);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await outcome(client.chat.postMessage({ channel: "C4", text: `n${i}` })));
    expect(results).toEqual(["ok", "ok", "ok", "slack_webapi_rate_limited_error"]);
    expect(slack.rateLimited.at(-1)).toMatchObject({ method: "chat.postMessage", channel: "C4", retryAfterS: 1 });
  });

  it("keeps the bot to its channels and ephemeral messages to members", async () => {
    expect(await outcome(client.chat.postMessage({ channel: "C2", text: "x" }))).toBe("not_in_channel");
    expect(await outcome(client.chat.postMessage({ channel: "C404", text: "x" }))).toBe("channel_not_found");
    expect(await outcome(client.chat.postEphemeral({ channel: "C1", user: "U9", text: "x" }))).toBe("user_not_in_channel");
  });

  it("takes a trigger_id within 3 s and once, and checks the modal", async () => {
    const view = { type: "modal" as const, title: { type: "plain_text" as const, text: "Edit" }, blocks: [] };
    const stale = slack.trigger();
    slack.passTime(3001);
    expect(await outcome(client.views.open({ trigger_id: stale, view }))).toBe("expired_trigger_id");
    const fresh = slack.trigger();
    expect(await outcome(client.views.open({ trigger_id: fresh, view }))).toBe("ok");
    expect(await outcome(client.views.open({ trigger_id: fresh, view }))).toBe("exchanged_trigger_id");
    expect(await outcome(client.views.open({ trigger_id: "made-up", view }))).toBe("invalid_trigger_id");
    expect(await outcome(client.views.open({ trigger_id: slack.trigger(), view: { ...view, title: { type: "plain_text", text: "x".repeat(25) } } }))).toBe("invalid_arguments");
  });

  it("serves downloads only with the token (else a sign-in page) and, on Enterprise Grid, redirects them to a second host", async () => {
    const file = slack.addFile({ id: "F0SELF0001", name: "p.png", mimetype: "image/png", bytes: await png() });
    const plain = await fetch(file.url_private_download);
    expect(plain.headers.get("content-type")).toBe("text/html");
    slack.gridRedirect = true;
    try {
      const hop = await fetch(file.url_private_download, { redirect: "manual", headers: { Authorization: `Bearer ${SLACK_TOKEN}` } });
      expect(hop.status).toBe(302);
      expect(new URL(hop.headers.get("location")!).host).toBe(slack.originHost);
    } finally {
      slack.gridRedirect = false;
    }
  });
});

describe("Discord stand-in", () => {
  let discord: DiscordStandin;
  let rest: REST;
  const api = (path: string, init: RequestInit = {}) => fetch(`${discord.apiUrl}/v10${path}`, { ...init, headers: { "content-type": "application/json", ...(init.headers ?? {}) } });
  /** The Discord error code a call ended with, or "ok". */
  const outcome = (p: Promise<unknown>) => p.then(() => "ok", (err: unknown) => (err instanceof DiscordAPIError ? err.code : String(err)));

  beforeAll(async () => {
    discord = await createDiscordStandin({ token: DISCORD_TOKEN });
    rest = new REST({ api: discord.apiUrl, retries: 0 }).setToken(DISCORD_TOKEN);
    await rest.put(Routes.applicationGuildCommands(discord.appId, discord.guildId), { body: commandDefinitions("guild") });
  });
  afterAll(() => discord.close());

  it("enforces message and component limits (50035)", async () => {
    const send = (body: unknown) => outcome(rest.post(Routes.channelMessages(discord.showroom.id), { body }));
    const button = (custom_id: string, label = "ok") => ({ type: 2, style: 1, custom_id, label });
    const row = (n: number, prefix: string) => ({ type: 1, components: Array.from({ length: n }, (_, i) => button(`${prefix}${i}`)) });
    expect(await send({ content: "ok", components: [row(5, "a")] })).toBe("ok");
    expect(await send({ content: "x".repeat(2001) })).toBe(50035);
    expect(await send({ components: [row(6, "b")] })).toBe(50035);
    expect(await send({ components: Array.from({ length: 6 }, (_, i) => row(1, `r${i}-`)) })).toBe(50035);
    expect(await send({ components: [{ type: 1, components: [button("x".repeat(101))] }] })).toBe(50035);
    expect(await send({ components: [{ type: 1, components: [button("ok", "x".repeat(81))] }] })).toBe(50035);
    expect(await send({ components: [{ type: 1, components: [button("dup"), button("dup")] }] })).toBe(50035);
  });

  it("checks the bot's permissions: 50001 without View Channel, 50013 without Send Messages or Attach Files", async () => {
    const channel = discord.addTextChannel("locked");
    const file = { name: "a.png", data: new Uint8Array([1, 2, 3]) };
    discord.setBotPermissions(channel.id, DEFAULT_BOT_PERMISSIONS & ~PERMISSIONS.ATTACH_FILES);
    expect(await outcome(rest.post(Routes.channelMessages(channel.id), { body: { content: "text only" } }))).toBe("ok");
    expect(await outcome(rest.post(Routes.channelMessages(channel.id), { body: { content: "x" }, files: [file] }))).toBe(50013);
    discord.setBotPermissions(channel.id, DEFAULT_BOT_PERMISSIONS & ~PERMISSIONS.SEND_MESSAGES);
    expect(await outcome(rest.post(Routes.channelMessages(channel.id), { body: { content: "x" } }))).toBe(50013);
    discord.setBotPermissions(channel.id, DEFAULT_BOT_PERMISSIONS & ~PERMISSIONS.VIEW_CHANNEL);
    expect(await outcome(rest.post(Routes.channelMessages(channel.id), { body: { content: "x" } }))).toBe(50001);
  });

  it("threads: 160004 for a second one, archive after a day without a message (edits do not count), 50083 for edits, unarchived by a message or by the creator", async () => {
    const anchor = (await rest.post(Routes.channelMessages(discord.general.id), { body: { content: "anchor" } })) as { id: string };
    const thread = (await rest.post(Routes.threads(discord.general.id, anchor.id), { body: { name: "t", auto_archive_duration: 1440 } })) as { id: string };
    expect(thread.id).toBe(anchor.id);
    expect(await outcome(rest.post(Routes.threads(discord.general.id, anchor.id), { body: { name: "again" } }))).toBe(160004);
    const inside = (await rest.post(Routes.channelMessages(thread.id), { body: { content: "first" } })) as { id: string };
    discord.passTime(23 * 3600_000);
    expect(await outcome(rest.patch(Routes.channelMessage(thread.id, inside.id), { body: { content: "edited" } }))).toBe("ok");
    discord.passTime(2 * 3600_000); // 25 h after the last message; the edit was no activity
    expect(discord.thread(thread.id)!.thread_metadata.archived).toBe(true);
    expect(await outcome(rest.patch(Routes.channelMessage(thread.id, inside.id), { body: { content: "again" } }))).toBe(50083);
    expect(await outcome(rest.patch(Routes.channel(thread.id), { body: { archived: false } }))).toBe("ok");
    expect(await outcome(rest.patch(Routes.channelMessage(thread.id, inside.id), { body: { content: "again" } }))).toBe("ok");
    discord.passTime(25 * 3600_000);
    expect(await outcome(rest.post(Routes.channelMessages(thread.id), { body: { content: "a new message unarchives" } }))).toBe("ok");
    expect(discord.thread(thread.id)!.thread_metadata.archived).toBe(false);
    // Send Messages has no effect in threads: Send Messages in Threads does.
    discord.setBotPermissions(discord.general.id, DEFAULT_BOT_PERMISSIONS & ~PERMISSIONS.SEND_MESSAGES_IN_THREADS);
    expect(await outcome(rest.post(Routes.channelMessages(thread.id), { body: { content: "x" } }))).toBe(50013);
    discord.setBotPermissions(discord.general.id, DEFAULT_BOT_PERMISSIONS);
  });

  it("refuses a file over the upload limit with 40005", async () => {
    discord.setFileLimit(1024);
    try {
      expect(await outcome(rest.post(Routes.channelMessages(discord.showroom.id), { body: {}, files: [{ name: "big.mp4", data: new Uint8Array(2048) }] }))).toBe(40005);
    } finally {
      discord.setFileLimit(10 * 1024 * 1024);
    }
  });

  it("rate-limits a burst of messages in one channel: 429 with retry_after and the route's headers", async () => {
    const channel = discord.addTextChannel("busy");
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 7; i++) {
      const res = await api(`/channels/${channel.id}/messages`, { method: "POST", body: JSON.stringify({ content: `n${i}` }), headers: { authorization: `Bot ${DISCORD_TOKEN}` } });
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses).toContain(429);
    expect(Number((await limited!.json()).retry_after)).toBeGreaterThan(0);
    expect(limited!.headers.get("x-ratelimit-remaining")).toBe("0");
  });

  it("interactions: 3 s to answer, a follow-up while 'thinking' edits the reply and ignores ephemeral, tokens last 15 minutes, modals are checked", async () => {
    const user = discord.user("tess");
    const callback = (i: { id: string; token: string }, body: unknown) =>
      api(`/interactions/${i.id}/${i.token}/callback`, { method: "POST", body: JSON.stringify(body) });
    const webhook = (i: { token: string }, path = "", init: RequestInit = {}) => api(`/webhooks/${discord.appId}/${i.token}${path}`, init);

    const late = discord.slashCommand({ user }, discord.general.id, "status");
    discord.deliver(late);
    discord.passTime(3001);
    expect((await (await callback(late, { type: 5 })).json()).code).toBe(10062);

    const command = discord.slashCommand({ user }, discord.general.id, "status");
    discord.deliver(command);
    expect((await callback(command, { type: 5 })).status).toBe(204);
    const followUp = await (await webhook(command, "?wait=true", { method: "POST", body: JSON.stringify({ content: "private?", flags: 64 }) })).json();
    const original = await (await webhook(command, "/messages/@original")).json();
    expect(followUp.id).toBe(original.id); // it became the deferred reply…
    expect(original.flags & 64).toBe(0); // …which stays public
    const second = await (await webhook(command, "?wait=true", { method: "POST", body: JSON.stringify({ content: "now private", flags: 64 }) })).json();
    expect(second.id).not.toBe(original.id);
    expect(second.flags & 64).toBe(64);
    discord.passTime(15 * 60_000 + 1000);
    expect((await (await webhook(command, "/messages/@original", { method: "PATCH", body: JSON.stringify({ content: "too late" }) })).json()).code).toBe(50027);

    const click = discord.slashCommand({ user }, discord.general.id, "render");
    discord.deliver(click);
    const modal = { type: 9, data: { custom_id: "m", title: "x".repeat(46), components: [{ type: 18, label: "Note", component: { type: 4, custom_id: "note", style: 2 } }] } };
    expect((await (await callback(click, modal)).json()).code).toBe(50035);
  });

  it("offers guild commands only in their guild: a DM gets only global commands meant for DMs", async () => {
    const dm = discord.dmChannel(discord.user("uma"));
    expect(() => discord.slashCommand({ user: discord.user("uma"), guild: false }, dm.id, "render")).toThrow(/guild commands are not usable there/);
    await rest.put(Routes.applicationCommands(discord.appId), { body: commandDefinitions("dm") });
    expect(() => discord.slashCommand({ user: discord.user("uma"), guild: false }, dm.id, "render")).not.toThrow();
  });
});
