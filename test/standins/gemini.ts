/**
 * Loopback stand-in for the Gemini REST API (v1beta generateContent), as @google/generative-ai
 * 0.24 speaks it under @langchain/google-genai: answers per a handler, 429 RESOURCE_EXHAUSTED with
 * or without RetryInfo, blocked prompts, hanging calls. Records every request (the API key only as
 * a boolean). As strict as the API on what the bot relies on:
 * - only models Google serves answer; a shut-down or unknown id is Google's 404 NOT_FOUND, for
 *   generateContent and for GET models/{id} alike (CURRENT_MODELS says where the list comes from);
 * - a request body above the inline limit (100 MB since January 2026) is refused, and inline data
 *   must have a MIME type Gemini reads (providers.md §3.2).
 * Song route: the default handler answers song plans, shot audits, revised shots, failure rules and edit regions
 * (routed by the responseSchema's properties), and :batchEmbedContents / :embedContent return
 * deterministic vectors of the requested dimensionality (recorded apart, in embedRequests).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface GeminiRequest {
  model: string;
  /** x-goog-api-key matched the expected key. */
  keyOk: boolean;
  /** Every inlineData part of the request: its MIME type and decoded size. */
  media: Array<{ mimeType: string; bytes: number }>;
  body: {
    contents?: Array<{ role: string; parts: Array<{ text?: string; inlineData?: { mimeType: string; data: string } }> }>;
    systemInstruction?: { parts: Array<{ text?: string }> };
    generationConfig?: { responseMimeType?: string; responseSchema?: { properties?: Record<string, unknown>; required?: string[] } };
  };
}

/** Returns the model's JSON answer (an object is serialised, a string is sent verbatim). */
export type GeminiHandler = (request: GeminiRequest) => unknown;

/** One :batchEmbedContents or :embedContent call. */
export interface GeminiEmbedRequest {
  model: string;
  keyOk: boolean;
  method: "batchEmbedContents" | "embedContent";
  texts: string[];
  taskType?: string;
  outputDimensionality?: number;
}

type Scripted = { kind: "429"; retryDelay: string | null } | { kind: "blocked"; reason: string } | { kind: "hang" } | { kind: "status"; status: number };

/**
 * Models that answer: Google's deprecation page lists these GA models with no shutdown date
 * (gemini-3.8-flash released September 2, 2026, … gemini-3.1-flash-lite May 7, 2026), plus the
 * previews still served and the embedding model (ai.google.dev/gemini-api/docs/deprecations and
 * /models, November 2026). gemini-2.5-flash and gemini-2.5-pro are off the list: deprecated,
 * shut down December 1, 2026. Kept apart from bot/models.ts on purpose: a test of the bot's list
 * must not pass because the stand-in reads the same list.
 */
export const CURRENT_MODELS = new Set([
  "gemini-3.8-flash", "gemini-3.7-flash", "gemini-3.6-flash", "gemini-3.5-flash", "gemini-3.5-flash-lite", "gemini-3.1-flash-lite",
  "gemini-3.1-pro-preview", "gemini-3-flash-preview", "gemini-embedding-001",
]);

/** Inline data Gemini reads (providers.md §3.2 audio list; the image understanding page's image list). */
const INLINE_MIME_TYPES = new Set([
  "image/png", "image/jpeg", "image/webp", "image/heic", "image/heif",
  "audio/wav", "audio/mp3", "audio/aiff", "audio/aac", "audio/ogg", "audio/flac",
]);

/** Inline request payloads: 100 MB since January 2026 (providers.md §3.2, Google blog). */
export const INLINE_LIMIT_BYTES = 100 * 1024 * 1024;

