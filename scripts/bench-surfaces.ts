/**
 * npm run bench:surfaces — time to acknowledgement of a burst of 200 concurrent button clicks on
 * the real Slack and Discord surfaces, beside the same burst against a bare Bolt app and a bare
 * discord.js client that acknowledge immediately, measured in the same run.
 * Target: ours within 1.25× of the bare floor (p99) on each platform, i.e. all real work happens
 * after the acknowledgement. A missed target is reported, not failed: the exit code is 0 unless
 * something broke.
 *
 * Main thread (the system under test): the real app (PGlite, offline tools) with one real job per
 * burst parked at review, the Slack surface (Bolt HTTPReceiver, signing secret, WebClient at the
 * Slack stand-in), the Discord surface (discord.js at the REST + gateway stand-ins), a bare Bolt
 * app and a bare discord.js client. A worker thread (scripts/bench/surfaces-world.ts): the
 * stand-ins of test/standins and the load generators, so the clients' clocks do not wait for the
 * event loop they measure. Everything is on 127.0.0.1.
 *
 * Time to acknowledgement (taken in the worker, performance.now()):
 *  - Slack: from handing the signed `block_actions` POST to fetch() until fetch() resolves with the
 *    response (Bolt acknowledges in the HTTP response); it must be 200.
 *  - Discord: from the gateway stand-in sending the INTERACTION_CREATE until the REST stand-in
 *    receives `POST /interactions/:id/:token/callback` for that interaction; it must be accepted.
 *
 * Each platform: 1 warm-up burst of 20, then 3 measured bursts of 200 (BENCH_BURST), each on a
 * fresh job whose reviews are open, with the button ids read off its posted cards. The mix (the
 * same for ours and bare): owner 🟢/🔴 (the first per scene is applied, the rest are duplicates),
 * owner 🟡, and 🟢/🔴 from distinct other users (refused ephemerally). Ours and bare alternate
 * which goes first; before every burst the runner and the surfaces are idle and the connections
 * of the previous burst have timed out. Reported: the median over the runs of p50 and of p99
 * (nearest rank).
 *
 * Diagnosis (off by default): BENCH_TRACE=1 splits each click's time (Slack: at the HTTP server's
 * `request` event, the first Bolt middleware and the written response; Discord: at discord.js's
 * interactionCreate and the app's call for the interaction callback); BENCH_CPU_PROFILE=<dir>
 * writes a CPU profile of the main thread per burst; BENCH_LOG_LEVEL=warn shows the app's logs.
 */
