/**
 * Slack, beyond 🟢🟡🔴: prices before money is spent, a refused click, credits (balance, spend,
 * grants), a scene's versions and Revert, the project and its rules, and a job that failed as a
 * whole tried again from its status message. Real Bolt (HTTP receiver, signed requests), the
 * real WebClient against the strict loopback stand-in, the real runner on offline tools.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../bot/app.js";
import { loadConfig } from "../bot/config.js";
import { createSlackSurface, type SlackSurface } from "../bot/surfaces/slack/index.js";
import { parseProjectText } from "../bot/surfaces/slack/listeners/commands/project.js";
import { withFaults, type FaultController } from "../tools/faults.js";
import type { SongEditor } from "../tools/ports.js";
import { songMp3 } from "./helpers/pipeline.js";
import { createSlackStandin, type SlackStandin, type StandinMessage } from "./standins/slack.js";
import { buttonFor, buttonsOf, cardsIn as cardsInThread, slackSender, textOf } from "./helpers/slackEvents.js";

const TOKEN = "xoxb-standin-project-token-0001";
const SECRET = "standin-signing-secret-project";
const TEAM = "T0TEAM";
const OWNER = "U0OWNER";
const OTHER = "U0OTHER";
const ADMIN = "U0ADMIN";
const MAIN = "C0MAIN";
const ELSEWHERE = "C0ELSE";
const DROP_TS = "1699990100.000100";

let slack: SlackStandin;
let dataDir: string;
let app: App;
let surface: SlackSurface;
let port: number;
/** The song's final render, with failures dialled in to make the job fail as a whole. */
let songEditor: FaultController<SongEditor>;
let jobId: string;

const sender = slackSender({ slack: () => slack, port: () => port, secret: SECRET, team: TEAM, names: { [OWNER]: "ann", [OTHER]: "bob", [ADMIN]: "ada" } });
const command = (name: string, text: string, user = OWNER, channel = MAIN) => sender.command(name, text, user, channel);
const cards = () => cardsInThread(slack, MAIN, DROP_TS);
const statusMessage = () => slack.thread(MAIN, DROP_TS).find((m) => m.blocks.some((b) => b.block_id === "status"))!;
/** Private answers (chat.postEphemeral) to a person, newest last. */
const privately = (user: string) => slack.callsOf("chat.postEphemeral").filter((c) => c.args.user === user && c.result?.ok);
const lastPrivate = (user: string) => privately(user).at(-1)!;

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await surface.settled();
    await app.runner.idle();
  }
  await surface.settled();
}

async function until(probe: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return;
    await settle();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  slack = await createSlackStandin({
    token: TOKEN, teamId: TEAM, botUserId: "UBOT", botId: "BBOT",
    channels: { [MAIN]: ["UBOT", OWNER, OTHER, ADMIN], [ELSEWHERE]: ["UBOT", OWNER] },
  });
  dataDir = await mkdtemp(join(tmpdir(), "slack-project-"));
  app = await createApp(loadConfig({
    DATA_DIR: dataDir, LOG_LEVEL: "silent", SCENE_DURATION_S: "1", NEW_USER_CREDITS: "8", ADMIN_IDS: `slack:${ADMIN}`,
    CLIP_CREDITS_KLING: "1", CLIP_CREDITS_LUMA: "1", CLIP_CREDITS_GEMINI_PRO: "1",
  }), {
    logger: pino({ level: "silent" }),
    tools: (defaults) => {
      songEditor = withFaults(defaults.songEditor);
      return { ...defaults, songEditor: songEditor.port };
    },
  });
  surface = createSlackSurface({
    app, botToken: TOKEN, signingSecret: SECRET, port: 0, apiUrl: slack.apiUrl,
    fileHosts: [slack.host, slack.originHost], allowHttpDownloads: true, uploadLimitBytes: 50 * 1024 * 1024,
  });
  port = (await surface.start()).port!;
}, 60_000);