/** Google's answer for a model it does not serve (the SDK raises it as a 404). */
const notFound = (model: string, method = "generateContent") => ({
  error: {
    code: 404,
    message: `models/${model} is not found for API version v1beta, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
    status: "NOT_FOUND",
  },
});

export interface GeminiStandin {
  /** Pass as `baseUrl`. */
  readonly url: string;
  readonly requests: GeminiRequest[];
  setHandler(handler: GeminiHandler): void;
  /**
   * The next `n` calls answer 429 with a quota message. With a retryDelay the details carry
   * RetryInfo; with null only QuotaFailure and google.rpc.Help, as quota 429s may
   * (providers.md "Provider behaviour").
   */
  rateLimit(n: number, retryDelay?: string | null): void;
  /** The next call is blocked (promptFeedback.blockReason, no candidates). */
  blockNext(reason?: string): void;
  hangNext(): void;
  failNext(status: number): void;
  /** Embedding calls, apart from `requests` (generateContent only). */
  readonly embedRequests: GeminiEmbedRequest[];
  /** The next embedding call answers this status. */
  failEmbedNext(status?: number): void;
  /** The next embedding call returns vectors of this length, whatever was asked. */
  shortVectorsNext(length: number): void;
  reset(): void;
  close(): Promise<void>;
}

export const SAMPLE_ANALYSIS = {
  physics_score: 0.82,
  vibe_score: 0.55,
  logic_score: 0.2,
  integrity_score: 0.93,
  brand_essence_prompt: "An amber glass serum bottle with a gold cap on warm travertine, soft morning light, calm premium skincare.",
  color_palette: ["#C87828", "#f4e9d8", "2b2b2b"],
  invariant_elements: ["amber glass bottle", "gold cap", "serif logo on the label"],
  subject: "skincare serum bottle",
  mood: "calm, premium",
  integrity_notes: "A clean product photo of a real brand asset.",
};

/** Answers analyses with SAMPLE_ANALYSIS and edits with a prompt that echoes the feedback. */
export const defaultGeminiHandler: GeminiHandler = (request) => {
  const props = request.body.generationConfig?.responseSchema?.properties ?? {};
  if ("physics_score" in props) return SAMPLE_ANALYSIS;
  if ("cinematography_prompt" in props) {
    const text = request.body.contents?.flatMap((c) => c.parts.map((p) => p.text ?? "")).join("\n") ?? "";
    const payload = JSON.parse(text) as { user_feedback: string; current_scene: { cinematography_prompt: string } };
    return {
      cinematography_prompt: `${payload.current_scene.cinematography_prompt}, ${payload.user_feedback.toLowerCase()}`,
      reply: `Done: I applied "${payload.user_feedback}" and kept the bottle as it is.`,
    };
  }
  if ("scenes" in props) return SAMPLE_SONG_PLAN;
  if ("violations" in props) return auditAnswer(userText(request));
  if ("revised_description" in props) {
    // As a model would: what the findings quote is taken out, the rest of the shot kept.
    const { description, findings } = JSON.parse(userText(request)) as { description: string; findings: string[] };
    const quoted = findings.flatMap((f) => [...f.matchAll(/"([^"]+)"/g)].slice(f.startsWith("breaks rule") ? 1 : 0).map((m) => m[1]));
    return { revised_description: quoted.reduce((d, q) => d.split(q).join(""), description).replace(/\s{2,}/g, " ").trim() };
  }
  if ("rule" in props) {
    const { feedback } = JSON.parse(userText(request)) as { feedback: string };
    return { rule: `Avoid ${feedback.replace(/[.!?\s]+$/, "").toLowerCase()}` };
  }
  if ("box_2d" in props) return SAMPLE_REGION;
  return { answer: "ok" };
};

const userText = (request: GeminiRequest) => request.body.contents?.flatMap((c) => c.parts.map((p) => p.text ?? "")).join("\n") ?? "";

/**
 * A song plan for a 12 s track as a model might really answer it: times approximate, with an
 * overlap (A/B), a gap (B/C), a shot over the 5 s maximum (C), a 300 ms sliver (D), a start
 * before 0 (A) and an end past the track (E).
 */
export const SAMPLE_SONG_PLAN = {
  duration_ms: 12_000,
  bpm: 120,
  lyrics: "la la la\nsing along\nsing along\nhey\ngoodbye",
  sections: [
    { start_ms: 0, end_ms: 4_300, label: "intro" },
    { start_ms: 4_200, end_ms: 12_500, label: "chorus" },
  ],
  scenes: [
    {
      title: "Intro",
      shots: [
        { start_ms: -300, end_ms: 2_600, lyrics_snippet: "", description: "Wide shot of a quiet street at dawn" },
        { start_ms: 2_400, end_ms: 4_000, lyrics_snippet: "la la la", description: "Close-up on the hands holding a paper boat" },
      ],
    },
    {
      title: "Chorus",
      shots: [
        { start_ms: 4_500, end_ms: 9_800, lyrics_snippet: "sing along\nsing along", description: "The character stands in the rain under a yellow umbrella" },
        { start_ms: 9_800, end_ms: 10_100, lyrics_snippet: "hey", description: "Flash of lightning" },
        { start_ms: 10_100, end_ms: 13_500, lyrics_snippet: "goodbye", description: "The street empties as the rain stops" },
      ],
    },
  ],
};

/** box_2d [ymin, xmin, ymax, xmax] in 0–1000: x 0.25, y 0.1, w 0.5, h 0.4. */
export const SAMPLE_REGION = { box_2d: [100, 250, 500, 750] };

/** Missing required terms, plus bare shoulders as the one modesty problem it knows. */
function auditAnswer(text: string) {
  const { prompt, required_terms: terms } = JSON.parse(text) as { prompt: string; required_terms: string[]; rules: string[] };
  const violations = terms.filter((t) => !prompt.toLowerCase().includes(t.toLowerCase())).map((t) => `missing required term "${t}"`);
  if (/\bbare shoulders\b/i.test(prompt) && !/\bno bare shoulders\b/i.test(prompt)) violations.push("bare shoulders are immodest for a child");
  return { ok: violations.length === 0, violations };
}

/** A unit-free deterministic vector per text (FNV-1a seeded xorshift), so equal texts embed equal. */
export function standinVector(text: string, dimensions: number): number[] {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  let x = h >>> 0 || 1;
  return Array.from({ length: dimensions }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) / 4294967296) * 2 - 1;
  });
}

export async function createGeminiStandin(options: { apiKey?: string; handler?: GeminiHandler; inlineLimitBytes?: number } = {}): Promise<GeminiStandin> {
  const inlineLimitBytes = options.inlineLimitBytes ?? INLINE_LIMIT_BYTES;
  const apiKey = options.apiKey ?? "gemini-test-key";
  let handler = options.handler ?? defaultGeminiHandler;
  const requests: GeminiRequest[] = [];
  const embedRequests: GeminiEmbedRequest[] = [];
  let script: Scripted[] = [];
  let embedFailure: number | undefined;
  let embedLength: number | undefined;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      const path = new URL(req.url ?? "/", "http://standin").pathname;
      // GET models/{id}: the model's metadata, or 404 for one Google does not serve.
      const info = /^\/v1beta\/models\/([^/:]+)$/.exec(path);
      if (req.method === "GET" && info) {
        if (req.headers["x-goog-api-key"] !== apiKey) return send(400, { error: { code: 400, message: "API key not valid. Please pass a valid API key.", status: "INVALID_ARGUMENT" } });
        const id = decodeURIComponent(info[1]);
        return CURRENT_MODELS.has(id) ? send(200, { name: `models/${id}`, baseModelId: id, displayName: id }) : send(404, notFound(id));
      }
      const e = /^\/v1beta\/models\/([^/:]+):(batchEmbedContents|embedContent)$/.exec(path);
      if (req.method === "POST" && e) return embed(e[1], e[2] as GeminiEmbedRequest["method"], req, Buffer.concat(chunks), send);
      const m = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(path);
      if (req.method !== "POST" || !m) return send(404, { error: { code: 404, message: "Not found", status: "NOT_FOUND" } });
      const raw = Buffer.concat(chunks);
      if (raw.byteLength > inlineLimitBytes) {
        return send(400, { error: { code: 400, message: `Request payload size exceeds the limit: ${inlineLimitBytes} bytes.`, status: "INVALID_ARGUMENT" } });
      }
      const body = JSON.parse(raw.toString("utf8")) as GeminiRequest["body"];
      const request: GeminiRequest = {
        model: m[1],
        keyOk: req.headers["x-goog-api-key"] === apiKey,
        media: (body.contents ?? []).flatMap((c) => c.parts.flatMap((p) => (p.inlineData ? [{ mimeType: p.inlineData.mimeType, bytes: Buffer.from(p.inlineData.data, "base64").byteLength }] : []))),
        body,
      };
      requests.push(request);
      if (!request.keyOk) {
        return send(400, { error: { code: 400, message: "API key not valid. Please pass a valid API key.", status: "INVALID_ARGUMENT", details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" }] } });
      }
      if (!CURRENT_MODELS.has(request.model)) return send(404, notFound(request.model));
      const unreadable = request.media.find((m) => !INLINE_MIME_TYPES.has(m.mimeType));
      if (unreadable) return send(400, { error: { code: 400, message: `Unsupported MIME type: ${unreadable.mimeType}`, status: "INVALID_ARGUMENT" } });
      const next = script.shift();
      if (next?.kind === "hang") return; // the client's deadline must fire
      if (next?.kind === "status") return send(next.status, { error: { code: next.status, message: "Internal error encountered.", status: "INTERNAL" } });
      if (next?.kind === "429") {
        return send(429, {
          error: {
            code: 429,
            message: "You exceeded your current quota, please check your plan and billing details.",
            status: "RESOURCE_EXHAUSTED",
            details: [
              { "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests", quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier" }] },
              next.retryDelay === null
                ? { "@type": "type.googleapis.com/google.rpc.Help", links: [{ description: "Learn more about Gemini API quotas", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }] }
                : { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: next.retryDelay },
            ],
          },
        });
      }
      if (next?.kind === "blocked") return send(200, { promptFeedback: { blockReason: next.reason }, usageMetadata: { promptTokenCount: 10, totalTokenCount: 10 } });
      const answer = handler(request);
      send(200, {
        candidates: [{ content: { role: "model", parts: [{ text: typeof answer === "string" ? answer : JSON.stringify(answer) }] }, finishReason: "STOP", index: 0 }],
        usageMetadata: { promptTokenCount: 300, candidatesTokenCount: 20, totalTokenCount: 320 },
        modelVersion: request.model,
        responseId: `resp-${requests.length}`,
      });
    });
  });

  type EmbedPart = { content?: { parts?: Array<{ text?: string }> }; taskType?: string; outputDimensionality?: number };
  function embed(model: string, method: GeminiEmbedRequest["method"], req: http.IncomingMessage, raw: Buffer, send: (status: number, body: unknown) => void) {
    const body = JSON.parse(raw.toString("utf8")) as EmbedPart & { requests?: EmbedPart[] };
    const parts = method === "batchEmbedContents" ? (body.requests ?? []) : [body];
    const keyOk = req.headers["x-goog-api-key"] === apiKey;
    const texts = parts.map((p) => (p.content?.parts ?? []).map((x) => x.text ?? "").join(""));
    embedRequests.push({ model, keyOk, method, texts, taskType: parts[0]?.taskType, outputDimensionality: parts[0]?.outputDimensionality });
    if (!keyOk) return send(400, { error: { code: 400, message: "API key not valid. Please pass a valid API key.", status: "INVALID_ARGUMENT" } });
    if (!CURRENT_MODELS.has(model)) return send(404, notFound(model, method));
    if (embedFailure !== undefined) {
      const status = embedFailure;
      embedFailure = undefined;
      return send(status, { error: { code: status, message: "Internal error encountered.", status: "INTERNAL" } });
    }
    const length = embedLength;
    embedLength = undefined;
    const vectors = parts.map((p, i) => ({ values: standinVector(texts[i], length ?? p.outputDimensionality ?? 3072) }));
    return send(200, method === "batchEmbedContents" ? { embeddings: vectors } : { embedding: vectors[0] });
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    embedRequests,
    failEmbedNext: (status = 500) => { embedFailure = status; },
    shortVectorsNext: (length) => { embedLength = length; },
    setHandler: (h) => { handler = h; },
    rateLimit: (n, retryDelay: string | null = "7s") => { for (let i = 0; i < n; i++) script.push({ kind: "429", retryDelay }); },
    blockNext: (reason = "SAFETY") => { script.push({ kind: "blocked", reason }); },
    hangNext: () => { script.push({ kind: "hang" }); },
    failNext: (status) => { script.push({ kind: "status", status }); },
    reset() {
      requests.length = 0;
      embedRequests.length = 0;
      embedFailure = undefined;
      embedLength = undefined;
      script = [];
      handler = options.handler ?? defaultGeminiHandler;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
