/**
 * Loopback stand-in for fal.ai: queue submit/status/result/cancel, storage initiate + PUT, and the
 * CDN (uploaded files and results). The SDK's hosts are hard-coded, so tests hand the SDK
 * `standin.fetch`, which reroutes every host here and keeps the original host in a header.
 * Also home of the tiny real media the stand-ins serve (a PNG from sharp, an H.264 MP4 from ffmpeg).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";

// ------------------------------------------------------------------------------------------------
// Media

export async function tinyPng(rgb: { r: number; g: number; b: number } = { r: 200, g: 120, b: 40 }): Promise<Uint8Array> {
  const buf = await sharp({ create: { width: 64, height: 36, channels: 3, background: rgb } }).png().toBuffer();
  return new Uint8Array(buf);
}

let mp4: Promise<Uint8Array> | undefined;

/** A one-second 64x36 H.264 MP4, generated once per process. */
export function tinyMp4(): Promise<Uint8Array> {
  mp4 ??= (async () => {
    const ffmpegPath = ((await import("@ffmpeg-installer/ffmpeg")) as unknown as { default: { path: string } }).default.path;
    const dir = await mkdtemp(join(tmpdir(), "fal-standin-"));
    const out = join(dir, "clip.mp4");
    try {
      await promisify(execFile)(ffmpegPath, [
        "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "color=c=orange:s=64x36:d=1:r=10",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out,
      ]);
      return new Uint8Array(await readFile(out));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return mp4;
}

// ------------------------------------------------------------------------------------------------
// Stand-in

export interface RecordedRequest {
  method: string;
  /** Host the SDK meant to reach (queue.fal.run, rest.fal.ai, v3.fal.media). */
  host: string;
  path: string;
  query: Record<string, string>;
  /** Whether an `Authorization: Key <expected>` header came with it (the key itself is not kept). */
  authorized: boolean;
  hasAuthorization: boolean;
  body?: unknown;
}

export interface Submission {
  model: string;
  /** Undefined when the submit was answered with an injected failure. */
  requestId?: string;
  status: number;
  input: Record<string, unknown>;
  webhookUrl?: string;
}

type Outcome = { kind: "ok" } | { kind: "error"; status: number; body: unknown };

interface RequestState {
  model: string;
  input: Record<string, unknown>;
  polls: number;
  pollsBeforeDone: number;
  outcome: Outcome;
}

export interface FalStandin {
  readonly url: string;
  /** Hand this to createFalClient / the downloader: every host goes to the stand-in. */
  readonly fetch: typeof fetch;
  readonly requests: RecordedRequest[];
  /** Every POST to the queue, failed ones included. */
  readonly submissions: Submission[];
  readonly uploads: Array<{ contentType: string; size: number; hadAuthorization: boolean }>;
  /** The next `n` submits answer `status` (default 500, which fal-js does not retry on submit). */
  failSubmits(n: number, status?: number): void;
  /** The next submit answers 422 with a Pydantic-style detail. */
  rejectNextSubmit(type?: string, field?: string): void;
  /** The next `n` submits never answer (until the client gives up). */
  hangSubmits(n: number): void;
  /** The next accepted request completes, but its result is this error. */
  failNextRequest(status?: number, body?: unknown): void;
  /** Status polls answered IN_QUEUE / IN_PROGRESS before COMPLETED, for later requests. */
  setPollsBeforeDone(n: number): void;
  /** Requests already accepted complete at their next status poll. */
  completeQueued(): void;
  statusPolls(requestId: string): number;
  accepted(): Submission[];
  reset(): void;
  close(): Promise<void>;
}

export async function createFalStandin(options: { apiKey?: string } = {}): Promise<FalStandin> {
  const apiKey = options.apiKey ?? "fal-test-key";
  const png = await tinyPng();
  const video = await tinyMp4();
  const files = new Map<string, { data: Uint8Array; contentType: string }>();
  const uploadsPending = new Map<string, string>(); // upload id → file name
  const requestsById = new Map<string, RequestState>();
  const requests: RecordedRequest[] = [];
  const submissions: Submission[] = [];
  const uploads: FalStandin["uploads"] = [];
  let failSubmits: { n: number; status: number } = { n: 0, status: 500 };
  let rejectNext: { type: string; field: string } | undefined;
  let hangSubmits = 0;
  let failNextRequest: { status: number; body: unknown } | undefined;
  let pollsBeforeDone = 1;
  let seq = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        handle(req, res, Buffer.concat(chunks));
      } catch (err) {
        send(res, 500, { detail: String(err) });
      }
    });
  });

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer) {
    const url = new URL(req.url ?? "/", "http://standin");
    const method = req.method ?? "GET";
    const auth = req.headers.authorization;
    // The product's FAL_API_URL reroute sends the intended host as X-Forwarded-Host.
    const host = String(req.headers["x-standin-host"] ?? req.headers["x-forwarded-host"] ?? "");
    const isJson = String(req.headers["content-type"] ?? "").includes("application/json");
    let body: unknown;
    if (isJson && raw.length) body = JSON.parse(raw.toString("utf8"));
    requests.push({
      method, host, path: url.pathname, query: Object.fromEntries(url.searchParams),
      authorized: auth === `Key ${apiKey}`, hasAuthorization: auth !== undefined, body,
    });
    const authorized = auth === `Key ${apiKey}`;
    const path = url.pathname;

    // Storage: initiate (rest.fal.ai), then PUT to the signed URL (no Authorization).
    if (method === "POST" && path === "/storage/upload/initiate") {
      if (!authorized) return send(res, 401, { detail: "Unauthorized" });
      const { content_type: contentType, file_name: fileName } = body as { content_type: string; file_name: string };
      const id = `up-${++seq}`;
      const name = `${id}-${fileName}`;
      uploadsPending.set(id, name);
      files.set(name, { data: new Uint8Array(), contentType });
      return send(res, 200, { upload_url: `https://v3.fal.media/upload/${id}?signature=standin`, file_url: `https://v3.fal.media/files/${name}` });
    }
    if (method === "PUT" && path.startsWith("/upload/")) {
      const name = uploadsPending.get(path.slice("/upload/".length));
      if (!name) return send(res, 404, { detail: "unknown upload" });
      const contentType = String(req.headers["content-type"] ?? "application/octet-stream");
      files.set(name, { data: new Uint8Array(raw), contentType });
      uploads.push({ contentType, size: raw.length, hadAuthorization: auth !== undefined });
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end("");
    }
    if (method === "GET" && path.startsWith("/files/")) {
      const file = files.get(decodeURIComponent(path.slice("/files/".length)));
      if (!file) return send(res, 404, { detail: "no such file" });
      res.writeHead(200, { "content-type": file.contentType, "content-length": String(file.data.byteLength) });
      return res.end(Buffer.from(file.data));
    }

    // Queue: status / result / cancel are addressed by owner/alias only.
    const q = /^\/(.+?)\/requests\/([^/]+)(\/status|\/cancel)?$/.exec(path);
    if (q) {
      if (!authorized) return send(res, 401, { detail: "Unauthorized" });
      const [, , requestId, tail] = q;
      const state = requestsById.get(requestId);
      if (!state) return send(res, 404, { detail: "Request not found" });
      if (tail === "/cancel") return send(res, 202, { status: "CANCELLATION_REQUESTED" });
      if (tail === "/status") {
        state.polls++;
        if (state.polls <= state.pollsBeforeDone) {
          return send(res, 202, { status: state.polls === 1 ? "IN_QUEUE" : "IN_PROGRESS", request_id: requestId, queue_position: 0, logs: [] });
        }
        return send(res, 200, { status: "COMPLETED", request_id: requestId, logs: [], metrics: { inference_time: 0.1 } });
      }
      if (state.polls <= state.pollsBeforeDone) return send(res, 400, { detail: "Request is still in progress" });
      if (state.outcome.kind === "error") {
        return send(res, state.outcome.status, state.outcome.body, { "x-fal-request-id": requestId });
      }
      return send(res, 200, resultFor(state.model, requestId), { "x-fal-request-id": requestId });
    }

    // Anything else POSTed is a submit to queue.fal.run/{model}.
    if (method === "POST") {
      const model = path.slice(1);
      const input = (body ?? {}) as Record<string, unknown>;
      const webhookUrl = url.searchParams.get("fal_webhook") ?? undefined;
      if (!authorized) return send(res, 401, { detail: "Unauthorized" });
      if (hangSubmits > 0) {
        hangSubmits--;
        submissions.push({ model, status: 0, input, webhookUrl });
        return; // never answered; the client's deadline must fire
      }
      if (failSubmits.n > 0) {
        failSubmits.n--;
        submissions.push({ model, status: failSubmits.status, input, webhookUrl });
        return send(res, failSubmits.status, { detail: "Internal server error", error_type: "internal_error" }, { "x-fal-error-type": "internal_error" });
      }
      if (rejectNext) {
        const { type, field } = rejectNext;
        rejectNext = undefined;
        submissions.push({ model, status: 422, input, webhookUrl });
        return send(res, 422, { detail: [{ loc: ["body", field], msg: `${field} is not acceptable`, type }] });
      }
      const requestId = `req-${++seq}`;
      const outcome: Outcome = failNextRequest ? { kind: "error", ...failNextRequest } : { kind: "ok" };
      failNextRequest = undefined;
      requestsById.set(requestId, { model, input, polls: 0, pollsBeforeDone, outcome });
      submissions.push({ model, requestId, status: 200, input, webhookUrl });
      const base = `https://queue.fal.run/${model.split("/").slice(0, 2).join("/")}/requests/${requestId}`;
      return send(res, 200, {
        status: "IN_QUEUE", request_id: requestId, queue_position: 0,
        response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel`,
      });
    }
    return send(res, 404, { detail: `no route for ${method} ${path}` });
  }

  function resultFor(model: string, requestId: string) {
    if (model.includes("flux")) {
      const name = `out-${requestId}.png`;
      files.set(name, { data: png, contentType: "image/png" });
      return { images: [{ url: `https://v3.fal.media/files/${name}`, width: 64, height: 36, content_type: "image/png" }], seed: 42, has_nsfw_concepts: [false], prompt: "", timings: {} };
    }
    const name = `out-${requestId}.mp4`;
    files.set(name, { data: video, contentType: "video/mp4" });
    return { video: { url: `https://v3.fal.media/files/${name}`, content_type: "video/mp4", file_name: name, file_size: video.byteLength } };
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const standinFetch: typeof fetch = (input, init) => {
    const target = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    headers.set("x-standin-host", target.host);
    return fetch(`http://127.0.0.1:${port}${target.pathname}${target.search}`, { ...init, headers });
  };

  return {
    url: `http://127.0.0.1:${port}`,
    fetch: standinFetch,
    requests,
    submissions,
    uploads,
    failSubmits: (n, status = 500) => { failSubmits = { n, status }; },
    rejectNextSubmit: (type = "image_too_large", field = "image_url") => { rejectNext = { type, field }; },
    hangSubmits: (n) => { hangSubmits = n; },
    failNextRequest: (status = 422, body = { detail: [{ loc: ["body", "prompt"], msg: "Prompt flagged by the content checker", type: "content_policy_violation" }] }) => {
      failNextRequest = { status, body };
    },
    setPollsBeforeDone: (n) => { pollsBeforeDone = n; },
    completeQueued: () => { for (const state of requestsById.values()) state.pollsBeforeDone = 0; },
    statusPolls: (id) => requestsById.get(id)?.polls ?? 0,
    accepted: () => submissions.filter((s) => s.requestId !== undefined),
    reset() {
      requests.length = 0;
      submissions.length = 0;
      uploads.length = 0;
      failSubmits = { n: 0, status: 500 };
      rejectNext = undefined;
      hangSubmits = 0;
      failNextRequest = undefined;
      pollsBeforeDone = 1;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
