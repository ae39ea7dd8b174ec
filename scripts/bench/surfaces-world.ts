/**
 * The outside world of `npm run bench:surfaces`, in a worker thread of its own: the Slack API
 * stand-in, two Discord REST + gateway stand-ins (one for the real surface, one for the bare
 * client: a gateway sends every event to every session) from test/standins, and the load
 * generators. The system under test (app, surfaces, bare apps) runs on the main thread; keeping
 * the clients and the stand-ins off its event loop means a click's time is not inflated by the
 * client waiting for the very loop it is measuring, as Slack and Discord do not share it either.
 *
 * Timing points (performance.now() of this thread):
 *  - Slack: just before the signed POST is handed to fetch(), and when fetch() resolves (the
 *    response headers are in: Bolt's HTTPReceiver acknowledges in the response).
 *  - Discord: just before the gateway stand-in sends that INTERACTION_CREATE, and when the REST
 *    stand-in records the `POST /interactions/:id/:token/callback` for that id (its `calls.push`
 *    is wrapped; test/standins/discord.ts itself is untouched).
 *
 * Started by scripts/bench-surfaces.ts through `startWorld()`; talks by request/response messages.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import { createSlackStandin, type SlackStandin, type StandinMessage } from "../../test/standins/slack.js";
import { createDiscordStandin, type ApiMessage, type ApiUser, type DiscordStandin, type RecordedCall } from "../../test/standins/discord.js";

/** A signed Slack request, built by the caller. */
export interface SlackRequest {
  seq: number;
  body: string;
  headers: Record<string, string>;
  /** The payload's trigger_id, registered with the stand-in just before the burst. */
  triggerId: string;
}

/** One Discord click: who, on which message, which button. */
export interface DiscordClick {
  user: ApiUser;
  message: ApiMessage;
  customId: string;
}

export interface DiscordInfo {
  appId: string;
  guildId: string;
  generalId: string;
  apiUrl: string;
  fileHost: string;
}

export interface WorldInfo {
  slack: { url: string; apiUrl: string; host: string };
  discord: DiscordInfo;
  bareDiscord: DiscordInfo;
}

/** Per click: ms to the acknowledgement, and when it was sent and acknowledged (epoch ms, sub-ms precision). */
export interface Timed {
  seq: number;
  /** Discord: the interaction id. */
  key?: string;
  ms: number;
  sentAt: number;
  ackedAt: number;
}

export interface WorldCounts {
  slackEphemerals: number;
  slackModals: number;
  discordFollowUps: number;
}

type Which = "ours" | "bare";

interface Api {
  init(args: { slackToken: string; teamId: string; discordToken: string; timeoutMs: number }): Promise<WorldInfo>;
  slackMessage(args: { ts: string }): StandinMessage | null;
  /** Registers the trigger ids of a burst's clicks (Slack's are valid 3 s from issue, once). */
  slackTriggers(args: { ids: string[] }): void;
  discordUser(args: { which: Which; name: string }): ApiUser;
  discordMessage(args: { id: string }): ApiMessage | null;
  slackBurst(args: { port: number; requests: SlackRequest[] }): Promise<Timed[]>;
  discordBurst(args: { which: Which; clicks: DiscordClick[] }): Promise<Timed[]>;
  counts(): WorldCounts;
  /** This thread's clock (epoch ms, sub-ms precision), to relate its times to the main thread's. */
  now(): number;
  close(): Promise<void>;
}

const epoch = () => performance.timeOrigin + performance.now();

// ------------------------------------------------------------------------------------------------
// Inside the worker

