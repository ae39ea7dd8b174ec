import http, { type IncomingMessage, type ServerResponse } from "node:http";

/** One part the process needs to do its job: a name an operator reads, and a check of it. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
}

export interface HealthRoutes {
  /** Answers /healthz, /readyz and /metrics; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

const CHECK_TIMEOUT_MS = 2_000;

/**
 * What a supervisor probes. /healthz answers while the process lives (restart it when this
 * fails). /readyz answers 200 only when every part answers (the database, each chat connection,
 * the job engine), else 503 naming the parts that do not (route no traffic to it meanwhile).
 * /metrics is Prometheus' text format.
 */
export function createHealthRoutes(options: { checks: ReadinessCheck[]; metrics?: () => Promise<{ contentType: string; body: string }> }): HealthRoutes {
  async function readiness(): Promise<{ ready: boolean; failing: string[] }> {
    const results = await Promise.all(options.checks.map(async ({ name, check }) => ({ name, ok: await withTimeout(check()) })));
    const failing = results.filter((r) => !r.ok).map((r) => r.name);
    return { ready: failing.length === 0, failing };
  }

  return {
    handle(req, res) {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (req.method !== "GET" && req.method !== "HEAD") return false;
      if (path === "/healthz") {
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }).end("ok\n");
        return true;
      }
      if (path === "/readyz") {
        void readiness().then((r) => {
          const body = r.ready ? "ready\n" : `not ready: ${r.failing.join(", ")} not answering\n`;
          res.writeHead(r.ready ? 200 : 503, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }).end(body);
        });
        return true;
      }
      if (path === "/metrics" && options.metrics) {
        void options.metrics().then(
          ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
          () => res.writeHead(500).end(),
        );
        return true;
      }
      return false;
    },
  };
}

/** A small listener of its own, for roles without the local chat page (workers, Slack Socket Mode, Discord). */
export function createHealthServer(routes: HealthRoutes, port: number, host: string) {
  const server = http.createServer((req, res) => {
    if (!routes.handle(req, res)) res.writeHead(404).end();
  });
  return {
    start: () => new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve((server.address() as { port: number }).port));
    }),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function withTimeout(check: Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check.catch(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
