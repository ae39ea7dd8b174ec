import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The paid call in progress, as the ledger runs it: a provider adapter that submits to a queue
 * (fal) says which request it got as soon as it has one, and on any later attempt — a retry after
 * a deadline, or a new process after a crash — waits for that request instead of paying for a
 * new one. Adapters without request ids (Gemini, DeepSeek) ignore it.
 */
export interface PaidCall {
  /** The ledger key of the call. */
  readonly key: string;
  /** The provider request this call already has, if any. */
  requestId: string | null;
  /** Records the provider's request id the moment it is known. */
  submitted(requestId: string): Promise<void>;
}

const current = new AsyncLocalStorage<PaidCall>();

export function inPaidCall<T>(call: PaidCall, fn: () => Promise<T>): Promise<T> {
  return current.run(call, fn);
}

export function currentPaidCall(): PaidCall | undefined {
  return current.getStore();
}
