/**
 * npm run smoke:providers — proves each configured provider key works, for a few tenths of a cent:
 * ONE tiny real call per provider whose key is set, through the same adapters the bot uses
 * (Gemini: a 64 px generated PNG analysed; DeepSeek: a 3-scene storyboard; fal: one Flux schnell
 * frame at 256×256). Video engines cost dollars per clip, so they are never called.
 *
 * Before that, every configured model id is checked, free of charge: Gemini's GET models/{id}
 * (404 once a model is shut down), DeepSeek's GET /models list, and fal's public OpenAPI document
 * of each endpoint id (404 for an endpoint that does not exist). A retired or misspelt model id
 * fails here, not on a user's first job. Missing keys are listed with where to get them.
 *
 * Manual only. Nothing in test/ imports it, CI never runs it, and it refuses to run when CI is set.
 * No retries (each retry is another paid call) and no resilience layer: a failure is shown as is.
 * Exit 0 when every attempted call worked (or no key is set), 1 otherwise.
 */
import { pathToFileURL } from "node:url";
import sharp from "sharp";
import { loadConfig, type Env } from "../bot/config.js";
import { createPriceList } from "../bot/prices.js";
import { retirementWarning } from "../bot/models.js";
import { PRODUCTION_ENGINES, type BrandAnalysis, type Media } from "../tools/ports.js";
import { createGeminiAnalyst } from "../tools/gemini.js";
import { createDeepSeekDirector } from "../tools/deepseek.js";
import { createDownloader, createFal, falError, resultFile, runFalQueue, uploadMedia } from "../tools/fal.js";
import { ProviderError, redactSecrets } from "../tools/provider-errors.js";

/**
 * USD per smoke call: ESTIMATES from public list prices, rounded up. Gemini 2.5 Flash: a ≤384 px
 * image is 258 input tokens, ~400 output tokens. DeepSeek V4 Flash: ~700 tokens each way.
 * Flux schnell: billed per megapixel, assumed rounded up to one. Check the providers' pages.
 */
const SMOKE_CALL_ESTIMATES_USD = { GEMINI: 0.002, DEEPSEEK: 0.001, FAL: 0.003 } as const;

type Provider = keyof typeof SMOKE_CALL_ESTIMATES_USD;

const WHERE_TO_GET: Record<Provider, { env: string; url: string; unlocks: string }> = {
  GEMINI: { env: "GEMINI_API_KEY", url: "https://aistudio.google.com/apikey", unlocks: "brand analysis and scene edits" },
  DEEPSEEK: { env: "DEEPSEEK_API_KEY", url: "https://platform.deepseek.com/api_keys", unlocks: "storyboards" },
  FAL: { env: "FAL_API_KEY", url: "https://fal.ai/dashboard/keys", unlocks: "Flux previews and the Kling/Luma/Veo video engines" },
};

/** Used instead of Gemini's answer, so the DeepSeek check does not depend on the Gemini one. */
const SAMPLE_ANALYSIS: BrandAnalysis = {
  physics: 0.8, vibe: 0.5, logic: 0.2, integrity: 0.95,
  brandEssencePrompt: "An amber glass serum bottle with a gold cap on warm travertine, soft morning light, calm premium skincare.",
  colorPalette: ["#c87828", "#f4e9d8", "#2b2b2b"],
  invariantElements: ["amber glass bottle", "gold cap"],
  subject: "skincare serum bottle", mood: "calm, premium", integrityNotes: "sample", offline: false,
};

export interface SmokeDeps {
  /** Every fal request goes through it (tests of this script reroute fal to a stand-in). */
  falFetch?: typeof fetch;
  /** fal's public OpenAPI documents live on fal.ai (tests reroute it with falFetch). */
  falOpenApiUrl?: string;
  out?: (line: string) => void;
}

interface Outcome {
  provider: Provider;
  model: string;
  ok: boolean;
  latencyMs: number;
  detail: string;
}

