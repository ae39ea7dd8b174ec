/**
 * Loopback stand-in for the Slack Web API (node:http, 127.0.0.1 only). The real @slack/web-api
 * client reaches it through `clientOptions.slackApiUrl`; every call is recorded with its parsed
 * arguments and whether the bearer token came with it (the token itself is never kept).
 *
 * It is as strict as Slack where a bot can get it wrong, each rule citing its source (the Slack
 * docs, or ../shared/reference/chat-surfaces.md, "the reference", for behaviour found in reports):
 * - Block Kit and text limits (./slack-blockkit.ts), `invalid_blocks` / `invalid_arguments`;
 * - `slack_file` images: the file must be uploaded, shared into that channel, png/jpg/gif, and
 *   processed, which takes about a second after files.completeUploadExternal (`fileReadyDelayMs`);
 * - `ratelimited` (HTTP 429 + Retry-After) on chat.postMessage bursts in one channel and on
 *   chat.update beyond Tier 3;
 * - trigger ids valid 3 s and once (`expired_trigger_id`, `exchanged_trigger_id`);
 * - channel membership: the bot posts only where it is a member (`not_in_channel`,
 *   `channel_not_found`), ephemeral messages go only to members (`user_not_in_channel`);
 * - downloads need the bearer token (else Slack's sign-in page, as HTML), and on Enterprise Grid
 *   redirect from files.slack.com to files-origin.slack.com (a second listener here).
 * It also serves `url_private_download` for files the test adds, and `response_url`s.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { MESSAGE_TEXT_MAX, SLACK_FILE_TYPES, messageBlocksViolation, viewViolation, type Violation } from "./slack-blockkit.js";
import { createRateBucket, createRateBuckets } from "./rate-bucket.js";

export interface SlackCall {
  method: string;
  args: Record<string, any>;
  /** Whether `Authorization: Bearer <the expected token>` came with the call. */
  authorized: boolean;
  /** Date.now() when the stand-in received it. */
  at: number;
  /** What the stand-in answered. */
  result?: any;
}

export interface StandinMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  blocks: any[];
  /** How many chat.update calls changed it. */
  edits: number;
}

export interface StandinUpload {
  id: string;
  filename: string;
  bytes: Buffer;
  channelId?: string;
  threadTs?: string;
  initialComment?: string;
  title?: string;
  /** Whether the upload POST reached the upload URL (step 2 of filesUploadV2). */
  uploaded: boolean;
  completed: boolean;
  /** Date.now() of files.completeUploadExternal. */
  completedAt?: number;
}

export interface StandinFile {
  id: string;
  name: string;
  mimetype: string;
  filetype: string;
  pretty_type: string;
  size: number;
  url_private: string;
  url_private_download: string;
  permalink: string;
  user: string;
}

export interface SlackStandin {
  /** e.g. http://127.0.0.1:PORT */
  readonly url: string;
  /** `slackApiUrl` for the WebClient. */
  readonly apiUrl: string;
  /** `127.0.0.1:PORT`, for the download host allow-list. */
  readonly host: string;
  readonly calls: SlackCall[];
  readonly messages: Map<string, StandinMessage>;
  readonly uploads: Map<string, StandinUpload>;
  /** GETs of file download URLs. */
  readonly downloads: Array<{ fileId: string; authorized: boolean; at: number }>;
  /** Bodies POSTed to response_urls, keyed by the id in the URL. */
  readonly responses: Array<{ id: string; body: any; at: number }>;
  callsOf(method: string): SlackCall[];
  /** Adds a file a user "uploaded" to Slack: metadata for events and files.info, bytes for download. */
  addFile(file: { id: string; name: string; mimetype: string; bytes: Uint8Array; user?: string; size?: number }): StandinFile;
  responseUrl(id: string): string;
  /** What apps.connections.open hands out (a ws:// URL of the test's Socket Mode server). */
  socketModeUrl: string;
  /** Messages in one thread (the parent excluded), oldest first. */
  thread(channel: string, threadTs: string): StandinMessage[];
  /** Adds a channel (or more members to one); the bot is a member only when listed. */
  addChannel(id: string, members: string[]): void;
  /** A trigger_id as Slack puts in a click or command payload (this id, or a new one): valid 3 s from now, usable once. */
  trigger(id?: string): string;
  /** Moves the stand-in's clock on (trigger expiry). */
  passTime(ms: number): void;
  /** Views opened (by view id), as last opened or updated. */
  readonly views: Map<string, any>;
  /** Enterprise Grid: downloads on the file host answer 302 to this second host (`originHost`). */
  gridRedirect: boolean;
  /** `127.0.0.1:PORT` of the files-origin stand-in. */
  readonly originHost: string;
  /** Calls refused with 429, by method. */
  readonly rateLimited: Array<{ method: string; channel?: string; retryAfterS: number; at: number }>;
  close(): Promise<void>;
}

