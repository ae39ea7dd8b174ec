import http from "node:http";
import type { Logger } from "pino";
import type { Runner } from "../graph/runner.js";
import type { Blobs } from "../tools/ports.js";
import { BLOB_KEY } from "../store/blobs.js";
import { createFalWebhookHandler, createFalWebhookVerifier } from "../tools/fal-webhook.js";
import { sendMedia } from "./surfaces/local/http.js";

export interface PublicServerOptions {
  runner: Runner;
  blobs: Blobs;
  logger: Logger;
  port: number;
  host: string;
  /** fal's JWKS; undefined when video is offline (no webhooks to receive). */
  falJwksUrl?: string;
}

/**
 * The bot's public listener, started when PUBLIC_URL is set:
 * - POST /webhooks/fal: fal announces finished renders (signature verified, deduped by request id);
 * - GET /blobs/<sha256>.<ext>: media too large for a chat upload, linked from the thread. Keys are
 *   content hashes, so a link is a capability: it cannot be guessed, only shared;
 * - GET /healthz.
 */
export function createPublicServer(options: PublicServerOptions) {
  const fal = options.falJwksUrl
    ? createFalWebhookHandler({
        verifier: createFalWebhookVerifier({ jwksUrl: options.falJwksUrl }),
        logger: options.logger,
        onResult: (requestId) => options.runner.providerResult(requestId),
      })
    : null;
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/webhooks/fal" && fal) return void fal(req, res);
    const blob = /^\/blobs\/([^/]+)$/.exec(path);
    if (blob && req.method === "GET" && BLOB_KEY.test(blob[1])) {
      return void options.blobs.get(blob[1]).then(
        (media) => sendMedia(req, res, media.data, media.contentType, blob[1]),
        () => res.writeHead(404).end(),
      );
    }
    if (path === "/healthz") return void res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    res.writeHead(404).end();
  });
  return {
    start: () =>
      new Promise<number>((resolve) =>
        server.listen(options.port, options.host, () => resolve((server.address() as { port: number }).port)),
      ),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
