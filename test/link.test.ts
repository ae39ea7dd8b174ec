/**
 * /link across platforms, through both real SDKs at once: Bolt (HTTP receiver, WebClient) and
 * discord.js (gateway, REST) against their strict loopback stand-ins, one app (PGlite, offline
 * tools) underneath. A person links their Slack and Discord accounts with a one-time code, then
 * decides on Discord a job they started on Slack, paying with the same credits.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../bot/app.js";
import { loadConfig } from "../bot/config.js";
import { createSlackSurface, type SlackSurface } from "../bot/surfaces/slack/index.js";
import { createDiscordSurface, type DiscordSurface } from "../bot/surfaces/discord/index.js";
import { createChatMessages } from "../store/chatMessages.js";
import { registerCommands } from "../scripts/register-discord.js";
import { createSlackStandin, type SlackStandin } from "./standins/slack.js";
import { createDiscordStandin, type ApiUser, type DiscordStandin } from "./standins/discord.js";
import { buttonFor, cardsIn, slackSender, textOf } from "./helpers/slackEvents.js";
import { brandImage } from "./helpers/pipeline.js";
import { waitFor } from "./helpers/waitFor.js";

const SLACK_TOKEN = "xoxb-link-test-token-0001";
const SECRET = "link-test-signing-secret-0001";
const DISCORD_TOKEN = "MTAxNTk3NjQ4MzI5MTIzODQwMA.GfAkE1.link-test-token-never-valid";
const TEAM = "T0TEAM";
const ANN = "U0ANN";
const MAIN = "C0MAIN";

let slack: SlackStandin;
let discord: DiscordStandin;
let app: App;
let slackSurface: SlackSurface;
let discordSurface: DiscordSurface;
let slackPort: number;
let dataDir: string;
let annOnDiscord: ApiUser;
const send = slackSender({ slack: () => slack, port: () => slackPort, secret: SECRET, team: TEAM, names: { [ANN]: "ann" } });

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await app.runner.idle();
    await slackSurface.settled();
    await discordSurface.settled();
  }
}

/** A Discord command's private answer (the edited deferred reply). */
async function discordAnswer(name: string, options: Array<{ name: string; type: number; value: string }>, channelId = discord.general.id): Promise<string> {
  const command = discord.slashCommand({ user: annOnDiscord }, channelId, name, options);
  discord.deliver(command);
  const answer = await waitFor(`/${name} on Discord`, () => discord.callsOf(command).find((c) => c.method === "PATCH"));
  expect(discord.callsOf(command)[0].json).toMatchObject({ type: 5, data: { flags: 64 } });
  return String(answer.json.content);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "link-test-"));
  slack = await createSlackStandin({ token: SLACK_TOKEN, teamId: TEAM, channels: { [MAIN]: ["UBOT", ANN] } });
  discord = await createDiscordStandin({ token: DISCORD_TOKEN });
  annOnDiscord = discord.user("ann");
  app = await createApp(loadConfig({
    DATA_DIR: dataDir, LOG_LEVEL: "silent", SCENE_DURATION_S: "1",
    // A price per clip, so spending shows on the balance (offline engines are free by default).
    CLIP_CREDITS_KLING: "1", CLIP_CREDITS_LUMA: "1", CLIP_CREDITS_GEMINI_PRO: "1",
  }), { logger: pino({ level: "silent" }) });
  slackSurface = createSlackSurface({
    app, botToken: SLACK_TOKEN, signingSecret: SECRET, port: 0, apiUrl: slack.apiUrl,
    fileHosts: [slack.host, slack.originHost], allowHttpDownloads: true, uploadLimitBytes: 50 * 1024 * 1024,
  });
  slackPort = (await slackSurface.start()).port!;
  await registerCommands({ token: DISCORD_TOKEN, appId: discord.appId, guildId: discord.guildId, apiUrl: discord.apiUrl });
  discordSurface = createDiscordSurface({
    app, token: DISCORD_TOKEN, appId: discord.appId, apiUrl: discord.apiUrl, fileHosts: [discord.fileHost], allowHttpDownloads: true,
  });
  await discordSurface.start();
});

