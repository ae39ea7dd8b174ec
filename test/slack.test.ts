/**
 * The Slack surface end to end: the real Bolt HTTPReceiver gets signed requests (HMAC v0), the
 * real WebClient talks to a loopback Slack API stand-in, and the real runner drives jobs with the
 * offline tools. Assertions are on what Slack would have been asked to do (the stand-in's record)
 * and on the job as the runner sees it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import sharp from "sharp";
import { WebSocketServer } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../bot/app.js";
import { loadConfig } from "../bot/config.js";
import { decodeButton } from "../bot/views.js";
import { SLACK_FILE_HOSTS, createSlackSurface, type SlackSurface } from "../bot/surfaces/slack/index.js";
import { downloadAttachment } from "../bot/surfaces/download.js";
import type { UserFacingError } from "../core/errors.js";
import { parseSceneReply } from "../bot/surfaces/slack/jobs.js";
import { fileIdIn, urlIn } from "../bot/surfaces/slack/listeners/commands/render.js";
import { createChatMessages } from "../store/chatMessages.js";
import { songMp3 } from "./helpers/pipeline.js";
import { createSlackStandin, type SlackStandin, type StandinMessage } from "./standins/slack.js";
import { buttonFor, buttonsOf, cardsIn as cardsInThread, slackSender, textOf } from "./helpers/slackEvents.js";
import { waitFor } from "./helpers/waitFor.js";

const TOKEN = "xoxb-standin-secret-token-0001";
const APP_TOKEN = "xapp-standin-secret-token-0001";
const SECRET = "standin-signing-secret-0001";
const TEAM = "T0TEAM";
const OWNER = "U0OWNER";
const OTHER = "U0OTHER";
/** A guest: can click a card in a shared view, but is not a member of the channel. */
const GUEST = "U0GUEST";
const MAIN = "C0MAIN";
const ELSEWHERE = "C0ELSE";

let slack: SlackStandin;
let dataDir: string;
let app: App;
let surface: SlackSurface;
let port: number;
const logLines: string[] = [];

async function brandImage(seed = 0): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240">
    <rect width="320" height="240" fill="#f4efe6"/><circle cx="${90 + seed}" cy="120" r="60" fill="#d0342c"/>
    <rect x="170" y="60" width="110" height="120" fill="#1f4e79"/><polygon points="30,220 150,200 90,170" fill="#f2b705"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

async function boot(): Promise<void> {
  // Debug level on purpose: the test checks that not one line, Bolt's and the WebClient's included, holds a secret.
  const sink = new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } });
  app = await createApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: "silent", SCENE_DURATION_S: "1" }), { logger: pino({ level: "debug" }, sink) });
  surface = createSlackSurface({
    app, botToken: TOKEN, signingSecret: SECRET, port: 0, apiUrl: slack.apiUrl,
    // The stand-in's two file hosts, as files.slack.com and files-origin.slack.com are in production.
    fileHosts: [slack.host, slack.originHost], allowHttpDownloads: true, uploadLimitBytes: 50 * 1024 * 1024,
  });
  port = (await surface.start()).port!;
}

async function shutdown(): Promise<void> {
  await surface?.stop();
  await app?.close();
}

