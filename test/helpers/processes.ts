import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** One JSON log line of the bot (pino). */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/**
 * The bot as a real process (`node --import tsx bot/main.ts`), the way a supervisor runs it:
 * its JSON log lines are collected, and it can be killed with SIGKILL or stopped with SIGTERM.
 */
export interface BotProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  /** Everything it wrote to stderr (start-up refusals are one sentence there). */
  stderr(): string;
  /** Resolves with the first log line that matches, or rejects after timeoutMs. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  terminate(): Promise<number | string>;
  /** The health listener's port, once started. */
  healthPort(): Promise<number>;
}

export function spawnBot(env: Record<string, string>, args: string[] = []): BotProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "bot/main.ts", ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let err = "";
  let pending = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line, raw: true });
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));

  function waitForLog(match: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = logs.find(match);
        if (!found) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${err.slice(-2000)}; last logs: ${JSON.stringify(logs.slice(-5))}`));
      }, timeoutMs);
      const gone = () => {
        done();
        reject(new Error(`the bot exited before the log line; stderr: ${err.slice(-2000)}`));
      };
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off("exit", gone);
      };
      waiters.add(check);
      child.once("exit", gone);
      check();
    });
  }

  return {
    child,
    logs,
    stderr: () => err,
    waitForLog,
    exited,
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
    async terminate() {
      child.kill("SIGTERM");
      return exited;
    },
    async healthPort() {
      const started = await waitForLog((l) => l.msg === "bot started");
      const surface = (started.surfaces as string[]).find((s) => s.startsWith("health :") || s.startsWith("local page "))!;
      return Number(/:(\d+)\/?$/.exec(surface)![1]);
    },
  };
}

/** Polls `check` until it is true; the error names what was awaited. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}