afterAll(async () => {
  await surface?.stop();
  await app?.close();
  await slack?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("Slack: prices, credits, versions, the project, retry (real Bolt, strict stand-in)", () => {
  it("a song dropped in a channel shows every price before money is spent, and the cost so far", async () => {
    const file = slack.addFile({ id: "F0SONGP001", name: "anthem.mp3", mimetype: "audio/mpeg", bytes: await songMp3(12), user: OWNER });
    await sender.sendEvent(sender.eventBody(sender.fileShareEvent(file, DROP_TS, OWNER, MAIN)));
    await until(() => cards().length >= 2 && cards().every((c) => buttonsOf(c).length >= 3), "the shot cards");
    const owner = await app.runner.users.ensure({ platform: "slack", teamId: TEAM, userId: OWNER });
    jobId = (await app.runner.jobsOf(owner.id))[0].id;
    const shots = cards().length;

    const green = buttonsOf(cards()[0]).find((b) => b.action_id === buttonFor(cards()[0], "G"));
    expect(green.text.text).toBe("🟢 Approve · 1 credit");
    expect(green.confirm.text.text).toBe("Shot 1/" + shots + " goes to KLING for 1 credit. <@U0OWNER> has 8 credits.");
    const all = buttonsOf(statusMessage()).find((b) => b.action_id === "job_approve_all");
    expect(all.text.text).toBe(`🟢 Approve all · ${shots} clips · ${shots} credits`);
    expect(all.confirm.text.text).toBe(`${shots} clips · ${shots} credits, rendered by KLING. <@U0OWNER> has 8 credits.`);
    expect(textOf(statusMessage())).toContain("Spent 0 credits");
    expect(textOf(statusMessage())).toContain(`${shots} shots waiting for your review`);
  });

  it("a click refused by the rate limit says once, privately, when to try again, and changes nothing", async () => {
    const owner = await app.runner.users.ensure({ platform: "slack", teamId: TEAM, userId: OWNER });
    for (let i = 0; i < 5; i++) await app.runner.store.limits.consume(owner.id, "production");
    const before = privately(OWNER).length;
    const card = cards()[0];
    await sender.click(card, buttonFor(card, "G"), OWNER);
    await settle();
    const answers = privately(OWNER).slice(before).map((c) => String(c.args.text));
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatch(/^Too many renders asked for in a minute; try again in \d+ s\.$/);
    expect((await app.runner.view(jobId))!.scenes[0].awaiting).toBe("review");
    await app.db.query("DELETE FROM rate_limit_buckets WHERE identifier = $1", [owner.id]);
  });

  it("🟡 then 🕘 Versions on the card: thumbnails shared in the thread, who asked; Revert brings v1 back as v3", async () => {
    const card = cards()[0];
    await sender.click(card, buttonFor(card, "Y"), OWNER);
    await settle();
    const modal = [...slack.views.values()].at(-1)!;
    await sender.submitEdit(modal.private_metadata, "a warmer sky behind the singer", OWNER);
    await until(async () => (await app.runner.view(jobId))!.scenes[0].versionNo === 2 && (await app.runner.view(jobId))!.scenes[0].awaiting === "review", "the repainted shot");
    await settle();
    const updated = cards()[0];
    const versionsButton = buttonsOf(updated).find((b) => b.action_id === "rb_versions");
    expect(versionsButton).toMatchObject({ value: `${jobId}:0`, text: { text: "🕘 Versions" } });

    await sender.click(updated, "rb_versions", OWNER, versionsButton.value);
    await until(() => String(lastPrivate(OWNER)?.args.text ?? "").startsWith("Shot 1/"), "the versions list");
    const list = lastPrivate(OWNER);
    expect(list.args.thread_ts).toBe(DROP_TS);
    const sections = list.args.blocks.filter((b: any) => /^v\d+$/.test(b.block_id));
    expect(sections.map((b: any) => b.text.text)).toEqual([
      "*v2* · 🟡 edit · “a warmer sky behind the singer” · by ann · (on the card now)",
      "*v1* · first draft",
    ]);
    // Each thumbnail is a preview shared into this channel (the stand-in refuses any other slack_file).
    for (const s of sections) expect(slack.uploads.get(s.accessory.slack_file.id)).toMatchObject({ channelId: MAIN, threadTs: DROP_TS, completed: true });
    const revert = list.args.blocks.flatMap((b: any) => b.elements ?? []).find((e: any) => e.action_id === "rb_revert:1");
    expect(revert).toMatchObject({ value: `${jobId}:0:1`, text: { text: "↩️ Revert to v1" } });

    // Someone else may look, not revert.
    const shown: StandinMessage = { channel: MAIN, ts: list.result.message_ts, threadTs: DROP_TS, text: list.args.text, blocks: list.args.blocks, edits: 0 };
    await sender.click(shown, revert.action_id, OTHER, revert.value);
    await settle();
    expect(String(lastPrivate(OTHER).args.text)).toMatch(/Only the person who started this job/);
    await sender.click(shown, revert.action_id, OWNER, revert.value);
    await until(async () => (await app.runner.view(jobId))!.scenes[0].versionNo === 3 && (await app.runner.view(jobId))!.scenes[0].awaiting === "review", "the reverted shot");
    await settle();
    expect(textOf(cards()[0])).toContain("↩️ Reverted by ann");
    const history = await app.runner.versions(jobId, 0);
    expect(history.map((v) => [v.versionNo, v.kind])).toEqual([[1, "preview"], [2, "edit"], [3, "revert"]]);
    expect(history[2].previewKey).toBe(history[0].previewKey);
  });

  it("/versions lists a scene's versions from the channel; where the job is not shown it says how to get thumbnails", async () => {
    const here = await command("/versions", `${jobId.slice(0, 8)} 1`);
    expect(here.res.status).toBe(200);
    await until(() => String(lastPrivate(OWNER)?.args.text ?? "").includes("3 versions"), "/versions here");
    const list = lastPrivate(OWNER);
    expect(list.args.channel).toBe(MAIN);
    expect(list.args.thread_ts).toBeUndefined();
    expect(list.args.blocks.filter((b: any) => b.accessory?.type === "image")).toHaveLength(3);

    const before = privately(OWNER).length;
    await command("/versions", `${jobId.slice(0, 8)} 1`, OWNER, ELSEWHERE);
    await until(() => privately(OWNER).length > before, "/versions elsewhere");
    const elsewhere = lastPrivate(OWNER);
    expect(elsewhere.args.blocks.some((b: any) => b.accessory?.type === "image")).toBe(false);
    expect(JSON.stringify(elsewhere.args.blocks)).toContain(`/show ${jobId.slice(0, 8)}`);

    const usage = await command("/versions", "");
    await settle();
    expect(sender.responseText(usage.responseId)).toMatch(/^Usage: `\/versions <job> <scene>`/);
    const stranger = await command("/versions", `${jobId} 1`, OTHER);
    await settle();
    expect(sender.responseText(stranger.responseId)).toMatch(/can't find that job of yours/);
  });

  it("/credits: your balance and spend; admins see others' and grant, once per command, audited; the receiver is told", async () => {
    const mine = await command("/credits", "");
    await settle();
    expect(sender.responseText(mine.responseId)).toMatch(/^You have 8 credits\. Spent in the last 30 days: 0 credits\.\nNothing spent or granted yet\.$/);

    const refused = await command("/credits", `grant <@${OTHER}|bob> 5`);
    await settle();
    expect(sender.responseText(refused.responseId)).toMatch(/^Only an approver or an admin/);

    const grant = await command("/credits", `grant <@${OTHER}|bob> 20 launch week`, ADMIN);
    await settle();
    expect(sender.responseText(grant.responseId)).toBe(`Granted 20 credits to <@${OTHER}>: they now have 28 credits.`);
    expect(String(lastPrivate(OTHER).args.text)).toBe(`<@${ADMIN}> granted you 20 credits (“launch week”). You now have 28.`);
    const bob = await app.runner.users.ensure({ platform: "slack", teamId: TEAM, userId: OTHER });
    const audit = await app.runner.store.audit.list({ action: "credits.grant", entityId: bob.id });
    expect(audit.map((a) => a.details)).toEqual([{ amount: 20, reason: "launch week", balanceAfter: 28 }]);

    const theirs = await command("/credits", `<@${OTHER}|bob>`, ADMIN);
    await settle();
    expect(sender.responseText(theirs.responseId)).toMatch(new RegExp(`^<@${OTHER}> has 28 credits\\.[\\s\\S]*• \\+20 · granted · <!date\\^\\d+\\^`));
    const usage = await command("/credits", "lots please");
    await settle();
    expect(sender.responseText(usage.responseId)).toMatch(/^Usage: `\/credits`/);
  });

  it("/rules lists the project's learnt rules and removes one; /project shows it, and only an admin changes it", async () => {
    const projectId = (await app.runner.store.jobs.get(jobId))!.projectId!;
    await app.runner.store.rules.add(projectId, "Never show text on screen", { kind: "manual" });
    await app.runner.store.rules.add(projectId, "Keep the singer's face in shadow", { kind: "rejection" });
    await command("/rules", "");
    await until(() => String(lastPrivate(OWNER)?.args.text ?? "").includes("2 learnt rules"), "/rules");
    const list = lastPrivate(OWNER);
    const removeButtons = list.args.blocks.filter((b: any) => b.accessory?.type === "button").map((b: any) => b.accessory);
    expect(removeButtons).toHaveLength(2);
    const shown: StandinMessage = { channel: MAIN, ts: list.result.message_ts, text: list.args.text, blocks: list.args.blocks, edits: 0 };
    await sender.click(shown, removeButtons[0].action_id, OTHER, removeButtons[0].value);
    await settle();
    expect(String(lastPrivate(OTHER).args.text)).toMatch(/^Only the project's owner or an admin/);
    await sender.click(shown, removeButtons[0].action_id, OWNER, removeButtons[0].value);
    await settle();
    expect(String(lastPrivate(OWNER).args.text)).toBe("Removed the rule “Never show text on screen”. Shots drafted from now on no longer follow it.");
    expect((await app.runner.store.rules.list(projectId)).map((r) => r.text)).toEqual(["Keep the singer's face in shadow"]);

    const show = await command("/project", jobId.slice(0, 8));
    await settle();
    expect(sender.responseText(show.responseId)).toMatch(/^\*Project “My music videos”\*\n• LoRA: miriN14\n• Human approval of every shot: on/);
    const notAdmin = await command("/project", `${jobId.slice(0, 8)} lora studio7`);
    await settle();
    expect(sender.responseText(notAdmin.responseId)).toMatch(/^Only an approver or an admin/);
    const lora = await command("/project", `${jobId} lora studio7`, ADMIN);
    await settle();
    expect(sender.responseText(lora.responseId)).toBe("Project “My music videos”: LoRA is now studio7. Shots drafted from now on use it.");
    const model = await command("/project", `${jobId} model director gemini-3.1-pro-preview`, ADMIN);
    await settle();
    expect(sender.responseText(model.responseId)).toMatch(/the director now runs on gemini-3\.1-pro-preview/);
    const project = (await app.runner.store.projects.get(projectId))!;
    expect(project.config.globalSettings.loraWeightsId).toBe("studio7");
    expect((await app.runner.store.projects.agentConfigs(projectId)).DIRECTOR.modelString).toBe("gemini-3.1-pro-preview");
    expect(parseProjectText("1a2b3c4d approval off")).toEqual({ job: "1a2b3c4d", change: { requireHumanApproval: false } });
    expect(parseProjectText("model painter x")).toBeNull();
  });

  it("Approve all with the final render failing: the job fails as a whole, its status offers Try again, and it finishes from there", async () => {
    songEditor.failAlways(true);
    await sender.click(statusMessage(), "job_approve_all", OWNER, jobId);
    await until(async () => (await app.runner.view(jobId))!.stage === "failed", "the failure");
    await settle();
    const retry = buttonsOf(statusMessage()).find((b) => b.action_id === "job_retry");
    expect(retry).toMatchObject({ value: jobId, text: { text: "🔁 Try again" } });
    expect(textOf(statusMessage())).toContain("⚠️");
    const shots = cards().length;
    songEditor.failAlways(false);
    await sender.click(statusMessage(), "job_retry", OTHER, jobId);
    await settle();
    expect(String(lastPrivate(OTHER).args.text)).toMatch(/Only the person who started this job/);
    await sender.click(statusMessage(), "job_retry", OWNER, jobId);
    await until(async () => (await app.runner.view(jobId))!.stage === "done", "the finished job");
    await settle();
    expect(String(lastPrivate(OWNER).args.text)).toBe("Trying again from where it stopped; everything already approved is kept.");
    expect(buttonsOf(statusMessage()).some((b) => b.action_id === "job_retry")).toBe(false);
    expect(textOf(statusMessage())).toContain(`Spent ${shots} credits`);
    const final = [...slack.uploads.values()].find((u) => u.channelId === MAIN && u.filename.endsWith(".mp4"))!;
    expect(final.initialComment).toBe(`🎉 Your video is ready (${shots} shots · spent ${shots} credits).`);
  });
});