/** A 64×64 PNG with a logo-like mark: the smallest image that still looks like a brand asset. */
async function tinyBrandPng(): Promise<Media> {
  const svg = `<svg width="64" height="64" xmlns="http://www.w3.org/2000/svg"><rect width="64" height="64" fill="#f4e9d8"/>
    <rect x="22" y="14" width="20" height="40" rx="4" fill="#c87828"/><rect x="26" y="8" width="12" height="8" fill="#d4a017"/></svg>`;
  return { data: new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer()), contentType: "image/png" };
}

function describeError(err: unknown, secrets: string[]): string {
  // A ProviderError's message already names the provider and code, and is already redacted.
  const text = err instanceof ProviderError
    ? `${err.message}${err.status ? ` [HTTP ${err.status}]` : ""}`
    : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return redactSecrets(text, secrets);
}

async function timed(provider: Provider, model: string, secrets: string[], call: () => Promise<string>): Promise<Outcome> {
  const started = performance.now();
  try {
    const detail = await call();
    return { provider, model, ok: true, latencyMs: Math.round(performance.now() - started), detail };
  } catch (err) {
    return { provider, model, ok: false, latencyMs: Math.round(performance.now() - started), detail: describeError(err, secrets) };
  }
}

async function smokeGemini(env: Env, apiKey: string): Promise<Outcome> {
  return timed("GEMINI", env.GEMINI_MODEL, [apiKey], async () => {
    const analyst = createGeminiAnalyst({ apiKey, model: env.GEMINI_MODEL, baseUrl: env.GEMINI_BASE_URL, deadlineMs: 60_000 });
    const a = await analyst.analyzeBrand(await tinyBrandPng());
    return `"${a.subject}", palette ${a.colorPalette.join(" ")}, physics ${a.physics} vibe ${a.vibe} logic ${a.logic} integrity ${a.integrity}`;
  });
}

async function smokeDeepSeek(env: Env, apiKey: string): Promise<Outcome> {
  return timed("DEEPSEEK", env.DEEPSEEK_MODEL, [apiKey], async () => {
    // maxReasks 0: exactly one paid request, even if the answer is unusable.
    const director = createDeepSeekDirector({ apiKey, model: env.DEEPSEEK_MODEL, baseUrl: env.DEEPSEEK_BASE_URL, deadlineMs: env.DEEPSEEK_DEADLINE_MS, maxReasks: 0, maxTokens: 1500 });
    const scenes = await director.directScenes({ analysis: SAMPLE_ANALYSIS, styleReferenceUrl: "https://example.invalid/style.png", engine: "KLING", sceneCount: 3 });
    return `${scenes.length} scenes, first: "${scenes[0].cinematographyPrompt.slice(0, 70)}…"`;
  });
}

async function smokeFal(env: Env, apiKey: string, falFetch?: typeof fetch): Promise<Outcome> {
  const model = env.FAL_PREVIEW_MODEL;
  return timed("FAL", model, [apiKey], async () => {
    const client = createFal({ apiKey, ...(falFetch ? { fetch: falFetch } : {}) });
    const deadline = AbortSignal.timeout(90_000);
    try {
      const input: Record<string, unknown> = {
        prompt: "product photo of a small amber glass bottle with a gold cap on a plain cream background",
        image_size: { width: 256, height: 256 }, // the smallest useful size: fal bills by megapixel
        num_images: 1,
        seed: 42,
        output_format: "jpeg",
        enable_safety_checker: true,
      };
      // An image-to-image preview model (as the illustrator allows) also needs an image.
      if (/image-to-image|redux/.test(model)) Object.assign(input, { image_url: await uploadMedia(client, await tinyBrandPng()), strength: 0.85 });
      else input.num_inference_steps = 4;
      const data = await runFalQueue(client, model, input, { pollIntervalMs: 500, signal: deadline });
      const file = resultFile(data, "images");
      if (!file) throw new Error(`${model} answered without an image`);
      const image = await createDownloader({ ...(falFetch ? { fetch: falFetch } : {}) })(file.url, deadline);
      return `${image.contentType}, ${image.data.byteLength} bytes downloaded from the fal CDN`;
    } catch (err) {
      throw falError(err, { provider: "FLUX", kind: "preview", deadline, callerSignals: [] });
    }
  });
}

const usd = (n: number) => `$${n < 0.01 ? n.toFixed(4) : n.toFixed(2)}`;

