import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import lockfile from "proper-lockfile";

/**
 * The embedded database: PGlite in a thread of its own, served on a unix socket. One process owns
 * a data directory (a lock file, refreshed while it lives); another process on the same directory
 * either attaches to the owner's socket as a guest (the CLI next to `npm start`) or is refused in
 * one sentence. Two PGlite instances writing one directory corrupt it, so nothing else may open it.
 */
export interface EmbeddedServer {
  /** Where the socket lives: pg's `host` (the file is `.s.PGSQL.5432` inside). */
  socketDir: string;
  port: number;
  /** owner: this process runs the database; guest: another process does. */
  role: "owner" | "guest";
  /** Stops the database (owner) or just lets go (guest). */
  close(): Promise<void>;
}

/** What a user reads when the embedded database cannot be used; never a stack trace. */
export class EmbeddedDbError extends Error {
  override readonly name = "EmbeddedDbError";
}

export interface EmbeddedOptions {
  /** A directory, or undefined / memory:// for a database that lives as long as the process. */
  dataDir?: string;
  /** When another live process owns the directory: attach to it (true) or refuse (false). */
  attach: boolean;
  /** Told once when we wait for a crashed owner's lock to expire. */
  onWaiting?: (message: string) => void;
}

const PORT = 5432;
/** A crashed owner's lock is taken over after this long without a refresh. */
const STALE_MS = 10_000;
/** Socket connections the thread accepts: the app's pools plus the job engine's. */
const MAX_CONNECTIONS = 64;

export async function openEmbedded(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const dataDir = options.dataDir && !options.dataDir.startsWith("memory://") ? path.resolve(options.dataDir) : null;
  if (!dataDir) {
    const socketDir = mkdtempSync(path.join(tmpdir(), "reelbot-pg-"));
    const host = await startHost(null, socketDir);
    return { socketDir, port: PORT, role: "owner", close: async () => (await host.close(), rmSync(socketDir, { recursive: true, force: true })) };
  }
  mkdirSync(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, "owner.lock");
  const ownerFile = path.join(dataDir, "owner.json");
  let told = false;
  for (const deadline = Date.now() + STALE_MS + 5_000; ; ) {
    try {
      const release = await lockfile.lock(dataDir, {
        lockfilePath: lockPath, realpath: false, stale: STALE_MS, update: 2_000,
        // A lock we could not refresh may be taken by another process: stop before two write.
        onCompromised: (err) => {
          process.emitWarning(`the lock on ${dataDir} was lost (${err.message}); stopping so that no other process writes it at the same time`);
          process.exit(75);
        },
      });
      const socketDir = socketDirFor(dataDir);
      writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, socketDir, since: new Date().toISOString() }));
      try {
        const host = await startHost(path.join(dataDir, "pglite"), socketDir);
        return {
          socketDir, port: PORT, role: "owner",
          close: async () => {
            await host.close();
            rmSync(ownerFile, { force: true });
            await release();
          },
        };
      } catch (err) {
        await release().catch(() => undefined);
        throw err;
      }
    } catch (err) {
      if ((err as { code?: string }).code !== "ELOCKED") throw err;
      const owner = readOwner(ownerFile);
      if (owner && (await answers(owner.socketDir))) {
        if (options.attach) return { socketDir: owner.socketDir, port: PORT, role: "guest", close: async () => undefined };
        throw new EmbeddedDbError(
          `Another reelbot process (pid ${owner.pid}) is using ${dataDir}. Stop it first, or give this one its own folder with DATA_DIR=…`,
        );
      }
      if (Date.now() > deadline) throw new EmbeddedDbError(`${dataDir} is locked by a process that does not answer; remove ${lockPath} if no reelbot runs.`);
      if (!told) options.onWaiting?.(`The previous process on ${dataDir} stopped without closing it; waiting up to ${STALE_MS / 1000} s for its lock to expire…`);
      told = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * PGlite's WebAssembly, compiled once per process and shared with every database thread (a
 * compiled module crosses threads without being compiled again): a new thread then starts in a
 * fraction of the time.
 */
