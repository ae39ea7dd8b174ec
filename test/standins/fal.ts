/**
 * Loopback stand-in for fal.ai, as strict as the service on what the bot relies on: queue submit,
 * status, result and cancel; storage initiate + PUT; the CDN; the public OpenAPI documents.
 *
 * - Requests wait IN_QUEUE for a configurable time and then for a free slot of the account's
 *   concurrency limit: fal queues work above the limit and never refuses it (providers.md §1.5,
 *   https://docs.fal.ai/documentation/model-apis/concurrency-limits).
 * - An endpoint id fal does not have is a 404 (fal-js issue #101 shows fal answering "Not Found"
 *   for endpoints that do not exist). Inputs are checked against the endpoint's schema when the
 *   request runs, and a failure comes back from the result GET as 422 with fal's `detail` array
 *   (the webhook payload in providers.md §1.4 carries exactly that for a queued request).
 * - Cancel: a queued request is removed and never billed; a running one gets the signal and may
 *   still finish and bill (https://fal.ai/docs/inference-api/queue/cancel).
 * - Result files expire: after the x-fal-object-lifecycle-preference the submit asked for, or the
 *   stand-in's default lifetime (providers.md §1.2, §1.6 "treat fal CDN URLs as temporary").
 * - Every successful completion is billed at fal's published prices (fal-billing.ts); failed runs,
 *   queue time and cancelled queued requests are not.
 *
 * The SDK's hosts are hard-coded, so tests hand the SDK `standin.fetch`, which reroutes every host
 * here and keeps the original host in a header (the bot's FAL_API_URL reroute does the same).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { ENDPOINTS, fieldErrors, ignoredFields, type Endpoint, type FieldError, type Size } from "./fal-endpoints.js";
import { imageCharge, videoCharge, type Charge } from "./fal-billing.js";
import { sizedImage, tinyMp4 } from "./fal-media.js";

export { tinyMp4, tinyPng } from "./fal-media.js";

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
  /** Undefined when the submit was answered with an injected failure (or never answered). */
  requestId?: string;
  status: number;
  input: Record<string, unknown>;
  webhookUrl?: string;
  /** Fields the endpoint does not know: fal (pydantic) ignores them silently, so a test can look. */
  ignoredFields: string[];
  /** expiration_duration_seconds of x-fal-object-lifecycle-preference, when sent. */
  resultLifetimeS?: number;
}

export interface BillingEntry extends Charge {
  requestId: string;
  model: string;
}

export interface QueueTimings {
  /** How long a request stays IN_QUEUE before it may start. Default 0. */
  queueMs: number;
  /** How long a started request stays IN_PROGRESS. Default 0. */
  runMs: number;
  /** Requests of the account running at once; the rest wait IN_QUEUE. Default 2 ("a couple" for new accounts). */
  concurrency: number;
  /** Lifetime of result files when the submit asked for none. Default 1 h. */
  resultTtlMs: number;
}

type State = "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED";

interface QueuedRequest {
  id: string;
  model: string;
  endpoint: Endpoint;
  input: Record<string, unknown>;
  submittedAt: number;
  state: State;
  startedAt?: number;
  polls: number;
  /** Test knob: status polls the request needs before it may complete (setPollsBeforeDone). */
  pollsNeeded: number;
  cancelled?: "queued" | "running";
  injected?: { status: number; body: unknown };
  lifetimeMs: number;
  answer?: { status: number; body: unknown };
}

interface StoredFile {
  contentType: string;
  data: () => Promise<Uint8Array>;
  size?: Size;
  expiresAt?: number;
}