/** Until nothing moves: listeners, the runner's passes, the renders and throttled edits they cause. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await surface.settled();
    await app.runner.idle();
  }
  await surface.settled();
}

const sender = slackSender({ slack: () => slack, port: () => port, secret: SECRET, team: TEAM, names: { [OWNER]: "ann", [OTHER]: "bob" } });
const { post, eventBody, sendEvent, responseText, submitEdit: submitAs } = sender;
const command = (name: string, text: string, user = OWNER, channel = MAIN) => sender.command(name, text, user, channel);
const click = (message: StandinMessage, actionId: string, user = OWNER, value = actionId) => sender.click(message, actionId, user, value);
const submitEdit = (privateMetadata: string, note: string, user = OWNER) => submitAs(privateMetadata, note, user);
const fileShareEvent = (file: object, ts: string, user = OWNER, channel = MAIN) => sender.fileShareEvent(file, ts, user, channel);
const cardsIn = (channel: string, threadTs: string) => cardsInThread(slack, channel, threadTs);

// State the scenarios share, in order: one job from a dropped file, one from /render.
const DROP_TS = "1699990000.000100";
let jobId: string;
let statusTs: string;
let render: { jobId: string; statusTs: string };

beforeAll(async () => {
  slack = await createSlackStandin({
    token: TOKEN, appToken: APP_TOKEN, teamId: TEAM, botUserId: "UBOT", botId: "BBOT",
    channels: { [MAIN]: ["UBOT", OWNER, OTHER], [ELSEWHERE]: ["UBOT", OWNER], C0LINK: ["UBOT", OWNER] },
  });
  dataDir = await mkdtemp(join(tmpdir(), "slack-surface-"));
  await boot();
});

afterAll(async () => {
  await shutdown();
  await slack?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("Slack surface (real Bolt, loopback Slack API)", () => {
  it("parses scene replies and /render links", () => {
    expect(parseSceneReply("scene 2: warmer light")).toEqual({ sceneIndex: 1, note: "warmer light" });
    expect(parseSceneReply("Scene #3 - slower camera")).toEqual({ sceneIndex: 2, note: "slower camera" });
    expect(parseSceneReply("looks great")).toBeNull();
    expect(urlIn("<https://acme.slack.com/files/U1/F0ABC12345/logo.png|logo>")).toBe("https://acme.slack.com/files/U1/F0ABC12345/logo.png");
    expect(fileIdIn("https://files.slack.com/files-pri/T0TEAM-F0ABC12345/download/logo.png")).toBe("F0ABC12345");
    expect(fileIdIn("https://example.com/logo.png")).toBeNull();
  });

  it("refuses a request with a bad signature (401) and does nothing", async () => {
    const before = slack.calls.length;
    const res = await post(eventBody(fileShareEvent({ id: "F0NOPE0001" }, "1699990000.000001")), "application/json", {}, "wrong-secret");
    expect(res.status).toBe(401);
    await settle();
    expect(slack.calls.length).toBe(before);
  });

  it("a dropped image starts a job in its thread: ack first, bearer download, status message, cards", async () => {
    const file = slack.addFile({ id: "F0LOGO0001", name: "acme-logo.png", mimetype: "image/png", bytes: await brandImage(), user: OWNER });
    const sentAt = Date.now();
    const res = await sendEvent(eventBody(fileShareEvent(file, DROP_TS), "EvDROP1"));
    expect(res.status).toBe(200);
    const ack = await waitFor("the acknowledgement in the thread", () => slack.callsOf("chat.postMessage").find((c) => c.args.thread_ts === DROP_TS));
    // Post first, work later: the acknowledgement is in the thread before the file is even fetched.
    expect(ack.at - sentAt).toBeLessThan(1000);
    await settle();
    expect(slack.downloads.filter((d) => d.fileId === "F0LOGO0001")).toEqual([expect.objectContaining({ authorized: true })]);
    expect(slack.downloads[0].at).toBeGreaterThanOrEqual(ack.at);

    const owner = await app.runner.users.ensure({ platform: "slack", teamId: TEAM, userId: OWNER });
    const jobs = await app.runner.jobsOf(owner.id);
    expect(jobs).toHaveLength(1);
    jobId = jobs[0].id;
    expect(jobs[0].origin).toMatchObject({ platform: "slack", channelId: MAIN, threadTs: DROP_TS, fileId: "F0LOGO0001" });

    // The acknowledgement became the status message, edited in place.
    statusTs = slack.messages.get(slack.thread(MAIN, DROP_TS)[0].ts)!.ts;
    const status = slack.messages.get(statusTs)!;
    expect(status.edits).toBeGreaterThan(0);
    expect(textOf(status)).toContain("⬜⬜⬜");
    expect(textOf(status)).toContain(`Job \`${jobId}\``);
    expect(textOf(status)).toContain("Spent 0 credits");
    expect(buttonsOf(status).map((b) => b.action_id)).toEqual(["job_approve_all", "job_cancel"]);
    // Edits of one message are throttled: at least 1.5 s apart.
    const edits = slack.callsOf("chat.update").filter((c) => c.args.ts === statusTs).map((c) => c.at);
    for (let i = 1; i < edits.length; i++) expect(edits[i] - edits[i - 1]).toBeGreaterThanOrEqual(1450);

    const cards = cardsIn(MAIN, DROP_TS);
    expect(cards).toHaveLength(3);
    const view = (await app.runner.view(jobId))!;
    cards.forEach((card, i) => {
      expect(card.blocks[0].text.text).toContain(`Scene ${i + 1}/3`);
      const image = card.blocks.find((b) => b.type === "image");
      const upload = slack.uploads.get(image.slack_file.id)!;
      expect(upload).toMatchObject({ completed: true, channelId: MAIN, threadTs: DROP_TS });
      expect(card.blocks.find((b) => b.block_id === "script").elements[0].text).toContain("\n");
      const [green, yellow, red] = buttonsOf(card);
      expect(decodeButton(green.action_id)).toEqual({ jobId, sceneIndex: i, versionNo: view.scenes[i].versionNo, decision: "GREEN" });
      // Offline engines cost nothing, and the button says so before anything is decided.
      expect(green).toMatchObject({ style: "primary", text: { text: "🟢 Approve · no charge" }, confirm: { text: { text: expect.stringContaining("at no charge. <@U0OWNER> has 10 credits.") } } });
      expect(yellow.style).toBeUndefined();
      expect(yellow.text.text).toBe("🟡 Edit");
      expect(red).toMatchObject({ style: "danger", text: { text: "🔴 Re-roll" } });
    });
    // Where everything is, for any instance after a restart.
    const chat = createChatMessages(app.db);
    const at = { platform: "slack" as const, channelId: MAIN, threadId: DROP_TS };
    expect((await chat.get(jobId, at, "status"))?.messageId).toBe(statusTs);
    for (let i = 0; i < 3; i++) expect((await chat.get(jobId, at, `scene:${i}`))?.messageId).toBe(cards[i].ts);
  });

  it("a retried delivery of the same file drop changes nothing", async () => {
    const calls = slack.calls.length;
    const file = slack.addFile({ id: "F0LOGO0001", name: "acme-logo.png", mimetype: "image/png", bytes: await brandImage(), user: OWNER });
    const res = await sendEvent(eventBody(fileShareEvent(file, DROP_TS), "EvDROP1"), { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" });
    expect(res.status).toBe(200);
    await settle();
    expect(slack.calls.length).toBe(calls);
    expect(slack.downloads).toHaveLength(1);
    const owner = await app.runner.users.ensure({ platform: "slack", teamId: TEAM, userId: OWNER });
    expect(await app.runner.jobsOf(owner.id)).toHaveLength(1);
  });

  it("a file that is not an image gets a threaded reply saying what to do, and is never downloaded", async () => {
    const pdf = slack.addFile({ id: "F0DOC00001", name: "brief.pdf", mimetype: "application/pdf", bytes: Buffer.from("%PDF-1.4"), user: OWNER });
    await sendEvent(eventBody(fileShareEvent(pdf, "1699990000.000200")));
    await settle();
    const reply = slack.thread(MAIN, "1699990000.000200");
    expect(reply).toHaveLength(1);
    expect(reply[0].text).toContain("PDF");
    expect(reply[0].text).toContain("JPEG, PNG or WebP");
    expect(slack.downloads.some((d) => d.fileId === "F0DOC00001")).toBe(false);

    // A Slack Connect stub carries no metadata: files.info first, then the same check.
    slack.addFile({ id: "F0DOC00002", name: "deck.pdf", mimetype: "application/pdf", bytes: Buffer.from("%PDF-1.4"), user: OWNER });
    await sendEvent(eventBody(fileShareEvent({ id: "F0DOC00002", file_access: "check_file_info" }, "1699990000.000210")));
    await settle();
    expect(slack.callsOf("files.info").map((c) => c.args.file)).toContain("F0DOC00002");
    expect(slack.thread(MAIN, "1699990000.000210").at(-1)!.text).toContain("PDF");
    expect(slack.downloads.some((d) => d.fileId === "F0DOC00002")).toBe(false);

    // Metadata that lies: the runner's content check refuses it, and the acknowledgement says so.
    const fake = slack.addFile({ id: "F0FAKE0001", name: "logo.png", mimetype: "image/png", bytes: Buffer.from("not really a png"), user: OWNER });
    await sendEvent(eventBody(fileShareEvent(fake, "1699990000.000220")));
    await settle();
    const [answer] = slack.thread(MAIN, "1699990000.000220");
    expect(answer.text).toMatch(/^⚠️ That file is not an image I can recognise\. Send a JPEG, PNG or WebP image/);
    const owner = await app.runner.users.ensure({ platform: "slack", teamId: TEAM, userId: OWNER });
    expect(await app.runner.jobsOf(owner.id)).toHaveLength(1);
  });

  it("the bot's own uploads (file_share from the bot user) are ignored", async () => {
    const calls = slack.calls.length;
    const own = slack.addFile({ id: "F0OWN00001", name: "scene-1-v1.jpg", mimetype: "image/jpeg", bytes: await brandImage(), user: "UBOT" });
    await sendEvent(eventBody(fileShareEvent(own, "1699990000.000300", "UBOT")));
    await settle();
    expect(slack.calls.length).toBe(calls);
  });

  it("a click by someone else is refused ephemerally and leaves the job unchanged", async () => {
    const card = cardsIn(MAIN, DROP_TS)[0];
    const before = (await app.runner.view(jobId))!.scenes[0];
    expect((await click(card, buttonFor(card, "G"), OTHER)).status).toBe(200);
    await settle();
    const refusal = slack.callsOf("chat.postEphemeral").at(-1)!;
    expect(refusal.args).toMatchObject({ channel: MAIN, user: OTHER, thread_ts: DROP_TS });
    expect(refusal.args.text).toContain("Only the person who started this job");
    const after = (await app.runner.view(jobId))!.scenes[0];
    expect(after).toMatchObject({ awaiting: "review", trafficLight: "PENDING", versionNo: before.versionNo });
    expect(buttonsOf(slack.messages.get(card.ts)!)).toHaveLength(3);
    // 🟡 from someone else: the modal opens at once (the trigger lasts 3 s), then says why not, with nothing to type in.
    await click(card, buttonFor(card, "Y"), OTHER);
    await settle();
    const opened = slack.callsOf("views.open").at(-1)!;
    expect(opened.result.ok).toBe(true);
    const refused = slack.callsOf("views.update").at(-1)!;
    expect(refused.args.view_id).toBe(opened.result.view.id);
    expect(JSON.stringify(refused.args.view.blocks)).toContain("Only the person who started this job");
    expect(refused.args.view.blocks.some((b: any) => b.type === "input")).toBe(false);
    expect((await app.runner.view(jobId))!.scenes[0].versionNo).toBe(before.versionNo);

    // A guest who is not a member of the channel cannot get an ephemeral message there
    // (user_not_in_channel); the refusal goes through the click's response_url instead.
    const responses = slack.responses.length;
    await click(card, buttonFor(card, "G"), GUEST);
    await settle();
    expect(slack.callsOf("chat.postEphemeral").at(-1)!.result).toMatchObject({ ok: false, error: "user_not_in_channel" });
    const answer = slack.responses.slice(responses).find((r) => r.id === "click")!;
    expect(answer.body).toMatchObject({ response_type: "ephemeral", replace_original: false });
    expect(answer.body.text).toContain("Only the person who started this job");
  });

  it("🟢 approves a scene; a double click changes nothing more", async () => {
    const card = cardsIn(MAIN, DROP_TS)[0];
    const green = buttonFor(card, "G");
    const ephemerals = slack.callsOf("chat.postEphemeral").length;
    await Promise.all([click(card, green), click(card, green)]);
    await settle();
    const approvals = await app.runner.store.audit.list({ action: "scene.green" });
    expect(approvals).toHaveLength(1);
    const second = slack.callsOf("chat.postEphemeral").slice(ephemerals);
    expect(second).toHaveLength(1);
    expect(second[0].args.text).toMatch(/already decided|not waiting/);
    const scene = (await app.runner.view(jobId))!.scenes[0];
    expect(scene.trafficLight).toBe("GREEN");
    const updated = slack.messages.get(card.ts)!;
    expect(buttonsOf(updated)).toHaveLength(0);
    expect(textOf(updated)).toContain("🟢 Approved by ann");
  });

  it("🟡 opens a modal; its submission gives the scene a new version on the same card", async () => {
    const card = cardsIn(MAIN, DROP_TS)[1];
    const oldImage = card.blocks.find((b) => b.type === "image").slack_file.id;
    await click(card, buttonFor(card, "Y"));
    await settle();
    const open = slack.callsOf("views.open").at(-1)!;
    expect(slack.views.size).toBeGreaterThan(0);
    const input = open.args.view.blocks.find((b: any) => b.type === "input");
    expect(input.element).toMatchObject({ type: "plain_text_input", multiline: true, max_length: 500 });
    expect(input.optional).toBeUndefined();

    // An empty note is answered inside the modal and decides nothing.
    const empty = await submitEdit(open.args.view.private_metadata, "   ");
    expect(await empty.json()).toMatchObject({ response_action: "errors", errors: { note: expect.any(String) } });
    expect((await app.runner.view(jobId))!.scenes[1].versionNo).toBe(1);

    expect((await submitEdit(open.args.view.private_metadata, "warmer light, slower camera")).status).toBe(200);
    await settle();
    const scene = (await app.runner.view(jobId))!.scenes[1];
    expect(scene).toMatchObject({ versionNo: 2, awaiting: "review" });
    const edited = slack.messages.get(card.ts)!;
    expect(cardsIn(MAIN, DROP_TS)).toHaveLength(3);
    const newImage = edited.blocks.find((b) => b.type === "image").slack_file.id;
    expect(newImage).not.toBe(oldImage);
    expect(slack.uploads.get(newImage)).toMatchObject({ completed: true, threadTs: DROP_TS });
    expect(decodeButton(buttonFor(edited, "G"))?.versionNo).toBe(2);
    expect(textOf(edited)).toContain("🟡 Edit requested by ann");
  });

  it("🔴 re-rolls a scene", async () => {
    const card = cardsIn(MAIN, DROP_TS)[2];
    await click(card, buttonFor(card, "R"));
    await settle();
    expect((await app.runner.view(jobId))!.scenes[2]).toMatchObject({ versionNo: 2, awaiting: "review", lastDecision: "RED" });
    expect(decodeButton(buttonFor(slack.messages.get(card.ts)!, "R"))?.versionNo).toBe(2);
  });

  it("a button posted before a restart works after it, editing the same messages", async () => {
    const card = cardsIn(MAIN, DROP_TS)[1];
    const green = buttonFor(card, "G");
    await shutdown();
    await boot(); // a new process: new app, new surface, same DATA_DIR; nothing carried over in memory
    const posts = slack.callsOf("chat.postMessage").length;
    await click(card, green);
    await settle();
    expect((await app.runner.view(jobId))!.scenes[1].trafficLight).toBe("GREEN");
    expect(slack.callsOf("chat.update").some((c) => c.args.ts === card.ts && !JSON.stringify(c.args.blocks).includes(":G\""))).toBe(true);
    expect(textOf(slack.messages.get(card.ts)!)).toContain("🟢 Approved by ann");
    // No card or status message was posted again: the new process found them in chat_messages.
    expect(slack.callsOf("chat.postMessage").slice(posts).filter((c) => c.args.blocks?.some((b: any) => b.block_id === "scene" || b.block_id === "status"))).toHaveLength(0);
  });

  it("Approve all finishes the job; the final MP4 is uploaded into the thread", async () => {
    await click(slack.messages.get(statusTs)!, "job_approve_all", OWNER, jobId);
    await settle();
    const view = (await app.runner.view(jobId))!;
    expect(view.stage).toBe("done");
    const finalUpload = [...slack.uploads.values()].find((u) => u.filename.endsWith(".mp4"))!;
    expect(finalUpload).toMatchObject({ completed: true, channelId: MAIN, threadTs: DROP_TS });
    expect(finalUpload.initialComment).toContain("video is ready");
    const video = await app.tools.blobs.get(view.finalVideoKey!);
    expect(Buffer.compare(finalUpload.bytes, Buffer.from(video.data))).toBe(0);
    const status = slack.messages.get(statusTs)!;
    expect(textOf(status)).toContain("🎉 Done");
    expect(textOf(status)).toContain("🟩🟩🟩");
    expect(buttonsOf(status)).toHaveLength(0);
    for (const card of cardsIn(MAIN, DROP_TS)) expect(buttonsOf(card)).toHaveLength(0);
  });

  it("/render with a link to a Slack file starts a job in a new thread", async () => {
    const file = slack.addFile({ id: "F0LOGO0002", name: "second.png", mimetype: "image/png", bytes: await brandImage(40), user: OWNER });
    const { res } = await command("/render", `<${file.permalink}>`);
    expect(res.status).toBe(200);
    await settle();
    expect(slack.callsOf("files.info").at(-1)!.args.file).toBe("F0LOGO0002");
    expect(slack.downloads.filter((d) => d.fileId === "F0LOGO0002")).toEqual([expect.objectContaining({ authorized: true })]);
    const posted = slack.callsOf("chat.postMessage").find((c) => !c.args.thread_ts && String(c.args.text).includes("second.png"))!;
    const parent = slack.messages.get(posted.result.ts)!;
    expect(parent.channel).toBe(MAIN);
    const owner = await app.runner.users.ensure({ platform: "slack", teamId: TEAM, userId: OWNER });
    const job = (await app.runner.jobsOf(owner.id)).find((j) => j.origin.fileId === "F0LOGO0002")!;
    render = { jobId: job.id, statusTs: parent.ts };
    expect(textOf(slack.messages.get(parent.ts)!)).toContain(`Job \`${job.id}\``);
    expect(cardsIn(MAIN, parent.ts)).toHaveLength(3);

    // A link to anything that is not a Slack file is refused, with no request made for it.
    const { responseId } = await command("/render", "https://evil.example/logo.png");
    await settle();
    expect(responseText(responseId)).toContain("only read files uploaded to Slack");
  });

  it("a thread reply naming a scene is an edit; an unclear one gets a re-ask", async () => {
    const reply = (text: string, ts: string) =>
      sendEvent(eventBody({ type: "message", text, user: OWNER, ts, thread_ts: render.statusTs, parent_user_id: "UBOT", channel: MAIN, channel_type: "channel", event_ts: ts }));
    await reply("scene 1: warmer light", "1699990001.000100");
    await settle();
    expect((await app.runner.view(render.jobId))!.scenes[0]).toMatchObject({ versionNo: 2, lastDecision: "YELLOW" });
    const notes = await app.runner.store.audit.list({ action: "scene.yellow" });
    expect(notes.at(-1)!.details).toMatchObject({ jobId: render.jobId, note: "warmer light" });

    await reply("looks great so far", "1699990001.000200");
    await settle();
    const reask = slack.callsOf("chat.postEphemeral").at(-1)!;
    expect(reask.args).toMatchObject({ user: OWNER, thread_ts: render.statusTs });
    expect(reask.args.text).toContain("scene 1: warmer light");
  });

  it("/status lists the caller's jobs and shows one", async () => {
    const all = await command("/status", "");
    const one = await command("/status", render.jobId.slice(0, 8));
    await settle();
    expect(responseText(all.responseId)).toContain(jobId.slice(0, 8));
    expect(responseText(all.responseId)).toContain(render.jobId.slice(0, 8));
    expect(slack.responses.find((r) => r.id === all.responseId)!.body.response_type).toBe("ephemeral");
    expect(responseText(one.responseId)).toContain(`Job \`${render.jobId}\``);
    expect(responseText(one.responseId)).toContain("waiting for review");
  });

  it("/show re-posts a job with live buttons in another channel, and a click there works", async () => {
    await command("/show", render.jobId.slice(0, 8), OWNER, ELSEWHERE);
    await settle();
    const parent = [...slack.messages.values()].find((m) => m.channel === ELSEWHERE && !m.threadTs)!;
    expect(textOf(parent)).toContain(`Job \`${render.jobId}\``);
    const cards = cardsIn(ELSEWHERE, parent.ts);
    expect(cards).toHaveLength(3);
    for (const card of cards) {
      // 🟢🟡🔴, and 🕘 Versions on a scene that has more than one.
      expect(buttonsOf(card).filter((b) => b.action_id !== "rb_versions")).toHaveLength(3);
      expect(slack.uploads.get(card.blocks.find((b) => b.type === "image").slack_file.id)).toMatchObject({ channelId: ELSEWHERE });
    }
    const chat = createChatMessages(app.db);
    expect(await chat.locations(render.jobId, "slack")).toEqual(expect.arrayContaining([
      { platform: "slack", channelId: MAIN, threadId: render.statusTs },
      { platform: "slack", channelId: ELSEWHERE, threadId: parent.ts },
    ]));

    await click(cards[1], buttonFor(cards[1], "G"));
    await settle();
    expect((await app.runner.view(render.jobId))!.scenes[1].trafficLight).toBe("GREEN");
    // Both places show it.
    expect(textOf(slack.messages.get(cards[1].ts)!)).toContain("🟢 Approved by ann");
    expect(textOf(cardsIn(MAIN, render.statusTs)[1])).toContain("🟢 Approved by ann");
  });

  it("🟡 opens its modal within Slack's 3 s trigger window even while the database is busy; the note still decides", async () => {
    const card = cardsIn(MAIN, render.statusTs)[2];
    expect(buttonFor(card, "Y")).toBeDefined();
    // Hold the (single-session) embedded database for longer than a trigger_id lives.
    const busy = app.db.transaction(() => new Promise((r) => setTimeout(r, 3500)));
    await new Promise((r) => setTimeout(r, 50));
    await click(card, buttonFor(card, "Y"));
    await busy;
    await settle();
    const open = slack.callsOf("views.open").at(-1)!;
    expect(open.result).toMatchObject({ ok: true });
    expect(open.args.view.blocks[0]).toMatchObject({ type: "context" }); // the card's script line, taken from the click
    expect(slack.callsOf("views.update").filter((c) => c.args.view_id === open.result.view.id)).toEqual([]); // the owner may edit
    await submitEdit(open.args.view.private_metadata, "slower camera");
    await settle();
    expect((await app.runner.view(render.jobId))!.scenes[2]).toMatchObject({ versionNo: 2, lastDecision: "YELLOW" });
  });

  it("a thread reply also sent to the channel (thread_broadcast) counts as a scene note", async () => {
    const before = (await app.runner.view(render.jobId))!.scenes[0].versionNo;
    const ts = "1699990001.000300";
    await sendEvent(eventBody({
      type: "message", subtype: "thread_broadcast", text: `scene 1: more contrast`, user: OWNER, ts, thread_ts: render.statusTs,
      root: { ts: render.statusTs, user: "UBOT" }, channel: MAIN, channel_type: "channel", event_ts: ts,
    }));
    await settle();
    expect((await app.runner.view(render.jobId))!.scenes[0]).toMatchObject({ versionNo: before + 1, lastDecision: "YELLOW" });
    const notes = await app.runner.store.audit.list({ action: "scene.yellow" });
    expect(notes.at(-1)!.details).toMatchObject({ jobId: render.jobId, note: "more contrast" });
  });

  it("/render in a channel the bot is not in says how to invite it, and starts nothing", async () => {
    slack.addChannel("C0NOBOT", [OWNER]);
    const file = slack.addFile({ id: "F0LOGO0009", name: "third.png", mimetype: "image/png", bytes: await brandImage(9), user: OWNER });
    const { responseId } = await command("/render", `<${file.permalink}>`, OWNER, "C0NOBOT");
    await settle();
    expect(slack.callsOf("chat.postMessage").at(-1)!.result).toMatchObject({ ok: false, error: "not_in_channel" });
    expect(responseText(responseId)).toContain("I can't post in this channel. Invite me with `/invite @reelbot`");
    expect(slack.downloads.some((d) => d.fileId === "F0LOGO0009")).toBe(false);
  });

  it("Enterprise Grid: a download redirected to files-origin.slack.com carries the token there and the job starts", async () => {
    expect(SLACK_FILE_HOSTS).toEqual(["files.slack.com", "files-origin.slack.com"]);
    slack.gridRedirect = true;
    try {
      const file = slack.addFile({ id: "F0GRID0001", name: "grid.png", mimetype: "image/png", bytes: await brandImage(12), user: OWNER });
      await sendEvent(eventBody(fileShareEvent(file, "1699990002.000100", OWNER, ELSEWHERE)));
      await settle();
      expect(slack.downloads.filter((d) => d.fileId === "F0GRID0001")).toEqual([expect.objectContaining({ authorized: true })]);
      const owner = await app.runner.users.ensure({ platform: "slack", teamId: TEAM, userId: OWNER });
      const job = (await app.runner.jobsOf(owner.id)).find((j) => j.origin.fileId === "F0GRID0001");
      expect(job).toBeDefined();
      await app.runner.cancel({ jobId: job!.id, actor: { platform: "slack", teamId: TEAM, userId: OWNER } });

      // With files-origin not allowed, the answer names the redirect instead of asking for a re-upload.
      const refused = await downloadAttachment({
        url: file.url_private_download, allowedHosts: [slack.host], maxBytes: 1 << 20, allowHttp: true, headers: { Authorization: `Bearer ${TOKEN}` },
      }).catch((err: unknown) => err as UserFacingError);
      expect((refused as UserFacingError).userMessage).toContain(`sent the download on to ${slack.originHost}`);
      expect((refused as UserFacingError).userMessage).toContain("re-uploading won't help");
    } finally {
      slack.gridRedirect = false;
    }
    // Slack's sign-in page (what a download without a usable token gets) is named as such, not judged as a broken image.
    const page = await downloadAttachment({
      url: slack.addFile({ id: "F0HTML0001", name: "x.png", mimetype: "image/png", bytes: await brandImage(1) }).url_private_download,
      allowedHosts: [slack.host], maxBytes: 1 << 20, allowHttp: true, headers: { Authorization: "Bearer xoxb-not-the-token" },
      htmlRefusal: "sign-in page",
    }).catch((err: unknown) => err as UserFacingError);
    expect((page as UserFacingError).userMessage).toBe("sign-in page");
  });

  it("a burst of posts in one channel is rate-limited by Slack (429, Retry-After) and still lands", async () => {
    slack.addChannel("C0BURST", ["UBOT"]);
    const started = Date.now();
    const posted = await Promise.all([1, 2, 3, 4, 5].map((n) => surface.bolt.client.chat.postMessage({ channel: "C0BURST", text: `burst ${n}` })));
    expect(posted.every((p) => p.ok)).toBe(true);
    expect(slack.rateLimited.filter((r) => r.channel === "C0BURST").length).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // the client waited out Retry-After
    expect([...slack.messages.values()].filter((m) => m.channel === "C0BURST")).toHaveLength(5);
  });

  it("an MP3 dropped in a DM becomes a music video: judged by its content, shot cards, the final MP4 with the song", async () => {
    // Someone new (each person may ask for 5 renders a minute; the owner above has used theirs).
    const SINGER = "U0SINGER";
    slack.addChannel("D0ANN", ["UBOT", SINGER]);
    const mp3 = await songMp3(12);
    const file = slack.addFile({ id: "F0SONG0001", name: "anthem.mp3", mimetype: "audio/mpeg", bytes: mp3, user: SINGER });
    const ts = "1699990003.000100";
    await sendEvent(eventBody(fileShareEvent(file, ts, SINGER, "D0ANN")));
    await settle();
    expect(slack.downloads.filter((d) => d.fileId === "F0SONG0001")).toEqual([expect.objectContaining({ authorized: true })]);
    const singer = await app.runner.users.ensure({ platform: "slack", teamId: TEAM, userId: SINGER });
    const job = (await app.runner.jobsOf(singer.id)).find((j) => j.origin.fileId === "F0SONG0001")!;
    const view = (await app.runner.view(job.id))!;
    expect(view.kind).toBe("song");
    const cards = cardsIn("D0ANN", ts);
    expect(cards.length).toBe(view.scenes.length);
    expect(cards.length).toBeGreaterThanOrEqual(2);
    expect(cards.every((c) => c.blocks.some((b) => b.type === "image"))).toBe(true);
    expect(textOf(cards[0])).toMatch(/0:00–0:\d\d/); // a shot's place in the song

    const status = slack.messages.get(slack.thread("D0ANN", ts)[0].ts)!;
    await click(status, "job_approve_all", SINGER, job.id);
    for (let i = 0; i < 100 && (await app.runner.view(job.id))!.stage !== "done"; i++) await settle();
    expect((await app.runner.view(job.id))!.stage).toBe("done");
    await settle();
    const final = [...slack.uploads.values()].find((u) => u.channelId === "D0ANN" && u.filename.endsWith(".mp4"))!;
    expect(final).toMatchObject({ completed: true, threadTs: ts });
    const probe = await app.tools.editor.probe({ data: new Uint8Array(final.bytes), contentType: "video/mp4" });
    expect(probe.videoCodec).toBe("h264");
    expect(probe.audioCodec).toBeTruthy();
    expect(Math.abs(probe.durationS - 12)).toBeLessThan(0.5);
  });

  it("/cancel: refused for someone else, then the owner stops the job everywhere", async () => {
    const refused = await command("/cancel", render.jobId, OTHER);
    await settle();
    expect(responseText(refused.responseId)).toContain("Only the person who started this job");
    expect((await app.runner.view(render.jobId))!.stage).not.toBe("cancelled");

    const done = await command("/cancel", render.jobId.slice(0, 8));
    await settle();
    expect(responseText(done.responseId)).toContain("Job cancelled");
    expect((await app.runner.view(render.jobId))!.stage).toBe("cancelled");
    const status = slack.messages.get(render.statusTs)!;
    expect(textOf(status)).toContain("Cancelled");
    expect(buttonsOf(status)).toHaveLength(0);
    for (const card of cardsIn(MAIN, render.statusTs)) expect(buttonsOf(card)).toHaveLength(0);
  });

  it("Socket Mode: an app token connects over a WebSocket and commands arrive as envelopes", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    slack.socketModeUrl = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
    const acks: string[] = [];
    wss.on("connection", (socket) => {
      socket.on("message", (data) => acks.push(String(JSON.parse(String(data)).envelope_id)));
      socket.send(JSON.stringify({ type: "hello", num_connections: 1, connection_info: { app_id: "A0APP" }, debug_info: { host: "standin" } }));
    });
    const socketSurface = createSlackSurface({ app, botToken: TOKEN, appToken: APP_TOKEN, port: 0, apiUrl: slack.apiUrl, uploadLimitBytes: 1 });
    try {
      await socketSurface.start();
      expect(slack.callsOf("apps.connections.open").at(-1)!.authorized).toBe(true);
      const responseId = "socket-status";
      const payload = {
        token: "legacy", team_id: TEAM, team_domain: "standin", channel_id: MAIN, channel_name: "general", user_id: OWNER, user_name: "ann",
        command: "/status", text: "", api_app_id: "A0APP", response_url: slack.responseUrl(responseId), trigger_id: "trigger-socket",
      };
      const envelope = (id: string, body: object) => {
        for (const client of wss.clients) client.send(JSON.stringify({ envelope_id: id, type: "slash_commands", payload: { ...payload, ...body }, accepts_response_payload: true }));
      };
      envelope("env-1", {});
      await waitFor("env-1 acknowledged", () => acks.includes("env-1"));
      await waitFor("the response_url answer", () => slack.responses.find((r) => r.id === responseId));
      expect(responseText(responseId)).toContain(jobId.slice(0, 8));

      // This surface's upload limit is 1 byte: /show of the finished job links the video instead of uploading it.
      const uploads = slack.uploads.size;
      envelope("env-2", { command: "/show", text: jobId, channel_id: "C0LINK", response_url: slack.responseUrl("socket-show") });
      await waitFor("env-2 acknowledged", () => acks.includes("env-2"));
      await waitFor("the upload-limit message", () => [...slack.messages.values()].find((m) => m.channel === "C0LINK" && m.text.includes("upload limit")), 10_000);
      await socketSurface.settled();
      const link = [...slack.messages.values()].find((m) => m.channel === "C0LINK" && m.text.includes("upload limit"))!;
      expect(link.threadTs).toBeDefined();
      expect(link.text).toContain("The final video is ready");
      expect([...slack.uploads.values()].slice(uploads).some((u) => u.filename.endsWith(".mp4"))).toBe(false);
    } finally {
      await socketSurface.stop();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  it("sends the token only to the API and the file host, and never logs a secret", () => {
    expect(slack.calls.every((c) => c.authorized)).toBe(true);
    expect(logLines.length).toBeGreaterThan(0);
    const leaked = logLines.filter((l) => l.includes(TOKEN) || l.includes(SECRET) || l.includes(APP_TOKEN));
    expect(leaked).toEqual([]);
  });
});
