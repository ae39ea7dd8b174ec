/**
 * Loopback stand-in for the Gemini REST API (v1beta generateContent), as @google/generative-ai
 * 0.24 speaks it under @langchain/google-genai: answers per a handler, 429 RESOURCE_EXHAUSTED with
 * RetryInfo, blocked prompts, hanging calls. Records every request (the API key only as a boolean).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface GeminiRequest {
  model: string;
  /** x-goog-api-key matched the expected key. */
  keyOk: boolean;
  body: {
    contents?: Array<{ role: string; parts: Array<{ text?: string; inlineData?: { mimeType: string; data: string } }> }>;
    systemInstruction?: { parts: Array<{ text?: string }> };
    generationConfig?: { responseMimeType?: string; responseSchema?: { properties?: Record<string, unknown>; required?: string[] } };
  };
}

/** Returns the model's JSON answer (an object is serialised, a string is sent verbatim). */
export type GeminiHandler = (request: GeminiRequest) => unknown;

type Scripted = { kind: "429"; retryDelay: string } | { kind: "blocked"; reason: string } | { kind: "hang" } | { kind: "status"; status: number };

export interface GeminiStandin {
  /** Pass as `baseUrl`. */
  readonly url: string;
  readonly requests: GeminiRequest[];
  setHandler(handler: GeminiHandler): void;
  /** The next `n` calls answer 429 with a quota message and RetryInfo. */
  rateLimit(n: number, retryDelay?: string): void;
  /** The next call is blocked (promptFeedback.blockReason, no candidates). */
  blockNext(reason?: string): void;
  hangNext(): void;
  failNext(status: number): void;
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
  return { answer: "ok" };
};

export async function createGeminiStandin(options: { apiKey?: string; handler?: GeminiHandler } = {}): Promise<GeminiStandin> {
  const apiKey = options.apiKey ?? "gemini-test-key";
  let handler = options.handler ?? defaultGeminiHandler;
  const requests: GeminiRequest[] = [];
  let script: Scripted[] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      const m = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(new URL(req.url ?? "/", "http://standin").pathname);
      if (req.method !== "POST" || !m) return send(404, { error: { code: 404, message: "Not found", status: "NOT_FOUND" } });
      const request: GeminiRequest = {
        model: m[1],
        keyOk: req.headers["x-goog-api-key"] === apiKey,
        body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as GeminiRequest["body"],
      };
      requests.push(request);
      if (!request.keyOk) {
        return send(400, { error: { code: 400, message: "API key not valid. Please pass a valid API key.", status: "INVALID_ARGUMENT", details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" }] } });
      }
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
              { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: next.retryDelay },
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

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setHandler: (h) => { handler = h; },
    rateLimit: (n, retryDelay = "7s") => { for (let i = 0; i < n; i++) script.push({ kind: "429", retryDelay }); },
    blockNext: (reason = "SAFETY") => { script.push({ kind: "blocked", reason }); },
    hangNext: () => { script.push({ kind: "hang" }); },
    failNext: (status) => { script.push({ kind: "status", status }); },
    reset() {
      requests.length = 0;
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
