import { z } from "zod";
import path from "node:path";
import { retirementWarning } from "./models.js";
import type { ModelPrice } from "./prices.js";

const list = z
  .string()
  .optional()
  .transform((v) => (v ? v.split(",").map((s) => s.trim()).filter(Boolean) : []));
const number = (fallback: number) => z.coerce.number().default(fallback);

/**
 * Every variable the app reads, with its embedded default. Nothing else in the codebase reads
 * process.env: ports, store and surfaces get what they need from this object.
 */
const usd = z.number().nonnegative();
const ModelPriceSchema = z.discriminatedUnion("unit", [
  z.object({ unit: z.literal("call"), usd }),
  z.object({ unit: z.literal("tokens"), inputPerMTok: usd, outputPerMTok: usd }),
  z.object({ unit: z.literal("megapixel"), usd, billsInputs: z.boolean().optional() }),
  z.object({ unit: z.literal("clip"), usd: z.record(z.string(), usd) }),
  z.object({ unit: z.literal("second"), usd: z.record(z.string(), usd) }),
]);

const EnvSchema = z.object({
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  DATA_DIR: z.string().default(".data"),
  DATABASE_URL: z.string().url().optional(),
  /** Postgres schema of the bot's tables (and of the job engine's, without REDIS_URL). Default public (engine: bullmq). */
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "a lowercase Postgres identifier").optional(),
  FFMPEG_PATH: z.string().optional(),
  FFPROBE_PATH: z.string().optional(),
  SCENE_COUNT: number(3).pipe(z.number().int().min(3).max(10)),
  SCENE_DURATION_S: number(5).pipe(z.number().min(1).max(10)),
  INTEGRITY_THRESHOLD: number(0.4).pipe(z.number().min(0).max(1)),
  STYLE_STRENGTH: number(0.4).pipe(z.number().min(0.3).max(0.5)),
  SHOT_MIN_MS: number(3_000).pipe(z.number().int().min(500)),
  SHOT_MAX_MS: number(10_000).pipe(z.number().int().min(1_000)),
  MAX_AUDIT_ATTEMPTS: number(3).pipe(z.number().int().min(1).max(10)),
  /** Job engine: Redis when set; otherwise the database itself (Postgres, or the embedded PGlite). */
  REDIS_URL: z.string().url().optional(),
  /** Namespace of the engine's queues (several deployments on one Redis or database). */
  QUEUE_PREFIX: z.string().regex(/^[a-z][a-z0-9_-]{0,30}$/, "lowercase letters, digits, - and _").default("reelbot"),
  /** all: everything in one process; ingress: chat and webhooks; worker: graph passes and provider calls. */
  ROLE: z.enum(["all", "ingress", "worker"]).default("all"),
  /** Graph passes one worker process runs at once (the rest wait in line, their place shown in chat). */
  WORKER_CONCURRENCY: number(4).pipe(z.number().int().min(1).max(64)),
  /** Render status checks one worker process runs at once. */
  POLL_CONCURRENCY: number(8).pipe(z.number().int().min(1).max(256)),
  /** A dead worker's pass moves to a live one after this long without its lock being renewed. */
  JOB_LOCK_MS: number(15_000).pipe(z.number().int().min(2_000)),
  /** On SIGTERM, passes in flight get this long to reach their next pause before they are handed back. */
  SHUTDOWN_GRACE_MS: number(20_000).pipe(z.number().int().min(0)),
  /** /healthz, /readyz and /metrics for roles without the local page (0: a free port). */
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HEALTH_HOST: z.string().default("127.0.0.1"),
  PORT: number(3000).pipe(z.number().int().min(0).max(65535)),
  /** The local page listens on loopback only unless told otherwise. */
  HOST: z.string().default("127.0.0.1"),
  GEMINI_API_KEY: z.string().min(1).optional(),
  /** Current GA ids by default (bot/models.ts says where they come from); retiring ids warn at start-up. */
  GEMINI_MODEL: z.string().regex(/^gemini-[23]/, "must start with gemini-2 or gemini-3 (image input)").default("gemini-3.5-flash-lite"),
  GEMINI_BASE_URL: z.string().url().optional(),
  /** The song route's analyst (audio in) and embeddings for the rulebook. */
  GEMINI_SONG_MODEL: z.string().regex(/^gemini-[23]/, "must start with gemini-2 or gemini-3 (audio input)").default("gemini-3.8-flash"),
  GEMINI_EMBED_MODEL: z.string().default("gemini-embedding-001"),
  GEMINI_EMBED_DIMENSIONS: number(768).pipe(z.number().int().positive()),
  DEEPSEEK_API_KEY: z.string().min(1).optional(),
  DEEPSEEK_MODEL: z.string().default("deepseek-flash"),
  DEEPSEEK_BASE_URL: z.string().url().default("https://api.deepseek.com"),
  DEEPSEEK_DEADLINE_MS: number(30_000).pipe(z.number().int().positive()),
  FAL_API_KEY: z.string().min(1).optional(),
  /** Tests reroute every fal host to a loopback stand-in; production leaves it unset. */
  FAL_API_URL: z.string().url().optional(),
  FAL_PREVIEW_MODEL: z.string().default("fal-ai/flux/schnell"),
  FAL_STYLE_MODEL: z.string().default("fal-ai/flux/dev/image-to-image"),
  FAL_KLING_MODEL: z.string().default("fal-ai/kling-video/v2.5-turbo/pro/image-to-video"),
  FAL_LUMA_MODEL: z.string().default("fal-ai/luma-dream-machine/ray-2/image-to-video"),
  FAL_VEO_MODEL: z.string().default("fal-ai/veo3.1/first-last-frame-to-video"),
  FAL_SONG_LORA_EDIT_MODEL: z.string().default("fal-ai/flux-2/lora/edit"),
  FAL_SONG_LORA_MODEL: z.string().default("fal-ai/flux-2/lora"),
  FAL_SONG_INPAINT_MODEL: z.string().default("fal-ai/flux-lora/inpainting"),
  /**
   * Where a project's LoRA weights live: {id} is replaced by its loraWeightsId (e.g. miriN14). No
   * default: a made-up host would fail on a user's first song; unset, start-up says so instead.
   */
  LORA_URL_TEMPLATE: z.string().refine((v) => v.includes("{id}"), "must contain {id}, e.g. https://…/{id}.safetensors").optional(),
  /** Between two status checks of a render the provider has not finished (waiting is not failing). */
  VIDEO_POLL_INTERVAL_MS: number(5_000).pipe(z.number().int().min(50)),
  /** With PUBLIC_URL, how long to wait for fal's webhook before checking a render anyway. */
  VIDEO_WEBHOOK_GRACE_MS: number(120_000).pipe(z.number().int().min(0)),
  /** A render its provider keeps not knowing for this long moves the scene to the next engine. */
  VIDEO_UNKNOWN_GRACE_MS: number(600_000).pipe(z.number().int().min(0)),
  /**
   * With PUBLIC_URL: a submission in flight when the process died is not sent again for this long,
   * because fal's webhook (which carries our call key) may still name its request.
   */
  VIDEO_ADOPT_GRACE_MS: number(900_000).pipe(z.number().int().min(0)),
  /**
   * Account-wide limits per provider, shared by every worker through the database, as JSON:
   * {"GEMINI":{"concurrency":4,"perMinute":150}}. Merged over DEFAULT_PROVIDER_LIMITS (bot/tools.ts).
   */
  PROVIDER_LIMITS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return {} as Record<string, { concurrency?: number; perMinute?: number }>;
      const limit = z.object({ concurrency: z.number().int().min(1).optional(), perMinute: z.number().int().min(1).optional() });
      let json: unknown;
      try {
        json = JSON.parse(v);
      } catch {
        json = null;
      }
      const parsed = z.record(z.string(), limit).safeParse(json);
      if (!parsed.success) ctx.addIssue({ code: "custom", message: 'must be JSON like {"GEMINI":{"concurrency":4,"perMinute":150}}' });
      return parsed.success ? parsed.data : {};
    }),
  /** JSON object of model id → price (bot/prices.ts ModelPrice, or a number: USD per call), merged over bot/prices.ts. */
  PRICE_TABLE: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return {} as Record<string, ModelPrice>;
      let json: unknown;
      try {
        json = JSON.parse(v);
      } catch {
        ctx.addIssue({ code: "custom", message: "must be JSON" });
        return {};
      }
      const parsed = z.record(z.string(), z.union([z.number().nonnegative(), ModelPriceSchema])).safeParse(json);
      if (!parsed.success) {
        ctx.addIssue({ code: "custom", message: "must be a JSON object of model id → USD per call or a price ({\"unit\":\"megapixel\",\"usd\":0.003}, …)" });
        return {};
      }
      return Object.fromEntries(Object.entries(parsed.data).map(([model, p]) => [model, typeof p === "number" ? { unit: "call", usd: p } : p])) as Record<string, ModelPrice>;
    }),
  /** Credits a 🟢 reserves per USD of the clip's price (rounded up). Default 2: a credit is $0.50. */
  CREDITS_PER_USD: z.coerce.number().positive().optional(),
  /** Flat credits per clip of an engine, instead of following its price (tests, promotions). */
  CLIP_CREDITS_KLING: z.coerce.number().int().min(0).optional(),
  CLIP_CREDITS_LUMA: z.coerce.number().int().min(0).optional(),
  CLIP_CREDITS_GEMINI_PRO: z.coerce.number().int().min(0).optional(),
  /** Credits a person gets the first time they talk to the bot (on any platform). */
  NEW_USER_CREDITS: number(10).pipe(z.number().int().min(0).max(1_000_000)),
  /**
   * Who may grant credits and change projects besides the approvers: `slack:U0123`, `discord:4567`
   * (a Discord user id; approver roles count too), comma-separated.
   */
  ADMIN_IDS: list.pipe(z.array(z.string().regex(/^(slack|discord):[A-Za-z0-9]{1,64}$/, "each entry is slack:<user id> or discord:<user id>"))),
  /** Public base URL of this bot: fal calls PUBLIC_URL/webhooks/fal instead of being polled. */
  PUBLIC_URL: z.string().url().optional(),
  /** Where fal's webhook listener binds (PUBLIC_URL must reach it). */
  WEBHOOK_PORT: number(3002).pipe(z.number().int().min(0).max(65535)),
  WEBHOOK_HOST: z.string().default("0.0.0.0"),
  /**
   * Your fal account's user id (the X-Fal-Webhook-User-Id of its webhooks; fal's dashboard shows it).
   * With it, webhooks for another account are refused and a render whose submission answer was lost
   * in a crash is adopted from its webhook instead of being sent (and paid) again.
   */
  FAL_WEBHOOK_USER_ID: z.string().min(1).optional(),
  FAL_WEBHOOK_JWKS_URL: z.string().url().default("https://rest.fal.ai/.well-known/jwks.json"),
  SUPABASE_URL: z.string().url().optional(),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1).optional(),
  SUPABASE_BUCKET: z.string().min(1).default("media"),
  SUPABASE_SIGNED_URL_TTL_S: number(3600).pipe(z.number().int().positive()),
  /** How long a video link posted in chat works: people come back to a thread days later. */
  MEDIA_LINK_TTL_S: number(7 * 24 * 3600).pipe(z.number().int().min(3600).max(90 * 24 * 3600)),
  /**
   * Signs PUBLIC_URL/blobs links (HMAC-SHA256). Unset: generated once and kept in
   * DATA_DIR/media-link-secret (bot/links/secret.ts says why); several instances must share one.
   */
  MEDIA_LINK_SECRET: z.string().min(32, "must be at least 32 characters (e.g. openssl rand -base64 48)").optional(),
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z.string().min(1).optional(),
  /** HTTP mode listens here (the local page keeps PORT). */
  SLACK_PORT: number(3001).pipe(z.number().int().min(0).max(65535)),
  /** Tests point the WebClient at a loopback stand-in; production leaves it unset. */
  SLACK_API_URL: z.string().url().optional(),
  SLACK_FILE_HOSTS: list,
  SLACK_UPLOAD_LIMIT_MB: number(100).pipe(z.number().positive()),
  SLACK_APPROVER_IDS: list,
  DISCORD_TOKEN: z.string().min(1).optional(),
  DISCORD_APP_ID: z.string().min(1).optional(),
  /** Tests point discord.js REST at a loopback stand-in; production leaves it unset. */
  DISCORD_API_URL: z.string().url().optional(),
  DISCORD_FILE_HOSTS: list,
  DISCORD_UPLOAD_LIMIT_MB: number(10).pipe(z.number().positive()),
  DISCORD_APPROVER_ROLE_IDS: list,
  /**
   * Whether to ask for the privileged Message Content intent (files dropped in server channels,
   * thread notes). Discord refuses the login unless it is enabled in the Developer Portal; false
   * keeps /render, buttons, DMs and @mentions working without it.
   */
  DISCORD_MESSAGE_CONTENT: z.enum(["true", "false"]).default("true").transform((v) => v === "true"),
});

