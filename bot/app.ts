import type { Logger } from "pino";
import { createLogger } from "./logger.js";
import { startupWarnings, type AppConfig } from "./config.js";
import { hostname } from "node:os";
import { createDb, type Db } from "../store/db.js";
import { registerInstance } from "../store/instances.js";
import { createCheckpointer, migrate } from "../store/migrate.js";
import { createLocalBlobs } from "../store/blobs.js";
import { createSupabaseBlobs } from "../store/supabase-blobs.js";
import { createTools, DEFAULT_PROVIDER_LIMITS, type ToolModes } from "./tools.js";
import { createProviderLimits } from "../store/providerLimits.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { SPEC_POLICIES, type Resilience } from "../tools/resilience.js";
import { createPriceList } from "./prices.js";
import { createRunner, type Runner, type Serving } from "../graph/runner.js";
import { createTaskQueue, type TaskBackend, type TaskQueue } from "../store/tasks.js";
import { createApproverCheck } from "../graph/actor.js";
import type { PipelineSettings } from "../graph/context.js";
import type { Tools } from "../tools/ports.js";

export interface App {
  config: AppConfig;
  db: Db;
  tools: Tools;
  runner: Runner;
  tasks: TaskQueue;
  /** What /metrics serves. */
  metrics: Metrics;
  logger: Logger;
  /** Which tools are offline and which are real, and where media is stored: the first log lines. */
  toolModes: ToolModes & { storage: "local" | "supabase" };
  close(): Promise<void>;
}

export interface AppOverrides {
  logger?: Logger;
  /** Attach to the process that owns the embedded data directory instead of refusing (the CLI). */
  attach?: boolean;
  /**
   * What this process runs (see Runner.serve). Default: everything, as one process does in the
   * embedded default; bot/main.ts passes false and serves its role itself.
   */
  serve?: Serving | false;
  /** The role this process plays, recorded with its heartbeat (bot/main.ts passes --role). */
  role?: string;
  /** Replace ports (tests inject counting or failing wrappers). */
  tools?: (defaults: Tools) => Tools;
}

export function settingsFrom(config: AppConfig, modes: ToolModes): PipelineSettings {
  const prices = createPriceList(config.env, modes);
  return {
    sceneCount: config.env.SCENE_COUNT,
    integrityThreshold: config.env.INTEGRITY_THRESHOLD,
    styleStrength: config.env.STYLE_STRENGTH,
    prices: prices.usd,
    clipCredits: prices.clipCredits,
    song: { minShotMs: config.env.SHOT_MIN_MS, maxShotMs: config.env.SHOT_MAX_MS, maxAuditAttempts: config.env.MAX_AUDIT_ATTEMPTS },
    // Without a webhook nothing can name a lost submission's request: waiting would only delay it.
    adoptGraceMs: config.env.PUBLIC_URL && modes.video === "real" ? config.env.VIDEO_ADOPT_GRACE_MS : 0,
    newUserCredits: config.env.NEW_USER_CREDITS,
  };
}

/** The schema of the job engine's tables when it keeps them in this database (no REDIS_URL). */
export function queueSchemaOf(config: AppConfig, db: Db): string | undefined {
  return config.env.REDIS_URL ? undefined : db.target(1).schema;
}

/** Redis when configured; otherwise the job engine keeps its queues in the database itself. */
export function taskBackend(config: AppConfig, db: Db): TaskBackend {
  return config.env.REDIS_URL ? { kind: "redis", url: config.env.REDIS_URL } : { kind: "postgres", target: db.target(2) };
}

