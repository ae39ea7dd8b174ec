/**
 * Loopback stand-in for the Slack Web API (node:http, 127.0.0.1 only). The real @slack/web-api
 * client reaches it through `clientOptions.slackApiUrl`; every call is recorded with its parsed
 * arguments and whether the bearer token came with it (the token itself is never kept).
 *
 * It keeps just enough state to catch the mistakes Slack itself punishes: `chat.update` of an
 * unknown ts fails with `message_not_found`, and an image block whose `slack_file` was not shared
 * into that channel fails with `invalid_blocks` (the real gotcha: a file uploaded without a channel,
 * or still processing, cannot be referenced from blocks). It also serves `url_private_download`
 * for files the test adds, and `response_url`s for slash commands.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

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
}

export async function createSlackStandin(options: SlackStandinOptions): Promise<SlackStandin> {
  const teamId = options.teamId ?? "T0TEAM";
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

  /** The checks Slack makes on blocks that a surface can get wrong. */
  function blocksError(channel: string, blocks: unknown): string | null {
    if (blocks === undefined) return null;
    if (!Array.isArray(blocks) || blocks.length > 50) return "invalid_blocks";
    const blockIds = new Set<string>();
    for (const block of blocks) {
      if (block.block_id) {
        if (blockIds.has(block.block_id) || block.block_id.length > 255) return "invalid_blocks";
        blockIds.add(block.block_id);
      }
      if (block.type === "image") {
        const ref = block.slack_file?.id as string | undefined;
        if (ref) {
          const upload = uploads.get(ref);
          if (!upload?.completed || upload.channelId !== channel) return "invalid_blocks";
        } else if (!block.image_url) return "invalid_blocks";
      }
      if (block.type === "actions") {
        if (!Array.isArray(block.elements) || block.elements.length > 25) return "invalid_blocks";
        const actionIds = new Set<string>();
        for (const el of block.elements) {
          if (typeof el.action_id !== "string" || el.action_id.length > 255 || actionIds.has(el.action_id)) return "invalid_blocks";
          actionIds.add(el.action_id);
          if (typeof el.value === "string" && el.value.length > 2000) return "invalid_blocks";
          if (el.style !== undefined && el.style !== "primary" && el.style !== "danger") return "invalid_blocks";
        }
      }
    }
    return null;
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
    if (req.method === "GET" && path.startsWith("/files-pri/")) {
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
        const error = blocksError(args.channel, args.blocks);
        if (error) return answer({ ok: false, error });
        if (!args.text && !args.blocks) return answer({ ok: false, error: "no_text" });
        const ts = nextTs();
        messages.set(ts, { channel: args.channel, ts, threadTs: args.thread_ts, text: args.text ?? "", blocks: args.blocks ?? [], edits: 0 });
        return answer({ ok: true, channel: args.channel, ts, message: { text: args.text, ts } });
      }
      case "chat.update": {
        const message = messages.get(args.ts);
        if (!message || message.channel !== args.channel) return answer({ ok: false, error: "message_not_found" });
        const error = blocksError(args.channel, args.blocks);
        if (error) return answer({ ok: false, error });
        message.text = args.text ?? message.text;
        message.blocks = args.blocks ?? message.blocks;
        message.edits++;
        return answer({ ok: true, channel: args.channel, ts: args.ts, text: message.text });
      }
      case "chat.postEphemeral":
        return answer({ ok: true, message_ts: nextTs() });
      case "views.open":
        if (!args.trigger_id) return answer({ ok: false, error: "invalid_trigger_id" });
        return answer({ ok: true, view: { id: `V${++seq}`, ...args.view } });
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
        for (const f of list) {
          const upload = uploads.get(f.id);
          if (!upload?.uploaded) return answer({ ok: false, error: "upload_not_found" });
          Object.assign(upload, {
            completed: true, title: f.title, channelId: args.channel_id, threadTs: args.thread_ts, initialComment: args.initial_comment,
          });
        }
        return answer({ ok: true, files: list.map((f) => ({ id: f.id, title: f.title, name: uploads.get(f.id)?.filename })) });
      }
      default:
        return answer({ ok: false, error: "unknown_method" });
    }
  }

  const standin: SlackStandin = {
    socketModeUrl: "",
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return standin;
}
