/**
 * The Blobs port on Supabase Storage, keyed exactly like the local store (sha256 of the bytes plus
 * an extension), in a private bucket: surfaces and providers only ever see short-lived signed URLs.
 *
 * Content addressing makes every write idempotent: an upload never overwrites (`upsert: false`),
 * and "already exists" means the same bytes are already there, so it counts as success. That also
 * makes a retried or resumed step free and keeps two writers of the same preview from racing.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { createClient, type SupabaseClientOptions } from "@supabase/supabase-js";
import type { BlobFile, Blobs, Media } from "../tools/ports.js";
import { redactSecrets } from "../tools/provider-errors.js";
import { BlobNotFoundError, assertBlobKey, blobKey, contentTypeOf, fileBlobKey } from "./blobs.js";

export interface SupabaseBlobsOptions {
  /** Project URL, e.g. https://<ref>.supabase.co. */
  url: string;
  /** Server-side only: it bypasses row-level security. Never logged, never in an error. */
  serviceRoleKey: string;
  bucket?: string;
  /** Lifetime of the URLs `url()` hands out. Long enough for fal to fetch a frame from a queue. */
  signedUrlTtlS?: number;
  fetch?: typeof fetch;
  /** Where file() downloads blobs for tools that read files (ffmpeg). The OS temp dir by default. */
  tempDir?: string;
}

export interface SupabaseBlobs extends Blobs {
  readonly bucket: string;
  /** Creates the private bucket when missing; refuses to use a public one. Call once at startup. */
  ensureBucket(): Promise<void>;
}

/** A storage failure, with the provider's wording minus any credential. */
export class SupabaseBlobsError extends Error {
  override readonly name = "SupabaseBlobsError";
  constructor(message: string, readonly status?: number, readonly storageCode?: string) {
    super(message);
  }
}

type RealtimeTransport = NonNullable<NonNullable<SupabaseClientOptions<"public">["realtime"]>["transport"]>;

const NoRealtime = class {
  constructor() {
    throw new Error("Realtime is not used by the blob store");
  }
} as unknown as RealtimeTransport;

/** What storage-js hands back on failure (StorageApiError / StorageUnknownError). */
interface StorageFailure {
  name?: string;
  message?: string;
  /** HTTP status. Hosted Supabase answers 400 for most errors… */
  status?: number;
  /** …with the real code in the body: "404", "409", or a name such as "NoSuchKey". */
  statusCode?: string;
}

function isAlreadyExists(e: StorageFailure): boolean {
  // 23505 is the Postgres unique violation that very old storage servers passed through.
  return e.status === 409 || e.statusCode === "409" || e.statusCode === "23505" || /already exists/i.test(e.message ?? "");
}

function isBucketMissing(e: StorageFailure): boolean {
  return e.statusCode === "NoSuchBucket" || /bucket not found/i.test(e.message ?? "");
}

/** The object is absent. A missing bucket is a setup error instead, never "no such blob". */
function isObjectMissing(e: StorageFailure): boolean {
  if (isBucketMissing(e)) return false;
  return e.status === 404 || e.statusCode === "404" || e.statusCode === "NoSuchKey" || /not found/i.test(e.message ?? "");
}