export type Env = z.infer<typeof EnvSchema>;

export interface AppConfig {
  env: Env;
  /** Where PGlite, blobs and offline renders live. */
  dataDir: string;
  blobsDir: string;
  workDir: string;
  pgliteDir: string;
}

/** Parses env into the typed config; throws a readable message naming the bad variable. */
export function loadConfig(source: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = EnvSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid configuration: ${problems}. See .env.example.`);
  }
  const env = parsed.data;
  const dataDir = path.resolve(env.DATA_DIR);
  return {
    env,
    dataDir,
    blobsDir: path.join(dataDir, "blobs"),
    workDir: path.join(dataDir, "work"),
    pgliteDir: path.join(dataDir, "pglite"),
  };
}

/**
 * What start-up should say about this configuration, one sentence each: settings nothing refused
 * that would still fail a real job, or book its calls at $0. createApp logs them as warnings.
 * `unpriced`: models in use that the price table cannot price (PriceList.unpriced()).
 */
export function startupWarnings(config: AppConfig, unpriced: string[] = []): string[] {
  const { env } = config;
  const warnings: string[] = [];
  if (env.FAL_API_KEY && env.PUBLIC_URL && !env.FAL_WEBHOOK_USER_ID) {
    warnings.push("PUBLIC_URL is set but FAL_WEBHOOK_USER_ID is not: fal webhooks of other accounts are not told apart, and a render whose submission answer is lost in a crash is sent again instead of adopted.");
  }
  if (env.FAL_API_KEY && !env.LORA_URL_TEMPLATE) {
    warnings.push("FAL_API_KEY is set but LORA_URL_TEMPLATE is not: song shots cannot be drawn until it names where the LoRA weights are (https://…/{id}.safetensors).");
  }
  const models: Array<[string, string, boolean]> = [
    ["GEMINI_MODEL", env.GEMINI_MODEL, Boolean(env.GEMINI_API_KEY)],
    ["GEMINI_SONG_MODEL", env.GEMINI_SONG_MODEL, Boolean(env.GEMINI_API_KEY)],
    ["GEMINI_EMBED_MODEL", env.GEMINI_EMBED_MODEL, Boolean(env.GEMINI_API_KEY)],
    ["DEEPSEEK_MODEL", env.DEEPSEEK_MODEL, Boolean(env.DEEPSEEK_API_KEY)],
  ];
  for (const [variable, model, used] of models) {
    const warning = used ? retirementWarning(variable, model) : null;
    if (warning) warnings.push(warning);
  }
  for (const model of unpriced) {
    warnings.push(`The price table has no price for ${model} as configured: its calls are booked at $0 and cost no credits; add it to PRICE_TABLE.`);
  }
  return warnings;
}
