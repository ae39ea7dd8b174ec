import { pino, type Logger } from "pino";
import type { AppConfig } from "./config.js";
import { createDb, type Db } from "../store/db.js";
import { createCheckpointer, migrate } from "../store/migrate.js";
import { createLocalBlobs } from "../store/blobs.js";
import { createSupabaseBlobs } from "../store/supabase-blobs.js";
import { createTools, type ToolModes } from "./tools.js";
import { clipCredits, operationPrices } from "./prices.js";
import { createRunner, type Runner } from "../graph/runner.js";
import { createApproverCheck } from "../graph/actor.js";
import type { PipelineSettings } from "../graph/context.js";
import type { Tools } from "../tools/ports.js";

export interface App {
  config: AppConfig;
  db: Db;
  tools: Tools;
  runner: Runner;
  logger: Logger;
  /** Which tools are offline and which are real, and where media is stored: the first log lines. */
  toolModes: ToolModes & { storage: "local" | "supabase" };
  close(): Promise<void>;
}

export interface AppOverrides {
  logger?: Logger;
  /** Replace ports (tests inject counting or failing wrappers). */
  tools?: (defaults: Tools) => Tools;
}

export function settingsFrom(config: AppConfig, modes: ToolModes): PipelineSettings {
  return {
    sceneCount: config.env.SCENE_COUNT,
    integrityThreshold: config.env.INTEGRITY_THRESHOLD,
    styleStrength: config.env.STYLE_STRENGTH,
    prices: operationPrices(config.env, modes),
    clipCredits: clipCredits(config.env, modes),
    song: { minShotMs: config.env.SHOT_MIN_MS, maxShotMs: config.env.SHOT_MAX_MS, maxAuditAttempts: config.env.MAX_AUDIT_ATTEMPTS },
  };
}

/** Composes store, tools and runner from config: the one place where the parts meet. */
export async function createApp(config: AppConfig, overrides: AppOverrides = {}): Promise<App> {
  const logger =
    overrides.logger ??
    pino({
      level: config.env.LOG_LEVEL,
      // Belt and braces: tokens never reach a log line even if someone logs a config object.
      redact: { paths: ["*.token", "*.*Token", "*.apiKey", "*.secret", "*.password", "*.authorization", "headers.authorization"], censor: "[redacted]" },
    });
  const db = await createDb({
    databaseUrl: config.env.DATABASE_URL,
    dataDir: config.pgliteDir,
    onError: (err) => logger.error({ err }, "idle database client failed"),
  });
  await migrate(db);
  const { env } = config;
  const supabase = env.SUPABASE_URL && env.SUPABASE_SERVICE_ROLE_KEY
    ? createSupabaseBlobs({
        url: env.SUPABASE_URL, serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY, bucket: env.SUPABASE_BUCKET,
        signedUrlTtlS: env.SUPABASE_SIGNED_URL_TTL_S,
      })
    : null;
  await supabase?.ensureBucket();
  const blobs = supabase ?? createLocalBlobs(config.blobsDir);
  const chosen = createTools(config, blobs, logger);
  const tools = overrides.tools ? overrides.tools(chosen.tools) : chosen.tools;
  const toolModes = { ...chosen.modes, storage: supabase ? ("supabase" as const) : ("local" as const) };
  const runner = createRunner({
    db, tools, logger, settings: settingsFrom(config, toolModes), checkpointer: createCheckpointer(db),
    leaseTtlMs: config.env.LEASE_TTL_MS,
    // With a public URL, fal announces finished renders; polling is only the lost-webhook fallback.
    webhookGraceMs: config.env.PUBLIC_URL && toolModes.video === "real" ? config.env.VIDEO_DEADLINE_MS : undefined,
    isApprover: createApproverCheck({ slackUserIds: config.env.SLACK_APPROVER_IDS, discordRoleIds: config.env.DISCORD_APPROVER_ROLE_IDS }),
  });
  return {
    config, db, tools, runner, logger, toolModes,
    async close() {
      await runner.close();
      await chosen.resilience.shutdown();
      await db.end();
    },
  };
}
