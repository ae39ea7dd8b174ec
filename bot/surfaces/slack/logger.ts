import { LogLevel, type Logger as BoltLogger } from "@slack/bolt";
import type { Logger } from "pino";

const TO_BOLT: Record<string, LogLevel> = { trace: LogLevel.DEBUG, debug: LogLevel.DEBUG, info: LogLevel.INFO, warn: LogLevel.WARN };

/**
 * Bolt's and the WebClient's log lines, through the app's pino logger, so they share its level
 * and its redaction. The WebClient already redacts tokens in its debug lines; Bolt never logs them.
 */
export function toBoltLogger(logger: Logger): BoltLogger {
  const line = (level: "debug" | "info" | "warn" | "error") => (...msg: unknown[]) => {
    logger[level]({ lib: "bolt" }, msg.map((m) => (typeof m === "string" ? m : safeJson(m))).join(" "));
  };
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    // The level is pino's (LOG_LEVEL); Bolt's setLevel calls are ignored on purpose.
    setLevel: () => undefined,
    getLevel: () => TO_BOLT[logger.level] ?? LogLevel.ERROR,
    setName: () => undefined,
  };
}

function safeJson(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** What of an error may reach a log line: never request options or headers (they can carry the token). */
export function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { error: String(err) };
  const coded = err as Error & { code?: string; data?: { error?: string } };
  return { error: err.message, name: err.name, code: coded.code, slackError: coded.data?.error, stack: err.stack };
}
