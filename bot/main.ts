/**
 * The bot's process: `node --import tsx bot/main.ts [--role all|ingress|worker]` (npm start).
 *
 * - all (default): everything in one process. Slack and/or Discord when their tokens are set,
 *   otherwise the local chat page on http://localhost:$PORT; embedded PGlite unless DATABASE_URL.
 * - ingress: chat surfaces and the public listener; records what users ask and queues passes.
 * - worker: runs graph passes and provider calls, as many processes as needed.
 * Split roles share the database (DATABASE_URL), the job engine (REDIS_URL, or the database) and
 * shared media storage (Supabase Storage).
 */
import { loadConfig, type AppConfig } from "./config.js";
import { createApp, type App } from "./app.js";
import { createHealthRoutes, createHealthServer, type ReadinessCheck } from "./health.js";
import { createLocalSurface } from "./surfaces/local/server.js";
import { createSlackSurface } from "./surfaces/slack/index.js";
import { createDiscordSurface } from "./surfaces/discord/index.js";
import { createPublicServer } from "./publicServer.js";
import { loadLinkSecret } from "./links/secret.js";
import { EmbeddedDbError } from "../store/embedded.js";
import { InstanceConflictError } from "../store/instances.js";

interface Running {
  name: string;
  stop(): Promise<void>;
}

/** Start-up problems end the process with one sentence on stderr, never a stack trace. */
function fail(sentence: string): never {
  process.stderr.write(`${sentence}\n`);
  process.exit(1);
}

function roleOf(argv: string[], fallback: AppConfig["env"]["ROLE"]): AppConfig["env"]["ROLE"] {
  const at = argv.indexOf("--role");
  const value = at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith("--role="))?.slice("--role=".length);
  if (value === undefined) return fallback;
  if (value === "all" || value === "ingress" || value === "worker") return value;
  fail(`Unknown role "${value}": use --role all, --role ingress or --role worker.`);
}