interface ModelCheck {
  variable: string;
  model: string;
  ok: boolean;
  detail: string;
}

/** A model id that answers costs nothing to ask about: every configured one is checked. */
async function checkModelIds(env: Env, deps: SmokeDeps): Promise<ModelCheck[]> {
  const checks: Array<Promise<ModelCheck>> = [];
  const check = (variable: string, model: string, ask: () => Promise<string | null>) =>
    checks.push(ask().then(
      (problem) => ({ variable, model, ok: problem === null, detail: problem ?? "answers" }),
      (err: unknown) => ({ variable, model, ok: false, detail: `could not ask: ${err instanceof Error ? err.message : String(err)}` }),
    ));
  const hint = (variable: string, model: string) => retirementWarning(variable, model) ?? "check the id on the provider's model list";
  if (env.GEMINI_API_KEY) {
    const key = env.GEMINI_API_KEY;
    const base = env.GEMINI_BASE_URL ?? "https://generativelanguage.googleapis.com";
    for (const [variable, model] of [["GEMINI_MODEL", env.GEMINI_MODEL], ["GEMINI_SONG_MODEL", env.GEMINI_SONG_MODEL], ["GEMINI_EMBED_MODEL", env.GEMINI_EMBED_MODEL]]) {
      // GET v1beta/models/{id}: the model's metadata, or 404 NOT_FOUND once it is shut down.
      check(variable, model, async () => {
        const res = await fetch(new URL(`/v1beta/models/${encodeURIComponent(model)}`, base), { headers: { "x-goog-api-key": key } });
        return res.ok ? null : `HTTP ${res.status}: ${hint(variable, model)}`;
      });
    }
  }
  if (env.DEEPSEEK_API_KEY) {
    const key = env.DEEPSEEK_API_KEY;
    check("DEEPSEEK_MODEL", env.DEEPSEEK_MODEL, async () => {
      // GET /models lists the ids this key may use (api-docs.deepseek.com, "Lists Models").
      const res = await fetch(`${env.DEEPSEEK_BASE_URL.replace(/\/$/, "")}/models`, { headers: { authorization: `Bearer ${key}` } });
      if (!res.ok) return `HTTP ${res.status} listing models`;
      const ids = ((await res.json()) as { data?: Array<{ id?: string }> }).data?.map((m) => m.id) ?? [];
      return ids.includes(env.DEEPSEEK_MODEL) ? null : `not among ${ids.join(", ") || "no models"}: ${hint("DEEPSEEK_MODEL", env.DEEPSEEK_MODEL)}`;
    });
  }
  if (env.FAL_API_KEY) {
    const doFetch = deps.falFetch ?? fetch;
    const openApi = deps.falOpenApiUrl ?? "https://fal.ai/api/openapi/queue/openapi.json";
    const falModels: Array<[string, string]> = [
      ["FAL_PREVIEW_MODEL", env.FAL_PREVIEW_MODEL], ["FAL_STYLE_MODEL", env.FAL_STYLE_MODEL], ["FAL_KLING_MODEL", env.FAL_KLING_MODEL],
      ["FAL_LUMA_MODEL", env.FAL_LUMA_MODEL], ["FAL_VEO_MODEL", env.FAL_VEO_MODEL], ["FAL_SONG_LORA_EDIT_MODEL", env.FAL_SONG_LORA_EDIT_MODEL],
      ["FAL_SONG_LORA_MODEL", env.FAL_SONG_LORA_MODEL], ["FAL_SONG_INPAINT_MODEL", env.FAL_SONG_INPAINT_MODEL],
    ];
    for (const [variable, model] of falModels) {
      // fal publishes each endpoint's OpenAPI document; an endpoint id that does not exist is a 404
      // (seen in fal-ai/fal-js issue #101). Video endpoints are checked here without rendering anything.
      check(variable, model, async () => {
        const res = await doFetch(`${openApi}?endpoint_id=${encodeURIComponent(model)}`);
        return res.ok ? null : `HTTP ${res.status}: fal has no endpoint ${model}`;
      });
    }
  }
  return Promise.all(checks);
}

