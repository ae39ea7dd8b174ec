import type { Logger } from "pino";
import type { AppConfig } from "./config.js";
import type { Blobs, ProductionEngine, Tools } from "../tools/ports.js";
import { PRODUCTION_ENGINES } from "../tools/ports.js";
import { createOfflineTools } from "../tools/offline/index.js";
import { createResilience, SPEC_POLICIES, type Resilience, type ResilienceOptions } from "../tools/resilience.js";
import { createGeminiAnalyst } from "../tools/gemini.js";
import { createDeepSeekDirector } from "../tools/deepseek.js";
import { createDownloader, createFal, createFalIllustrator, createFalVideoEngine } from "../tools/fal.js";
import { createGeminiSongAnalyst } from "../tools/gemini-song.js";
import { createSongSignal } from "../tools/offline/song-analyst.js";
import { createFfmpeg } from "../tools/ffmpeg.js";
import { join } from "node:path";
import { createGeminiEmbedder } from "../tools/gemini-embedder.js";
import { createFalSongIllustrator, loraLocationMissing, loraUrlFromTemplate } from "../tools/fal-song.js";

/**
 * fal's SDK has no base-URL option, so FAL_API_URL (tests: a loopback stand-in) reroutes every fal
 * host there, carrying the intended host in X-Forwarded-Host.
 */
function rerouteTo(origin: string): typeof fetch {
  return (input, init) => {
    const target = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    headers.set("x-forwarded-host", target.host);
    return fetch(new URL(`${target.pathname}${target.search}`, origin), { ...init, headers });
  };
}

export type ToolModes = Record<"analyst" | "director" | "illustrator" | "video", "offline" | "real">;

/**
 * Chooses each port's adapter from config: a key present ⇒ the real provider behind retries,
 * a circuit breaker and a limiter (spec §6); no key ⇒ the offline adapter, which needs nothing.
 */
/**
 * Account-wide limits per provider (every worker together), before PROVIDER_LIMITS: Gemini's and
 * DeepSeek's per-minute quotas of a paid tier with room to spare, and fal's "a couple of
 * concurrent requests" of a new account (docs.fal.ai concurrency limits) for its image calls.
 * Video submits are not held back: fal queues them itself, and waiting in its queue is not billed.
 */
export const DEFAULT_PROVIDER_LIMITS: Record<string, { concurrency?: number; perMinute?: number }> = {
  GEMINI: { concurrency: 4, perMinute: 150 },
  GEMINI_EMBED: { perMinute: 150 },
  DEEPSEEK: { concurrency: 8 },
  FLUX: { concurrency: 2 },
};

export function createTools(
  config: AppConfig,
  blobs: Blobs,
  logger: Logger,
  hooks: Pick<ResilienceOptions, "onCall" | "accountLimits"> = {},
): { tools: Tools; modes: ToolModes; resilience: Resilience } {
  const { env } = config;
  const offline = createOfflineTools({
    workDir: config.workDir, blobs, ffmpegPath: env.FFMPEG_PATH, ffprobePath: env.FFPROBE_PATH,
    sceneDurationS: env.SCENE_DURATION_S,
  });
  const falFetch = env.FAL_API_URL ? rerouteTo(env.FAL_API_URL) : undefined;
  const fal = env.FAL_API_KEY ? createFal({ apiKey: env.FAL_API_KEY, fetch: falFetch }) : null;
  const download = createDownloader({ fetch: falFetch });
  const falModels: Record<ProductionEngine, string> = { KLING: env.FAL_KLING_MODEL, LUMA: env.FAL_LUMA_MODEL, GEMINI_PRO: env.FAL_VEO_MODEL };
  const webhookUrl = env.PUBLIC_URL ? new URL("/webhooks/fal", env.PUBLIC_URL).toString() : undefined;

  const candidate: Tools = {
    ...offline,
    analyst: env.GEMINI_API_KEY
      ? createGeminiAnalyst({ apiKey: env.GEMINI_API_KEY, model: env.GEMINI_MODEL, baseUrl: env.GEMINI_BASE_URL })
      : offline.analyst,
    director: env.DEEPSEEK_API_KEY
      ? createDeepSeekDirector({ apiKey: env.DEEPSEEK_API_KEY, model: env.DEEPSEEK_MODEL, baseUrl: env.DEEPSEEK_BASE_URL, deadlineMs: env.DEEPSEEK_DEADLINE_MS })
      : offline.director,
    illustrator: fal
      ? createFalIllustrator({ client: fal, previewModel: env.FAL_PREVIEW_MODEL, styleModel: env.FAL_STYLE_MODEL, download })
      : offline.illustrator,
    songAnalyst: env.GEMINI_API_KEY
      ? createGeminiSongAnalyst({
          apiKey: env.GEMINI_API_KEY, model: env.GEMINI_SONG_MODEL, baseUrl: env.GEMINI_BASE_URL,
          // Gemini plans the shots; the decoded audio decides where the beats are.
          songSignal: createSongSignal({ ffmpeg: createFfmpeg({ ffmpegPath: env.FFMPEG_PATH, ffprobePath: env.FFPROBE_PATH }), workDir: join(config.workDir, "song-analyst") }),
        })
      : offline.songAnalyst,
    embedder: env.GEMINI_API_KEY
      ? createGeminiEmbedder({ apiKey: env.GEMINI_API_KEY, model: env.GEMINI_EMBED_MODEL, dimensions: env.GEMINI_EMBED_DIMENSIONS, baseUrl: env.GEMINI_BASE_URL })
      : offline.embedder,
    songIllustrator: fal
      ? createFalSongIllustrator({
          client: fal, download, loraModel: env.FAL_SONG_LORA_EDIT_MODEL,
          textModel: env.FAL_SONG_LORA_MODEL, inpaintModel: env.FAL_SONG_INPAINT_MODEL,
          // Unset: the brand route still works; song shots say why they cannot be drawn (and start-up warned).
          loraUrlOf: env.LORA_URL_TEMPLATE ? loraUrlFromTemplate(env.LORA_URL_TEMPLATE) : loraLocationMissing,
        })
      : offline.songIllustrator,
    engines: fal
      ? (Object.fromEntries(PRODUCTION_ENGINES.map((engine) => [engine, createFalVideoEngine({
          client: fal, engine, model: falModels[engine], webhookUrl, download,
        })])) as Tools["engines"])
      : offline.engines,
  };
  const resilience = createResilience({ policies: SPEC_POLICIES, logger, ...hooks });
  const guarded = resilience.wrapTools(candidate);
  // Offline adapters do not fail transiently; retries and spacing would only slow them down.
  const modes: ToolModes = {
    analyst: env.GEMINI_API_KEY ? "real" : "offline",
    director: env.DEEPSEEK_API_KEY ? "real" : "offline",
    illustrator: fal ? "real" : "offline",
    video: fal ? "real" : "offline",
  };
  const tools: Tools = {
    ...offline,
    analyst: modes.analyst === "real" ? guarded.analyst : offline.analyst,
    songAnalyst: modes.analyst === "real" ? guarded.songAnalyst : offline.songAnalyst,
    embedder: modes.analyst === "real" ? guarded.embedder : offline.embedder,
    songIllustrator: modes.illustrator === "real" ? guarded.songIllustrator : offline.songIllustrator,
    director: modes.director === "real" ? guarded.director : offline.director,
    illustrator: modes.illustrator === "real" ? guarded.illustrator : offline.illustrator,
    engines: modes.video === "real" ? guarded.engines : offline.engines,
  };
  return { tools, modes, resilience };
}
