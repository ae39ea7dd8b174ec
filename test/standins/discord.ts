/**
 * Loopback stand-ins for Discord, enough for the real discord.js client (14.28) to log in, receive
 * events and answer them: the REST API v10 (gateway info, interaction callbacks, webhooks, channel
 * messages, threads, command registration, and a CDN path that serves attachment bytes) and the
 * gateway (hello, READY, GUILD_CREATE, heartbeat ACK, dispatches injected by the test).
 *
 * It is as strict as Discord where a bot can get it wrong; each rule cites its source
 * (https://discord.com/developers/docs/…, or ../shared/reference/chat-surfaces.md, "the reference"):
 * - interactions: a second callback is 40060, a first one after 3 s is 10062, a webhook call
 *   before the acknowledgement is 10015 and after 15 minutes 50027; a follow-up while a deferred
 *   reply is still "thinking" edits that reply and ignores its own ephemeral flag;
 * - permissions per channel (View Channel 50001; Send Messages, Send Messages in Threads, Attach
 *   Files, Read Message History, Create Public Threads 50013), reported to interactions as app_permissions;
 * - threads: 160004 for a second thread on a message (its id is the message's); auto-archive
 *   after auto_archive_duration without a new message (edits do not count; `passTime`), 50083
 *   for edits in an archived thread, a new message or `archived: false` from its creator unarchives it;
 * - 40005 (413) above the per-file upload limit (10 MiB by default) or 25 MiB per request;
 * - 429 with retry_after and X-RateLimit-* headers on bursts of messages in one channel;
 * - component, message and modal limits (./discord-rules.ts), 50035 Invalid Form Body;
 * - commands exist only where registered: guild commands are not usable in DMs;
 * - the MESSAGE_CONTENT intent: privileged (4014 when not enabled for the app), and without it
 *   guild messages arrive with no content, attachments, embeds or components (unless they
 *   mention the bot). The bot's own posts come back as MESSAGE_CREATE; new threads as THREAD_CREATE.
 * Ids are real 18–19 digit snowflakes. Every REST call is recorded (the token itself never is).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, WebSocket } from "ws";
import { DEFAULT_BOT_PERMISSIONS, LIMITS, MESSAGE_CONTENT_INTENT, PERMISSIONS, invalidFormBody, messageViolation, modalViolation } from "./discord-rules.js";
import { createRateBuckets } from "./rate-bucket.js";

// ------------------------------------------------------------------------------------------------
// Snowflakes and payload shapes

const DISCORD_EPOCH = 1_420_070_400_000n;
let increment = 0n;

/** A snowflake for now: timestamp << 22 | worker | process | increment (18–19 digits today). */
export function snowflake(at: number = Date.now()): string {
  increment = (increment + 1n) & 0xfffn;
  return (((BigInt(at) - DISCORD_EPOCH) << 22n) | (1n << 17n) | (1n << 12n) | increment).toString();
}

export interface ApiUser {
  id: string;
  username: string;
  global_name: string | null;
  discriminator: string;
  avatar: null;
  bot?: boolean;
}

export interface ApiAttachment {
  id: string;
  filename: string;
  size: number;
  url: string;
  proxy_url: string;
  content_type?: string;
  width?: number;
  height?: number;
}

export type ApiMessage = Record<string, any> & { id: string; channel_id: string; attachments: ApiAttachment[] };