const JSON_ARGS = ["blocks", "view", "files", "attachments", "metadata"];

export interface SlackStandinOptions {
  token: string;
  /** xapp- token that apps.connections.open accepts (Socket Mode). */
  appToken?: string;
  teamId?: string;
  botUserId?: string;
  botId?: string;
  /**
   * Channel id → members (user ids; include the bot's to let it post). "*" makes every person a
   * member (a public channel everyone joined; the bot still has to be listed). D… ids are DMs.
   */
  channels?: Record<string, string[]>;
  /**
   * How long after files.completeUploadExternal a slack_file can be shown. The reference (after
   * slackapi/python-slack-sdk#1521): "right after files.uploadV2 the block can fail with
   * invalid_blocks for about a second".
   */
  fileReadyDelayMs?: number;
  /**
   * chat.postMessage in one channel: "1 message per second … short bursts allowed"
   * (https://docs.slack.dev/apis/web-api/rate-limits, "Posting messages"). Slack does not size the
   * burst, so this errs small: 3 at once, then 1 per second.
   */
  postMessageBurst?: number;
}

export async function createSlackStandin(options: SlackStandinOptions): Promise<SlackStandin> {
  const teamId = options.teamId ?? "T0TEAM";
  const botUserId = options.botUserId ?? "UBOT";
  const fileReadyDelayMs = options.fileReadyDelayMs ?? 1000;
  const members = new Map<string, Set<string>>(Object.entries(options.channels ?? {}).map(([id, m]) => [id, new Set(m)]));
  const triggers = new Map<string, { issuedAt: number; used: boolean }>();
  // The stand-in's clock: real time plus whatever `passTime` added (trigger expiry).
  let offsetMs = 0;
  const now = () => Date.now() + offsetMs;
  const views = new Map<string, any>();
  const rateLimited: SlackStandin["rateLimited"] = [];
  // https://docs.slack.dev/apis/web-api/rate-limits : chat.postMessage ~1/s per channel (burst allowed).
  const postBucket = createRateBuckets(options.postMessageBurst ?? 3, 1);
  // https://docs.slack.dev/reference/methods/chat.update : Tier 3, "50+ per minute", per workspace.
  const updateBucket = createRateBucket(50, 50 / 60);
  const calls: SlackCall[] = [];
  const messages = new Map<string, StandinMessage>();
  const uploads = new Map<string, StandinUpload>();
  const files = new Map<string, StandinFile & { bytes: Buffer }>();
  const downloads: SlackStandin["downloads"] = [];
  const responses: SlackStandin["responses"] = [];
  let clock = 1_700_000_000;
  let seq = 0;
  const nextTs = () => `${clock}.${String(++seq).padStart(6, "0")}`;
  let base = "";

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks)).catch((err) => send(res, 500, { ok: false, error: String(err) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;

  function send(res: http.ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  function parseArgs(req: http.IncomingMessage, raw: Buffer): Record<string, any> {
    const type = String(req.headers["content-type"] ?? "");
    let args: Record<string, any> = {};
    if (type.includes("application/json")) args = raw.length ? JSON.parse(raw.toString("utf8")) : {};
    else args = Object.fromEntries(new URLSearchParams(raw.toString("utf8")));
    for (const key of JSON_ARGS) {
      if (typeof args[key] === "string") {
        try {
          args[key] = JSON.parse(args[key]);
        } catch {
          /* left as sent */
        }
      }
    }
    return args;
  }

  /** Members of a channel; a DM (D…) always holds the bot, and its user once the test names it. */
  function membersOf(channel: string): Set<string> | undefined {
    if (!members.has(channel) && /^D/.test(channel)) members.set(channel, new Set([botUserId]));
    return members.get(channel);
  }

  /**
   * Where the bot may post (https://docs.slack.dev/reference/methods/chat.postMessage, errors):
   * channel_not_found for a channel it cannot see, not_in_channel for one it is not a member of.
   */
  function postingError(channel: string): string | null {
    const m = membersOf(channel);
    if (!m) return "channel_not_found";
    return m.has(botUserId) ? null : "not_in_channel";
  }

  /** Whether a slack_file can be shown in `channel` now; the reason when not. */
  function slackFileProblem(fileId: string, channel: string): string | null {
    const upload = uploads.get(fileId);
    // https://docs.slack.dev/reference/block-kit/composition-objects/slack-file-object : the file must be
    // visible where it is shown (uploaded into that channel; python-slack-sdk#1658, java-slack-sdk#1349).
    if (!upload?.completed || upload.channelId !== channel) return "invalid slack file";
    if (!SLACK_FILE_TYPES.includes(upload.filename.split(".").pop()?.toLowerCase() ?? "")) return "unsupported file type";
    // The reference: unavailable for about a second after the upload completes (python-slack-sdk#1521).
    if (Date.now() - (upload.completedAt ?? 0) < fileReadyDelayMs) return "invalid slack file";
    return null;
  }

  const invalid = (error: string, v: Violation) => ({
    ok: false, error, errors: [`${v.message} [json-pointer:${v.pointer}]`],
    response_metadata: { messages: [`[ERROR] ${v.message} [json-pointer:${v.pointer}]`] },
  });

  /** The message checks chat.postMessage and chat.update share; null when Slack takes it. */
  function messageError(args: Record<string, any>): object | null {
    if (typeof args.text === "string" && args.text.length > MESSAGE_TEXT_MAX) return { ok: false, error: "msg_too_long" };
    const violation = messageBlocksViolation(args.blocks, args.channel, slackFileProblem);
    return violation ? invalid("invalid_blocks", violation) : null;
  }

  /** A 429 as Slack sends it: `ratelimited`, with Retry-After in whole seconds (https://docs.slack.dev/apis/web-api/rate-limits). */
  function limited(res: http.ServerResponse, call: SlackCall, retryAfterS: number, channel?: string) {
    const seconds = Math.max(1, Math.ceil(retryAfterS));
    rateLimited.push({ method: call.method, channel, retryAfterS: seconds, at: Date.now() });
    call.result = { ok: false, error: "ratelimited" };
    res.writeHead(429, { "content-type": "application/json", "retry-after": String(seconds) });
    res.end(JSON.stringify(call.result));
  }

  /** A file download, as files.slack.com (or files-origin.slack.com on the second listener) answers it. */
  function download(req: http.IncomingMessage, res: http.ServerResponse, path: string, authorized: boolean, origin: boolean) {
    // Enterprise Grid: files.slack.com answers 302 → files-origin.slack.com (the reference; e.g.
    // NousResearch/hermes-agent#114483), which also wants the bearer token.
    if (standin.gridRedirect && !origin) {
      res.writeHead(302, { location: `http://${standin.originHost}${path}` });
      return res.end();
    }
    const fileId = /-(F[A-Z0-9]+)\//.exec(path)?.[1] ?? "";
    downloads.push({ fileId, authorized, at: Date.now() });
    const file = files.get(fileId);
    // Like Slack: without the token the answer is an HTML login page, not an error.
    if (!authorized) {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end("<html><body>Sign in to Slack</body></html>");
    }
    if (!file) return send(res, 404, { ok: false });
    res.writeHead(200, { "content-type": file.mimetype, "content-length": String(file.bytes.length) });
    return res.end(file.bytes);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer) {
    const url = new URL(req.url ?? "/", base);
    const authorized = req.headers.authorization === `Bearer ${options.token}`;
    const appAuthorized = options.appToken !== undefined && req.headers.authorization === `Bearer ${options.appToken}`;
    const path = url.pathname;

    // Step 2 of filesUploadV2: the bytes, as multipart form data (web-api serialises `{ body: Buffer }`).
    if (req.method === "POST" && path.startsWith("/upload/")) {
      const upload = uploads.get(path.slice("/upload/".length));
      if (!upload) return send(res, 404, { ok: false });
      const form = await new Response(new Uint8Array(raw), { headers: { "content-type": String(req.headers["content-type"]) } }).formData();
      for (const value of form.values()) {
        if (typeof value !== "string") upload.bytes = Buffer.from(await value.arrayBuffer());
      }
      upload.uploaded = true;
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end(`OK - ${upload.bytes.length}`);
    }
    if (req.method === "GET" && path.startsWith("/files-pri/")) return download(req, res, path, authorized, false);
    if (req.method === "POST" && path.startsWith("/response/")) {
      responses.push({ id: path.slice("/response/".length), body: JSON.parse(raw.toString("utf8") || "{}"), at: Date.now() });
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end("ok");
    }
    if (!path.startsWith("/api/")) return send(res, 404, { ok: false, error: "unknown_path" });

    const method = path.slice("/api/".length);
    const args = parseArgs(req, raw);
    // Socket Mode's only Web API call is made with the app-level token, not the bot token.
    const call: SlackCall = { method, args, authorized: method === "apps.connections.open" ? appAuthorized : authorized, at: Date.now() };
    calls.push(call);
    const answer = (body: unknown) => {
      call.result = body;
      send(res, 200, body);
    };
    if (!call.authorized) return answer({ ok: false, error: "not_authed" });

    switch (method) {
      case "apps.connections.open":
        return answer({ ok: true, url: standin.socketModeUrl });
      case "auth.test":
        return answer({ ok: true, url: "https://standin.slack.com/", team: "Standin", user: "reelbot", team_id: teamId, user_id: options.botUserId ?? "UBOT", bot_id: options.botId ?? "BBOT" });
      case "chat.postMessage": {
        if (!args.text && !args.blocks) return answer({ ok: false, error: "no_text" });
        const where = postingError(args.channel);
        if (where) return answer({ ok: false, error: where });
        const error = messageError(args);
        if (error) return answer(error);
        const bucket = postBucket(args.channel).take();
        if (!bucket.ok) return limited(res, call, bucket.retryAfterS, args.channel);
        const ts = nextTs();
        messages.set(ts, { channel: args.channel, ts, threadTs: args.thread_ts, text: args.text ?? "", blocks: args.blocks ?? [], edits: 0 });
        return answer({ ok: true, channel: args.channel, ts, message: { text: args.text, ts } });
      }
      case "chat.update": {
        const message = messages.get(args.ts);
        if (!message || message.channel !== args.channel) return answer({ ok: false, error: "message_not_found" });
        const error = messageError(args);
        if (error) return answer(error);
        const bucket = updateBucket.take();
        if (!bucket.ok) return limited(res, call, bucket.retryAfterS, args.channel);
        message.text = args.text ?? message.text;
        message.blocks = args.blocks ?? message.blocks;
        message.edits++;
        return answer({ ok: true, channel: args.channel, ts: args.ts, text: message.text });
      }
      case "chat.postEphemeral": {
        const where = postingError(args.channel);
        if (where) return answer({ ok: false, error: where });
        // https://docs.slack.dev/reference/methods/chat.postEphemeral : "user_not_in_channel".
        const present = membersOf(args.channel)!;
        if (!present.has(args.user) && !present.has("*")) return answer({ ok: false, error: "user_not_in_channel" });
        const error = messageError(args);
        if (error) return answer(error);
        return answer({ ok: true, message_ts: nextTs() });
      }
      case "views.open": {
        // https://docs.slack.dev/reference/methods/views.open : a trigger_id is valid for 3 seconds and
        // can be exchanged once (invalid_trigger_id, expired_trigger_id, exchanged_trigger_id).
        const trigger = triggers.get(args.trigger_id);
        if (!trigger) return answer({ ok: false, error: "invalid_trigger_id" });
        if (now() - trigger.issuedAt > 3000) return answer({ ok: false, error: "expired_trigger_id" });
        if (trigger.used) return answer({ ok: false, error: "exchanged_trigger_id" });
        const violation = viewViolation(args.view);
        if (violation) return answer(invalid("invalid_arguments", violation));
        trigger.used = true;
        const id = `V${String(++seq).padStart(8, "0")}`;
        const view = { ...args.view, id, hash: `h${seq}` };
        views.set(id, view);
        return answer({ ok: true, view });
      }
      case "views.update": {
        // https://docs.slack.dev/reference/methods/views.update : by view_id; a stale hash is hash_conflict.
        const current = views.get(args.view_id);
        if (!current) return answer({ ok: false, error: "not_found" });
        if (args.hash !== undefined && args.hash !== current.hash) return answer({ ok: false, error: "hash_conflict" });
        const violation = viewViolation(args.view);
        if (violation) return answer(invalid("invalid_arguments", violation));
        const view = { ...args.view, id: current.id, hash: `h${++seq}` };
        views.set(current.id, view);
        return answer({ ok: true, view });
      }
      case "files.info": {
        const file = files.get(args.file);
        if (!file) return answer({ ok: false, error: "file_not_found" });
        const { bytes: _bytes, ...meta } = file;
        return answer({ ok: true, file: meta });
      }
      case "files.getUploadURLExternal": {
        const id = `F0UP${String(++seq).padStart(6, "0")}`;
        uploads.set(id, { id, filename: args.filename, bytes: Buffer.alloc(0), uploaded: false, completed: false });
        return answer({ ok: true, upload_url: `${base}/upload/${id}`, file_id: id });
      }
      case "files.completeUploadExternal": {
        const list = (args.files ?? []) as Array<{ id: string; title?: string }>;
        if (args.channel_id) {
          // https://docs.slack.dev/reference/methods/files.completeUploadExternal : sharing needs access to the channel.
          const where = postingError(args.channel_id);
          if (where) return answer({ ok: false, error: where });
        }
        for (const f of list) {
          const upload = uploads.get(f.id);
          if (!upload?.uploaded) return answer({ ok: false, error: "upload_not_found" });
          Object.assign(upload, {
            completed: true, completedAt: Date.now(), title: f.title, channelId: args.channel_id, threadTs: args.thread_ts, initialComment: args.initial_comment,
          });
        }
        return answer({ ok: true, files: list.map((f) => ({ id: f.id, title: f.title, name: uploads.get(f.id)?.filename })) });
      }
      default:
        return answer({ ok: false, error: "unknown_method" });
    }
  }

  // files-origin.slack.com: a second host, so the allow-list and the token's hops can be checked.
  const origin = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", base).pathname;
    const authorized = req.headers.authorization === `Bearer ${options.token}`;
    if (req.method === "GET" && path.startsWith("/files-pri/")) return download(req, res, path, authorized, true);
    send(res, 404, { ok: false });
  });
  await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));

  const standin: SlackStandin = {
    socketModeUrl: "",
    gridRedirect: false,
    originHost: `127.0.0.1:${(origin.address() as AddressInfo).port}`,
    views,
    rateLimited,
    addChannel(id, list) {
      const m = membersOf(id) ?? new Set<string>();
      for (const u of list) m.add(u);
      members.set(id, m);
    },
    passTime(ms) {
      offsetMs += ms;
    },
    trigger(given) {
      const id = given ?? `${++seq}.${Date.now()}.${Math.random().toString(16).slice(2, 10)}`;
      triggers.set(id, { issuedAt: now(), used: false });
      return id;
    },
    url: base,
    apiUrl: `${base}/api/`,
    host: `127.0.0.1:${port}`,
    calls, messages, uploads, downloads, responses,
    callsOf: (method) => calls.filter((c) => c.method === method),
    addFile(file) {
      const ext = file.name.split(".").pop() ?? "bin";
      const meta: StandinFile = {
        id: file.id, name: file.name, mimetype: file.mimetype, filetype: ext, pretty_type: ext.toUpperCase(),
        size: file.size ?? file.bytes.byteLength,
        url_private: `${base}/files-pri/${teamId}-${file.id}/${encodeURIComponent(file.name)}`,
        url_private_download: `${base}/files-pri/${teamId}-${file.id}/download/${encodeURIComponent(file.name)}`,
        permalink: `https://standin.slack.com/files/${file.user ?? "U0OWNER"}/${file.id}/${encodeURIComponent(file.name)}`,
        user: file.user ?? "U0OWNER",
      };
      files.set(file.id, { ...meta, bytes: Buffer.from(file.bytes) });
      return meta;
    },
    responseUrl: (id) => `${base}/response/${id}`,
    thread: (channel, threadTs) =>
      [...messages.values()].filter((m) => m.channel === channel && m.threadTs === threadTs),
    close: async () => {
      for (const srv of [server, origin]) {
        srv.closeAllConnections();
        await new Promise<void>((resolve) => srv.close(() => resolve()));
      }
    },
  };
  return standin;
}
