/**
 * Discord, beyond 🟢🟡🔴: prices before money is spent, a refused click, credits (balance, spend,
 * grants), a scene's versions and Revert, the project and its rules, and a job that failed as a
 * whole tried again from its status message. The real discord.js client against the strict
 * loopback stand-in, the real runner on offline tools.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../bot/app.js";
import { loadConfig } from "../bot/config.js";
import { createDiscordSurface, type DiscordSurface } from "../bot/surfaces/discord/index.js";
import { createChatMessages, type ChatLocation } from "../store/chatMessages.js";
import { registerCommands } from "../scripts/register-discord.js";
import { withFaults, type FaultController } from "../tools/faults.js";
import type { SongEditor } from "../tools/ports.js";
import { songMp3 } from "./helpers/pipeline.js";
import { createDiscordStandin, type ApiMessage, type ApiUser, type DiscordStandin, type RecordedCall } from "./standins/discord.js";
import { waitFor } from "./helpers/waitFor.js";

const TOKEN = "MTAxNTk3NjQ4MzI5MTIzODQwMA.GfAkE1.loopback-only-project-test-token";

let standin: DiscordStandin;
let app: App;
let surface: DiscordSurface;
let dataDir: string;
let songEditor: FaultController<SongEditor>;
let alice: ApiUser, bob: ApiUser, carol: ApiUser;
let jobId: string;
let location: ChatLocation;

const buttonsOf = (m: any) => (m.components ?? []).flatMap((row: any) => row.components ?? []);
const chat = () => createChatMessages(app.db);
const messageIn = async (slot: string) => standin.messages.get((await chat().get(jobId, location, slot))!.messageId)!;
/** What the bot last answered an interaction with (the deferred reply, edited, or a follow-up). */
const answerTo = (interaction: { id: string; token: string }) =>
  standin.callsOf(interaction).filter((c: RecordedCall) => c.path.startsWith("/webhooks/") && c.json).at(-1);

async function settle(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    await app.runner.idle();
    await surface.settled();
  }
}

/** Delivers a slash command and waits for its private answer's content. */
async function command(user: ApiUser, name: string, options: Array<{ name: string; type: number; value: any }> = [], resolvedUsers: ApiUser[] = []): Promise<string> {
  const interaction = standin.slashCommand({ user }, standin.general.id, name, options);
  // A USER option arrives with the user resolved (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-resolved-data-structure).
  if (resolvedUsers.length) (interaction.data as any).resolved = { users: Object.fromEntries(resolvedUsers.map((u) => [u.id, u])) };
  standin.deliver(interaction);
  const answer = await waitFor(`/${name}`, () => {
    const a = answerTo(interaction);
    return a && a.method === "PATCH" && a;
  });
  const ack = standin.callsOf(interaction).find((c) => c.path.endsWith("/callback"))!;
  expect(ack.json).toMatchObject({ type: 5, data: { flags: 64 } }); // private
  return String(answer.json.content);
}

/** Clicks a button and waits for its private answer (the deferred ephemeral reply, edited). */
async function click(user: ApiUser, message: ApiMessage, customId: string): Promise<RecordedCall> {
  const interaction = standin.buttonClick({ user }, message, customId);
  standin.deliver(interaction);
  return waitFor(`the answer to ${customId}`, () => {
    const a = answerTo(interaction);
    return a && (a.method === "PATCH" || a.method === "POST") && a;
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "discord-project-"));
  standin = await createDiscordStandin({ token: TOKEN });
  [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => standin.user(n));
  await registerCommands({ token: TOKEN, appId: standin.appId, guildId: standin.guildId, apiUrl: standin.apiUrl });
  app = await createApp(loadConfig({
    DATA_DIR: dataDir, LOG_LEVEL: "silent", SCENE_DURATION_S: "1", NEW_USER_CREDITS: "8", ADMIN_IDS: `discord:${carol.id}`,
    CLIP_CREDITS_KLING: "1", CLIP_CREDITS_LUMA: "1", CLIP_CREDITS_GEMINI_PRO: "1",
  }), {
    logger: pino({ level: "silent" }),
    tools: (defaults) => {
      songEditor = withFaults(defaults.songEditor);
      return { ...defaults, songEditor: songEditor.port };
    },
  });
  surface = createDiscordSurface({ app, token: TOKEN, appId: standin.appId, apiUrl: standin.apiUrl, fileHosts: [standin.fileHost], allowHttpDownloads: true });
  await surface.start();
}, 60_000);

