import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { App } from "../../app.js";
import type { Actor } from "../../../graph/actor.js";
import type { DecideResult, DecideStatus } from "../../../graph/decide.js";
import { isUserFacing, type UserFacingCode } from "../../../core/errors.js";
import { DEFAULT_IMAGE_LIMITS } from "../../../graph/intake.js";
import { DEFAULT_AUDIO_LIMITS } from "../../../graph/intake-audio.js";
import { BLOB_KEY, BlobNotFoundError } from "../../../store/blobs.js";
import { DECISION_LABELS } from "../../views.js";
import { createEventHub, createPageViews } from "./events.js";
import { BodyTooLargeError, browserId, readBody, sendJson, sendMedia, sendText } from "./http.js";
import type { HealthRoutes } from "../../health.js";
import { ClientError, JOB_ID, readJson, type LocalRequest as Request, type Route } from "./routes.js";
import { accountRoutes } from "./accountRoutes.js";
import { projectRoutes } from "./projectRoutes.js";
import { versionRoutes } from "./versionRoutes.js";
import { createAccounts } from "../../../store/accounts.js";
import { createProjectService } from "../common/projectService.js";

/*
 * The local chat page: a single-user-per-browser stand-in for Slack/Discord, with no accounts.
 * A `uid` cookie is the actor; the runner enforces ownership (another cookie is another user).
 * Anyone who knows a job's URL may watch it, as in a channel; only its owner may decide.
 */

export interface LocalSurfaceOptions {
  app: Pick<App, "runner" | "tools" | "logger" | "db">;
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  /** /healthz, /readyz and /metrics of the process, served on the page's port. */
  health?: HealthRoutes;
}

export interface LocalSurface {
  start(): Promise<{ url: string }>;
  stop(): Promise<void>;
}

/** Largest upload read from the wire: the intake's limit plus slack, so a file just over it gets the intake's own message. */
export const MAX_UPLOAD_BYTES = Math.max(DEFAULT_IMAGE_LIMITS.maxBytes, DEFAULT_AUDIO_LIMITS.maxBytes) + 1024 * 1024;
const INTAKE_MB = Math.round(Math.max(DEFAULT_IMAGE_LIMITS.maxBytes, DEFAULT_AUDIO_LIMITS.maxBytes) / (1024 * 1024));
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const PAGE_DIR = fileURLToPath(new URL("./page/", import.meta.url));
const JS = "text/javascript; charset=utf-8";
const ASSETS: Record<string, { file: string; type: string }> = {
  "/app.js": { file: "app.js", type: JS },
  "/dom.js": { file: "dom.js", type: JS },
  "/account.js": { file: "account.js", type: JS },
  "/versions.js": { file: "versions.js", type: JS },
  "/project.js": { file: "project.js", type: JS },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
  // Browsers ask for /favicon.ico whatever the page links; both get the same small SVG.
  "/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
  "/favicon.ico": { file: "favicon.svg", type: "image/svg+xml" },
};
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const DecideBody = z.object({
  sceneIndex: z.number().int().min(0).max(99),
  versionNo: z.number().int().min(1),
  decision: z.enum(["GREEN", "YELLOW", "RED"]),
  // The runner checks the 500-character limit and words the refusal; this only bounds the input.
  note: z.string().max(4000).optional(),
});

const RedoBody = z.object({ sceneIndex: z.number().int().min(0).max(99) });

const STATUS_OF_DECISION: Record<DecideStatus, number> = {
  queued: 200, invalid: 400, not_found: 404, forbidden: 403, stale: 409, duplicate: 409, finished: 409, rate_limited: 429,
  insufficient_credits: 402,
};

const STATUS_OF_CODE: Partial<Record<UserFacingCode, number>> = {
  FILE_TOO_LARGE: 413, IMAGE_TOO_LARGE: 413, UNSUPPORTED_FILE: 415, TOO_MANY_REQUESTS: 429,
  NOT_FOUND: 404, FORBIDDEN: 403, INSUFFICIENT_CREDITS: 402,
};

const GENERIC_ERROR = "Something went wrong on our side. Try again in a moment.";