/** Composes store, tools and runner from config: the one place where the parts meet. */
export async function createApp(config: AppConfig, overrides: AppOverrides = {}): Promise<App> {
  const logger = overrides.logger ?? createLogger(config.env.LOG_LEVEL);
  const db = await createDb({
    databaseUrl: config.env.DATABASE_URL,
    schema: config.env.DATABASE_SCHEMA,
    dataDir: config.dataDir,
    attach: overrides.attach,
    onError: (err) => logger.error({ err }, "database connection failed"),
    onWaiting: (message) => logger.warn(message),
  });
  // A guest of the embedded database finds it migrated by its owner.
  if (db.embeddedRole !== "guest") await migrate(db, { queueSchema: queueSchemaOf(config, db) });
  const { env } = config;
  const supabase = env.SUPABASE_URL && env.SUPABASE_SERVICE_ROLE_KEY
    ? createSupabaseBlobs({
        url: env.SUPABASE_URL, serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY, bucket: env.SUPABASE_BUCKET,
        signedUrlTtlS: env.SUPABASE_SIGNED_URL_TTL_S,
      })
    : null;
  await supabase?.ensureBucket();
  const blobs = supabase ?? createLocalBlobs(config.blobsDir);
  // Metrics are read at scrape time; the job engine they count is made below.
  let tasksRef: TaskQueue | undefined;
  let resilienceRef: Resilience | undefined;
  const metrics = createMetrics({
    db,
    queueCounts: (kind) => tasksRef!.counts(kind),
    breakers: () => Object.keys(SPEC_POLICIES).map((provider) => ({ provider, state: resilienceRef?.getCircuitState(provider) ?? "CLOSED" })),
  });
  const accountLimits = createProviderLimits(db, { ...DEFAULT_PROVIDER_LIMITS, ...config.env.PROVIDER_LIMITS });
  const chosen = createTools(config, blobs, logger, { onCall: (call) => metrics.providerCall(call), accountLimits });
  resilienceRef = chosen.resilience;
  const tools = overrides.tools ? overrides.tools(chosen.tools) : chosen.tools;
  const toolModes = { ...chosen.modes, storage: supabase ? ("supabase" as const) : ("local" as const) };
  // Configuration that would fail a real job (or book it at $0) is said once, up front.
  for (const warning of startupWarnings(config, createPriceList(config.env, toolModes).unpriced())) logger.warn(warning);
  // On a shared database, every instance must see the same media (a second one with its own disk is refused).
  const instance = db.kind === "postgres"
    ? await registerInstance(db, {
        role: overrides.role ?? config.env.ROLE,
        media: supabase ? `supabase:${env.SUPABASE_URL}/${env.SUPABASE_BUCKET}` : `local:${hostname()}:${config.blobsDir}`,
      }).catch(async (err) => {
        await db.end();
        throw err;
      })
    : null;
  const tasks = createTaskQueue({
    backend: taskBackend(config, db), prefix: config.env.QUEUE_PREFIX, lockMs: config.env.JOB_LOCK_MS, logger,
    onStart: (kind, waitedMs) => metrics.taskWaited(kind, waitedMs / 1000),
  });
  tasksRef = tasks;
  const webhooks = Boolean(config.env.PUBLIC_URL) && toolModes.video === "real";
  const runner = createRunner({
    db, tools, logger, tasks, settings: settingsFrom(config, toolModes), checkpointer: createCheckpointer(db),
    render: toolModes.video === "offline"
      // Offline clips take a second or two of ffmpeg: ask often.
      ? { intervalMs: 250, firstPollMs: 250, unknownGraceMs: config.env.VIDEO_UNKNOWN_GRACE_MS }
      : {
          intervalMs: config.env.VIDEO_POLL_INTERVAL_MS,
          // With a public URL, fal announces finished renders; polling is only the lost-webhook fallback.
          firstPollMs: webhooks ? config.env.VIDEO_WEBHOOK_GRACE_MS : Math.min(2_000, config.env.VIDEO_POLL_INTERVAL_MS),
          unknownGraceMs: config.env.VIDEO_UNKNOWN_GRACE_MS,
        },
    isApprover: createApproverCheck({ slackUserIds: config.env.SLACK_APPROVER_IDS, discordRoleIds: config.env.DISCORD_APPROVER_ROLE_IDS }),
    onDecision: (kind, status) => metrics.decision(kind, status),
  });
  if (overrides.serve !== false) {
    await runner.serve(overrides.serve ?? { work: { passes: config.env.WORKER_CONCURRENCY, polls: config.env.POLL_CONCURRENCY }, deliver: true });
  }
  let closed = false;
  return {
    config, db, tools, runner, tasks, metrics, logger, toolModes,
    async close() {
      if (closed) return;
      closed = true;
      await runner.close();
      await instance?.stop();
      await chosen.resilience.shutdown();
      await db.end();
    },
  };
}
