/**
 * A bad shot is a card, not a crash. A tool call of a shot step that fails for good (the provider
 * refused, the resilience layer gave up its bounded retries, the policy refused the prompt)
 * becomes a ShotFailure with a sentence for the user; the shot's loop shows it on the card and
 * waits for 🟡 or 🔴 while every other shot goes on. What only says "try this pass again later"
 * (the database away, a cancelled pass) is never turned into a card: it propagates as it is.
 */
import { isUserFacing } from "../../core/errors.js";
import { ProviderError } from "../../tools/provider-errors.js";
import { isTransient } from "../../store/transient.js";

export class ShotFailure extends Error {
  override readonly name = "ShotFailure";
  constructor(readonly userMessage: string, options?: { cause?: unknown }) {
    super(userMessage, options);
  }
}

/** Runs a tool call; a lasting failure becomes a ShotFailure saying what could not be done and why. */
export async function toolStep<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ShotFailure || isTransient(err) || (err as { name?: string })?.name === "AbortError") throw err;
    throw new ShotFailure(`${what} failed: ${reasonOf(err)}`, { cause: err });
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof ProviderError || isUserFacing(err)) return sentence(err.userMessage);
  const message = err instanceof Error ? err.message : String(err);
  return sentence(message.replace(/\s+/g, " ").slice(0, 200));
}

function sentence(text: string): string {
  const t = text.trim().replace(/^\w/, (c) => c.toLowerCase());
  return /[.!?]$/.test(t) ? t : `${t}.`;
}
