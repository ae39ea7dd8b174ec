/**
 * Loopback stand-ins for Discord, enough for the real discord.js client (14.28) to log in, receive
 * events and answer them: the REST API v10 (gateway info, interaction callbacks, webhooks, channel
 * messages, threads, command registration, and a CDN path that serves attachment bytes) and the
 * gateway (hello, READY, GUILD_CREATE, heartbeat ACK, dispatches injected by the test).
 *
 * It behaves like Discord where a bot can get it wrong: a second callback for one interaction is
 * refused with 40060, a callback later than 3 s with 10062, a second thread on one message with
 * 160004, a follow-up before the acknowledgement with 10015; ids are real 18–19 digit snowflakes;
 * the bot's own posts come back as MESSAGE_CREATE; new threads arrive as THREAD_CREATE. Every REST
 * call is recorded (the token itself never is) so tests can assert on what the bot sent.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, WebSocket } from "ws";

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
}

export interface DiscordStandinOptions {
  token: string;
  /** Answer the bot's own posts with MESSAGE_CREATE, as Discord does (default true). */
  echoBotMessages?: boolean;
  /** Discord's 3 s deadline for the first interaction response. */
  interactionDeadlineMs?: number;
}

export type DiscordStandin = Awaited<ReturnType<typeof createDiscordStandin>>;

// ------------------------------------------------------------------------------------------------
// Stand-in

