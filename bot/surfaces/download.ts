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
  /**
   * What to tell the user when the host answers with a web page instead of the file (Slack serves
   * its sign-in page, status 200, when the token does not reach it); unset: no check.
   */
  htmlRefusal?: string;
}

const REFUSED = "I can only read files uploaded to this chat. Upload the file here and try again.";

function checkUrl(raw: string, options: DownloadOptions, redirected: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserFacingError("VALIDATION_ERROR", REFUSED);
  }
  const httpsOnly = !options.allowHttp;
  const allowed = (url.protocol === "https:" || (!httpsOnly && url.protocol === "http:")) && options.allowedHosts.includes(url.host);
  if (allowed) return url;
  // A redirect the chat's own file server chose is not the user's doing: say what happened, so
  // nobody re-uploads a file that will fail the same way (the operator can allow the host).
  if (redirected) {
    throw new UserFacingError(
      "VALIDATION_ERROR",
      `The chat's file server sent the download on to ${url.host}, which I'm not set up to download from. Ask whoever runs this bot to allow that host; re-uploading won't help.`,
    );
  }
  throw new UserFacingError("VALIDATION_ERROR", REFUSED);
}

/**
 * Downloads a chat attachment from the platform's own file hosts only. Every redirect hop is
 * re-checked against the allow-list, and the credentials go to allowed hosts only (Slack's
 * Enterprise Grid needs them on files-origin.slack.com too, after a 302 from files.slack.com), and the
 * body is streamed with a byte cap, so a lying size in the event cannot exhaust memory.
 */
export async function downloadAttachment(options: DownloadOptions): Promise<Uint8Array> {
  const doFetch = options.fetch ?? fetch;
  let url = checkUrl(options.url, options, false);
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
      url = checkUrl(new URL(location, url).toString(), options, true);
      continue;
    }
    if (!response.ok || !response.body) {
      throw new UserFacingError("VALIDATION_ERROR", "I couldn't download that file from the chat. Upload it again.");
    }
    if (options.htmlRefusal && /^text\/html\b/i.test(response.headers.get("content-type") ?? "")) {
      await response.body.cancel();
      throw new UserFacingError("VALIDATION_ERROR", options.htmlRefusal);
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
