/**
 * The rulebook's embedder (music-video spec §4, active rulebook) on Gemini through
 * @langchain/google-genai's GoogleGenerativeAIEmbeddings, which takes `model`, `baseUrl`,
 * `taskType` and `outputDimensionality` (POST {baseUrl}/v1beta/models/{model}:batchEmbedContents).
 *
 * Two of the class's habits are worked around here (providers.md §3.1):
 * - embedDocuments swallows a failed batch (Promise.allSettled) and returns [] vectors for it, and
 *   a wrong model or dimensionality returns vectors of another length. So every vector's length
 *   is asserted: an empty one is a retryable INVALID_RESPONSE (the batch failed, cause unknown),
 *   any other wrong length a non-retryable one (configuration).
 * - It takes no AbortSignal, so the deadline races the call: we stop waiting, the SDK finishes
 *   its request in the background (embeddings are cheap and idempotent).
 * Texts go in batches of at most 100, one batch per call, so a failure maps to its own batch.
 *
 * Vectors are L2-normalised: Gemini normalises only its full 3072-dimension output, and the
 * rulebook compares by cosine or dot product. Blank texts get a zero vector without a request
 * (similar to nothing), as the offline embedder does.
 */
import { GoogleGenerativeAIEmbeddings, type GoogleGenerativeAIEmbeddingsParams } from "@langchain/google-genai";
import type { Embedder } from "./ports.js";
import { ProviderError, anySignal, attemptSignal, redactSecrets } from "./resilience.js";

const PROVIDER = "GEMINI";
/** The API's batch limit (providers.md §3.1). */
export const MAX_EMBED_BATCH = 100;

type TaskType = NonNullable<GoogleGenerativeAIEmbeddingsParams["taskType"]>;

export interface GeminiEmbedderOptions {
  apiKey: string;
  /** gemini-embedding-001 (embedding-001 and text-embedding-004 are retired). */
  model?: string;
  /** outputDimensionality: 768, 1536 or 3072 are Google's recommended sizes. */
  dimensions?: number;
  baseUrl?: string;
  /**
   * SEMANTIC_SIMILARITY by default: the port embeds rules and shot prompts through the same call,
   * so the task has to be symmetric (RETRIEVAL_DOCUMENT/QUERY would need two kinds of call).
   */
  taskType?: "SEMANTIC_SIMILARITY" | "RETRIEVAL_DOCUMENT" | "RETRIEVAL_QUERY" | "CLASSIFICATION" | "CLUSTERING";
  /** Deadline of one batch. Default 30 s. */
  deadlineMs?: number;
}

export function createGeminiEmbedder(options: GeminiEmbedderOptions): Embedder {
  const { apiKey, baseUrl } = options;
  const model = (options.model ?? "gemini-embedding-001").replace(/^models\//, "");
  const dimensions = options.dimensions ?? 768;
  const deadlineMs = options.deadlineMs ?? 30_000;
  if (!Number.isInteger(dimensions) || dimensions < 1) throw new Error(`dimensions must be a positive integer, got ${dimensions}`);
  const client = new GoogleGenerativeAIEmbeddings({
    apiKey,
    model,
    baseUrl,
    outputDimensionality: dimensions,
    // A string enum in @google/generative-ai, which is not a direct dependency.
    taskType: (options.taskType ?? "SEMANTIC_SIMILARITY") as unknown as TaskType,
    maxRetries: 0, // the resilience layer retries
  });

  async function embedBatch(texts: string[], label: string): Promise<number[][]> {
    const deadline = AbortSignal.timeout(deadlineMs);
    const signal = anySignal(deadline, attemptSignal());
    let vectors: number[][];
    try {
      vectors = await raceAbort(client.embedDocuments(texts), signal);
    } catch (err) {
      if (deadline.aborted) throw new ProviderError({ provider: PROVIDER, code: "TIMEOUT", message: `embedding ${label} took over ${deadlineMs} ms` });
      if (signal.aborted) throw signal.reason; // our caller gave up: its reason, untouched
      throw new ProviderError({ provider: PROVIDER, code: "ANALYSIS_FAILED", message: redactSecrets(String(err), [apiKey]), retryable: true, cause: err });
    }
    if (vectors.length !== texts.length) {
      throw new ProviderError({ provider: PROVIDER, code: "INVALID_RESPONSE", message: `${label}: ${vectors.length} vectors for ${texts.length} texts`, retryable: true });
    }
    const wrong = vectors.filter((v) => !Array.isArray(v) || v.length !== dimensions || !v.every(Number.isFinite));
    if (wrong.length) {
      const failedBatch = wrong.every((v) => Array.isArray(v) && v.length === 0);
      throw new ProviderError({
        provider: PROVIDER,
        code: "INVALID_RESPONSE",
        message: failedBatch
          ? `${label} failed: the SDK returned empty vectors and drops the cause`
          : `${label}: ${wrong.length} of ${texts.length} vectors are not ${dimensions} finite numbers (lengths ${[...new Set(wrong.map((v) => v?.length))].join(", ")}): check the model and dimensions`,
        retryable: failedBatch,
      });
    }
    return vectors.map(normalise);
  }

  return {
    model,
    dimensions,
    async embed(texts: string[]): Promise<number[][]> {
      const out: number[][] = texts.map(() => new Array<number>(dimensions).fill(0));
      const todo = texts.map((text, index) => ({ text, index })).filter((t) => t.text.trim().length > 0);
      const batches = Math.ceil(todo.length / MAX_EMBED_BATCH);
      for (let b = 0; b < batches; b++) {
        const chunk = todo.slice(b * MAX_EMBED_BATCH, (b + 1) * MAX_EMBED_BATCH);
        const vectors = await embedBatch(chunk.map((t) => t.text), `batch ${b + 1} of ${batches}`);
        chunk.forEach((t, k) => (out[t.index] = vectors[k]));
      }
      return out;
    },
  };
}

function normalise(v: number[]): number[] {
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return norm > 0 ? v.map((x) => x / norm) : v;
}

/** Rejects with the signal's reason when it aborts first; the promise itself is left to settle. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => (signal.removeEventListener("abort", onAbort), resolve(v)),
      (e) => (signal.removeEventListener("abort", onAbort), reject(e)),
    );
  });
}
