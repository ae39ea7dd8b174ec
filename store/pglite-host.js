// The embedded database's own thread: PGlite runs here and is served over the Postgres wire
// protocol on a unix socket, so the app's main thread only does I/O and talks to it with `pg`,
// like to any Postgres. Plain JavaScript on purpose: a worker thread loads it without a TS loader.
import { parentPort, workerData } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/**
 * @type {{ dataDir: string | null, socketPath: string, maxConnections: number,
 *   pgliteWasmModule: WebAssembly.Module, initdbWasmModule: WebAssembly.Module, fsBundle: Uint8Array,
 *   template: Uint8Array | null, dumpTemplate: boolean }}
 */
const { dataDir, socketPath, maxConnections, pgliteWasmModule, initdbWasmModule, fsBundle, template, dumpTemplate } = workerData;

try {
  // The modules come compiled from the main thread (store/embedded.ts): no second compilation here.
  const lite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    pgliteWasmModule,
    initdbWasmModule,
    fsBundle: new Blob([fsBundle]),
    // An in-memory database may start from a copy of an empty cluster instead of running initdb.
    ...(template ? { loadDataDir: new Blob([template]) } : {}),
  });
  if (dumpTemplate) {
    const dump = new Uint8Array(await (await lite.dumpDataDir("none")).arrayBuffer());
    parentPort.postMessage({ type: "template", data: dump }, [dump.buffer]);
  }
  const server = new PGLiteSocketServer({ db: lite, path: socketPath, maxConnections });
  keepExtendedQueriesTogether(lite);
  fanOutNotifications(lite, server);
  await server.start();
  parentPort.postMessage({ type: "ready" });
  parentPort.on("message", async (message) => {
    if (message?.type !== "close") return;
    try {
      await server.stop();
      await lite.close();
    } finally {
      parentPort.postMessage({ type: "closed" });
    }
  });
} catch (err) {
  parentPort.postMessage({ type: "failed", message: err instanceof Error ? err.message : String(err) });
}

/**
 * The socket server multiplexes its connections message by message, keeping a connection's
 * messages together only inside a transaction (it asks `isInTransaction`). `pg` sends every
 * parameterised query as Parse/Bind/Describe/Execute/Sync; another connection's Bind in between
 * replaces the unnamed portal ("portal \"\" does not exist", 34000). So until its Sync, a
 * connection's extended-protocol sequence counts as a transaction, and it is served alone.
 */
function keepExtendedQueriesTogether(lite) {
  const EXTENDED = new Set([0x50, 0x42, 0x44, 0x45, 0x43, 0x48]); // P B D E C H
  const ENDS = new Set([0x53, 0x51]); // Sync, simple Query
  let open = false;
  const inTransaction = lite.isInTransaction.bind(lite);
  lite.isInTransaction = () => open || inTransaction();
  const run = lite.execProtocolRawStream.bind(lite);
  lite.execProtocolRawStream = async (message, options) => {
    const type = message[0];
    try {
      return await run(message, options);
    } finally {
      if (ENDS.has(type)) open = false;
      else if (EXTENDED.has(type)) open = true;
    }
  };
  // A connection that goes away mid-sequence is rolled back by the server with exec("ROLLBACK").
  const exec = lite.exec.bind(lite);
  lite.exec = async (...args) => {
    if (String(args[0]).trim().toUpperCase() === "ROLLBACK") open = false;
    return exec(...args);
  };
}

/**
 * PGlite is one session shared by every socket: a NOTIFY comes back in the output of whichever
 * connection ran it, never to the one that LISTENs (BullMQ's waiting worker). Once a query has
 * finished, every NotificationResponse ('A') it produced is copied to every connected socket;
 * between responses a socket may receive one at any time (Postgres protocol, "Asynchronous
 * Operations"), and clients that do not LISTEN ignore it. Relies on the socket server's handler
 * set (`handlers`, each with its `socket`), checked by test/pglite-host.test.ts for the pinned
 * @electric-sql/pglite-socket version.
 */
function fanOutNotifications(lite, server) {
  const run = lite.execProtocolRawStream.bind(lite);
  lite.execProtocolRawStream = async (message, options) => {
    const chunks = [];
    const result = await run(message, {
      ...options,
      onRawData: (data) => {
        chunks.push(Buffer.from(data));
        options?.onRawData?.(data);
      },
    });
    const notes = notifications(Buffer.concat(chunks));
    if (notes.length > 0) {
      setImmediate(() => {
        for (const handler of server.handlers ?? []) {
          if (handler.socket?.writable) for (const note of notes) handler.socket.write(note);
        }
      });
    }
    return result;
  };
}

/** The NotificationResponse messages in a stream of backend messages (type byte, int32 length). */
function notifications(output) {
  const found = [];
  for (let at = 0; at + 5 <= output.length; ) {
    const length = output.readInt32BE(at + 1);
    if (output[at] === 0x41) found.push(output.subarray(at, at + 1 + length));
    at += 1 + length;
  }
  return found;
}