/** Runs the checks for the keys present in `env`; returns the exit code. */
export async function runSmoke(env: Env, deps: SmokeDeps = {}): Promise<number> {
  const out = deps.out ?? ((line: string) => console.log(line));
  const keys: Record<Provider, string | undefined> = { GEMINI: env.GEMINI_API_KEY, DEEPSEEK: env.DEEPSEEK_API_KEY, FAL: env.FAL_API_KEY };
  const models: Record<Provider, string> = { GEMINI: env.GEMINI_MODEL, DEEPSEEK: env.DEEPSEEK_MODEL, FAL: env.FAL_PREVIEW_MODEL };
  out("Provider smoke test: one tiny real call per provider with a key. All costs are ESTIMATES.");
  out("");

  const modelChecks = await checkModelIds(env, deps);
  for (const c of modelChecks) out(`${c.ok ? "ok  " : "FAIL"} model    ${c.variable}=${c.model}: ${redactSecrets(c.detail, Object.values(keys).filter((k): k is string => Boolean(k)))}`);
  if (modelChecks.length) out("");

  const pending: Array<Promise<Outcome>> = [];
  if (keys.GEMINI) pending.push(smokeGemini(env, keys.GEMINI));
  if (keys.DEEPSEEK) pending.push(smokeDeepSeek(env, keys.DEEPSEEK));
  if (keys.FAL) pending.push(smokeFal(env, keys.FAL, deps.falFetch));
  const outcomes = await Promise.all(pending);

  let spent = 0;
  for (const o of outcomes) {
    // A failed call may still have been billed (a timeout after the provider started); count it.
    spent += SMOKE_CALL_ESTIMATES_USD[o.provider];
    const mark = o.ok ? "ok  " : "FAIL";
    out(`${mark} ${o.provider.padEnd(8)} ${o.model}  ${o.latencyMs} ms  ~${usd(SMOKE_CALL_ESTIMATES_USD[o.provider])} (estimate)`);
    out(`     ${o.detail}`);
  }

  const missing = (Object.keys(keys) as Provider[]).filter((p) => !keys[p]);
  if (missing.length) {
    if (outcomes.length) out("");
    for (const p of missing) {
      const w = WHERE_TO_GET[p];
      out(`skip ${p.padEnd(8)} ${w.env} is not set: create a key at ${w.url} (enables ${w.unlocks}; model ${models[p]}).`);
    }
  }

  const prices = createPriceList(env, { analyst: "real", director: "real", illustrator: "real", video: "real" });
  const videoModels = { KLING: env.FAL_KLING_MODEL, LUMA: env.FAL_LUMA_MODEL, GEMINI_PRO: env.FAL_VEO_MODEL };
  out("");
  out(`Video engines${keys.FAL ? "" : " (need FAL_API_KEY)"}: not rendered, a clip costs dollars. Configured models:`);
  for (const engine of PRODUCTION_ENGINES) {
    const price = prices.usd({ name: `clip:${engine}`, durationS: env.SCENE_DURATION_S });
    out(`     ${engine.padEnd(10)} ${videoModels[engine]}  ${price === 0 ? "no price in the table" : `${usd(price)} per ${env.SCENE_DURATION_S} s clip (list price)`}`);
  }
  out("");
  out(outcomes.length ? `Estimated spend of this run: at most ~${usd(spent)} (estimate; your provider dashboards have the real figure).` : "No provider key set: nothing was called, nothing was spent.");

  const failed = outcomes.filter((o) => !o.ok).length + modelChecks.filter((c) => !c.ok).length;
  const total = outcomes.length + modelChecks.length;
  if (failed) out(`${failed} of ${total} provider check${total === 1 ? "" : "s"} failed.`);
  return failed ? 1 : 0;
}

async function main(): Promise<number> {
  if (process.env.CI) {
    console.log("smoke:providers makes paid calls and never runs in CI (CI is set): skipped.");
    return 0;
  }
  let env: Env;
  try {
    env = loadConfig(process.env).env;
  } catch (err) {
    // loadConfig's message names variables, never their values.
    console.error(err instanceof Error ? err.message : String(err));
    return 1;
  }
  return runSmoke(env);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
