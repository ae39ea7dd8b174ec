import type { Blobs } from "../../tools/ports.js";

/**
 * Runs `fn` with the blobs as files (the local store's own files, or one download each from remote
 * storage) and releases them afterwards, whatever happens: editors read clips where they are.
 */
export async function withBlobFiles<T>(blobs: Blobs, keys: string[], fn: (paths: string[]) => Promise<T>): Promise<T> {
  const settled = await Promise.allSettled(keys.map((key) => blobs.file(key)));
  const files = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  try {
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    return await fn(files.map((f) => f.path));
  } finally {
    await Promise.all(files.map((f) => f.release()));
  }
}