// Import order as in bot/main.ts, the app first, on purpose. Whichever undici loads first installs
// the process-wide dispatcher (Symbol.for("undici.globalDispatcher.1")); the `pg` import of
// store/db.ts happens to load Node's own first. Were @slack/bolt imported before it, its undici 7 (through
// @slack/socket-mode) would be installed, and @discordjs/rest's undici 6 `request()` would hand
// its FormData to undici 7, which fails every multipart request ("action is not a function"):
// Discord cards would never get their previews and the jobs' messages would stop updating.
import { createApp, type App } from "../bot/app.js";
import { loadConfig } from "../bot/config.js";
import { decodeButton } from "../bot/views.js";
import { createSlackSurface, type SlackSurface } from "../bot/surfaces/slack/index.js";
import { createDiscordSurface, type DiscordSurface } from "../bot/surfaces/discord/index.js";
import { createChatMessages, type ChatLocation } from "../store/chatMessages.js";
import { createHmac, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import { Session } from "node:inspector/promises";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { App as BoltApp, LogLevel } from "@slack/bolt";
import { Client, Events, GatewayIntentBits, Partials } from "discord.js";
import sharp from "sharp";
import type { StandinMessage } from "../test/standins/slack.js";
import { admin } from "../test/helpers/db.js";
import type { ApiMessage, ApiUser } from "../test/standins/discord.js";
import { startWorld, type DiscordClick, type SlackRequest, type Timed, type World } from "./bench/surfaces-world.js";

const BURST = Number(process.env.BENCH_BURST ?? 200);
if (!Number.isInteger(BURST) || BURST < 20 || BURST > 1000) throw new Error("BENCH_BURST must be an integer from 20 to 1000");
const WARMUP = 20;
const RUNS = 3;
const TARGET = 1.25;
/** One click's acknowledgement may take at most this long before the run is an error. */
const CLICK_TIMEOUT_MS = 15_000;
/** Settling (runner idle, surfaces idle) before a burst may take at most this long. */
const SETTLE_TIMEOUT_MS = 60_000;
/** Jobs reaching review with their cards posted may take at most this long. */
const SETUP_TIMEOUT_MS = 120_000;
/** Past the keep-alive of Node's HTTP server (5 s) and of undici's client sockets (4 s). */
const COLD_MS = 5_500;
/** The whole run stops itself after this. */
const RUN_DEADLINE_MS = 240_000;

const SLACK_TOKEN = "xoxb-bench-standin-token-0001";
const SLACK_SECRET = "bench-standin-signing-secret-0001";
const TEAM = "T0TEAM";
const MAIN = "C0MAIN";
const DISCORD_TOKEN = "MTAxNTk3NjQ4MzI5MTIzODQwMA.GfAkE1.loopback-only-bench-token-never-valid";

type Decision = "G" | "Y" | "R";
type Who = "ours" | "bare";

/** One click of a burst: which scene's button, which decision, who. */
interface Click {
  scene: number;
  decision: Decision;
  owner: boolean;
  /** Index of the clicker among the burst's other users (unused for the owner). */
  other: number;
}

interface Summary {
  p50: number;
  p99: number;
  max: number;
}

/**
 * The burst's mix, the same on both platforms and for ours and bare: 1 in 20 clicks is the owner's
 * 🟡 (Slack: views.open after the ack; Discord: the modal is the ack), 3 in 10 the owner's 🟢/🔴
 * (the first per scene is applied, the rest are duplicates), the rest 🟢/🔴 from distinct other
 * users (refused, answered ephemerally after the ack).
 */
function mix(n: number): Click[] {
  return Array.from({ length: n }, (_, i): Click => {
    const scene = i % 3;
    if (i % 20 === 0) return { scene, decision: "Y", owner: true, other: -1 };
    const gr: Decision = Math.floor(i / 3) % 2 === 0 ? "G" : "R";
    if ([1, 2, 3].includes(i % 10)) return { scene, decision: gr, owner: true, other: -1 };
    return { scene, decision: gr, owner: false, other: i };
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summarize(latencies: number[]): Summary {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const epoch = () => performance.timeOrigin + performance.now();

async function withTimeout<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms: number, everyMs: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A 320×256 colourful image: big and busy enough to pass the offline integrity check (as in the tests). */
async function brandImage(): Promise<Uint8Array> {
  const w = 320, h = 256, px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = (y * w + x) * 3, block = ((x >> 5) + (y >> 5)) % 3;
    px[i] = block === 0 ? 220 : (x * 7) % 256;
    px[i + 1] = block === 1 ? 180 : (y * 5) % 256;
    px[i + 2] = block === 2 ? 60 : ((x + y) * 3) % 256;
  }
  return new Uint8Array(await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
}

// ------------------------------------------------------------------------------------------------
// Cleanup: everything started registers how to stop it; run in reverse order, once.

const cleanups: Array<{ what: string; run: () => Promise<unknown> }> = [];
const onCleanup = (what: string, run: () => Promise<unknown>) => cleanups.push({ what, run });
async function cleanupAll(): Promise<void> {
  for (const { what, run } of cleanups.splice(0).reverse()) {
    try {
      await withTimeout(`cleanup: ${what}`, 15_000, run());
    } catch (err) {
      console.error(`cleanup of ${what} failed: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Buttons on the posted cards

function slackActionId(card: StandinMessage, decision: Decision): string | null {
  const ids = card.blocks.filter((b) => b.type === "actions").flatMap((b) => b.elements as Array<{ action_id?: string }>);
  return ids.map((e) => String(e.action_id ?? "")).find((a) => a.startsWith("rb:") && a.endsWith(`:${decision}`)) ?? null;
}

function discordCustomId(card: ApiMessage, decision: Decision): string | null {
  const ids = (card.components ?? []).flatMap((row: { components?: Array<{ custom_id?: string }> }) => row.components ?? []);
  return ids.map((c: { custom_id?: string }) => String(c.custom_id ?? "")).find((c: string) => c.startsWith("rb:") && c.endsWith(`:${decision}`)) ?? null;
}

/** Whether all three buttons of a card are this job's, scene and version. */
function cardReady(idOf: (decision: Decision) => string | null, jobId: string, scene: number, version: number): boolean {
  return (["G", "Y", "R"] as const).every((d) => {
    const b = decodeButton(idOf(d) ?? "");
    return !!b && b.jobId === jobId && b.sceneIndex === scene && b.versionNo === version;
  });
}

function required(id: string | null, what: string): string {
  if (!id) throw new Error(`no ${what} button on the card`);
  return id;
}

// ------------------------------------------------------------------------------------------------
// Slack requests (signed here, sent by the world)

function slackRequest(responseBase: string, card: StandinMessage, actionId: string, user: string, seq: number): SlackRequest {
  const name = user.toLowerCase();
  const payload = {
    type: "block_actions", team: { id: TEAM, domain: "standin" }, api_app_id: "A0APP", token: "legacy",
    user: { id: user, username: name, name, team_id: TEAM },
    container: { type: "message", message_ts: card.ts, channel_id: card.channel, is_ephemeral: false, ...(card.threadTs ? { thread_ts: card.threadTs } : {}) },
    trigger_id: `trigger-${seq}-${Date.now()}`, channel: { id: card.channel, name: "general" },
    message: { type: "message", ts: card.ts, text: card.text, ...(card.threadTs ? { thread_ts: card.threadTs } : {}) },
    response_url: `${responseBase}/response/click-${seq}`,
    actions: [{ type: "button", action_id: actionId, block_id: "decide", value: actionId, action_ts: String(Date.now() / 1000), text: { type: "plain_text", text: "x" } }],
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = Math.floor(Date.now() / 1000);
  const signature = "v0=" + createHmac("sha256", SLACK_SECRET).update(`v0:${ts}:${body}`).digest("hex");
  return {
    seq, body, triggerId: payload.trigger_id,
    headers: {
      "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": String(ts), "x-slack-signature": signature,
      // Only read by BENCH_TRACE; Bolt ignores it (the signature covers the timestamp and the body).
      "x-bench-seq": String(seq),
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Diagnosis: BENCH_TRACE (Slack) and BENCH_CPU_PROFILE

const trace = process.env.BENCH_TRACE ? new Map<string, Record<string, number>>() : null;

function mark(seq: string, point: string, at = epoch()): void {
  if (!trace) return;
  const entry = trace.get(seq) ?? {};
  entry[point] = at;
  trace.set(seq, entry);
}

/** Marks when the HTTP server sees a click, when Bolt's first global middleware does, and when the answer is written. */
function traceSlackApp(bolt: BoltApp, server: Server): void {
  if (!trace) return;
  server.prependListener("request", (req, res) => {
    const seq = req.headers["x-bench-seq"];
    if (typeof seq !== "string") return;
    mark(seq, "request");
    // When the acknowledgement is handed to the socket ("finish" would come a loop turn later).
    const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
    res.end = ((...args: unknown[]) => {
      mark(seq, "written");
      return end(...args);
    }) as typeof res.end;
  });
  bolt.use(async ({ body, next }) => {
    const seq = /^trigger-(\d+)-/.exec(String((body as { trigger_id?: string }).trigger_id ?? ""))?.[1];
    if (seq) mark(seq, "middleware");
    await next();
  });
}

/** The worker's clock minus this thread's (ms), from the quickest of a few round trips. */
async function clockOffset(world: World): Promise<number> {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 20; i++) {
    const t0 = epoch();
    const theirs = await world.now();
    const t1 = epoch();
    if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: theirs - (t0 + t1) / 2 };
  }
  return best.offset;
}

/**
 * Marks when discord.js hands each interaction to the app (before the app's own listener runs),
 * and when the app asks discord.js's REST for its interaction callback.
 */
function traceDiscordClient(client: Client): void {
  if (!trace) return;
  client.prependListener(Events.InteractionCreate, (interaction) => mark(interaction.id, "event"));
  const rest = client.rest as unknown as { queueRequest: (request: { fullRoute?: string }) => Promise<unknown> };
  const queueRequest = rest.queueRequest.bind(rest);
  rest.queueRequest = (request) => {
    const id = /^\/interactions\/(\d+)\/[^/]+\/callback$/.exec(String(request.fullRoute ?? ""))?.[1];
    if (id) mark(id, "issued");
    return queueRequest(request);
  };
}

const SLACK_SEGMENTS: Array<[string, string, string]> = [
  ["sent→request", "sent", "request"], ["request→middleware", "request", "middleware"],
  ["middleware→ack written", "middleware", "written"], ["written→answered", "written", "answered"],
];
const DISCORD_SEGMENTS: Array<[string, string, string]> = [
  ["sent→interactionCreate", "sent", "event"], ["interactionCreate→ack issued", "event", "issued"], ["ack issued→callback received", "issued", "answered"],
];

function traceReport(timed: Timed[], offset: number, segments: Array<[string, string, string]>): void {
  if (!trace) return;
  for (const t of timed) (mark(t.key ?? String(t.seq), "sent", t.sentAt - offset), mark(t.key ?? String(t.seq), "answered", t.ackedAt - offset));
  const parts = segments.map(([name, a, b]) => {
    const xs = [...trace.values()].filter((e) => e[a] !== undefined && e[b] !== undefined).map((e) => e[b] - e[a]);
    const s = xs.length ? summarize(xs) : null;
    return `${name} ${s ? `${s.p50.toFixed(0)}/${s.p99.toFixed(0)}` : "-"}`;
  });
  console.log(`      trace p50/p99 ms: ${parts.join(", ")}`);
  trace.clear();
}

const profileDir = process.env.BENCH_CPU_PROFILE;

async function startProfile(): Promise<() => Promise<unknown>> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 200 });
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    return profile;
  };
}

// ------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "bench-surfaces-"));
  onCleanup("temp dir", () => rm(dataDir, { recursive: true, force: true }));

  // Logging is not what is measured: silent unless BENCH_LOG_LEVEL says otherwise.
  // BENCH_DATABASE_URL: Postgres (async I/O) instead of embedded PGlite, whose queries run
  // synchronously on the main thread and so delay reading the next click.
  // On Postgres the bench gets a schema of its own (dropped after), never the database's public one.
  const url = process.env.BENCH_DATABASE_URL;
  const schema = url ? `bench_surfaces_${Date.now().toString(36)}_${randomBytes(2).toString("hex")}` : undefined;
  if (url && schema) {
    await admin(url, `CREATE SCHEMA ${schema}`);
    onCleanup("bench schema", () => admin(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  }
  const app: App = await createApp(loadConfig({
    DATA_DIR: dataDir, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "silent", SCENE_DURATION_S: "1",
    DATABASE_URL: url, DATABASE_SCHEMA: schema, QUEUE_PREFIX: schema,
  }));
  onCleanup("app", () => app.close());
  const chat = createChatMessages(app.db);

  const world: World = startWorld();
  onCleanup("stand-ins and load generators (worker)", async () => {
    await world.close().catch(() => undefined);
    await world.stop();
  });
  const info = await withTimeout("stand-ins", 30_000, world.init({ slackToken: SLACK_TOKEN, teamId: TEAM, discordToken: DISCORD_TOKEN, timeoutMs: CLICK_TIMEOUT_MS }));

  // ---- Slack: the real surface (HTTP receiver) and a bare Bolt app ------------------------------
  const slackSurface: SlackSurface = createSlackSurface({
    app, botToken: SLACK_TOKEN, signingSecret: SLACK_SECRET, port: 0, apiUrl: info.slack.apiUrl,
    fileHosts: [info.slack.host], allowHttpDownloads: true, uploadLimitBytes: 50 * 1024 * 1024,
  });
  const oursSlackPort = (await slackSurface.start()).port!;
  onCleanup("slack surface", () => slackSurface.stop());
  if (trace) traceSlackApp(slackSurface.bolt, (slackSurface.bolt as unknown as { receiver: { server: Server } }).receiver.server);

  const bareBolt = new BoltApp({
    signingSecret: SLACK_SECRET, token: SLACK_TOKEN, clientOptions: { slackApiUrl: info.slack.apiUrl },
    tokenVerificationEnabled: false, botId: "BBOT", botUserId: "UBOT", logLevel: LogLevel.ERROR,
  });
  bareBolt.action(/.*/, async ({ ack }) => {
    await ack();
  });
  const bareSlackServer = (await bareBolt.start(0)) as Server;
  onCleanup("bare bolt app", () => bareBolt.stop());
  const bareSlackPort = (bareSlackServer.address() as AddressInfo).port;
  traceSlackApp(bareBolt, bareSlackServer);

  // ---- Discord: the real surface and a bare client, each at its own stand-ins ---------------------
  const discordSurface: DiscordSurface = createDiscordSurface({
    app, token: DISCORD_TOKEN, appId: info.discord.appId, apiUrl: info.discord.apiUrl, fileHosts: [info.discord.fileHost], allowHttpDownloads: true,
  });
  onCleanup("discord surface", () => discordSurface.stop());
  await withTimeout("discord surface login", 20_000, discordSurface.start());
  traceDiscordClient(discordSurface.client);

  // The surface's client options; only the handler differs.
  const bareClient = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages, GatewayIntentBits.MessageContent],
    partials: [Partials.Channel],
    allowedMentions: { parse: [], repliedUser: false },
    rest: { api: info.bareDiscord.apiUrl },
  });
  bareClient.on(Events.InteractionCreate, (interaction) => {
    if (interaction.isButton()) interaction.deferUpdate().catch((err) => console.error("bare deferUpdate failed:", (err as Error).message));
  });
  onCleanup("bare discord client", () => bareClient.destroy());
  traceDiscordClient(bareClient);
  const bareReady = new Promise<void>((resolve) => bareClient.once(Events.ClientReady, () => resolve()));
  await bareClient.login(DISCORD_TOKEN);
  await withTimeout("bare discord client ready", 20_000, bareReady);

  async function settle(): Promise<void> {
    await withTimeout("settling (runner idle, surfaces idle)", SETTLE_TIMEOUT_MS, (async () => {
      for (let round = 0; round < 3; round++) {
        await app.runner.idle();
        await slackSurface.settled();
        await discordSurface.settled();
      }
    })());
  }

  /** Waits until the job's reviews are open and each scene's card is posted with its three buttons; returns copies of the cards. */
  async function cardsOf<M>(jobId: string, at: ChatLocation, message: (id: string) => Promise<M | null>, ready: (m: M, scene: number, version: number) => boolean): Promise<M[]> {
    return waitFor(`job ${jobId} at review with its cards`, async () => {
      const view = await app.runner.view(jobId);
      if (!view || view.scenes.length === 0 || !view.scenes.every((s) => s.awaiting === "review")) return null;
      const cards: M[] = [];
      for (const scene of view.scenes) {
        const row = await chat.get(jobId, at, `scene:${scene.index}`);
        const m = row ? await message(row.messageId) : null;
        if (!m || !ready(m, scene.index, scene.versionNo)) return null;
        cards.push(m);
      }
      return cards;
    }, SETUP_TIMEOUT_MS, 250);
  }

  // ---- Real jobs: one per burst and platform, each with its own owner, parked at review --------
  const setupStart = performance.now();
  const bursts = 1 + RUNS;
  const image = await brandImage();
  const slackJobs: Array<Promise<{ jobId: string; owner: string; cards: StandinMessage[] }>> = [];
  const discordJobs: Array<Promise<{ jobId: string; owner: ApiUser; cards: ApiMessage[] }>> = [];
  for (let b = 0; b < bursts; b++) {
    const owner = `U0OWNER${b}`;
    const threadTs = `1699990000.${String(100 + b).padStart(6, "0")}`;
    const slackJob = await app.runner.start({
      actor: { platform: "slack", teamId: TEAM, userId: owner, name: `owner${b}` },
      file: { bytes: image, filename: `brand-${b}.png`, declaredType: "image/png" },
      origin: { platform: "slack", teamId: TEAM, channelId: MAIN, threadTs },
    });
    slackJobs.push(cardsOf(slackJob.jobId, { platform: "slack", channelId: MAIN, threadId: threadTs }, (ts) => world.slackMessage({ ts }),
      (m, scene, version) => cardReady((d) => slackActionId(m, d), slackJob.jobId, scene, version))
      .then((cards) => ({ jobId: slackJob.jobId, owner, cards })));

    const discordOwner = await world.discordUser({ which: "ours", name: `owner${b}` });
    const discordJob = await app.runner.start({
      actor: { platform: "discord", teamId: info.discord.guildId, userId: discordOwner.id, name: discordOwner.username },
      file: { bytes: image, filename: `brand-${b}.png`, declaredType: "image/png" },
      origin: { platform: "discord", guildId: info.discord.guildId, channelId: info.discord.generalId, threadId: "", discordUserId: discordOwner.id },
    });
    discordJobs.push(cardsOf(discordJob.jobId, { platform: "discord", channelId: info.discord.generalId, threadId: "" }, (id) => world.discordMessage({ id }),
      (m, scene, version) => cardReady((d) => discordCustomId(m, d), discordJob.jobId, scene, version))
      .then((cards) => ({ jobId: discordJob.jobId, owner: discordOwner, cards })));
  }
  const readySlack = await Promise.all(slackJobs);
  const readyDiscord = await Promise.all(discordJobs);
  await settle();
  console.log(`setup: ${bursts} jobs per platform at review with their cards in ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

  // ---- Bursts -----------------------------------------------------------------------------------
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const results: Record<"slack" | "discord", Record<Who, Summary[]>> = { slack: { ours: [], bare: [] }, discord: { ours: [], bare: [] } };

  let lastBurstEnd = 0;
  async function measured(label: string, run: () => Promise<Timed[]>): Promise<{ summary: Summary; timed: Timed[] }> {
    await settle();
    // Every burst starts on cold connections: a burst that reused the sockets its predecessor left
    // open acknowledges several times faster (no connects between the acks), which would favour
    // whichever side happened to run twice in a row.
    await sleep(lastBurstEnd + COLD_MS - performance.now());
    const profiling = profileDir ? await startProfile() : null;
    loopDelay.reset();
    loopDelay.enable();
    const timed = await run();
    loopDelay.disable();
    lastBurstEnd = performance.now();
    if (profiling && profileDir) await writeFile(path.join(profileDir, `${label.replace(/\W+/g, "-")}.cpuprofile`), JSON.stringify(await profiling()));
    const summary = summarize(timed.map((t) => t.ms));
    console.log(`  ${label.padEnd(24)} n=${String(timed.length).padStart(3)}  p50 ${summary.p50.toFixed(1).padStart(7)}  p99 ${summary.p99.toFixed(1).padStart(7)}  max ${summary.max.toFixed(1).padStart(7)} ms;  main-thread event-loop delay max ${(loopDelay.max / 1e6).toFixed(0)} ms`);
    return { summary, timed };
  }
  const order = (b: number): Who[] => (b % 2 === 0 ? ["ours", "bare"] : ["bare", "ours"]);
  const labelOf = (platform: string, who: Who, b: number) => `${platform} ${who} ${b === 0 ? "warm-up" : `run ${b}`}`;

  const offset = trace ? await clockOffset(world) : 0;

  // Slack: the same signed requests to both (built from the cards as posted at review).
  for (let b = 0; b < bursts; b++) {
    const job = readySlack[b];
    const requests = mix(b === 0 ? WARMUP : BURST).map((c, seq) => {
      const card = job.cards[c.scene];
      const user = c.owner ? job.owner : `U0B${b}X${String(c.other).padStart(3, "0")}`;
      return slackRequest(info.slack.url, card, required(slackActionId(card, c.decision), c.decision), user, seq);
    });
    for (const who of order(b)) {
      const label = labelOf("slack", who, b);
      await world.slackTriggers({ ids: requests.map((r) => r.triggerId) });
      const { summary, timed } = await measured(label, () => world.slackBurst({ port: who === "ours" ? oursSlackPort : bareSlackPort, requests }));
      traceReport(timed, offset, SLACK_SEGMENTS);
      if (b > 0) results.slack[who].push(summary);
    }
  }

  // Discord: the same clicks to both; the bare client's copies sit in its stand-in's channel.
  for (let b = 0; b < bursts; b++) {
    const job = readyDiscord[b];
    const clicks = mix(b === 0 ? WARMUP : BURST);
    const users = await Promise.all(clicks.map((c) => (c.owner ? job.owner : world.discordUser({ which: "ours", name: `user${b}x${c.other}` }))));
    const ours: DiscordClick[] = clicks.map((c, i) => {
      const message = job.cards[c.scene];
      return { user: users[i], message, customId: required(discordCustomId(message, c.decision), c.decision) };
    });
    const bare: DiscordClick[] = ours.map((c) => ({ ...c, message: { ...c.message, channel_id: info.bareDiscord.generalId, guild_id: info.bareDiscord.guildId } }));
    for (const who of order(b)) {
      const { summary, timed } = await measured(labelOf("discord", who, b), () => world.discordBurst({ which: who, clicks: who === "ours" ? ours : bare }));
      traceReport(timed, offset, DISCORD_SEGMENTS);
      if (b > 0) results.discord[who].push(summary);
    }
  }
  await settle();

  // ---- What the bursts did after their acknowledgements -----------------------------------------
  const counts = await world.counts();
  const applied = [
    ...(await app.runner.store.audit.list({ action: "scene.green", limit: 10_000 })),
    ...(await app.runner.store.audit.list({ action: "scene.red", limit: 10_000 })),
  ];
  const decided = (jobs: Array<{ jobId: string }>) =>
    applied.filter((a) => jobs.some((j) => (a.details as { jobId?: string } | null)?.jobId === j.jobId)).length;

  // ---- Report -----------------------------------------------------------------------------------
  console.log("");
  console.log(`cores: ${os.availableParallelism()} (${os.cpus()[0]?.model ?? "unknown cpu"}), node ${process.version}`);
  console.log(`burst: ${BURST} concurrent clicks after a warm-up burst of ${WARMUP}, ${RUNS} runs; median of the runs' p50 and p99, in ms`);
  console.log(`after the acks: slack ${decided(readySlack)} decisions applied, ${counts.slackEphemerals} ephemeral answers, ${counts.slackModals} modals opened; ` +
    `discord ${decided(readyDiscord)} decisions applied, ${counts.discordFollowUps} ephemeral follow-ups`);
  console.log("");
  const header = ["platform", "ours p50", "ours p99", "bare p50", "bare p99", "p99 ours/bare", `within ${TARGET}×`];
  const rows = (["slack", "discord"] as const).map((platform) => {
    const r = results[platform];
    const ours = { p50: median(r.ours.map((s) => s.p50)), p99: median(r.ours.map((s) => s.p99)) };
    const bare = { p50: median(r.bare.map((s) => s.p50)), p99: median(r.bare.map((s) => s.p99)) };
    const ratio = ours.p99 / bare.p99;
    return [platform, ours.p50.toFixed(1), ours.p99.toFixed(1), bare.p50.toFixed(1), bare.p99.toFixed(1), `${ratio.toFixed(2)}×`, ratio <= TARGET ? "yes" : "NO"];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}

// Interrupted: clean up (servers, clients, the worker, the temp dir) before leaving.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`bench:surfaces: ${signal}, cleaning up`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

const deadline = setTimeout(() => {
  console.error(`bench:surfaces did not finish within ${RUN_DEADLINE_MS / 1000} s; stopping.`);
  void withTimeout("cleanup", 20_000, cleanupAll()).finally(() => process.exit(1));
}, RUN_DEADLINE_MS);
deadline.unref();

try {
  await main();
} catch (err) {
  console.error("bench:surfaces failed:", err instanceof Error ? err.stack ?? err.message : err);
  process.exitCode = 1;
} finally {
  await cleanupAll();
  clearTimeout(deadline);
  // Everything is closed; should a stray handle still hold the process, do not hang on it.
  setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
}