export async function createDiscordStandin(options: DiscordStandinOptions) {
  const started = Date.now();
  const deadline = options.interactionDeadlineMs ?? 3000;
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
        .then(({ status, body, raw }) => {
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

  type Reply = { status: number; body?: unknown; raw?: { bytes: Uint8Array; contentType: string } };
  const error = (status: number, code: number, message: string): Reply => ({ status, body: { message, code } });

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
      if (Date.now() - record.deliveredAt > deadline) return error(404, 10062, "Unknown interaction");
      record.acked = true;
      const type = json?.type as number;
      if (type === 4 || type === 5) {
        // CHANNEL_MESSAGE_WITH_SOURCE / DEFERRED: the original response message exists from now on.
        const original = makeMessage(record.channelId, {
          content: json?.data?.content ?? "", flags: (json?.data?.flags ?? 0) | (type === 5 ? 128 : 0),
          components: json?.data?.components ?? [],
        }, [], record);
        record.originalId = original.id;
      }
      return { status: 204 };
    }

    // /webhooks/:appId/:token[/messages/:id]
    if (seg[0] === "webhooks") {
      const record = interactions.get(seg[2]);
      if (seg[1] !== appId || !record || !record.acked) return error(404, 10015, "Unknown Webhook");
      if (method === "POST" && seg.length === 3) {
        const message = makeMessage(record.channelId, json ?? {}, files, record);
        return { status: 200, body: message };
      }
      if (seg[3] === "messages") {
        const id = seg[4] === "@original" ? record.originalId : seg[4];
        const message = id ? messages.get(id) : undefined;
        if (!message) return error(404, 10008, "Unknown Message");
        if (method === "GET") return { status: 200, body: message };
        if (method === "PATCH") {
          if (seg[4] === "@original") message.flags = (message.flags ?? 0) & ~128; // no longer "thinking"
          return { status: 200, body: editMessage(message, json ?? {}, files) };
        }
      }
      return error(404, 0, "404: Not Found");
    }

    // /channels/:id/...
    if (seg[0] === "channels") {
      const channel = channels.get(seg[1]);
      if (!channel) return error(404, 10003, "Unknown Channel");
      if (method === "GET" && seg.length === 2) return { status: 200, body: channel };
      if (seg[2] === "messages") {
        if (method === "POST" && seg.length === 3) {
          const message = makeMessage(channel.id, json ?? {}, files, null);
          return { status: 200, body: message };
        }
        const message = messages.get(seg[3]);
        if (!message || message.channel_id !== channel.id) return error(404, 10008, "Unknown Message");
        if (seg.length === 4 && method === "GET") return { status: 200, body: message };
        if (seg.length === 4 && method === "PATCH") {
          if (message.author.id !== bot.id) return error(403, 50005, "Cannot edit a message authored by another user");
          return { status: 200, body: editMessage(message, json ?? {}, files) };
        }
        if (seg[4] === "threads" && method === "POST") {
          if (channel.type !== 0 && channel.type !== 5) return error(400, 50024, "Cannot execute action on this channel type");
          if (threadOfMessage.has(message.id)) return error(400, 160004, "A thread has already been created for this message");
          const thread = {
            id: message.id, // Discord gives a thread started from a message that message's id
            type: 11, guild_id: guildId, parent_id: channel.id, owner_id: bot.id, name: String(json?.name ?? "thread").slice(0, 100),
            last_message_id: null, rate_limit_per_user: 0, message_count: 0, member_count: 1, total_message_sent: 0, flags: 0,
            thread_metadata: {
              archived: false, auto_archive_duration: json?.auto_archive_duration ?? 1440,
              archive_timestamp: new Date().toISOString(), locked: false,
            },
          };
          channels.set(thread.id, thread);
          threadOfMessage.set(message.id, thread.id);
          dispatch("THREAD_CREATE", { ...thread, newly_created: true });
          return { status: 201, body: thread };
        }
      }
      return error(404, 0, "404: Not Found");
    }

    // PUT /applications/:app/commands, PUT /applications/:app/guilds/:guild/commands
    if (seg[0] === "applications" && method === "PUT" && seg[1] === appId && (seg[2] === "commands" || seg[4] === "commands")) {
      const registered = (Array.isArray(json) ? json : []).map((c: any) => ({
        ...c, id: snowflake(), application_id: appId, version: snowflake(), ...(seg[2] === "guilds" ? { guild_id: seg[3] } : {}),
      }));
      return { status: 200, body: registered };
    }

    return error(404, 0, "404: Not Found");
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
  const sessions = new Set<{ ws: WebSocket; seq: number; ready: boolean }>();

  wss.on("connection", (ws) => {
    const session = { ws, seq: 0, ready: false };
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

  function send(session: { ws: WebSocket; seq: number }, t: string, d: unknown): void {
    session.seq += 1;
    session.ws.send(JSON.stringify({ op: 0, t, s: session.seq, d }));
  }

  /** Sends an event to every identified connection. */
  function dispatch(t: string, d: unknown): void {
    for (const s of sessions) if (s.ready && s.ws.readyState === WebSocket.OPEN) send(s, t, d);
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
      threads: all.filter((c) => c.type === 11),
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
      app_permissions: "2248473465835073", locale: "en-US", entitlements: [],
      authorizing_integration_owners: inGuild ? { "0": guildId } : { "1": who.user.id },
      context: inGuild ? 0 : 1, attachment_size_limit: 10 * 1024 * 1024,
      ...extra,
    };
  }

  function slashCommand(who: Who, channelId: string, name: string, options: Array<{ name: string; type: number; value: string }> = [], attachments: ApiAttachment[] = []) {
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
        user: (interaction as any).user ?? (interaction as any).member.user, deliveredAt: Date.now(), acked: false, originalId: null,
      };
      interactions.set(record.token, record);
      interactionIds.set(record.id, record);
    }
    dispatch("INTERACTION_CREATE", interaction);
  }

  /** A user's message (MESSAGE_CREATE), e.g. a dropped file or a thread reply. */
  function userMessage(who: Who, channelId: string, content: string, attachments: ApiAttachment[] = [], reference?: string) {
    const channel = channels.get(channelId);
    const inGuild = channel?.type !== 1;
    const message: ApiMessage = {
      id: snowflake(), channel_id: channelId, author: who.user, content, embeds: [], components: [], attachments,
      flags: 0, timestamp: new Date().toISOString(), edited_timestamp: null, type: reference ? 19 : 0, tts: false,
      mention_everyone: false, mentions: [], mention_roles: [], pinned: false, nonce: snowflake(),
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
    dispatch("MESSAGE_CREATE", message);
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
