import http from "node:http";
import type { Logger } from "pino";
import type { Runner } from "../graph/runner.js";
import { createFalWebhookHandler, createFalWebhookVerifier } from "../tools/fal-webhook.js";

export interface WebhookServerOptions {
  runner: Runner;
  logger: Logger;
  port: number;
  host: string;
  jwksUrl: string;
}

/**
 * The public listener for provider callbacks: POST /webhooks/fal (signature-verified, then handed
 * to the runner, which dedupes by request id) and GET /healthz. Started only with PUBLIC_URL set.
 */
export function createWebhookServer(options: WebhookServerOptions) {
  const verifier = createFalWebhookVerifier({ jwksUrl: options.jwksUrl });
  const fal = createFalWebhookHandler({
    verifier,
    logger: options.logger,
    onResult: (requestId) => options.runner.providerResult(requestId),
  });
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/webhooks/fal") return void fal(req, res);
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
