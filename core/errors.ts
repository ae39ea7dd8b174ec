/**
 * Errors whose text is shown to the chat user as is. Anything else that escapes a handler is a
 * bug or an outage: the surface logs it and shows a generic apology instead.
 *
 * Message format: `message` is `"<CODE>: <text>"` and `userMessage` is `<text>` alone.
 * The code sits in `message` so that logs, stack traces and the spec's tests
 * (`rejects.toThrow('TOO_MANY_REQUESTS')`) see it; chat surfaces post `userMessage`, never
 * `message`, so users do not read machine codes.
 */

/** Every code a surface may branch on. Add new codes here; the type follows. */
export const USER_FACING_CODES = [
  "VALIDATION_ERROR",
  "UNSUPPORTED_FILE",
  "FILE_TOO_LARGE",
  "IMAGE_TOO_LARGE",
  "TOO_MANY_REQUESTS",
  "NOT_FOUND",
  "FORBIDDEN",
  "INSUFFICIENT_CREDITS",
  "PROVIDER_FAILED",
  "CANCELLED",
] as const;

export type UserFacingCode = (typeof USER_FACING_CODES)[number];

export interface UserFacingErrorOptions {
  /** Seconds after which retrying can succeed (rate limits, provider back-off). */
  retryAfterS?: number;
  /** The underlying error, for logs only; never shown to the user. */
  cause?: unknown;
}

export interface UserFacingErrorJSON {
  name: "UserFacingError";
  code: UserFacingCode;
  message: string;
  retryAfterS?: number;
}

export class UserFacingError extends Error {
  override readonly name = "UserFacingError";
  readonly code: UserFacingCode;
  readonly retryAfterS?: number;
  readonly #text: string;

  /**
   * @param code what went wrong, for code to branch on.
   * @param text what went wrong and what the user can do about it, in plain words,
   *   e.g. "That file is a PDF. Send a JPEG, PNG or WebP image (up to 10 MB)."
   */
  constructor(code: UserFacingCode, text: string, options: UserFacingErrorOptions = {}) {
    super(`${code}: ${text}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.#text = text;
    if (options.retryAfterS !== undefined) this.retryAfterS = options.retryAfterS;
  }

  /** The text to post in chat (no code prefix). */
  get userMessage(): string {
    return this.#text;
  }

  /** What crosses process or API boundaries: no stack, no cause. */
  toJSON(): UserFacingErrorJSON {
    const json: UserFacingErrorJSON = { name: this.name, code: this.code, message: this.#text };
    if (this.retryAfterS !== undefined) json.retryAfterS = this.retryAfterS;
    return json;
  }
}

export function isUserFacing(err: unknown): err is UserFacingError {
  return err instanceof UserFacingError;
}