let compiled: Promise<{ pgliteWasmModule: WebAssembly.Module; initdbWasmModule: WebAssembly.Module; fsBundle: Uint8Array }> | undefined;
function compiledPglite() {
  compiled ??= (async () => {
    const dist = path.dirname(fileURLToPath(import.meta.resolve("@electric-sql/pglite")));
    const [pglite, initdb, fsBundle] = await Promise.all(
      ["pglite.wasm", "initdb.wasm", "pglite.data"].map((f) => readFile(path.join(dist, f))),
    );
    return {
      pgliteWasmModule: await WebAssembly.compile(pglite),
      initdbWasmModule: await WebAssembly.compile(initdb),
      fsBundle: new Uint8Array(fsBundle),
    };
  })();
  return compiled;
}

/**
 * An empty cluster as the first in-memory database of this process left it after initdb: later
 * in-memory databases (tests, benchmarks) start from a copy instead of running initdb again
 * (about 0.5 s instead of 2–3 s each).
 */
let emptyCluster: Promise<Uint8Array | null> | undefined;

/** Starts the PGlite thread; resolves when it serves the socket. */
async function startHost(pgliteDir: string | null, socketDir: string): Promise<{ close(): Promise<void> }> {
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const socketPath = path.join(socketDir, `.s.PGSQL.${PORT}`);
  rmSync(socketPath, { force: true }); // left behind by a crashed owner
  let template: Uint8Array | null = null;
  let giveTemplate: ((t: Uint8Array | null) => void) | undefined;
  if (!pgliteDir) {
    if (emptyCluster) template = await emptyCluster;
    else emptyCluster = new Promise((resolve) => (giveTemplate = resolve));
  }
  const worker = new Worker(new URL("./pglite-host.js", import.meta.url), {
    workerData: {
      dataDir: pgliteDir, socketPath, maxConnections: MAX_CONNECTIONS, ...(await compiledPglite()),
      template, dumpTemplate: Boolean(giveTemplate),
    },
  });
  if (giveTemplate) {
    const give = giveTemplate;
    worker.on("message", (m: { type: string; data?: Uint8Array }) => m.type === "template" && give(m.data ?? null));
    worker.once("exit", () => give(null));
  }
  await new Promise<void>((resolve, reject) => {
    const fail = (reason: string) =>
      reject(new EmbeddedDbError(
        pgliteDir
          ? `The embedded database in ${pgliteDir} could not be opened (${reason}). If another program uses it, stop that program; ` +
            `otherwise move it aside (mv ${pgliteDir} ${pgliteDir}.broken) and start again: the jobs stored in it are lost.`
          : `The in-memory database could not start (${reason}).`,
      ));
    const onMessage = (m: { type: string; message?: string }) => {
      if (m.type === "template") return;
      worker.off("message", onMessage);
      if (m.type === "ready") resolve();
      else fail(m.message ?? m.type);
    };
    worker.on("message", onMessage);
    worker.once("error", (err) => fail(err.message));
    worker.once("exit", (code) => fail(`its thread exited with code ${code}`));
  });
  return {
    async close() {
      const closed = new Promise<void>((resolve) => {
        worker.once("message", () => resolve());
        worker.once("exit", () => resolve());
      });
      worker.postMessage({ type: "close" });
      await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
      await worker.terminate();
      rmSync(socketPath, { force: true });
    },
  };
}

/** Unix socket paths are limited to ~107 bytes: deep data directories get theirs under the temp dir. */
function socketDirFor(dataDir: string): string {
  const inside = path.join(dataDir, "run");
  if (path.join(inside, `.s.PGSQL.${PORT}`).length <= 100) return inside;
  return path.join(tmpdir(), `reelbot-${createHash("sha256").update(dataDir).digest("hex").slice(0, 12)}`);
}

function readOwner(file: string): { pid: number; socketDir: string } | null {
  try {
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { pid: number; socketDir: string }) : null;
  } catch {
    return null;
  }
}

/** Whether a live server listens on the socket (a crashed owner's socket refuses). */
function answers(socketDir: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path.join(socketDir, `.s.PGSQL.${PORT}`));
    const done = (ok: boolean) => (socket.destroy(), resolve(ok));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.setTimeout(2_000, () => done(false));
  });
}