function serve(): void {
  const port = parentPort!;
  let slack: SlackStandin | undefined;
  const discord: Partial<Record<Which, DiscordStandin>> = {};
  const clocks: Partial<Record<Which, ReturnType<typeof callbackClock>>> = {};
  let timeoutMs = 15_000;

  /**
   * Times the interaction callbacks a stand-in receives: wraps its `calls.push` (where the REST
   * stand-in records each request as it arrives) and resolves the waiter registered for that id.
   */
  function callbackClock(standin: DiscordStandin) {
    const waiters = new Map<string, (at: number, call: RecordedCall) => void>();
    const calls = standin.calls;
    const push = calls.push.bind(calls);
    calls.push = (...items: RecordedCall[]): number => {
      const at = epoch();
      for (const call of items) {
        if (call.method !== "POST") continue;
        const m = /^\/interactions\/(\d+)\/[^/]+\/callback$/.exec(call.path);
        const waiter = m ? waiters.get(m[1]) : undefined;
        if (m && waiter) {
          waiters.delete(m[1]);
          waiter(at, call);
        }
      }
      return push(...items);
    };
    return {
      async burst(clicks: DiscordClick[]): Promise<Timed[]> {
        const interactions = clicks.map((c) => standin.buttonClick({ user: c.user }, c.message, c.customId));
        const sent = new Map<string, number>();
        const acks = interactions.map((interaction, seq) => new Promise<Timed & { call: RecordedCall }>((resolve, reject) => {
          const timer = setTimeout(() => {
            waiters.delete(interaction.id);
            reject(new Error(`no interaction callback for click ${seq} within ${timeoutMs} ms`));
          }, timeoutMs);
          waiters.set(interaction.id, (ackedAt, call) => {
            clearTimeout(timer);
            const sentAt = sent.get(interaction.id) ?? ackedAt;
            resolve({ seq, key: interaction.id, ms: ackedAt - sentAt, sentAt, ackedAt, call });
          });
        }));
        // All at once: the gateway stand-in queues them on the one session's socket.
        for (const interaction of interactions) {
          sent.set(interaction.id, epoch());
          standin.deliver(interaction);
        }
        const results = await Promise.all(acks);
        // A call's status is set once the stand-in has routed it; give the last ones a moment.
        for (let i = 0; i < 250 && results.some((r) => r.call.status === 0); i++) await new Promise((r) => setTimeout(r, 20));
        const refused = results.filter((r) => r.call.status !== 204);
        if (refused.length > 0) {
          throw new Error(`${refused.length} interaction callbacks refused (first: ${refused[0].call.status} ${JSON.stringify(refused[0].call.response)})`);
        }
        return results.map(({ call: _call, ...timed }) => timed);
      },
    };
  }

  const api: Api = {
    async init(args) {
      timeoutMs = args.timeoutMs;
      // The bench's channel: the bot is a member, and so is everyone who clicks (the stand-in checks both).
      slack = await createSlackStandin({ token: args.slackToken, teamId: args.teamId, botUserId: "UBOT", botId: "BBOT", channels: { C0MAIN: ["UBOT", "*"] } });
      for (const which of ["ours", "bare"] as const) {
        const standin = await createDiscordStandin({ token: args.discordToken });
        discord[which] = standin;
        clocks[which] = callbackClock(standin);
      }
      const info = (s: DiscordStandin): DiscordInfo => ({ appId: s.appId, guildId: s.guildId, generalId: s.general.id, apiUrl: s.apiUrl, fileHost: s.fileHost });
      return { slack: { url: slack.url, apiUrl: slack.apiUrl, host: slack.host }, discord: info(discord.ours!), bareDiscord: info(discord.bare!) };
    },
    slackMessage: ({ ts }) => slack!.messages.get(ts) ?? null,
    slackTriggers: ({ ids }) => void ids.forEach((id) => slack!.trigger(id)),
    discordUser: ({ which, name }) => discord[which]!.user(name),
    discordMessage: ({ id }) => discord.ours!.messages.get(id) ?? null,
    async slackBurst({ port: target, requests }) {
      const url = `http://127.0.0.1:${target}/slack/events`;
      return Promise.all(requests.map(async ({ seq, body, headers }): Promise<Timed> => {
        const sentAt = epoch();
        const res = await fetch(url, { method: "POST", body, headers, signal: AbortSignal.timeout(timeoutMs) });
        const ackedAt = epoch();
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`slack click ${seq} answered ${res.status}`);
        return { seq, ms: ackedAt - sentAt, sentAt, ackedAt };
      }));
    },
    discordBurst: ({ which, clicks }) => clocks[which]!.burst(clicks),
    counts: () => ({
      slackEphemerals: slack?.callsOf("chat.postEphemeral").length ?? 0,
      slackModals: slack?.callsOf("views.open").length ?? 0,
      discordFollowUps: discord.ours?.calls.filter((c) => c.method === "POST" && /^\/webhooks\/\d+\/[^/]+$/.test(c.path)).length ?? 0,
    }),
    now: () => epoch(),
    async close() {
      await slack?.close();
      for (const standin of Object.values(discord)) await standin?.close();
    },
  };

  port.on("message", (message: { id: number; op: keyof Api; args: unknown }) => {
    void (async () => {
      try {
        const result = await (api[message.op] as (args: unknown) => unknown)(message.args);
        port.postMessage({ id: message.id, result });
        if (message.op === "close") port.close();
      } catch (err) {
        port.postMessage({ id: message.id, error: err instanceof Error ? err.stack ?? err.message : String(err) });
      }
    })();
  });
}

// ------------------------------------------------------------------------------------------------
// From the main thread

export type World = { [K in keyof Api]: (...args: Parameters<Api[K]>) => Promise<Awaited<ReturnType<Api[K]>>> } & {
  /** Stops the worker (after close(), or at once if it is stuck). */
  stop(): Promise<void>;
};

/** Starts the world in a worker thread (TypeScript through tsx's loader, registered in the worker). */
export function startWorld(): World {
  const tsx = import.meta.resolve("tsx/esm/api");
  const self = import.meta.url;
  const worker = new Worker(
    `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(self)}); })`,
    { eval: true, execArgv: [], workerData: { surfacesWorld: true } },
  );
  let seq = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let exited = false;
  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on("message", (m: { id: number; result?: unknown; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error !== undefined) p.reject(new Error(`bench world: ${m.error}`));
    else p.resolve(m.result);
  });
  worker.on("error", (err) => failAll(err));
  const exit = new Promise<void>((resolve) => worker.once("exit", () => {
    exited = true;
    failAll(new Error("bench world exited"));
    resolve();
  }));
  const call = (op: keyof Api) => (args?: unknown) => new Promise((resolve, reject) => {
    if (exited) return reject(new Error("bench world exited"));
    const id = ++seq;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, args });
  });
  const ops: Array<keyof Api> = ["init", "slackMessage", "slackTriggers", "discordUser", "discordMessage", "slackBurst", "discordBurst", "counts", "now", "close"];
  const world = Object.fromEntries(ops.map((op) => [op, call(op)])) as unknown as World;
  world.stop = async () => {
    if (exited) return;
    const timer = setTimeout(() => void worker.terminate(), 5_000);
    await exit;
    clearTimeout(timer);
  };
  return world;
}

// Loaded as the worker's entry (see startWorld): serve.
if (!isMainThread && (workerData as { surfacesWorld?: boolean } | null)?.surfacesWorld) serve();
