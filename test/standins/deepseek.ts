/**
 * Loopback stand-in for DeepSeek's OpenAI-style POST /chat/completions and GET /models. Scripted
 * answers per call: a valid storyboard (built from `scenes_to_write` in the request), blank content
 * (JSON mode may answer blank with finish_reason "stop", providers.md §2), invalid JSON, blank-line
 * padding before the JSON (what DeepSeek does while overloaded), a connection that only ever pads,
 * or an HTTP error. Records every request body (the key only as a boolean). As strict as the API:
 * - a model id DeepSeek does not serve is refused with its 400 "Model Not Exist" (the body users
 *   report, e.g. langbot-app/LangBot#1643, deepwn/addi#13);
 * - JSON mode needs the word "json" in the prompt (api-docs.deepseek.com/guides/json_mode).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export type DeepSeekStep =
  | "valid"
  | "blank"
  | "invalid"
  | "fewer"
  | "pad"
  | "hang"
  | { status: number; message?: string; headers?: Record<string, string> };

export interface DeepSeekRequest {
  keyOk: boolean;
  body: {
    model: string;
    messages: Array<{ role: string; content: string }>;
    response_format?: { type: string };
    thinking?: { type: string };
    max_tokens?: number;
    temperature?: number;
  };
}

/**
 * Model ids that answer (api-docs.deepseek.com/quick_start/pricing, November 2026): deepseek-flash,
 * the legacy deepseek-v4-flash (still accepted, served by the new Flash model) and deepseek-v4-pro.
 * deepseek-chat and deepseek-reasoner were retired on 2026-07-24 (providers.md §2).
 */
export const DEEPSEEK_MODELS = ["deepseek-flash", "deepseek-v4-flash", "deepseek-v4-pro"];

export interface DeepSeekStandin {
  /** Pass as `baseUrl`. */
  readonly url: string;
  readonly requests: DeepSeekRequest[];
  /** Queue answers for the next calls; unscripted calls get "valid". */
  script(...steps: DeepSeekStep[]): void;
  reset(): void;
  close(): Promise<void>;
}

function scenesWanted(request: DeepSeekRequest): number {
  for (const m of request.body.messages) {
    if (m.role !== "user") continue;
    try {
      const n = (JSON.parse(m.content) as { scenes_to_write?: unknown }).scenes_to_write;
      if (typeof n === "number") return n;
    } catch {
      // a re-ask in prose
    }
  }
  return 3;
}

function storyboard(n: number) {
  return {
    scenes: Array.from({ length: n }, (_, i) => ({
      cinematography_prompt: `Scene ${i + 1}: the amber serum bottle on travertine, a slow drop of serum falling from the pipette`,
      camera_movement: i % 2 ? "slow orbit left" : "slow dolly in",
      lighting_notes: "warm morning key from the left, soft rim light",
      invariant_token: "amber glass bottle with the gold cap",
      duration_s: i === n - 1 ? "10" : 5, // a string on purpose: models do that
    })),
  };
}

function completion(model: string, content: string) {
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2)}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: "assistant", content, reasoning_content: null }, finish_reason: "stop" }],
    usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150, prompt_cache_hit_tokens: 0, prompt_cache_miss_tokens: 100 },
  };
}

export async function createDeepSeekStandin(options: { apiKey?: string } = {}): Promise<DeepSeekStandin> {
  const apiKey = options.apiKey ?? "sk-deepseek-test-key";
  const requests: DeepSeekRequest[] = [];
  let steps: DeepSeekStep[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const sendJson = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.method === "GET" && req.url?.endsWith("/models")) {
        if (req.headers.authorization !== `Bearer ${apiKey}`) return sendJson(401, { error: { message: "Authentication Fails", type: "authentication_error", param: null, code: "invalid_request_error" } });
        return sendJson(200, { object: "list", data: DEEPSEEK_MODELS.filter((m) => m !== "deepseek-v4-flash").map((id) => ({ id, object: "model", owned_by: "deepseek" })) });
      }
      if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) return sendJson(404, { error: { message: "not found" } });
      const request: DeepSeekRequest = {
        keyOk: req.headers.authorization === `Bearer ${apiKey}`,
        body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as DeepSeekRequest["body"],
      };
      requests.push(request);
      if (!request.keyOk) {
        // DeepSeek echoes a masked tail of the key; we echo it whole to prove the adapter redacts.
        const given = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
        return sendJson(401, { error: { message: `Authentication Fails, Your api key: ${given} is invalid`, type: "authentication_error", param: null, code: "invalid_request_error" } });
      }
      const model = request.body.model;
      if (!DEEPSEEK_MODELS.includes(model)) {
        return sendJson(400, { error: { message: "Model Not Exist", type: "invalid_request_error", param: null, code: "invalid_request_error" } });
      }
      if (request.body.response_format?.type === "json_object" && !request.body.messages.some((m) => /json/i.test(m.content))) {
        return sendJson(400, { error: { message: "Prompt must contain the word 'json' in some form to use 'response_format' of type 'json_object'.", type: "invalid_request_error", param: null, code: "invalid_request_error" } });
      }
      const step = steps.shift() ?? "valid";
      const valid = JSON.stringify(storyboard(scenesWanted(request)));
      if (typeof step === "object") return sendJson(step.status, { error: { message: step.message ?? "Server error", type: "server_error", param: null, code: null } }, step.headers);
      if (step === "blank") return sendJson(200, completion(model, "\n\n  "));
      if (step === "invalid") return sendJson(200, completion(model, '{"scenes": [{"cinematography_prompt": "unterminated'));
      if (step === "fewer") return sendJson(200, completion(model, JSON.stringify(storyboard(1))));
      if (step === "valid") return sendJson(200, completion(model, valid));
      // "pad" and "hang": 200 at once, then blank lines, as DeepSeek does while queueing inference.
      res.writeHead(200, { "content-type": "application/json" });
      let lines = 0;
      const tick = () => {
        if (res.destroyed) return;
        res.write("\n");
        lines++;
        if (step === "pad" && lines >= 4) {
          res.end(JSON.stringify(completion(model, valid)));
          return;
        }
        const t = setTimeout(() => { timers.delete(t); tick(); }, 40);
        timers.add(t);
      };
      tick();
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script: (...s) => { steps.push(...s); },
    reset() {
      requests.length = 0;
      steps = [];
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
