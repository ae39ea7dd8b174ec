/**
 * npm start: runs the bot. Slack and/or Discord when their tokens are set; otherwise the local
 * chat page on http://localhost:$PORT, backed by offline tools and embedded PGlite.
 */
import { loadConfig } from "./config.js";
import { createApp } from "./app.js";
import { createLocalSurface } from "./surfaces/local/server.js";

const config = loadConfig();
const app = await createApp(config);
const { logger } = app;

interface Running {
  name: string;
  stop(): Promise<void>;
}
const surfaces: Running[] = [];

const local = createLocalSurface({ app, port: config.env.PORT, host: config.env.HOST });
const { url } = await local.start();
surfaces.push({ name: "local", stop: () => local.stop() });
logger.info({ surfaces: surfaces.map((s) => s.name), tools: app.toolModes, database: app.db.kind }, "bot started");
logger.info(`local chat page: ${url}`);

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