export interface RecordedFile {
  field: string;
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

export interface RecordedCall {
  /** ms since the stand-in started. */
  at: number;
  /** Date.now() when it arrived. */
  time: number;
  method: string;
  /** Path after /api/v10, decoded (`/webhooks/1/tok/messages/@original`), or the CDN path. */
  path: string;
  query: Record<string, string>;
  /** Whether `Authorization: Bot <the expected token>` came with it (the header is not kept). */
  authorized: boolean;
  /** The JSON body, or the multipart `payload_json`. */
  json?: any;
  files: RecordedFile[];
  status: number;
  response?: any;
}

interface InteractionRecord {
  id: string;
  token: string;
  channelId: string;
  guildId: string | null;
  user: ApiUser;
  deliveredAt: number;
  acked: boolean;
  originalId: string | null;
  /** The acknowledgement was a deferred reply (type 5) whose message is still "thinking". */
  thinking: boolean;
}

export interface DiscordStandinOptions {
  token: string;
  /** Answer the bot's own posts with MESSAGE_CREATE, as Discord does (default true). */
  echoBotMessages?: boolean;
  /** Discord's 3 s deadline for the first interaction response. */
  interactionDeadlineMs?: number;
  /** Whether the app may use the privileged MESSAGE_CONTENT intent (Developer Portal switch; default true). */
  messageContentEnabled?: boolean;
}

interface SessionState {
  ws: WebSocket;
  seq: number;
  ready: boolean;
  intents: number;
}

export type DiscordStandin = Awaited<ReturnType<typeof createDiscordStandin>>;

// ------------------------------------------------------------------------------------------------
// Stand-in

export async function createDiscordStandin(options: DiscordStandinOptions) {
  const started = Date.now();
  const deadline = options.interactionDeadlineMs ?? 3000;
  // The stand-in's clock: real time plus whatever `passTime` added (thread archiving, token expiry).
  let offsetMs = 0;
  const now = () => Date.now() + offsetMs;
  const botPermissions = new Map<string, bigint>();
  let fileLimit: number = LIMITS.fileBytes;
  const commands = { global: [] as any[], guild: new Map<string, any[]>() };
  // Messages per channel: Discord does not publish route limits (read them from the headers,
  // https://discord.com/developers/docs/topics/rate-limits); 5 per 5 s is what it commonly sends for this route.
  const messageBucket = createRateBuckets(5, 1);
  const echo = options.echoBotMessages ?? true;
  const appId = snowflake();
  const bot: ApiUser = { id: appId, username: "reelbot", global_name: null, discriminator: "0", avatar: null, bot: true };
  const guildId = snowflake();
  const approverRoleId = snowflake();
  const channels = new Map<string, Record<string, any>>();
  const messages = new Map<string, ApiMessage>();
  const threadOfMessage = new Map<string, string>();
  const interactions = new Map<string, InteractionRecord>(); // by token
  const interactionIds = new Map<string, InteractionRecord>(); // by id
  const hosted = new Map<string, { bytes: Uint8Array; contentType: string }>();
  const calls: RecordedCall[] = [];
  const downloads: string[] = [];
  const identifies: Array<{ intents: number; tokenMatched: boolean }> = [];
  const roles = [
    role(guildId, "@everyone", 0, "1024"), // VIEW_CHANNEL
    role(approverRoleId, "Video approvers", 1, "0"),
  ];

  const textChannel = (name: string, position: number) => {
    const channel = {
      id: snowflake(), type: 0, guild_id: guildId, name, position, permission_overwrites: [], parent_id: null,
      topic: null, nsfw: false, last_message_id: null, rate_limit_per_user: 0, flags: 0,
    };
    channels.set(channel.id, channel);
    return channel;
  };
  const general = textChannel("general", 0);
  const showroom = textChannel("showroom", 1);

  // ---- HTTP ------------------------------------------------------------------------------------

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handle(req, Buffer.concat(chunks))
        .then(({ status, body, raw, headers }) => {
          for (const [k, v] of Object.entries(headers ?? {})) res.setHeader(k, v);
          if (raw) {
            res.writeHead(status, { "content-type": raw.contentType, "content-length": raw.bytes.byteLength });
            res.end(Buffer.from(raw.bytes));
          } else if (body === undefined) {
            // Discord answers interaction callbacks with 204 and no content-type; discord.js
            // would choke on an empty JSON body.
            res.writeHead(status);
            res.end();
          } else {
            res.writeHead(status, { "content-type": "application/json" });
            res.end(JSON.stringify(body));
          }
        })
        .catch((err) => {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ message: String(err), code: 0 }));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;

  type Reply = { status: number; body?: unknown; raw?: { bytes: Uint8Array; contentType: string }; headers?: Record<string, string> };
  const error = (status: number, code: number, message: string): Reply => ({ status, body: { message, code } });
  // https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes
  const missingAccess = () => error(403, 50001, "Missing Access");
  const missingPermissions = () => error(403, 50013, "Missing Permissions");
  const formError = (v: { path: string; message: string }): Reply => ({ status: 400, body: invalidFormBody(v.path, v.message) });

  /** The bot's permissions in a channel; a thread has its parent's (https://discord.com/developers/docs/topics/threads#permissions). */
  function permissionsIn(channelId: string): bigint {
    const channel = channels.get(channelId);
    const key = channel?.type === 11 ? channel.parent_id : channelId;
    return botPermissions.get(key) ?? DEFAULT_BOT_PERMISSIONS;
  }
  const can = (channelId: string, bit: bigint) => (permissionsIn(channelId) & bit) === bit;

  /**
   * Whether a thread has archived by now: after auto_archive_duration minutes without a new
   * message, unarchiving or a change of the duration; edits are not activity
   * (https://discord.com/developers/docs/topics/threads#active-archived-threads).
   */
  function archiveIfIdle(thread: Record<string, any>): void {
    const meta = thread.thread_metadata;
    if (!meta || meta.archived) return;
    if (now() - thread.lastActivityAt >= meta.auto_archive_duration * 60_000) {
      meta.archived = true;
      meta.archive_timestamp = new Date(now()).toISOString();
      dispatch("THREAD_UPDATE", publicThread(thread));
    }
  }
  const publicThread = (thread: Record<string, any>) => {
    const { lastActivityAt: _l, ...rest } = thread;
    return rest;
  };
  function unarchive(thread: Record<string, any>): void {
    thread.thread_metadata.archived = false;
    thread.thread_metadata.archive_timestamp = new Date(now()).toISOString();
    thread.lastActivityAt = now();
    dispatch("THREAD_UPDATE", publicThread(thread));
  }

