/**
 * npm start: runs the bot. Slack and/or Discord when their tokens are set; otherwise the local
 * chat page on http://localhost:$PORT, backed by offline tools and embedded PGlite.
 */
import { loadConfig } from "./config.js";
import { createApp } from "./app.js";
import { createLocalSurface } from "./surfaces/local/server.js";
import { createSlackSurface } from "./surfaces/slack/index.js";
import { createDiscordSurface } from "./surfaces/discord/index.js";
import { createPublicServer } from "./publicServer.js";

const config = loadConfig();
const app = await createApp(config);
const { logger } = app;

interface Running {
  name: string;
  stop(): Promise<void>;
}
const surfaces: Running[] = [];

const { env } = config;
if (env.SLACK_BOT_TOKEN && (env.SLACK_APP_TOKEN || env.SLACK_SIGNING_SECRET)) {
  const slack = createSlackSurface({
    app, botToken: env.SLACK_BOT_TOKEN, signingSecret: env.SLACK_SIGNING_SECRET, appToken: env.SLACK_APP_TOKEN,
    port: env.SLACK_PORT, apiUrl: env.SLACK_API_URL, publicUrl: env.PUBLIC_URL,
    fileHosts: env.SLACK_FILE_HOSTS.length ? env.SLACK_FILE_HOSTS : undefined,
    uploadLimitBytes: env.SLACK_UPLOAD_LIMIT_MB * 1024 * 1024,
  });
  await slack.start();
  surfaces.push({ name: env.SLACK_APP_TOKEN ? "slack (socket mode)" : `slack (http :${env.SLACK_PORT})`, stop: () => slack.stop() });
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
}

// With no chat platform configured, the local chat page is the embedded default.
if (surfaces.length === 0) {
  const local = createLocalSurface({ app, port: env.PORT, host: env.HOST });
  const { url } = await local.start();
  surfaces.push({ name: `local page ${url}`, stop: () => local.stop() });
}
// PUBLIC_URL/webhooks/fal (fal announces finished renders) and PUBLIC_URL/blobs/<key> (videos over a
// chat's upload limit) are served here.
if (env.PUBLIC_URL) {
  const server = createPublicServer({
    runner: app.runner, blobs: app.tools.blobs, logger, port: env.WEBHOOK_PORT, host: env.WEBHOOK_HOST,
    falJwksUrl: app.toolModes.video === "real" ? env.FAL_WEBHOOK_JWKS_URL : undefined,
  });
  const port = await server.start();
  surfaces.push({ name: `public listener :${port}`, stop: () => server.stop() });
}
logger.info({ surfaces: surfaces.map((s) => s.name), tools: app.toolModes, database: app.db.kind }, "bot started");

// Jobs whose holder died mid-step (or whose decisions were never applied) continue here.
const recovered = await app.runner.recover();
if (recovered.length > 0) logger.info({ jobs: recovered.length }, "recovering unfinished jobs");

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "shutting down");
  for (const s of surfaces) await s.stop().catch((err) => logger.error({ err, surface: s.name }, "surface stop failed"));
  await app.close();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