afterAll(async () => {
  await surface?.stop().catch(() => undefined);
  await app?.close().catch(() => undefined);
  await standin?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("Discord: prices, credits, versions, the project, retry (real discord.js, strict stand-in)", () => {
  it("/render with a song: every price is on its button before money is spent, with the cost so far and the balance", async () => {
    const file = standin.hostAttachment("anthem.mp3", await songMp3(12), "audio/mpeg");
    standin.deliver(standin.slashCommand({ user: alice }, standin.general.id, "render", [{ name: "file", type: 11, value: file.id }], [file]));
    const owner = await app.runner.users.ensure({ platform: "discord", teamId: standin.guildId, userId: alice.id });
    [{ id: jobId }] = await waitFor("the song job", async () => (await app.runner.jobsOf(owner.id)).length > 0 && app.runner.jobsOf(owner.id));
    await waitFor("the shots", async () => {
      const v = await app.runner.view(jobId);
      return v && v.scenes.length >= 2 && v.scenes.every((s) => s.awaiting === "review");
    }, 60_000);
    await settle();
    const job = (await app.runner.store.jobs.get(jobId))!;
    location = { platform: "discord", channelId: String(job.origin.channelId), threadId: String(job.origin.threadId) };
    const shots = (await app.runner.view(jobId))!.scenes.length;
    const card = await messageIn("scene:0");
    expect(card.content).toMatch(/^\*\*Shot 1\//);
    expect(buttonsOf(card)[0].label).toBe("🟢 Approve · 1 credit");
    const status = await messageIn("status");
    expect(status.content).toContain(`0/${shots} shots done · Spent 0 credits · 8 left`);
    expect(buttonsOf(status)[0].label).toBe(`🟢 Approve all · ${shots} clips · ${shots} credits`);
  });

  it("a click refused by the rate limit says once, privately, when to try again, and changes nothing", async () => {
    const owner = await app.runner.users.ensure({ platform: "discord", teamId: standin.guildId, userId: alice.id });
    for (let i = 0; i < 5; i++) await app.runner.store.limits.consume(owner.id, "production");
    const card = await messageIn("scene:0");
    const interaction = standin.buttonClick({ user: alice }, card, buttonsOf(card)[0].custom_id);
    standin.deliver(interaction);
    const refusal = await waitFor("the refusal", () => standin.callsOf(interaction).find((c) => c.method === "POST" && c.path.startsWith("/webhooks/")));
    await settle();
    const followUps = standin.callsOf(interaction).filter((c) => c.path.startsWith("/webhooks/"));
    expect(followUps).toHaveLength(1);
    expect(refusal.json.flags & 64).toBe(64);
    expect(refusal.json.content).toMatch(/^Too many renders asked for in a minute; try again in \d+ s\.$/);
    expect((await app.runner.view(jobId))!.scenes[0].awaiting).toBe("review");
    await app.db.query("DELETE FROM rate_limit_buckets WHERE identifier = $1", [owner.id]);
  });

  it("🟡 then 🕘 Versions on the card: thumbnails attached, who asked; Revert brings v1 back as v3", async () => {
    const card = await messageIn("scene:0");
    const edit = standin.buttonClick({ user: alice }, card, buttonsOf(card)[1].custom_id);
    standin.deliver(edit);
    const modal = await waitFor("the modal", () => standin.callsOf(edit).find((c) => c.path.endsWith("/callback")));
    standin.deliver(standin.modalSubmit({ user: alice }, card, modal.json.data.custom_id, { note: "a warmer sky behind the singer" }));
    await waitFor("the repainted shot", async () => {
      const s = (await app.runner.view(jobId))!.scenes[0];
      return s.versionNo === 2 && s.awaiting === "review";
    });
    await settle();
    const updated = await messageIn("scene:0");
    const versions = buttonsOf(updated).find((b: any) => b.label === "🕘 Versions");
    expect(versions.custom_id).toBe(`rbv:${jobId}:0`);

    // Anyone who sees the card may look.
    const list = await click(bob, updated, versions.custom_id);
    expect(list.json.content.split("\n").slice(1)).toEqual([
      "• v2 · 🟡 edit · “a warmer sky behind the singer” · by Alice · (on the card now)",
      "• v1 · first draft",
    ]);
    expect(list.files.map((f) => f.name)).toEqual(["v2.jpg", "v1.jpg"]);
    const revert = buttonsOf(list.json).find((b: any) => b.label === "↩️ Revert to v1");
    expect(revert.custom_id).toBe(`rbr:${jobId}:0:1`);
    const shown = list.response as ApiMessage;
    const refused = await click(bob, shown, revert.custom_id);
    expect(refused.json.content).toMatch(/Only the person who started this job/);
    const done = await click(alice, shown, revert.custom_id);
    expect(done.json.content).toBe("Shot 1: version 1 comes back as a new version.");
    await waitFor("the reverted shot", async () => {
      const s = (await app.runner.view(jobId))!.scenes[0];
      return s.versionNo === 3 && s.awaiting === "review";
    });
    await settle();
    expect((await messageIn("scene:0")).content).toContain("↩️ Reverted by Alice");

    const byCommand = await command(alice, "versions", [{ name: "job", type: 3, value: jobId.slice(0, 8) }, { name: "scene", type: 4, value: 1 }]);
    expect(byCommand).toMatch(/: 3 versions, newest first/);
    expect(await command(bob, "versions", [{ name: "job", type: 3, value: jobId }, { name: "scene", type: 4, value: 1 }])).toMatch(/I can't find a job/);
  });

  it("/credits: your balance and spend; admins see others' and grant, once per interaction, audited", async () => {
    expect(await command(alice, "credits")).toBe("You have 8 credits. Spent in the last 30 days: 0 credits.\nNothing spent or granted yet.");
    const bobAmount = [{ name: "user", type: 6, value: bob.id }, { name: "amount", type: 4, value: 20 }, { name: "reason", type: 3, value: "launch week" }];
    expect(await command(alice, "credits", bobAmount, [bob])).toMatch(/^Only an approver or an admin/);
    expect(await command(carol, "credits", bobAmount, [bob])).toBe("Granted 20 credits to Bob: they now have 28 credits.");
    const target = await app.runner.users.ensure({ platform: "discord", teamId: standin.guildId, userId: bob.id });
    const audit = await app.runner.store.audit.list({ action: "credits.grant", entityId: target.id });
    expect(audit.map((a) => a.details)).toEqual([{ amount: 20, reason: "launch week", balanceAfter: 28 }]);
    expect(await command(carol, "credits", [{ name: "user", type: 6, value: bob.id }], [bob])).toMatch(/^Bob has 28 credits\.[\s\S]*• \+20 · granted · <t:\d+:f>$/);
    expect(await command(carol, "credits", [{ name: "amount", type: 4, value: 5 }])).toMatch(/^Say who gets the credits/);
  });

  it("/rules lists the project's learnt rules and removes one; /project shows it, and only an admin changes it", async () => {
    const projectId = (await app.runner.store.jobs.get(jobId))!.projectId!;
    await app.runner.store.rules.add(projectId, "Never show text on screen", { kind: "manual" });
    const interaction = standin.slashCommand({ user: alice }, standin.general.id, "rules", []);
    standin.deliver(interaction);
    const list = await waitFor("/rules", () => answerTo(interaction));
    expect(list.json.content).toBe("**Project “My music videos”** has 1 learnt rule:\n1. Never show text on screen");
    const remove = buttonsOf(list.json)[0];
    expect(remove).toMatchObject({ label: "Remove 1", style: 4 });
    expect(remove.custom_id.length).toBeLessThanOrEqual(100);
    expect((await click(bob, list.response as ApiMessage, remove.custom_id)).json.content).toMatch(/^Only the project's owner or an admin/);
    expect((await click(alice, list.response as ApiMessage, remove.custom_id)).json.content).toBe("Removed the rule “Never show text on screen”. Shots drafted from now on no longer follow it.");
    expect(await app.runner.store.rules.list(projectId)).toEqual([]);

    const job = { name: "job", type: 3, value: jobId.slice(0, 8) };
    expect(await command(alice, "project", [job])).toMatch(/^\*\*Project “My music videos”\*\*\n• LoRA: miriN14\n/);
    expect(await command(alice, "project", [job, { name: "lora", type: 3, value: "studio7" }])).toMatch(/^Only an approver or an admin/);
    // An admin reaches someone else's job by its full id.
    const full = { name: "job", type: 3, value: jobId };
    expect(await command(carol, "project", [full, { name: "lora", type: 3, value: "studio7" }, { name: "approval", type: 5, value: false }]))
      .toBe("Project “My music videos”: LoRA is now studio7; human approval is off. Shots drafted from now on use it.");
    expect(await command(carol, "project", [full, { name: "role", type: 3, value: "DIRECTOR" }, { name: "model", type: 3, value: "gemini-3.1-pro-preview" }]))
      .toMatch(/the director now runs on gemini-3\.1-pro-preview/);
    // Back on, so the job below still asks for 🟢.
    await command(carol, "project", [full, { name: "approval", type: 5, value: true }]);
    const project = (await app.runner.store.projects.get(projectId))!;
    expect(project.config.globalSettings).toMatchObject({ loraWeightsId: "studio7", requireHumanApproval: true });
  });

  it("Approve all with the final render failing: the job fails as a whole, 🔁 Try again on its status finishes it, and the video is posted", async () => {
    songEditor.failAlways(true);
    const status = await messageIn("status");
    standin.deliver(standin.buttonClick({ user: alice }, status, buttonsOf(status)[0].custom_id));
    await waitFor("the failure", async () => (await app.runner.view(jobId))!.stage === "failed", 60_000);
    await settle();
    const failed = await messageIn("status");
    const retry = buttonsOf(failed)[0];
    expect(retry).toMatchObject({ label: "🔁 Try again", custom_id: `rbj:retry:${jobId}` });
    songEditor.failAlways(false);
    const mark = standin.calls.length;
    const refused = await click(bob, failed, retry.custom_id);
    expect(refused.json.content).toMatch(/Only the person who started this job/);
    const ok = await click(alice, failed, retry.custom_id);
    expect(ok.json.content).toBe("Trying again from where it stopped; everything already approved is kept.");
    await waitFor("the finished job", async () => (await app.runner.view(jobId))!.stage === "done", 60_000);
    await settle();
    const shots = (await app.runner.view(jobId))!.scenes.length;
    const target = location.threadId || location.channelId;
    const final = await waitFor("the final video", () =>
      standin.calls.slice(mark).find((c) => c.method === "POST" && c.path === `/channels/${target}/messages` && c.files.some((f) => f.name.endsWith(".mp4"))));
    expect(final.json.content).toContain(`${shots} shots · Spent ${shots} credits`);
    expect(buttonsOf(await messageIn("status"))).toEqual([]);
  });
});