  /** 40005 as Discord sends it: per file over the guild's limit, or the whole request over 25 MiB (the reference, §2.6). */
  function tooLarge(files: RecordedFile[]): Reply | null {
    const total = files.reduce((n, f) => n + f.bytes.byteLength, 0);
    if (files.some((f) => f.bytes.byteLength > fileLimit) || total > LIMITS.requestBytes) return error(413, 40005, "Request entity too large");
    return null;
  }

  /** Posting rights in a guild channel or thread, as Create Message checks them (https://discord.com/developers/docs/resources/message#create-message). */
  function postingProblem(channel: Record<string, any>, json: any, files: RecordedFile[]): Reply | null {
    if (channel.type === 1) return null; // a DM: no permissions
    if (!can(channel.id, PERMISSIONS.VIEW_CHANNEL)) return missingAccess();
    // "SEND_MESSAGES has no effect in threads; users must have SEND_MESSAGES_IN_THREADS" (topics/threads#permissions).
    const send = channel.type === 11 ? PERMISSIONS.SEND_MESSAGES_IN_THREADS : PERMISSIONS.SEND_MESSAGES;
    if (!can(channel.id, send)) return missingPermissions();
    if (files.length > 0 && !can(channel.id, PERMISSIONS.ATTACH_FILES)) return missingPermissions();
    // "If the message is a reply, requires READ_MESSAGE_HISTORY" (resources/message#create-message).
    if (json?.message_reference && !can(channel.id, PERMISSIONS.READ_MESSAGE_HISTORY)) return missingPermissions();
    return null;
  }

  /** Route limit headers discord.js reads (https://discord.com/developers/docs/topics/rate-limits#header-format). */
  function rateLimited(channelId: string): Reply | null {
    const bucket = messageBucket(channelId).take();
    if (bucket.ok) return null;
    const after = Math.max(0.05, bucket.retryAfterS);
    return {
      status: 429,
      body: { message: "You are being rate limited.", retry_after: after, global: false },
      headers: { "retry-after": String(Math.ceil(after)), "x-ratelimit-limit": "5", "x-ratelimit-remaining": "0", "x-ratelimit-reset-after": after.toFixed(3), "x-ratelimit-bucket": `messages-${channelId}`, "x-ratelimit-scope": "user" },
    };
  }

  async function handle(req: http.IncomingMessage, body: Buffer): Promise<Reply> {
    const url = new URL(req.url ?? "/", base);
    const method = req.method ?? "GET";
    const query = Object.fromEntries(url.searchParams);
    const authorized = req.headers.authorization === `Bot ${options.token}`;

    if (url.pathname.startsWith("/attachments/")) {
      const path = decodeURIComponent(url.pathname);
      downloads.push(path);
      const file = hosted.get(path);
      const call: RecordedCall = { at: Date.now() - started, time: Date.now(), method, path, query, authorized, files: [], status: file ? 200 : 404 };
      calls.push(call);
      return file ? { status: 200, raw: file } : error(404, 0, "404: Not Found");
    }

    const path = url.pathname.replace(/^\/api\/v10/, "").split("/").map(decodeURIComponent).join("/");
    const { json, files } = await parseBody(req.headers["content-type"] ?? "", body);
    const call: RecordedCall = { at: Date.now() - started, time: Date.now(), method, path, query, authorized, json, files, status: 0 };
    calls.push(call);
    const reply = await route(method, path, json, files, authorized);
    call.status = reply.status;
    call.response = reply.body;
    return reply;
  }

  async function route(method: string, path: string, json: any, files: RecordedFile[], authorized: boolean): Promise<Reply> {
    const seg = path.split("/").filter(Boolean);
    const isWebhookOrCallback = seg[0] === "interactions" || seg[0] === "webhooks";
    if (!isWebhookOrCallback && !authorized) return error(401, 0, "401: Unauthorized");

    // GET /gateway/bot
    if (method === "GET" && path === "/gateway/bot") {
      return {
        status: 200,
        body: { url: gatewayUrl, shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 } },
      };
    }

    // POST /interactions/:id/:token/callback
    if (method === "POST" && seg[0] === "interactions" && seg[3] === "callback") {
      const record = interactions.get(seg[2]);
      if (!record || record.id !== seg[1]) return error(404, 10062, "Unknown interaction");
      if (record.acked) return error(400, 40060, "Interaction has already been acknowledged.");
      // https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction : 3 s.
      if (now() - record.deliveredAt > deadline) return error(404, 10062, "Unknown interaction");
      const type = json?.type as number;
      const invalid = type === 9 ? modalViolation(json?.data) : messageViolation(json?.data);
      if (invalid) return formError(invalid);
      record.acked = true;
      if (type === 4 || type === 5) {
        // CHANNEL_MESSAGE_WITH_SOURCE / DEFERRED: the original response message exists from now on.
        const original = makeMessage(record.channelId, {
          content: json?.data?.content ?? "", flags: (json?.data?.flags ?? 0) | (type === 5 ? 128 : 0),
          components: json?.data?.components ?? [],
        }, [], record);
        record.originalId = original.id;
        record.thinking = type === 5;
      }
      return { status: 204 };
    }

