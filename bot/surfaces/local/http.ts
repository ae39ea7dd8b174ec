import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/*
 * Small node:http helpers for the local page: bodies with a size cap, JSON answers, the uid
 * cookie, and media with HTTP Range (browsers only play and seek MP4 over 206 responses).
 */

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body over ${limit} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * Reads a request body, refusing it once it passes `limit`. A body that announces its size is
 * refused before a byte is read; one that does not (chunked) is counted while it streams, and
 * the rest is drained (up to `drainLimit`, then the socket is dropped) so a well-behaved client
 * still reads the 413 instead of a reset connection.
 */
export function readBody(req: IncomingMessage, limit: number, drainLimit = limit * 4): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number.isFinite(declared) && declared > limit;
    if (over) {
      drain(req, drainLimit);
      reject(new BodyTooLargeError(limit));
      return;
    }
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > drainLimit) {
        req.destroy();
        return;
      }
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => (over ? reject(new BodyTooLargeError(limit)) : resolve(Buffer.concat(chunks, size))));
    req.on("error", reject);
    req.on("close", () => {
      if (!req.complete) reject(over ? new BodyTooLargeError(limit) : new Error("request aborted"));
    });
  });
}

function drain(req: IncomingMessage, drainLimit: number): void {
  let size = 0;
  req.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > drainLimit) req.destroy();
  });
  req.on("error", () => undefined);
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, body: string | Buffer, contentType: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

// ---------------------------------------------------------------------------------------------
// The per-browser identity
// ---------------------------------------------------------------------------------------------

const UID = /^[A-Za-z0-9_-]{22,64}$/;

/** The browser's uid from its cookie, or a new one (with the Set-Cookie header to send). */
export function browserId(req: IncomingMessage): { uid: string; setCookie?: string } {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [name, ...rest] = part.trim().split("=");
    const value = rest.join("=");
    if (name === "uid" && UID.test(value)) return { uid: value };
  }
  const uid = randomBytes(16).toString("base64url");
  return { uid, setCookie: `uid=${uid}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000` };
}

// ---------------------------------------------------------------------------------------------
// Media with Range
// ---------------------------------------------------------------------------------------------

/** A single `bytes=` range resolved against `size`; null when absent, "invalid" when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | "invalid" {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Multiple ranges (a comma) are legal but no player needs them: answer with the whole file.
  if (!match) return header.includes(",") ? null : "invalid";
  const [, from, to] = match;
  let start: number;
  let end: number;
  if (from === "") {
    if (to === "") return "invalid";
    const suffix = Number(to);
    if (suffix === 0) return "invalid";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(from);
    end = to === "" ? size - 1 : Math.min(Number(to), size - 1);
  }
  if (start >= size || start > end) return "invalid";
  return { start, end };
}

/** Serves bytes from memory with Accept-Ranges, 206 partial answers and 416 for bad ranges. */
export function sendMedia(req: IncomingMessage, res: ServerResponse, data: Uint8Array, contentType: string, etag: string): void {
  const size = data.byteLength;
  const headers: Record<string, string | number> = {
    ...SECURITY_HEADERS,
    "content-type": contentType,
    "accept-ranges": "bytes",
    // Keys are content hashes: the bytes behind a URL never change.
    "cache-control": "private, max-age=31536000, immutable",
    etag: `"${etag}"`,
  };
  if (req.headers["if-none-match"] === `"${etag}"`) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const ifRange = req.headers["if-range"];
  const range = ifRange && ifRange !== `"${etag}"` ? null : parseRange(req.headers.range, size);
  if (range === "invalid") {
    res.writeHead(416, { ...headers, "content-range": `bytes */${size}` });
    res.end();
    return;
  }
  const body = range ? data.subarray(range.start, range.end + 1) : data;
  res.writeHead(range ? 206 : 200, {
    ...headers,
    "content-length": body.byteLength,
    ...(range ? { "content-range": `bytes ${range.start}-${range.end}/${size}` } : {}),
  });
  res.end(req.method === "HEAD" ? undefined : body);
}