export function createSupabaseBlobs(options: SupabaseBlobsOptions): SupabaseBlobs {
  const { serviceRoleKey } = options;
  const bucket = options.bucket ?? "media";
  const signedUrlTtlS = options.signedUrlTtlS ?? 3600;
  const client = createClient(options.url, serviceRoleKey, {
    // A server process with a service role key: no user session to keep or refresh.
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    // supabase-js builds a Realtime client eagerly, and on Node 20 (no global WebSocket) that
    // throws unless a transport is given. Storage never opens a socket, so the transport only
    // has to exist; it refuses loudly if anything ever tries to use it.
    realtime: { transport: NoRealtime },
    ...(options.fetch ? { global: { fetch: options.fetch } } : {}),
  });
  const files = () => client.storage.from(bucket);

  function failure(op: string, key: string | null, err: unknown): SupabaseBlobsError {
    const e = (err ?? {}) as StorageFailure;
    const detail = `${e.name ?? "Error"}: ${e.message ?? String(err)}`;
    const code = e.statusCode && e.statusCode !== String(e.status) ? ` ${e.statusCode}` : "";
    const message = `supabase storage ${op}${key ? ` ${key}` : ""} failed (${e.status ?? "no status"}${code}): ${detail}`;
    // No `cause`: the raw error is dropped so nothing that saw the request can leak through it.
    return new SupabaseBlobsError(redactSecrets(message, [serviceRoleKey]), e.status, e.statusCode);
  }

  async function put(media: Media): Promise<string> {
    const key = blobKey(media);
    const { error } = await files().upload(key, media.data, {
      contentType: media.contentType,
      upsert: false,
      // Immutable by construction: new bytes always get a new key.
      cacheControl: "31536000",
    });
    if (!error || isAlreadyExists(error)) return key;
    if (isBucketMissing(error)) throw new SupabaseBlobsError(`supabase storage bucket "${bucket}" does not exist: call ensureBucket() at startup`, error.status, error.statusCode);
    throw failure("upload", key, error);
  }

  async function get(key: string): Promise<Media> {
    assertBlobKey(key);
    const { data, error } = await files().download(key);
    if (error) {
      if (isObjectMissing(error)) throw new BlobNotFoundError(key);
      throw failure("download", key, error);
    }
    const bytes = new Uint8Array(await data.arrayBuffer());
    // The key is the hash: a mismatch means the object was replaced behind our back.
    const hash = createHash("sha256").update(bytes).digest("hex");
    if (`${hash}.` !== key.slice(0, 65)) throw new SupabaseBlobsError(`supabase storage download ${key} failed: content does not match its key`);
    // As in the local store, the content type follows from the key, not from the server.
    return { data: bytes, contentType: contentTypeOf(key) };
  }

  /** Downloaded once, streamed to a temp file and checked against its key on the way. */
  async function file(key: string): Promise<BlobFile> {
    assertBlobKey(key);
    const { data, error } = await files().download(key);
    if (error) {
      if (isObjectMissing(error)) throw new BlobNotFoundError(key);
      throw failure("download", key, error);
    }
    const dir = join(options.tempDir ?? tmpdir(), `blob-${process.pid}-${randomBytes(6).toString("hex")}`);
    await mkdir(dir, { recursive: true });
    const path = join(dir, key);
    const release = () => rm(dir, { recursive: true, force: true });
    try {
      const hash = createHash("sha256");
      const hashing = new Transform({ transform: (chunk, _enc, done) => (hash.update(chunk), done(null, chunk)) });
      await pipeline(Readable.fromWeb(data.stream() as WebReadableStream<Uint8Array>), hashing, createWriteStream(path));
      if (`${hash.digest("hex")}.` !== key.slice(0, 65)) throw new SupabaseBlobsError(`supabase storage download ${key} failed: content does not match its key`);
    } catch (err) {
      await release();
      throw err;
    }
    return { path, release };
  }

  /** Hashed in one streaming read, then uploaded as a stream; the file is deleted once stored. */
  async function putFile(path: string, contentType: string): Promise<string> {
    const key = await fileBlobKey(path, contentType);
    const { error } = await files().upload(key, Readable.toWeb(createReadStream(path)) as unknown as ReadableStream, {
      contentType, upsert: false, cacheControl: "31536000", duplex: "half",
    });
    if (error && !isAlreadyExists(error)) {
      if (isBucketMissing(error)) throw new SupabaseBlobsError(`supabase storage bucket "${bucket}" does not exist: call ensureBucket() at startup`, error.status, error.statusCode);
      throw failure("upload", key, error);
    }
    await rm(path, { force: true });
    return key;
  }

  async function has(key: string): Promise<boolean> {
    assertBlobKey(key);
    // info() and not exists(): HEAD has no body, so a 400 for a bad credential would read as "absent".
    const { error } = await files().info(key);
    if (!error) return true;
    if (isObjectMissing(error)) return false;
    throw failure("info", key, error);
  }

  async function url(key: string): Promise<string> {
    assertBlobKey(key);
    const { data, error } = await files().createSignedUrl(key, signedUrlTtlS);
    if (error) {
      if (isObjectMissing(error)) throw new BlobNotFoundError(key);
      throw failure("sign", key, error);
    }
    return data.signedUrl;
  }

  async function ensureBucket(): Promise<void> {
    const found = await client.storage.getBucket(bucket);
    if (!found.error) {
      if (found.data.public) throw new SupabaseBlobsError(`supabase storage bucket "${bucket}" is public; media must stay private (signed URLs only)`);
      return;
    }
    if (!isBucketMissing(found.error)) throw failure("get bucket", bucket, found.error);
    const created = await client.storage.createBucket(bucket, { public: false });
    // Another process may have created it in between: fine, as long as it exists.
    if (created.error && !isAlreadyExists(created.error)) throw failure("create bucket", bucket, created.error);
  }

  return { bucket, put, get, has, url, file, putFile, ensureBucket };
}