    // /webhooks/:appId/:token[/messages/:id]
    if (seg[0] === "webhooks") {
      const record = interactions.get(seg[2]);
      if (seg[1] !== appId || !record || !record.acked) return error(404, 10015, "Unknown Webhook");
      // https://discord.com/developers/docs/interactions/receiving-and-responding : "Interaction tokens are valid for 15 minutes".
      if (now() - record.deliveredAt > 15 * 60_000) return error(401, 50027, "Invalid Webhook Token");
      const invalid = messageViolation(json);
      if (invalid) return formError(invalid);
      const big = tooLarge(files);
      if (big) return big;
      if (method === "POST" && seg.length === 3) {
        // The reference (interactions "receiving and responding"): a follow-up while the deferred
        // reply still shows "thinking" edits that reply instead, and its own ephemeral flag is ignored.
        const original = record.thinking && record.originalId ? messages.get(record.originalId) : undefined;
        if (original) {
          record.thinking = false;
          const { flags: _ignored, ...rest } = json ?? {};
          original.flags = (original.flags ?? 0) & ~128;
          return { status: 200, body: editMessage(original, rest, files) };
        }
        const message = makeMessage(record.channelId, json ?? {}, files, record);
        return { status: 200, body: message };
      }
      if (seg[3] === "messages") {
        const id = seg[4] === "@original" ? record.originalId : seg[4];
        const message = id ? messages.get(id) : undefined;
        if (!message) return error(404, 10008, "Unknown Message");
        if (method === "GET") return { status: 200, body: message };
        if (method === "PATCH") {
          if (seg[4] === "@original") {
            message.flags = (message.flags ?? 0) & ~128; // no longer "thinking"
            record.thinking = false;
          }
          return { status: 200, body: editMessage(message, json ?? {}, files) };
        }
      }
      return error(404, 0, "404: Not Found");
    }

    // /channels/:id/...
    if (seg[0] === "channels") {
      const channel = channels.get(seg[1]);
      if (!channel) return error(404, 10003, "Unknown Channel");
      if (channel.type === 11) archiveIfIdle(channel);
      if (channel.type !== 1 && !can(channel.id, PERMISSIONS.VIEW_CHANNEL)) return missingAccess();
      if (method === "GET" && seg.length === 2) return { status: 200, body: channel.type === 11 ? publicThread(channel) : channel };
      if (method === "PATCH" && seg.length === 2 && channel.type === 11) {
        // https://discord.com/developers/docs/topics/threads#editing-deleting-threads : archived / name by the
        // thread's creator or with MANAGE_THREADS; a locked thread only with MANAGE_THREADS.
        const manage = can(channel.id, PERMISSIONS.MANAGE_THREADS);
        if (channel.owner_id !== bot.id && !manage) return missingPermissions();
        if (channel.thread_metadata.locked && !manage) return missingPermissions();
        if (json?.archived === false && channel.thread_metadata.archived) unarchive(channel);
        else if (json?.archived === true) channel.thread_metadata.archived = true;
        if (typeof json?.name === "string") channel.name = json.name.slice(0, 100);
        return { status: 200, body: publicThread(channel) };
      }
      if (seg[2] === "messages") {
        if (method === "POST" && seg.length === 3) {
          const refused = postingProblem(channel, json, files) ?? formOf(json) ?? tooLarge(files);
          if (refused) return refused;
          if (channel.type === 11 && channel.thread_metadata.archived) {
            // "Sending a message will automatically unarchive the thread, unless the thread has been locked" (topics/threads).
            if (channel.thread_metadata.locked && !can(channel.id, PERMISSIONS.MANAGE_THREADS)) return error(400, 50083, "Thread is archived");
            unarchive(channel);
          }
          const limited = rateLimited(channel.id);
          if (limited) return limited;
          const message = makeMessage(channel.id, json ?? {}, files, null);
          if (channel.type === 11) channel.lastActivityAt = now();
          return { status: 200, body: message };
        }
        const message = messages.get(seg[3]);
        if (!message || message.channel_id !== channel.id) return error(404, 10008, "Unknown Message");
        if (seg.length === 4 && method === "GET") return { status: 200, body: message };
        if (seg.length === 4 && method === "PATCH") {
          if (message.author.id !== bot.id) return error(403, 50005, "Cannot edit a message authored by another user");
          // "Users cannot edit messages … in archived threads" (topics/threads); an edit is no activity.
          if (channel.type === 11 && channel.thread_metadata.archived) return error(400, 50083, "Thread is archived");
          if (files.length > 0 && channel.type !== 1 && !can(channel.id, PERMISSIONS.ATTACH_FILES)) return missingPermissions();
          const refused = formOf(json) ?? tooLarge(files);
          if (refused) return refused;
          return { status: 200, body: editMessage(message, json ?? {}, files) };
        }
        if (seg[4] === "threads" && method === "POST") {
          if (channel.type !== 0 && channel.type !== 5) return error(400, 50024, "Cannot execute action on this channel type");
          // https://discord.com/developers/docs/resources/channel#start-thread-from-message : CREATE_PUBLIC_THREADS.
          if (!can(channel.id, PERMISSIONS.CREATE_PUBLIC_THREADS)) return missingPermissions();
          if (threadOfMessage.has(message.id)) return error(400, 160004, "A thread has already been created for this message");
          const thread = createThread(channel, message, String(json?.name ?? "thread"), json?.auto_archive_duration ?? 1440, bot.id);
          return { status: 201, body: publicThread(thread) };
        }
      }
      return error(404, 0, "404: Not Found");
    }