afterAll(async () => {
  await settle().catch(() => undefined);
  await slackSurface?.stop();
  await discordSurface?.stop();
  await app?.close();
  await slack?.close();
  await discord?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("/link: one person on Slack and Discord (real Bolt and discord.js)", () => {
  let jobId: string;
  const slackIdentity = { platform: "slack" as const, teamId: TEAM, userId: ANN };

  it("before linking, a job started on Slack is not Ann's on Discord", async () => {
    const file = slack.addFile({ id: "F0LINK0001", name: "brand.png", mimetype: "image/png", bytes: await brandImage(3), user: ANN });
    const ts = "1699990100.000100";
    await send.sendEvent(send.eventBody(send.fileShareEvent(file, ts, ANN, MAIN)));
    await settle();
    const owner = await app.runner.users.ensure(slackIdentity);
    [{ id: jobId }] = await app.runner.jobsOf(owner.id);
    expect(cardsIn(slack, MAIN, ts)).toHaveLength(3);
    expect(await discordAnswer("show", [{ name: "job", type: 3, value: jobId }], discord.showroom.id)).toContain("I can't find a job");
  });

  it("a code from /link on Slack, typed with /link on Discord, links the two accounts", async () => {
    const { responseId } = await send.command("/link", "", ANN, MAIN);
    await settle();
    const issued = send.responseText(responseId);
    expect(slack.responses.find((r) => r.id === responseId)!.body.response_type).toBe("ephemeral");
    const code = /`([2-9A-Z]{4}-[2-9A-Z]{4})`/.exec(issued)?.[1];
    expect(code).toBeDefined();
    expect(issued).toContain(`/link code:${code}`);
    expect(issued).toContain("10 credits left");

    const linked = await discordAnswer("link", [{ name: "code", type: 3, value: code! }]);
    expect(linked).toContain("Linked: this Discord account and your Slack account are now one person here.");
    // Typed again, the code no longer works.
    expect(await discordAnswer("link", [{ name: "code", type: 3, value: code! }])).toContain("doesn't match any I gave out");
  });

  it("then Ann decides on Discord the job she started on Slack, with her Slack account's credits; both places show it", async () => {
    const canonical = await app.runner.users.ensure(slackIdentity);
    const discordOwn = await app.runner.users.ensureOwn({ platform: "discord", teamId: discord.guildId, userId: annOnDiscord.id });
    const before = { canonical: canonical.credits_remaining, discord: discordOwn.credits_remaining };

    expect(await discordAnswer("show", [{ name: "job", type: 3, value: jobId.slice(0, 8) }], discord.showroom.id)).toContain("is posted below");
    await settle();
    const at = { platform: "discord" as const, channelId: discord.showroom.id, threadId: "" };
    const cardRow = (await createChatMessages(app.db).get(jobId, at, "scene:0"))!;
    const card = discord.messages.get(cardRow.messageId)!;
    const green = (card.components as any[])[0].components[0];
    expect(green.label).toBe("🟢 Approve · 1 credit");
    const click = discord.buttonClick({ user: annOnDiscord }, card, green.custom_id);
    discord.deliver(click);
    await waitFor("the approval", async () => (await app.runner.view(jobId))?.scenes[0].trafficLight === "GREEN");
    await settle();
    expect(discord.callsOf(click).filter((c) => c.path.startsWith("/webhooks/"))).toEqual([]); // no refusal

    expect((await app.runner.users.get(canonical.id))!.credits_remaining).toBe(before.canonical - 1);
    expect((await app.runner.users.get(discordOwn.id))!.credits_remaining).toBe(before.discord);
    // The Slack card says so too.
    const slackCard = cardsIn(slack, MAIN, "1699990100.000100")[0];
    expect(textOf(slackCard)).toContain("🟢 Approved by");
    expect(buttonFor(slackCard, "G")).toBeUndefined();
  });

  it("a job started on Discord is Ann's on Slack too", async () => {
    const file = discord.hostAttachment("poster.png", await brandImage(8), "image/png");
    const command = discord.slashCommand({ user: annOnDiscord }, discord.general.id, "render", [{ name: "file", type: 11, value: file.id }], [file]);
    discord.deliver(command);
    await waitFor("the Discord job", () => discord.callsOf(command).find((c) => c.method === "PATCH" && String(c.json?.content).includes("started from")));
    const owner = await app.runner.users.ensure(slackIdentity);
    const [newest] = await app.runner.jobsOf(owner.id);
    expect(newest.origin).toMatchObject({ platform: "discord", interactionId: command.id });
    const { responseId } = await send.command("/status", "", ANN, MAIN);
    await settle();
    expect(send.responseText(responseId)).toContain(newest.id.slice(0, 8));
    await app.runner.cancel({ jobId: newest.id, actor: slackIdentity });
    await settle();
  });
});
