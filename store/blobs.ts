/**
 * Content-addressed media in a local directory: the key is the sha256 of the bytes plus an extension,
 * so storing the same preview twice (a resume, a retry) costs nothing and keys are safe to put in
 * graph state, URLs and chat button ids.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { BlobFile, Blobs, Media } from "../tools/ports.js";

/** Anything else is refused: a key is joined to a directory, so it must never carry a path. */
export const BLOB_KEY = /^[0-9a-f]{64}\.(png|jpg|webp|mp4|mp3|json)$/;

const EXTENSION_BY_TYPE: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/jpg": "jpg",
  "image/webp": "webp",
  "video/mp4": "mp4",
  "audio/mpeg": "mp3",
  "audio/mp3": "mp3",
  "application/json": "json",
};

const TYPE_BY_EXTENSION: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  webp: "image/webp",
  mp4: "video/mp4",
  mp3: "audio/mpeg",
  json: "application/json",
};

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`blob not found: ${key}`);
    this.name = "BlobNotFoundError";
  }
}

export function extensionFor(contentType: string): string {
  const bare = contentType.split(";")[0].trim().toLowerCase();
  const ext = EXTENSION_BY_TYPE[bare];
  if (!ext) throw new Error(`unsupported content type for blob storage: ${contentType}`);
  return ext;
}

/** The content type a (valid) key stands for: it follows from the key, not from where it is stored. */
export function contentTypeOf(key: string): string {
  return TYPE_BY_EXTENSION[key.slice(key.lastIndexOf(".") + 1)];
}

export function blobKey(media: Media): string {
  const hash = createHash("sha256").update(media.data).digest("hex");
  return `${hash}.${extensionFor(media.contentType)}`;
}

/** The key of a file's bytes, read as a stream (a stitched song can be hundreds of MB). */
export async function fileBlobKey(path: string, contentType: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `${hash.digest("hex")}.${extensionFor(contentType)}`;
}

export function assertBlobKey(key: string): void {
  if (!BLOB_KEY.test(key)) throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
}

export function blobPath(dir: string, key: string): string {
  assertBlobKey(key);
  return join(resolve(dir), key);
}

export function createLocalBlobs(dir: string): Blobs {
  const root = resolve(dir);
  let ready: Promise<unknown> | undefined;
  const ensureDir = () => (ready ??= mkdir(root, { recursive: true }));

  async function has(key: string): Promise<boolean> {
    try {
      return (await stat(blobPath(root, key))).isFile();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }

  async function put(media: Media): Promise<string> {
    const key = blobKey(media);
    if (await has(key)) return key;
    await ensureDir();
    // A reader must never see a half-written file, and two writers of the same bytes may race:
    // write beside the target, then rename (atomic on one filesystem; the loser just overwrites).
    const tmp = join(root, `.${key}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      await writeFile(tmp, media.data);
      await rename(tmp, blobPath(root, key));
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    return key;
  }

  async function get(key: string): Promise<Media> {
    const path = blobPath(root, key);
    try {
      const data = await readFile(path);
      return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), contentType: contentTypeOf(key) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new BlobNotFoundError(key);
      throw error;
    }
  }

  async function url(key: string): Promise<string> {
    return pathToFileURL(blobPath(root, key)).href;
  }

  /** The stored file itself: nothing is copied, and nothing is left to clean up. */
  async function file(key: string): Promise<BlobFile> {
    if (!(await has(key))) throw new BlobNotFoundError(key);
    return { path: blobPath(root, key), release: async () => undefined };
  }

  async function putFile(path: string, contentType: string): Promise<string> {
    const key = await fileBlobKey(path, contentType);
    if (await has(key)) {
      await rm(path, { force: true });
      return key;
    }
    await ensureDir();
    const tmp = join(root, `.${key}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      // A rename when the file is on the store's filesystem (an editor's scratch usually is): no copy.
      await rename(path, tmp).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== "EXDEV") throw error;
        await copyFile(path, tmp);
        await rm(path, { force: true });
      });
      await rename(tmp, blobPath(root, key));
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    return key;
  }

  return { put, get, url, has, file, putFile };
}