    // PUT /applications/:app/commands, PUT /applications/:app/guilds/:guild/commands (PUT replaces the set)
    if (seg[0] === "applications" && method === "PUT" && seg[1] === appId && (seg[2] === "commands" || seg[4] === "commands")) {
      const registered = (Array.isArray(json) ? json : []).map((c: any) => ({
        ...c, id: snowflake(), application_id: appId, version: snowflake(), ...(seg[2] === "guilds" ? { guild_id: seg[3] } : {}),
      }));
      if (seg[2] === "guilds") commands.guild.set(seg[3], registered);
      else commands.global = registered;
      return { status: 200, body: registered };
    }

    return error(404, 0, "404: Not Found");
  }

  const formOf = (json: any): Reply | null => {
    const invalid = messageViolation(json);
    return invalid ? formError(invalid) : null;
  };

  /** A public thread on a message; it takes the message's id (topics/threads, "Public & Private Threads"). */
  function createThread(channel: Record<string, any>, message: ApiMessage, name: string, autoArchive: number, ownerId: string) {
    const thread = {
      id: message.id,
      type: 11, guild_id: guildId, parent_id: channel.id, owner_id: ownerId, name: name.slice(0, 100),
      last_message_id: null, rate_limit_per_user: 0, message_count: 0, member_count: 1, total_message_sent: 0, flags: 0,
      thread_metadata: { archived: false, auto_archive_duration: autoArchive, archive_timestamp: new Date(now()).toISOString(), locked: false },
      lastActivityAt: now(),
    };
    channels.set(thread.id, thread);
    threadOfMessage.set(message.id, thread.id);
    dispatch("THREAD_CREATE", { ...publicThread(thread), newly_created: true });
    return thread;
  }

  function makeMessage(channelId: string, json: any, files: RecordedFile[], interaction: InteractionRecord | null): ApiMessage {
    const channel = channels.get(channelId);
    const id = snowflake();
    const message: ApiMessage = {
      id, channel_id: channelId, ...(channel?.guild_id ? { guild_id: channel.guild_id } : {}),
      author: bot, content: String(json.content ?? ""), embeds: json.embeds ?? [], components: json.components ?? [],
      attachments: attachmentsFor(channelId, json.attachments, files, []),
      flags: json.flags ?? 0, timestamp: new Date().toISOString(), edited_timestamp: null, type: interaction ? 20 : 0,
      tts: false, mention_everyone: false, mentions: [], mention_roles: [], pinned: false,
      ...(json.message_reference ? { message_reference: { ...json.message_reference, channel_id: channelId } } : {}),
      ...(interaction
        ? {
            webhook_id: appId, application_id: appId,
            interaction_metadata: {
              id: interaction.id, type: 2, user: interaction.user,
              authorizing_integration_owners: interaction.guildId ? { "0": interaction.guildId } : { "1": interaction.user.id },
            },
          }
        : {}),
    };
    messages.set(id, message);
    // Ephemeral messages are not broadcast; everything else the bot posts comes back to it.
    if (echo && !(message.flags & 64)) dispatch("MESSAGE_CREATE", { ...message, channel_type: channel?.type ?? 0 });
    return message;
  }

  function editMessage(message: ApiMessage, json: any, files: RecordedFile[]): ApiMessage {
    if ("content" in json) message.content = String(json.content ?? "");
    if ("components" in json) message.components = json.components ?? [];
    if ("embeds" in json) message.embeds = json.embeds ?? [];
    if ("flags" in json && json.flags !== undefined) message.flags = json.flags;
    message.attachments = attachmentsFor(message.channel_id, json.attachments, files, message.attachments);
    message.edited_timestamp = new Date().toISOString();
    return message;
  }

  /** Discord's rule: `attachments` lists what the message keeps; without it, new files are added. */
  function attachmentsFor(channelId: string, listed: any[] | undefined, files: RecordedFile[], existing: ApiAttachment[]): ApiAttachment[] {
    const uploaded = (field: string) => files.find((f) => f.field === field);
    const host = (f: RecordedFile): ApiAttachment => {
      const id = snowflake();
      const path = `/attachments/${channelId}/${id}/${f.name}`;
      hosted.set(path, { bytes: f.bytes, contentType: f.contentType });
      return { id, filename: f.name, size: f.bytes.byteLength, url: `${base}${path}`, proxy_url: `${base}${path}`, content_type: f.contentType };
    };
    if (Array.isArray(listed)) {
      return listed.flatMap((a) => {
        const kept = existing.find((e) => e.id === String(a.id));
        if (kept) return [kept];
        const file = uploaded(`files[${a.id}]`);
        return file ? [host(file)] : [];
      });
    }
    return [...existing, ...files.map(host)];
  }

  // ---- Gateway ---------------------------------------------------------------------------------

  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const gatewayUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const sessions = new Set<SessionState>();

  wss.on("connection", (ws) => {
    const session: SessionState = { ws, seq: 0, ready: false, intents: 0 };
    sessions.add(session);
    ws.on("close", () => sessions.delete(session));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 }, s: null, t: null }));
    ws.on("message", (raw) => {
      const packet = JSON.parse(String(raw)) as { op: number; d: any };
      if (packet.op === 1) ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
      if (packet.op === 2 || packet.op === 6) {
        const tokenMatched = packet.d?.token === options.token;
        identifies.push({ intents: Number(packet.d?.intents ?? 0), tokenMatched });
        if (!tokenMatched) {
          ws.close(4004, "Authentication failed.");
          return;
        }
        if (packet.op === 6) {
          // Sessions do not survive here: ask for a fresh IDENTIFY, as Discord does for unknown sessions.
          ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
          return;
        }
        session.intents = Number(packet.d?.intents ?? 0);
        // https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes :
        // 4014 "Disallowed intent(s)" for a privileged intent the app is not approved or enabled for.
        if ((session.intents & MESSAGE_CONTENT_INTENT) && options.messageContentEnabled === false) {
          ws.close(4014, "Disallowed intent(s).");
          return;
        }
        send(session, "READY", {
          v: 10, user: { ...bot, verified: true, mfa_enabled: false, flags: 0 }, guilds: [{ id: guildId, unavailable: true }],
          session_id: `session-${snowflake()}`, resume_gateway_url: gatewayUrl, shard: [0, 1],
          application: { id: appId, flags: 0 }, private_channels: [], relationships: [], presences: [],
          geo_ordered_rtc_regions: [], guild_join_requests: [], user_settings: {},
        });
        session.ready = true;
        send(session, "GUILD_CREATE", guildCreate());
      }
    });
  });

  function send(session: SessionState, t: string, d: unknown): void {
    session.seq += 1;
    session.ws.send(JSON.stringify({ op: 0, t, s: session.seq, d }));
  }

  /** Sends an event to every identified connection (a message as its intents let that connection see it). */
  function dispatch(t: string, d: unknown): void {
    for (const s of sessions) if (s.ready && s.ws.readyState === WebSocket.OPEN) send(s, t, t === "MESSAGE_CREATE" ? asSeenBy(s, d as ApiMessage) : d);
  }

  /**
   * Without MESSAGE_CONTENT, content, embeds, attachments and components arrive empty, except in
   * DMs, in messages that mention the bot, and in the bot's own messages
   * (https://discord.com/developers/docs/events/gateway#message-content-intent).
   */
  function asSeenBy(session: SessionState, message: ApiMessage): ApiMessage {
    if (session.intents & MESSAGE_CONTENT_INTENT) return message;
    const inDm = channels.get(message.channel_id)?.type === 1;
    const mentionsBot = (message.mentions ?? []).some((u: ApiUser) => u.id === bot.id);
    if (inDm || mentionsBot || message.author?.id === bot.id) return message;
    return { ...message, content: "", embeds: [], attachments: [], components: [] };
  }

  function guildCreate() {
    const joined = new Date(started).toISOString();
    const all = [...channels.values()];
    return {
      id: guildId, name: "Brand Studio", icon: null, splash: null, discovery_splash: null, banner: null, description: null,
      owner_id: snowflake(), afk_channel_id: null, afk_timeout: 300, verification_level: 0, default_message_notifications: 0,
      explicit_content_filter: 0, roles, emojis: [], stickers: [], features: [], mfa_level: 0, application_id: null,
      system_channel_id: null, system_channel_flags: 0, rules_channel_id: null, public_updates_channel_id: null,
      vanity_url_code: null, premium_tier: 0, premium_subscription_count: 0, preferred_locale: "en-US", nsfw_level: 0,
      premium_progress_bar_enabled: false, max_members: 500_000, max_video_channel_users: 25,
      joined_at: joined, large: false, unavailable: false, member_count: 3, voice_states: [], presences: [],
      members: [{ user: bot, roles: [], joined_at: joined, deaf: false, mute: false, flags: 0, nick: null, avatar: null }],
      channels: all.filter((c) => c.type === 0),
      threads: all.filter((c) => c.type === 11 && !c.thread_metadata.archived).map(publicThread),
      stage_instances: [], guild_scheduled_events: [], soundboard_sounds: [], embedded_activities: [],
    };
  }

  // ---- Test API --------------------------------------------------------------------------------

  function user(username: string): ApiUser {
    return { id: snowflake(), username, global_name: username[0].toUpperCase() + username.slice(1), discriminator: "0", avatar: null };
  }

  function member(u: ApiUser, roleIds: string[] = []) {
    return {
      user: u, roles: roleIds, joined_at: new Date(started).toISOString(), deaf: false, mute: false, flags: 0,
      nick: null, avatar: null, pending: false, premium_since: null, communication_disabled_until: null,
      permissions: "2248473465835073", // what Discord sends for an ordinary member
    };
  }

  function dmChannel(u: ApiUser) {
    const channel = { id: snowflake(), type: 1, recipients: [u], last_message_id: null, flags: 0 };
    channels.set(channel.id, channel);
    return channel;
  }

  /** Serves bytes where Discord's CDN would, and returns the attachment object that points at them. */
  function hostAttachment(filename: string, bytes: Uint8Array, contentType: string | null, declaredSize?: number): ApiAttachment {
    const id = snowflake();
    const path = `/attachments/${general.id}/${id}/${filename}`;
    hosted.set(path, { bytes, contentType: contentType ?? "application/octet-stream" });
    return {
      id, filename, size: declaredSize ?? bytes.byteLength, url: `${base}${path}?ex=1&is=2&hm=3`, proxy_url: `${base}${path}`,
      ...(contentType ? { content_type: contentType } : {}),
    };
  }

  interface Who {
    user: ApiUser;
    roles?: string[];
    /** Omit for a DM. */
    guild?: boolean;
  }

  function interactionBase(type: number, who: Who, channelId: string, data: unknown, extra: Record<string, unknown> = {}) {
    const channel = channels.get(channelId) ?? { id: channelId, type: 0 };
    const inGuild = who.guild !== false && channel.type !== 1;
    return {
      id: snowflake(), application_id: appId, type, token: `itok-${snowflake()}-${Math.random().toString(36).slice(2)}`,
      version: 1, data, channel_id: channelId, channel,
      ...(inGuild ? { guild_id: guildId, member: member(who.user, who.roles), guild_locale: "en-US" } : { user: who.user }),
      // What the bot may do here (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object).
      app_permissions: String(inGuild ? permissionsIn(channelId) : DEFAULT_BOT_PERMISSIONS), locale: "en-US", entitlements: [],
      authorizing_integration_owners: inGuild ? { "0": guildId } : { "1": who.user.id },
      context: inGuild ? 0 : 1, attachment_size_limit: fileLimit,
      ...extra,
    };
  }

  /**
   * Whether a user there can see the command at all. Guild commands exist in their guild only, so
   * in a DM only global commands whose `contexts` include BOT_DM (1) can be used; `contexts` is
   * honoured for global commands only, and when absent allows every context
   * (https://discord.com/developers/docs/interactions/application-commands#registering-a-command, #interaction-contexts).
   */
  function commandAvailable(name: string, inGuild: boolean): boolean {
    const context = inGuild ? 0 : 1;
    const global = commands.global.some((c) => c.name === name && (!Array.isArray(c.contexts) || c.contexts.includes(context)));
    const local = inGuild && (commands.guild.get(guildId) ?? []).some((c) => c.name === name);
    return global || local;
  }

  function slashCommand(who: Who, channelId: string, name: string, options: Array<{ name: string; type: number; value: string }> = [], attachments: ApiAttachment[] = []) {
    const inGuild = who.guild !== false && channels.get(channelId)?.type !== 1;
    if (!commandAvailable(name, inGuild)) {
      // Discord would not offer the command, so no interaction could ever be delivered.
      throw new Error(`/${name} is not registered where this user is (${inGuild ? "this guild" : "a DM: guild commands are not usable there"})`);
    }
    return interactionBase(2, who, channelId, {
      id: snowflake(), name, type: 1, options,
      ...(attachments.length ? { resolved: { attachments: Object.fromEntries(attachments.map((a) => [a.id, a])) } } : {}),
    });
  }

  function buttonClick(who: Who, message: ApiMessage, customId: string) {
    return interactionBase(3, who, message.channel_id, { custom_id: customId, component_type: 2 }, { message });
  }

  function modalSubmit(who: Who, message: ApiMessage | null, customId: string, values: Record<string, string>) {
    let n = 0;
    const components = Object.entries(values).map(([id, value]) => ({
      type: 18, id: ++n, component: { type: 4, id: ++n, custom_id: id, value },
    }));
    return interactionBase(5, who, message?.channel_id ?? general.id, { custom_id: customId, components }, message ? { message } : {});
  }

  /** Delivers an INTERACTION_CREATE (again, for a re-delivery: same id and token). */
  function deliver(interaction: ReturnType<typeof interactionBase>): void {
    const existing = interactionIds.get(interaction.id);
    if (!existing) {
      const record: InteractionRecord = {
        id: interaction.id, token: interaction.token, channelId: interaction.channel_id, guildId: (interaction as any).guild_id ?? null,
        user: (interaction as any).user ?? (interaction as any).member.user, deliveredAt: now(), acked: false, originalId: null, thinking: false,
      };
      interactions.set(record.token, record);
      interactionIds.set(record.id, record);
    }
    dispatch("INTERACTION_CREATE", interaction);
  }

  /** A user's message (MESSAGE_CREATE), e.g. a dropped file or a thread reply. */
  function userMessage(who: Who, channelId: string, content: string, attachments: ApiAttachment[] = [], reference?: string, mentionsBot = false) {
    const channel = channels.get(channelId);
    const inGuild = channel?.type !== 1;
    const message: ApiMessage = {
      id: snowflake(), channel_id: channelId, author: who.user, content, embeds: [], components: [], attachments,
      flags: 0, timestamp: new Date().toISOString(), edited_timestamp: null, type: reference ? 19 : 0, tts: false,
      mention_everyone: false, mentions: mentionsBot ? [bot] : [], mention_roles: [], pinned: false, nonce: snowflake(),
      ...(reference
        ? { message_reference: { message_id: reference, channel_id: channelId, type: 0 }, referenced_message: messages.get(reference) ?? null }
        : {}),
      ...(inGuild ? { guild_id: guildId, member: { ...member(who.user, who.roles), user: undefined } } : {}),
      channel_type: channel?.type ?? 0,
    };
    messages.set(message.id, message);
    return message;
  }

  function deliverMessage(message: ApiMessage): void {
    const channel = channels.get(message.channel_id);
    if (channel?.type === 11) {
      archiveIfIdle(channel);
      // A new message is activity, and unarchives an archived (unlocked) thread (topics/threads).
      if (channel.thread_metadata.archived && !channel.thread_metadata.locked) unarchive(channel);
      channel.lastActivityAt = now();
    }
    dispatch("MESSAGE_CREATE", message);
  }

  /** Someone opens a thread on a message before the bot does (its id is the message's). */
  function userThread(message: ApiMessage, who: ApiUser, name = "discussion") {
    const channel = channels.get(message.channel_id)!;
    return publicThread(createThread(channel, message, name, 1440, who.id));
  }

  /** A text channel added after the bot connected (CHANNEL_CREATE tells discord.js about it). */
  function addTextChannel(name: string) {
    const channel = textChannel(name, channels.size);
    dispatch("CHANNEL_CREATE", channel);
    return channel;
  }

  return {
    token: options.token,
    appId,
    bot,
    guildId,
    approverRoleId,
    general,
    showroom,
    /** For `new Client({ rest: { api } })` and REST: http://127.0.0.1:PORT/api */
    apiUrl: `${base}/api`,
    /** host:port of the CDN path, for the download allow-list. */
    fileHost: `127.0.0.1:${port}`,
    gatewayUrl,
    calls,
    downloads,
    identifies,
    channels,
    messages,
    user,
    dmChannel,
    hostAttachment,
    slashCommand,
    buttonClick,
    modalSubmit,
    deliver,
    userMessage,
    deliverMessage,
    dispatch,
    userThread,
    addTextChannel,
    /** Registered commands: global, and per guild. */
    commands,
    /** Moves the stand-in's clock on (thread auto-archive, interaction token lifetime). */
    passTime(ms: number): void {
      offsetMs += ms;
    },
    /** The bot's permissions in a channel (and its threads), as a bit field. */
    setBotPermissions(channelId: string, bits: bigint): void {
      botPermissions.set(channelId, bits);
    },
    /** The per-file upload limit (a guild's boost tier raises it; 10 MiB by default). */
    setFileLimit(bytes: number): void {
      fileLimit = bytes;
    },
    /** A thread's state as Discord has it now (archived once idle long enough). */
    thread(id: string) {
      const thread = channels.get(id);
      if (thread?.type !== 11) return undefined;
      archiveIfIdle(thread);
      return publicThread(thread);
    },
    /** Calls for one interaction: its callback and its webhook (editReply, followUp). */
    callsOf(interaction: { id: string; token: string }): RecordedCall[] {
      return calls.filter((c) => c.path.startsWith(`/interactions/${interaction.id}/`) || c.path.startsWith(`/webhooks/${appId}/${interaction.token}`));
    },
    async close(): Promise<void> {
      for (const s of sessions) s.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function role(id: string, name: string, position: number, permissions: string) {
  return {
    id, name, color: 0, colors: { primary_color: 0, secondary_color: null, tertiary_color: null }, hoist: false,
    icon: null, unicode_emoji: null, position, permissions, managed: false, mentionable: false, flags: 0,
  };
}

async function parseBody(contentType: string, body: Buffer): Promise<{ json?: any; files: RecordedFile[] }> {
  if (body.length === 0) return { files: [] };
  if (contentType.startsWith("application/json")) return { json: JSON.parse(body.toString("utf8")), files: [] };
  if (contentType.startsWith("multipart/form-data")) {
    const form = await new Response(new Uint8Array(body), { headers: { "content-type": contentType } }).formData();
    let json: any;
    const files: RecordedFile[] = [];
    for (const [field, value] of form.entries()) {
      if (field === "payload_json" && typeof value === "string") json = JSON.parse(value);
      else if (typeof value !== "string") {
        files.push({ field, name: value.name, contentType: value.type, bytes: new Uint8Array(await value.arrayBuffer()) });
      }
    }
    return { json, files };
  }
  return { json: body.toString("utf8"), files: [] };
}