export interface FalStandin {
  readonly url: string;
  /** Hand this to createFalClient / the downloader: every host goes to the stand-in. */
  readonly fetch: typeof fetch;
  readonly requests: RecordedRequest[];
  /** Every POST to the queue, failed ones included. */
  readonly submissions: Submission[];
  readonly uploads: Array<{ contentType: string; size: number; hadAuthorization: boolean; width?: number; height?: number }>;
  /** Cancel calls, with the state the request was in. */
  readonly cancellations: Array<{ requestId: string; state: State | "unknown" }>;
  setTimings(timings: Partial<QueueTimings>): void;
  /** What fal would bill so far (completed, successful requests). */
  billing(): BillingEntry[];
  billedTotal(): number;
  /** Where a request stands now. */
  stateOf(requestId: string): State | "unknown";
  /** The next `n` submits answer `status` (default 500, which fal-js does not retry on submit). */
  failSubmits(n: number, status?: number): void;
  /** The next submit answers 422 with a Pydantic-style detail. */
  rejectNextSubmit(type?: string, field?: string): void;
  /** The next `n` submits never answer (until the client gives up). Nothing is queued. */
  hangSubmits(n: number): void;
  /** The next `n` submits are queued (and will bill), then the connection is cut before any answer. */
  acceptThenDrop(n: number): void;
  /** The next `n` submits are queued (and will bill), then never answered. */
  acceptThenHang(n: number): void;
  /** Storage PUTs answer only after this long (a slow upload link). */
  delayUploads(ms: number): void;
  /** The next accepted request runs, but its result is this error (not billed). */
  failNextRequest(status?: number, body?: unknown): void;
  /** Status polls each later request needs before it may complete (a test knob, not fal behaviour). */
  setPollsBeforeDone(n: number): void;
  /** Requests already accepted need no more polls. */
  completeQueued(): void;
  statusPolls(requestId: string): number;
  accepted(): Submission[];
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_TIMINGS: QueueTimings = { queueMs: 0, runMs: 0, concurrency: 2, resultTtlMs: 3_600_000 };

export async function createFalStandin(options: { apiKey?: string } & Partial<QueueTimings> = {}): Promise<FalStandin> {
  const apiKey = options.apiKey ?? "fal-test-key";
  let timings: QueueTimings = { ...DEFAULT_TIMINGS, ...withoutKey(options) };
  const video = await tinyMp4();
  const files = new Map<string, StoredFile>();
  const uploadsPending = new Map<string, string>(); // upload id → file name
  const queue: QueuedRequest[] = [];
  const byId = new Map<string, QueuedRequest>();
  const requests: RecordedRequest[] = [];
  const submissions: Submission[] = [];
  const uploads: FalStandin["uploads"] = [];
  const cancellations: FalStandin["cancellations"] = [];
  const ledger: BillingEntry[] = [];
  let failSubmits = { n: 0, status: 500 };
  let rejectNext: { type: string; field: string } | undefined;
  let hangSubmits = 0;
  let dropAfterAccept = 0;
  let hangAfterAccept = 0;
  let failNextRequest: { status: number; body: unknown } | undefined;
  let pollsBeforeDone = 0;
  let uploadDelayMs = 0;
  let seq = 0;

  // ---------------------------------------------------------------------------------------------
  // The queue: lazily advanced whenever someone looks (status, result, cancel, billing).

  function advance(now = Date.now()): void {
    for (let changed = true; changed; ) {
      changed = false;
      for (const r of queue) {
        if (r.state === "IN_PROGRESS" && now >= (r.startedAt ?? now) + timings.runMs && (r.pollsNeeded === 0 || r.polls > r.pollsNeeded)) {
          complete(r, now);
          changed = true;
        }
      }
      let running = queue.filter((r) => r.state === "IN_PROGRESS").length;
      for (const r of queue) {
        if (running >= timings.concurrency) break;
        if (r.state !== "IN_QUEUE" || now < r.submittedAt + timings.queueMs) continue;
        r.state = "IN_PROGRESS";
        r.startedAt = now;
        running++;
        changed = true;
      }
    }
  }

  /** The run's outcome: fal checks the input when the request runs, then bills a success. */
  function complete(r: QueuedRequest, now: number): void {
    r.state = "COMPLETED";
    if (r.injected) {
      r.answer = r.injected;
      return;
    }
    const checked = r.endpoint.schema.safeParse(r.input);
    if (!checked.success) {
      r.answer = { status: 422, body: { detail: fieldErrors(checked.error) } };
      return;
    }
    const inputs: Record<string, Size> = {};
    const problems: FieldError[] = [];
    for (const { field, url } of r.endpoint.files(r.input)) {
      const file = fileAt(url, now);
      if (!file?.size) {
        // https://fal.ai/docs/model-apis/errors: file_download_error when an input URL cannot be fetched.
        problems.push({ loc: ["body", ...field.split(".")], msg: "Failed to download the file", type: "file_download_error", ctx: { url } });
        continue;
      }
      inputs[field] = file.size;
      const min = r.endpoint.minShortSide?.[field];
      if (min && Math.min(file.size.width, file.size.height) < min) {
        problems.push({
          loc: ["body", field], msg: `Image dimensions are too small. Minimum: ${min}p`, type: "image_too_small",
          ctx: { min_height: min, min_width: min, height: file.size.height, width: file.size.width },
        });
      }
    }
    if (problems.length) {
      r.answer = { status: 422, body: { detail: problems } };
      return;
    }
    try {
      r.answer = { status: 200, body: produce(r, inputs, now) };
    } catch (err) {
      // A request the stand-in cannot price is a test bug: say so loudly instead of billing $0.
      r.answer = { status: 500, body: { detail: String(err), error_type: "internal_error" } };
    }
  }

  function produce(r: QueuedRequest, inputs: Record<string, Size>, now: number): unknown {
    const expiresAt = now + r.lifetimeMs;
    if (r.endpoint.kind === "video") {
      const charge = videoCharge(r.model, r.input);
      ledger.push({ requestId: r.id, model: r.model, ...charge });
      const name = `out-${r.id}.mp4`;
      files.set(name, { contentType: "video/mp4", data: async () => video, expiresAt });
      return { video: { url: `https://v3.fal.media/files/${name}`, content_type: "video/mp4", file_name: name, file_size: video.byteLength } };
    }
    const size = r.endpoint.outputSize!(r.input, inputs);
    const count = Number(r.input.num_images ?? 1);
    const format = r.input.output_format === "jpeg" ? "jpeg" : "png";
    const charge = imageCharge(r.model, Array.from({ length: count }, () => size), Object.entries(inputs).filter(([f]) => f !== "mask_url").map(([, s]) => s));
    ledger.push({ requestId: r.id, model: r.model, ...charge });
    const images = Array.from({ length: count }, (_, i) => {
      const name = `out-${r.id}-${i}.${format === "jpeg" ? "jpg" : "png"}`;
      files.set(name, { contentType: `image/${format}`, data: () => sizedImage(size.width, size.height, format), size, expiresAt });
      return { url: `https://v3.fal.media/files/${name}`, width: size.width, height: size.height, content_type: `image/${format}` };
    });
    return { images, seed: Number(r.input.seed ?? 42), has_nsfw_concepts: images.map(() => false), prompt: r.input.prompt, timings: {} };
  }

  function fileAt(url: string, now = Date.now()): StoredFile | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return undefined;
    }
    if (!parsed.pathname.startsWith("/files/")) return undefined;
    const file = files.get(decodeURIComponent(parsed.pathname.slice("/files/".length)));
    return file && (file.expiresAt === undefined || now < file.expiresAt) ? file : undefined;
  }

  const position = (r: QueuedRequest) => queue.filter((q) => q.state === "IN_QUEUE" && q.submittedAt <= r.submittedAt && q !== r).length;

  // ---------------------------------------------------------------------------------------------
  // HTTP

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => send(res, 500, { detail: String(err) }));
    });
  });

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://standin");
    const method = req.method ?? "GET";
    const auth = req.headers.authorization;
    // The product's FAL_API_URL reroute sends the intended host as X-Forwarded-Host.
    const host = String(req.headers["x-standin-host"] ?? req.headers["x-forwarded-host"] ?? "");
    const isJson = String(req.headers["content-type"] ?? "").includes("application/json");
    const body: unknown = isJson && raw.length ? JSON.parse(raw.toString("utf8")) : undefined;
    const authorized = auth === `Key ${apiKey}`;
    requests.push({ method, host, path: url.pathname, query: Object.fromEntries(url.searchParams), authorized, hasAuthorization: auth !== undefined, body });
    const path = url.pathname;

    // fal.ai publishes every endpoint's OpenAPI document; an unknown endpoint id is a 404.
    if (method === "GET" && path === "/api/openapi/queue/openapi.json") {
      const id = url.searchParams.get("endpoint_id") ?? "";
      return ENDPOINTS[id] ? send(res, 200, { openapi: "3.0.4", info: { title: id } }) : send(res, 404, { detail: "Not Found" });
    }

    // Storage: initiate (rest.fal.ai), then PUT to the signed URL (no Authorization).
    if (method === "POST" && path === "/storage/upload/initiate") {
      if (!authorized) return send(res, 401, { detail: "Unauthorized" });
      const { content_type: contentType, file_name: fileName } = body as { content_type: string; file_name: string };
      const id = `up-${++seq}`;
      uploadsPending.set(id, `${id}-${fileName}`);
      return send(res, 200, { upload_url: `https://v3.fal.media/upload/${id}?signature=standin`, file_url: `https://v3.fal.media/files/${id}-${fileName}` });
    }
    if (method === "PUT" && path.startsWith("/upload/")) {
      const name = uploadsPending.get(path.slice("/upload/".length));
      if (!name) return send(res, 404, { detail: "unknown upload" });
      if (uploadDelayMs > 0) await new Promise((r) => setTimeout(r, uploadDelayMs));
      const contentType = String(req.headers["content-type"] ?? "application/octet-stream");
      const data = new Uint8Array(raw);
      const size = contentType.startsWith("image/") ? await sharp(raw).metadata().then((m) => ({ width: m.width!, height: m.height! }), () => undefined) : undefined;
      files.set(name, { contentType, data: async () => data, size });
      uploads.push({ contentType, size: raw.length, hadAuthorization: auth !== undefined, ...(size ?? {}) });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("");
      return;
    }
    if (method === "GET" && path.startsWith("/files/")) {
      const file = fileAt(`https://v3.fal.media${path}`);
      if (!file) return send(res, 404, { detail: "File not found" });
      const data = await file.data();
      res.writeHead(200, { "content-type": file.contentType, "content-length": String(data.byteLength) });
      res.end(Buffer.from(data));
      return;
    }

    // Queue: status / result / cancel are addressed by owner/alias only (providers.md §1.2).
    const q = /^\/(.+?)\/requests\/([^/]+)(\/status|\/cancel)?$/.exec(path);
    if (q) {
      if (!authorized) return send(res, 401, { detail: "Unauthorized" });
      const [, , requestId, tail] = q;
      const r = byId.get(requestId);
      if (tail === "/cancel") return cancel(res, requestId, r);
      if (!r) return send(res, 404, { detail: "Request not found" });
      if (tail === "/status") {
        r.polls++;
        advance();
        if (r.state === "IN_QUEUE") return send(res, 202, { status: "IN_QUEUE", request_id: requestId, queue_position: position(r), response_url: `https://queue.fal.run${path.replace(/\/status$/, "")}` });
        if (r.state === "IN_PROGRESS") return send(res, 202, { status: "IN_PROGRESS", request_id: requestId, logs: [] });
        return send(res, 200, { status: "COMPLETED", request_id: requestId, logs: [], metrics: { inference_time: timings.runMs / 1000 } });
      }
      advance();
      if (r.state !== "COMPLETED") return send(res, 400, { detail: "Request is still in progress" });
      return send(res, r.answer!.status, r.answer!.body, { "x-fal-request-id": requestId });
    }

    // Anything else POSTed is a submit to queue.fal.run/{endpoint id}.
    if (method === "POST") return submit(req, res, path.slice(1), (body ?? {}) as Record<string, unknown>, url.searchParams.get("fal_webhook") ?? undefined, authorized);
    return send(res, 404, { detail: `no route for ${method} ${path}` });
  }

  function submit(req: http.IncomingMessage, res: http.ServerResponse, model: string, input: Record<string, unknown>, webhookUrl: string | undefined, authorized: boolean): void {
    if (!authorized) return send(res, 401, { detail: "Unauthorized" });
    const endpoint = ENDPOINTS[model];
    const lifetimeS = lifecycleSeconds(req.headers["x-fal-object-lifecycle-preference"]);
    const record = (status: number, requestId?: string) =>
      submissions.push({ model, status, input, webhookUrl, requestId, ignoredFields: endpoint ? ignoredFields(endpoint, input) : [], ...(lifetimeS !== undefined ? { resultLifetimeS: lifetimeS } : {}) });
    if (!endpoint) {
      record(404);
      return send(res, 404, { detail: "Not Found" });
    }
    if (hangSubmits > 0) {
      hangSubmits--;
      record(0);
      return; // never answered; the client's deadline must fire
    }
    if (failSubmits.n > 0) {
      failSubmits.n--;
      record(failSubmits.status);
      return send(res, failSubmits.status, { detail: "Internal server error", error_type: "internal_error" }, { "x-fal-error-type": "internal_error" });
    }
    if (rejectNext) {
      const { type, field } = rejectNext;
      rejectNext = undefined;
      record(422);
      return send(res, 422, { detail: [{ loc: ["body", field], msg: `${field} is not acceptable`, type }] });
    }
    const requestId = `req-${++seq}`;
    const r: QueuedRequest = {
      id: requestId, model, endpoint, input, submittedAt: Date.now(), state: "IN_QUEUE", polls: 0, pollsNeeded: pollsBeforeDone,
      lifetimeMs: lifetimeS !== undefined ? lifetimeS * 1000 : timings.resultTtlMs,
      ...(failNextRequest ? { injected: failNextRequest } : {}),
    };
    failNextRequest = undefined;
    queue.push(r);
    byId.set(requestId, r);
    record(200, requestId);
    if (dropAfterAccept > 0) {
      dropAfterAccept--;
      req.socket.destroy(); // queued and billable, but the client never hears of it
      return;
    }
    if (hangAfterAccept > 0) {
      hangAfterAccept--;
      return;
    }
    const base = `https://queue.fal.run/${model.split("/").slice(0, 2).join("/")}/requests/${requestId}`;
    return send(res, 200, {
      status: "IN_QUEUE", request_id: requestId, queue_position: position(r),
      response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel`,
    });
  }

  /** https://fal.ai/docs/inference-api/queue/cancel: queued → removed; running → signalled; done → ALREADY_COMPLETED. */
  function cancel(res: http.ServerResponse, requestId: string, r: QueuedRequest | undefined): void {
    advance();
    cancellations.push({ requestId, state: r?.state ?? "unknown" });
    if (!r) return send(res, 404, { status: "NOT_FOUND" });
    if (r.state === "COMPLETED") return send(res, 400, { status: "ALREADY_COMPLETED" });
    if (r.state === "IN_QUEUE") {
      r.cancelled = "queued";
      r.state = "COMPLETED";
      // Removed before it ran: nothing billed. Its result says so (request error client_cancelled, providers.md §1.5).
      r.answer = { status: 499, body: { detail: "Request was cancelled", error_type: "client_cancelled" } };
      return send(res, 202, { status: "CANCELLATION_REQUESTED" });
    }
    // The app decides how to stop; the stand-in's apps finish the work, which is then billed.
    r.cancelled = "running";
    return send(res, 202, { status: "CANCELLATION_REQUESTED" });
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
    cancellations,
    setTimings: (t) => { timings = { ...timings, ...t }; },
    billing: () => {
      advance();
      return [...ledger];
    },
    billedTotal: () => {
      advance();
      return Math.round(ledger.reduce((sum, e) => sum + e.usd, 0) * 1e4) / 1e4;
    },
    stateOf: (id) => {
      advance();
      return byId.get(id)?.state ?? "unknown";
    },
    failSubmits: (n, status = 500) => { failSubmits = { n, status }; },
    rejectNextSubmit: (type = "image_too_large", field = "image_url") => { rejectNext = { type, field }; },
    hangSubmits: (n) => { hangSubmits = n; },
    acceptThenDrop: (n) => { dropAfterAccept = n; },
    acceptThenHang: (n) => { hangAfterAccept = n; },
    failNextRequest: (status = 422, body = { detail: [{ loc: ["body", "prompt"], msg: "Prompt flagged by the content checker", type: "content_policy_violation" }] }) => {
      failNextRequest = { status, body };
    },
    setPollsBeforeDone: (n) => { pollsBeforeDone = n; },
    delayUploads: (ms) => { uploadDelayMs = ms; },
    completeQueued: () => { for (const r of queue) r.pollsNeeded = 0; },
    statusPolls: (id) => byId.get(id)?.polls ?? 0,
    accepted: () => submissions.filter((s) => s.requestId !== undefined),
    reset() {
      requests.length = 0;
      submissions.length = 0;
      uploads.length = 0;
      cancellations.length = 0;
      ledger.length = 0;
      queue.length = 0;
      byId.clear();
      failSubmits = { n: 0, status: 500 };
      rejectNext = undefined;
      hangSubmits = 0;
      dropAfterAccept = 0;
      hangAfterAccept = 0;
      failNextRequest = undefined;
      pollsBeforeDone = 0;
      uploadDelayMs = 0;
      timings = { ...DEFAULT_TIMINGS, ...withoutKey(options) };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function withoutKey(options: { apiKey?: string } & Partial<QueueTimings>): Partial<QueueTimings> {
  const { apiKey: _key, ...rest } = options;
  return rest;
}

/** expiration_duration_seconds of fal's object lifecycle header (fal-js storage.ts builds it). */
function lifecycleSeconds(header: string | string[] | undefined): number | undefined {
  if (typeof header !== "string") return undefined;
  try {
    const seconds = (JSON.parse(header) as { expiration_duration_seconds?: unknown }).expiration_duration_seconds;
    return typeof seconds === "number" ? seconds : undefined;
  } catch {
    return undefined;
  }
}

