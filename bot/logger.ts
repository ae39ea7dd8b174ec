import { pino, type DestinationStream, type Logger } from "pino";
import { currentLogScope } from "../core/logScope.js";
import { maskCredentials } from "../tools/provider-errors.js";

/** Keys whose values never reach a log line, at any depth and in any case. */
const SECRET_KEY = /(^|_|-)(token|secret|password|passwd|authorization|api_?key|key|cookie|signature)$|^(authorization|cookie)$/i;
/** Keys that only look secret: kept, since an operator needs them. */
const PUBLIC_KEYS = new Set(["idempotencyKey", "callKey", "key", "jobKey", "blobKey", "finalVideoKey", "clipKey", "previewKey", "inputKey"]);
/** postgres://user:password@host → postgres://user:[redacted]@host (and any scheme with credentials). */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]+):[^@/?#\s]+@/gi;

/**
 * The app's logger: JSON lines, every line inside a job carrying its id (and scene) from the log
 * scope, and secrets removed wherever they appear: by key name at any depth (Authorization,
 * SLACK_BOT_TOKEN, apiKey, a cookie…), and inside strings (Bearer and Key credentials, API keys,
 * passwords in database URLs).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      mixin: () => ({ ...currentLogScope() }),
      formatters: { log: (object) => scrub(object) as Record<string, unknown> },
    },
    destination,
  );
}

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return maskCredentials(value.replace(URL_PASSWORD, "$1:[redacted]@"));
  if (depth > 8 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && !PUBLIC_KEYS.has(k) && v !== undefined && v !== null ? "[redacted]" : scrub(v, depth + 1);
  }
  return out;
}