export function createLocalSurface({ app, port, host = "127.0.0.1", health }: LocalSurfaceOptions): LocalSurface {
  const { runner, tools, logger } = app;
  const toPageView = createPageViews(app.db);
  const hub = createEventHub(runner, logger, toPageView);
  // No accounts here: whoever can open a page that listens on loopback is the machine's operator.
  const isAdmin = LOOPBACK.has(host);
  const projects = createProjectService({ runner, isAdmin: () => isAdmin });

  const routes: Route[] = [
    ["GET", /^\/$/, servePage],
    ["POST", /^\/api\/jobs$/, upload],
    ["GET", new RegExp(`^/api/jobs/${JOB_ID}$`), getJob],
    ["POST", new RegExp(`^/api/jobs/${JOB_ID}/decide$`), decide],
    ["POST", new RegExp(`^/api/jobs/${JOB_ID}/approve-all$`), approveAll],
    ["POST", new RegExp(`^/api/jobs/${JOB_ID}/cancel$`), cancel],
    ["POST", new RegExp(`^/api/jobs/${JOB_ID}/retry$`), retry],
    ["POST", new RegExp(`^/api/jobs/${JOB_ID}/redo$`), redo],
    ["GET", /^\/api\/events$/, events],
    ["GET", /^\/blobs\/([^/]+)$/, blob],
    ...accountRoutes({ runner, accounts: createAccounts(app.db), isAdmin }),
    ...projectRoutes({ projects }),
    ...versionRoutes({ runner, answered: answerDecision }),
  ];

  async function servePage({ res }: Request): Promise<void> {
    const html = await readFile(PAGE_DIR + "index.html", "utf8");
    // The page reads its settings from inert JSON; `<` is escaped so it can never close the tag.
    const settings = JSON.stringify({
      labels: DECISION_LABELS, maxImageBytes: DEFAULT_IMAGE_LIMITS.maxBytes, maxSongBytes: DEFAULT_AUDIO_LIMITS.maxBytes, maxNoteChars: 500, admin: isAdmin,
    })
      .replace(/</g, "\\u003c");
    sendText(res, 200, html.replace("__SETTINGS__", settings), "text/html; charset=utf-8", {
      "content-security-policy": PAGE_CSP,
      "cache-control": "no-store",
    });
  }

  async function upload({ req, res, actor }: Request): Promise<void> {
    const rawName = req.headers["x-filename"];
    if (typeof rawName !== "string") return sendJson(res, 400, { error: "Send the file with an x-filename header." });
    let filename: string;
    try {
      filename = decodeURIComponent(rawName);
    } catch {
      filename = rawName;
    }
    const bytes = await readBody(req, MAX_UPLOAD_BYTES);
    const declaredType = req.headers["content-type"]?.split(";")[0].trim() || undefined;
    const { jobId } = await runner.start({ actor, file: { bytes, filename, declaredType }, origin: { surface: "local" } });
    sendJson(res, 201, { jobId, url: `/?job=${jobId}` });
  }

  async function getJob({ res, params }: Request): Promise<void> {
    const view = await runner.view(params[0]);
    if (!view) return sendJson(res, 404, { error: "I can't find that job." });
    sendJson(res, 200, await toPageView(view));
  }

  async function decide({ req, res, actor, params }: Request): Promise<void> {
    const parsed = DecideBody.safeParse(await readJson(req));
    if (!parsed.success) return sendJson(res, 400, { error: "That click did not carry a valid decision; reload the page." });
    const { sceneIndex, versionNo, decision, note } = parsed.data;
    const result = await runner.decide({ jobId: params[0], sceneIndex, versionNo, decision, note, actor });
    answerDecision(res, params[0], result);
  }

  async function approveAll({ req, res, actor, params }: Request): Promise<void> {
    await readJson(req);
    answerDecision(res, params[0], await runner.approveAll(params[0], actor));
  }

  async function cancel({ req, res, actor, params }: Request): Promise<void> {
    await readJson(req);
    answerDecision(res, params[0], await runner.cancel({ jobId: params[0], actor }));
  }

  /** A job that failed as a whole, run again from where it stopped (what was approved is kept). */
  async function retry({ req, res, actor, params }: Request): Promise<void> {
    await readJson(req);
    answerDecision(res, params[0], await runner.retry({ jobId: params[0], actor }));
  }

  /** 🔁 Redo on a shot's impact note: the later shots drawn from it, drawn again. */
  async function redo({ req, res, actor, params }: Request): Promise<void> {
    const parsed = RedoBody.safeParse(await readJson(req));
    if (!parsed.success) return sendJson(res, 400, { error: "That click did not say which shot; reload the page." });
    answerDecision(res, params[0], await runner.redo({ jobId: params[0], sceneIndex: parsed.data.sceneIndex, actor }));
  }

  function answerDecision(res: ServerResponse, jobId: string, result: DecideResult): void {
    // A refusal by the rate limit says when asking again can work, in the body and as HTTP does.
    const headers: Record<string, string> = result.retryAfterS ? { "retry-after": String(Math.ceil(result.retryAfterS)) } : {};
    sendJson(res, STATUS_OF_DECISION[result.status] ?? 400, result, headers);
    if (result.ok) void hub.refresh(jobId);
  }

  async function events({ res, url }: Request): Promise<void> {
    const jobId = url.searchParams.get("job") ?? "";
    if (!new RegExp(`^${JOB_ID}$`).test(jobId)) return sendJson(res, 400, { error: "Say which job: /api/events?job=<id>." });
    if (!(await runner.view(jobId))) return sendJson(res, 404, { error: "I can't find that job." });
    await hub.subscribe(jobId, res);
  }

  async function blob({ req, res, params }: Request): Promise<void> {
    const key = params[0];
    if (!BLOB_KEY.test(key)) return sendJson(res, 404, { error: "No such file." });
    try {
      const media = await tools.blobs.get(key);
      sendMedia(req, res, media.data, media.contentType, key);
    } catch (err) {
      if (err instanceof BlobNotFoundError) return sendJson(res, 404, { error: "No such file." });
      throw err;
    }
  }

  /** Refuses other sites (Origin) and DNS-rebinding names (Host) before anything runs. */
  function refusal(req: IncomingMessage): string | null {
    const hostHeader = req.headers.host ?? "";
    const hostname = hostHeader.replace(/:\d+$/, "");
    const anyHost = host === "0.0.0.0" || host === "::";
    if (!anyHost && !LOOPBACK.has(hostname) && hostname !== host) return "Unknown host.";
    const origin = req.headers.origin;
    if (req.method !== "GET" && req.method !== "HEAD" && origin && origin !== "null") {
      try {
        if (new URL(origin).host !== hostHeader) return "Cross-site requests are not allowed.";
      } catch {
        return "Cross-site requests are not allowed.";
      }
    }
    return null;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://local");
    const refused = refusal(req);
    if (refused) return sendJson(res, 403, { error: refused });

    const asset = ASSETS[url.pathname];
    if (asset && (req.method === "GET" || req.method === "HEAD")) {
      const body = await readFile(PAGE_DIR + asset.file);
      return sendText(res, 200, body, asset.type, { "cache-control": "no-cache" });
    }

    // HEAD is for media (players probe sizes); the API and the event stream answer GET only.
    const method = req.method === "HEAD" && !url.pathname.startsWith("/api/") ? "GET" : req.method ?? "GET";
    const matches = routes.filter(([, path]) => path.test(url.pathname));
    const route = matches.find(([m]) => m === method);
    if (!route) {
      if (matches.length > 0) return sendJson(res, 405, { error: "Method not allowed." }, { allow: matches.map(([m]) => m).join(", ") });
      return sendJson(res, 404, { error: "Not found." });
    }
    const id = browserId(req);
    if (id.setCookie) res.setHeader("set-cookie", id.setCookie);
    const actor: Actor = { platform: "local", userId: id.uid, name: `guest-${id.uid.slice(0, 4).toLowerCase()}` };
    const params = route[1].exec(url.pathname)!.slice(1);
    await route[2]({ req, res, actor, params, url });
  }

  function fail(res: ServerResponse, err: unknown): void {
    if (err instanceof BodyTooLargeError) {
      return sendJson(res, 413, {
        error: `That file is over the ${INTAKE_MB} MB limit. Send an image (up to 10 MB) or an MP3 (up to 20 MB).`,
      }, { connection: "close" });
    }
    if (err instanceof ClientError) return sendJson(res, err.status, { error: err.message });
    if (isUserFacing(err)) {
      const headers: Record<string, string> = err.retryAfterS ? { "retry-after": String(Math.ceil(err.retryAfterS)) } : {};
      return sendJson(res, STATUS_OF_CODE[err.code] ?? 400, { error: err.userMessage, code: err.code }, headers);
    }
    logger.error({ err }, "local page request failed");
    sendJson(res, 500, { error: GENERIC_ERROR });
  }

  const server = createServer((req, res) => {
    if (health?.handle(req, res)) return;
    handle(req, res).catch((err) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      fail(res, err);
    });
  });
  // Uploads of 10 MB over a slow link still finish; idle sockets do not linger.
  server.requestTimeout = 120_000;
  server.headersTimeout = 20_000;

  return {
    start() {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          const address = server.address() as AddressInfo;
          const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
          resolve({ url: `http://${shown}:${address.port}/` });
        });
      });
    },
    stop() {
      hub.close();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
