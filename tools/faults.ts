/**
 * Failure-injecting, call-counting wrapper for any port object (tests and benchmarks). It lets the
 * resilience paths (retries, breakers, engine fallbacks, timeouts) run against real adapters with
 * failures dialled in and re-armed while the system is running.
 */

export interface FaultOptions {
  /** Delay before every call is passed through. */
  latencyMs?: number;
  /** Fail this many upcoming calls (any method), then succeed again. */
  failNext?: number;
  /** Fail every call until switched off. */
  failAlways?: boolean;
  /** Calls stall this long and then fail with a timeout error; Infinity stalls until aborted. */
  hangMs?: number;
  /** The error an injected failure throws; defaults to an Error("injected fault: <method>"). */
  error?: (method: string) => Error;
}

export interface FaultController<T extends object> {
  /** The wrapped port: same shape, every function-valued property goes through the faults. */
  readonly port: T;
  /** Calls per method name, including failed ones. */
  readonly calls: Record<string, number>;
  /** Injected failures per method name. */
  readonly failures: Record<string, number>;
  /** Arguments of every call in order, for asserting what reached the adapter. */
  readonly log: Array<{ method: string; args: unknown[] }>;
  failNext(n: number): void;
  failAlways(on: boolean): void;
  setLatency(ms: number): void;
  setHang(ms: number | undefined): void;
  /** Total calls across all methods. */
  total(): number;
  /** Clears counters and log, keeps the armed faults. */
  resetCounts(): void;
}

export function withFaults<T extends object>(target: T, options: FaultOptions = {}): FaultController<T> {
  const state = {
    latencyMs: options.latencyMs ?? 0,
    failNext: options.failNext ?? 0,
    failAlways: options.failAlways ?? false,
    hangMs: options.hangMs,
  };
  const makeError = options.error ?? ((method: string) => new Error(`injected fault: ${method}`));
  const calls: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const log: Array<{ method: string; args: unknown[] }> = [];

  async function invoke(method: string, fn: (...a: unknown[]) => unknown, self: T, args: unknown[]) {
    calls[method] = (calls[method] ?? 0) + 1;
    log.push({ method, args });
    const signal = args.find((a): a is AbortSignal => a instanceof AbortSignal);
    if (state.latencyMs > 0) await sleep(state.latencyMs, signal);
    if (state.hangMs !== undefined) {
      await sleep(state.hangMs, signal);
      failures[method] = (failures[method] ?? 0) + 1;
      throw new Error(`injected hang: ${method} did not answer within ${state.hangMs} ms`);
    }
    if (state.failAlways || state.failNext > 0) {
      if (!state.failAlways) state.failNext -= 1;
      failures[method] = (failures[method] ?? 0) + 1;
      throw makeError(method);
    }
    return fn.apply(self, args);
  }

  const port = new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return (...args: unknown[]) => invoke(prop, value as (...a: unknown[]) => unknown, obj, args);
    },
  });

  return {
    port,
    calls,
    failures,
    log,
    failNext: (n) => void (state.failNext = n),
    failAlways: (on) => void (state.failAlways = on),
    setLatency: (ms) => void (state.latencyMs = ms),
    setHang: (ms) => void (state.hangMs = ms),
    total: () => Object.values(calls).reduce((a, b) => a + b, 0),
    resetCounts() {
      for (const k of Object.keys(calls)) delete calls[k];
      for (const k of Object.keys(failures)) delete failures[k];
      log.length = 0;
    },
  };
}

/** Resolves after `ms`, or rejects with the signal's reason; Infinity waits for the signal alone. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
  });
}
