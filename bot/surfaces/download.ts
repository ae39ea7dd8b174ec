import { UserFacingError } from "../../core/errors.js";

export interface DownloadOptions {
  url: string;
  /** Hosts that may serve the file (exact match on the parsed host, port included when given). */
  allowedHosts: string[];
  /** Abort past this many bytes while streaming. */
  maxBytes: number;
  /** Sent only to allowed hosts (e.g. Slack's bearer token to files.slack.com). */
  headers?: Record<string, string>;
  /** Tests point production hosts at loopback stand-ins; production requires https. */
  allowHttp?: boolean;
  fetch?: typeof fetch;
  timeoutMs?: number;
  maxRedirects?: number;
}

const REFUSED = "I can only read files uploaded to this chat. Upload the file here and try again.";

function checkUrl(raw: string, options: DownloadOptions): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserFacingError("VALIDATION_ERROR", REFUSED);
  }
  const httpsOnly = !options.allowHttp;
  if (url.protocol !== "https:" && (httpsOnly || url.protocol !== "http:")) throw new UserFacingError("VALIDATION_ERROR", REFUSED);
  if (!options.allowedHosts.includes(url.host)) throw new UserFacingError("VALIDATION_ERROR", REFUSED);
  return url;
}

/**
 * Downloads a chat attachment from the platform's own file hosts only. Every redirect hop is
 * re-checked against the allow-list (credentials are never forwarded to another host), and the
 * body is streamed with a byte cap, so a lying size in the event cannot exhaust memory.
 */
export async function downloadAttachment(options: DownloadOptions): Promise<Uint8Array> {
  const doFetch = options.fetch ?? fetch;
  let url = checkUrl(options.url, options);
  for (let hop = 0; hop <= (options.maxRedirects ?? 3); hop++) {
    const response = await doFetch(url, {
      headers: options.headers,
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      await response.body?.cancel();
      if (!location) break;
      url = checkUrl(new URL(location, url).toString(), options);
      continue;
    }
    if (!response.ok || !response.body) {
      throw new UserFacingError("VALIDATION_ERROR", "I couldn't download that file from the chat. Upload it again.");
    }
    const declared = Number(response.headers.get("content-length") ?? 0);
    if (declared > options.maxBytes) {
      await response.body.cancel();
      throw tooLarge(options.maxBytes);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > options.maxBytes) throw tooLarge(options.maxBytes);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
  throw new UserFacingError("VALIDATION_ERROR", "That file link redirects too often; upload the file directly.");
}

function tooLarge(maxBytes: number): UserFacingError {
  return new UserFacingError("FILE_TOO_LARGE", `That file is over ${Math.round(maxBytes / 1024 / 1024)} MB. Send a smaller one.`);
}
