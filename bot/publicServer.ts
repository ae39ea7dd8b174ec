import http from "node:http";
import type { Logger } from "pino";
import type { Runner } from "../graph/runner.js";
import type { Blobs } from "../tools/ports.js";
import { BLOB_KEY } from "../store/blobs.js";
import { createFalWebhookHandler, createFalWebhookVerifier } from "../tools/fal-webhook.js";
import { sendMedia } from "./surfaces/local/http.js";
import { createLinkSigner } from "./links/sign.js";

export interface PublicServerOptions {
  runner: Runner;
  blobs: Blobs;
  logger: Logger;
  port: number;
  host: string;
  /** fal's JWKS; undefined when video is offline (no webhooks to receive). */
  falJwksUrl?: string;
  /** Our fal account's user id: deliveries for another account are refused, ours may adopt lost submissions. */
  falUserId?: string;
  /**
   * The key media links are signed with (bot/links/secret.ts), the same one the surfaces sign
   * with. Without it no media is served at all: an unsigned link is never good enough.
   */
  linkSecret?: Buffer;
}

const TEXT = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };

/**
 * The bot's public listener, started when PUBLIC_URL is set:
 * - POST /webhooks/fal: fal announces finished renders (signature verified, deduped by request id);
 * - GET /blobs/<sha256>.<ext>?exp=…&sig=…: media too large for a chat upload, linked from the thread.
 *   Only signed links are served, and only until they expire (bot/links/sign.ts): a bare key, a
 *   changed expiry or another key under the same signature is refused;
 * - GET /healthz.
 */
export function createPublicServer(options: PublicServerOptions) {
  const fal = options.falJwksUrl
    ? createFalWebhookHandler({
        verifier: createFalWebhookVerifier({ jwksUrl: options.falJwksUrl }),
        logger: options.logger,
        expectedUserId: options.falUserId,
        onResult: (requestId, _result, { callKey }) => options.runner.providerResult(requestId, callKey),
      })
    : null;
  const links = options.linkSecret ? createLinkSigner(options.linkSecret) : null;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    if (path === "/webhooks/fal" && fal) return void fal(req, res);
    const blob = /^\/blobs\/([^/]+)$/.exec(path);
    if (blob && links && (req.method === "GET" || req.method === "HEAD") && BLOB_KEY.test(blob[1])) {
      const check = links.check(blob[1], url.searchParams.get("exp"), url.searchParams.get("sig"));
      // Sentences, because a person opens these links in a browser.
      if (check === "bad_signature") return void res.writeHead(403, TEXT).end("This link is not valid. Use the link exactly as the bot posted it.\n");
      if (check === "expired") {
        return void res.writeHead(410, TEXT).end("This link has expired. Run /show with the job's id in the chat to get a fresh one.\n");
      }
      return void options.blobs.get(blob[1]).then(
        (media) => sendMedia(req, res, media.data, media.contentType, blob[1]),
        () => res.writeHead(404, TEXT).end("This video is no longer stored here.\n"),
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