let config: AppConfig;
try {
  config = loadConfig();
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
const { env } = config;
const role = roleOf(process.argv.slice(2), env.ROLE);
if (role !== "all" && !env.DATABASE_URL) {
  fail(`--role ${role} needs DATABASE_URL: separate processes share one Postgres (the embedded database belongs to one process).`);
}

let app: App;
try {
  app = await createApp(config, { serve: false, role });
} catch (err) {
  fail(err instanceof EmbeddedDbError || err instanceof InstanceConflictError ? err.message : `The bot could not start: ${err instanceof Error ? err.message : String(err)}`);
}
const { logger } = app;
const surfaces: Running[] = [];
const checks: ReadinessCheck[] = [{ name: "database", check: async () => (await app.db.query("SELECT 1"), true) }];
if (role !== "ingress") checks.push({ name: "job engine", check: () => app.tasks.healthy() });
const health = createHealthRoutes({ checks, metrics: () => app.metrics.scrape() });

if (role !== "worker") {
  if (env.SLACK_BOT_TOKEN && (env.SLACK_APP_TOKEN || env.SLACK_SIGNING_SECRET)) {
    const slack = createSlackSurface({
      app, botToken: env.SLACK_BOT_TOKEN, signingSecret: env.SLACK_SIGNING_SECRET, appToken: env.SLACK_APP_TOKEN,
      port: env.SLACK_PORT, apiUrl: env.SLACK_API_URL, publicUrl: env.PUBLIC_URL,
      fileHosts: env.SLACK_FILE_HOSTS.length ? env.SLACK_FILE_HOSTS : undefined,
      uploadLimitBytes: env.SLACK_UPLOAD_LIMIT_MB * 1024 * 1024,
    });
    await slack.start();
    surfaces.push({ name: env.SLACK_APP_TOKEN ? "slack (socket mode)" : `slack (http :${env.SLACK_PORT})`, stop: () => slack.stop() });
    checks.push({ name: "slack", check: async () => slackConnected(slack.bolt) });
  } else if (env.SLACK_BOT_TOKEN) {
    logger.warn("SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (socket mode) nor SLACK_SIGNING_SECRET (http): Slack stays off");
  }

  if (env.DISCORD_TOKEN && env.DISCORD_APP_ID) {
    const discord = createDiscordSurface({
      app, token: env.DISCORD_TOKEN, appId: env.DISCORD_APP_ID, apiUrl: env.DISCORD_API_URL,
      fileHosts: env.DISCORD_FILE_HOSTS.length ? env.DISCORD_FILE_HOSTS : undefined,
      uploadLimitBytes: env.DISCORD_UPLOAD_LIMIT_MB * 1024 * 1024, publicUrl: env.PUBLIC_URL,
    });
    await discord.start();
    surfaces.push({ name: "discord", stop: () => discord.stop() });
    checks.push({ name: "discord", check: async () => discord.client.isReady() });
  }

  // With no chat platform configured, the local chat page is the way in: the embedded default,
  // and an ingress in front of separate workers when a team has no Slack or Discord yet.
  if (surfaces.length === 0) {
    const local = createLocalSurface({ app, port: env.PORT, host: env.HOST, health });
    const { url } = await local.start();
    surfaces.push({ name: `local page ${url}`, stop: () => local.stop() });
  }
  // PUBLIC_URL/webhooks/fal (fal announces finished renders) and PUBLIC_URL/blobs/<key> (videos over
  // a chat's upload limit) are served here.
  if (env.PUBLIC_URL) {
    const server = createPublicServer({
      runner: app.runner, blobs: app.tools.blobs, logger, port: env.WEBHOOK_PORT, host: env.WEBHOOK_HOST,
      falJwksUrl: app.toolModes.video === "real" ? env.FAL_WEBHOOK_JWKS_URL : undefined,
      falUserId: env.FAL_WEBHOOK_USER_ID,
      linkSecret: await loadLinkSecret(config),
    });
    const port = await server.start();
    surfaces.push({ name: `public listener :${port}`, stop: () => server.stop() });
  }
}
// Roles without the local page answer probes on a small listener of their own.
if (!surfaces.some((s) => s.name.startsWith("local page"))) {
  const server = createHealthServer(health, env.HEALTH_PORT ?? 3003, env.HEALTH_HOST);
  const port = await server.start();
  surfaces.push({ name: `health :${port}`, stop: () => server.stop() });
}

await app.runner.serve({
  work: role !== "ingress" ? { passes: env.WORKER_CONCURRENCY, polls: env.POLL_CONCURRENCY } : undefined,
  deliver: role !== "worker",
});
logger.info({ role, surfaces: surfaces.map((s) => s.name), tools: app.toolModes, database: app.db.kind, queue: env.REDIS_URL ? "redis" : app.db.kind }, "bot started");

let stopping = false;
/**
 * SIGTERM (a supervisor's stop): no new chat events or tasks are taken; passes in flight get
 * SHUTDOWN_GRACE_MS to reach their next pause, the rest go back to the job engine at once (another
 * worker takes them without waiting for a lock to expire); then connections close and the process
 * exits 0.
 */
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, graceMs: env.SHUTDOWN_GRACE_MS }, "shutting down");
  try {
    await app.runner.stop(env.SHUTDOWN_GRACE_MS);
    for (const s of surfaces) await s.stop().catch((err) => logger.error({ err, surface: s.name }, "surface stop failed"));
    await app.close();
    logger.info("stopped");
    process.exit(0);
  } catch (err) {
    logger.error({ err }, "shutdown failed");
    process.exit(1);
  }
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));

/** HTTP mode is up once listening; Socket Mode while its websocket is connected. */
function slackConnected(bolt: unknown): boolean {
  const client = (bolt as { receiver?: { client?: { isActive?: () => boolean } } }).receiver?.client;
  return typeof client?.isActive === "function" ? client.isActive() : true;
}
