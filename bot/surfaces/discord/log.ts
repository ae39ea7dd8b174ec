/**
 * What may reach a log line about a Discord call. discord.js errors carry the request URL, and
 * webhook/interaction URLs contain the interaction token, and `requestBody` holds whole files;
 * so errors are reduced to code, status, method and a URL with tokens cut out. The bot token is
 * only ever in the Authorization header, which no error or log line includes.
 */
export function redactUrl(url: string): string {
  return url
    .replace(/(\/webhooks\/\d+\/)[^/?]+/g, "$1:token")
    .replace(/(\/interactions\/\d+\/)[^/?]+/g, "$1:token");
}

export interface LoggableError {
  name: string;
  message: string;
  code?: number | string;
  status?: number;
  method?: string;
  url?: string;
  stack?: string;
}

export function describeError(err: unknown): { err: LoggableError } {
  if (!(err instanceof Error)) return { err: { name: "NonError", message: String(err) } };
  const e = err as Error & { code?: number | string; status?: number; method?: string; url?: string };
  return {
    err: {
      name: e.name,
      message: redactUrl(e.message),
      ...(e.code !== undefined ? { code: e.code } : {}),
      ...(e.status !== undefined ? { status: e.status } : {}),
      ...(e.method ? { method: e.method } : {}),
      ...(e.url ? { url: redactUrl(e.url) } : {}),
      ...(e.stack ? { stack: redactUrl(e.stack) } : {}),
    },
  };
}

/** Discord's JSON error code of a failed REST call, if it has one. */
export function discordCode(err: unknown): number | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : null;
}

/** Codes that mean "this interaction was already answered or has expired": a re-delivery. */
export const ALREADY_ANSWERED = new Set([40060, 10062]);
