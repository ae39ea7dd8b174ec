/**
 * The Supabase Blobs adapter through the real @supabase/supabase-js client against a loopback
 * Storage API stand-in: round trips, content addressing, signed URLs, key validation, and the
 * service role key staying out of every error.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { BlobNotFoundError, blobKey } from "../store/blobs.js";
import { SupabaseBlobsError, createSupabaseBlobs } from "../store/supabase-blobs.js";
import { createSupabaseStorageStandin, type SupabaseStorageStandin } from "./standins/supabase-storage.js";

const SERVICE_KEY = "sb-service-role-test-key-7f3a9c2e51d84b06";

let standin: SupabaseStorageStandin;

beforeAll(async () => {
  standin = await createSupabaseStorageStandin({ serviceRoleKey: SERVICE_KEY, buckets: ["media"] });
});

afterAll(() => standin.close());

beforeEach(() => standin.reset());

const blobs = (over: Partial<Parameters<typeof createSupabaseBlobs>[0]> = {}) =>
  createSupabaseBlobs({ url: standin.url, serviceRoleKey: SERVICE_KEY, ...over });

const png = () => ({ data: new Uint8Array(randomBytes(512)), contentType: "image/png" });

/** Everything an error could leak through: message, stack, JSON, inspect (with any cause). */
function everythingIn(err: unknown): string {
  return [String(err), (err as Error)?.stack ?? "", JSON.stringify(err), inspect(err, { depth: 5 })].join("\n");
}

describe("createSupabaseBlobs", () => {
  it("round-trips bytes under the same content-addressed key as the local store", async () => {
    const store = blobs();
    const media = png();
    const key = await store.put(media);
    expect(key).toBe(blobKey(media));
    expect(await store.has(key)).toBe(true);
    const back = await store.get(key);
    expect(Buffer.from(back.data).equals(Buffer.from(media.data))).toBe(true);
    expect(back.contentType).toBe("image/png");

    const upload = standin.requests.find((r) => r.method === "POST" && r.path === `/object/media/${key}`);
    expect(upload).toMatchObject({ upsert: "false", contentType: "image/png" });
    // The service role key goes out as both the bearer token and the apikey, on every call.
    expect(standin.requests.length).toBeGreaterThanOrEqual(3);
    expect(standin.requests.every((r) => r.bearerOk && r.apikeyOk)).toBe(true);
  });

  it("stores a file by streaming it and hands a blob back as a temp file, checked against its key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sb-files-"));
    try {
      const store = blobs({ tempDir: dir });
      const bytes = randomBytes(3 * 1024 * 1024 + 17); // several chunks of the stream
      const source = join(dir, "render.mp4");
      await writeFile(source, bytes);
      const key = await store.putFile(source, "video/mp4");
      expect(key).toBe(blobKey({ data: bytes, contentType: "video/mp4" }));
      expect(Buffer.from(standin.objects.get(`media/${key}`)?.data ?? []).equals(bytes)).toBe(true);
      // The file was handed over: it is gone from where it was.
      await expect(stat(source)).rejects.toThrow(/ENOENT/);

      const local = await store.file(key);
      expect((await readFile(local.path)).equals(bytes)).toBe(true);
      await local.release();
      await expect(stat(local.path)).rejects.toThrow(/ENOENT/);
      expect(await readdir(dir)).toEqual([]);
      await expect(store.file(blobKey(png()))).rejects.toBeInstanceOf(BlobNotFoundError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each(["legacy", "http"] as const)("stores the same bytes once; a second put is harmless (%s error statuses)", async (mode) => {
    standin.setStatusMode(mode);
    const store = blobs();
    const media = { data: new Uint8Array(randomBytes(256)), contentType: "video/mp4" };
    const first = await store.put(media);
    const second = await store.put({ data: new Uint8Array(media.data), contentType: "video/mp4" });
    expect(second).toBe(first);
    expect(first.endsWith(".mp4")).toBe(true);
    expect(standin.objects.size).toBe(1);
    expect(standin.requests.filter((r) => r.method === "POST" && r.path.startsWith("/object/media/"))).toHaveLength(2);
  });

  it("hands out a signed URL on the stand-in that downloads the bytes without credentials", async () => {
    const store = blobs({ signedUrlTtlS: 120 });
    const media = png();
    const key = await store.put(media);
    const signed = await store.url(key);
    expect(signed.startsWith(`${standin.url}/storage/v1/object/sign/media/${key}?token=`)).toBe(true);
    expect(signed).not.toContain(SERVICE_KEY);
    const res = await fetch(signed);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(media.data))).toBe(true);
    const download = standin.requests.at(-1);
    expect(download).toMatchObject({ method: "GET", bearerOk: false, apikeyOk: false });
  });

  it.each(["legacy", "http"] as const)("reports a missing blob as absent / BlobNotFoundError (%s error statuses)", async (mode) => {
    standin.setStatusMode(mode);
    const store = blobs();
    const key = blobKey(png());
    expect(await store.has(key)).toBe(false);
    await expect(store.get(key)).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.url(key)).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it("rejects keys that are not content addresses before any request", async () => {
    const store = blobs();
    const hex = "a".repeat(64);
    for (const key of ["../secret.png", `media/../${hex}.png`, `${hex}.png/../../x`, `${hex}.exe`, `/${hex}.png`, `${hex.toUpperCase()}.png`, ""]) {
      await expect(store.get(key)).rejects.toThrow(/invalid blob key/);
      await expect(store.has(key)).rejects.toThrow(/invalid blob key/);
      await expect(store.url(key)).rejects.toThrow(/invalid blob key/);
    }
    await expect(store.put({ data: new Uint8Array([1]), contentType: "text/html" })).rejects.toThrow(/unsupported content type/);
    expect(standin.requests).toEqual([]);
  });

  it("refuses bytes that do not match their key", async () => {
    const store = blobs();
    const key = await store.put(png());
    standin.objects.get(`media/${key}`)!.data = randomBytes(512);
    await expect(store.get(key)).rejects.toThrow(/does not match its key/);
  });

  it("ensureBucket creates a private bucket once, and refuses a public one", async () => {
    standin.buckets.clear();
    const store = blobs({ bucket: "renders" });
    await expect(store.put(png())).rejects.toThrow(/ensureBucket/);
    await store.ensureBucket();
    expect(standin.buckets.get("renders")).toMatchObject({ public: false });
    await store.ensureBucket();
    expect(standin.requests.filter((r) => r.method === "POST" && r.path === "/bucket")).toHaveLength(1);
    await store.put(png());

    standin.buckets.set("open", { public: true, createdAt: new Date().toISOString() });
    await expect(blobs({ bucket: "open" }).ensureBucket()).rejects.toThrow(/public/);
  });

  it("keeps the service role key out of errors, even when the server echoes it", async () => {
    const wrongKey = "sb-service-role-rotated-away-9d0e1f2a3b4c";
    const stale = blobs({ serviceRoleKey: wrongKey });
    const err = await stale.put(png()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SupabaseBlobsError);
    expect((err as SupabaseBlobsError).message).toMatch(/InvalidJWT|invalid JWT/);
    expect(everythingIn(err)).not.toContain(wrongKey);

    standin.failNextEchoingAuth(500);
    const err2 = await blobs().has(blobKey(png())).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(SupabaseBlobsError);
    expect((err2 as SupabaseBlobsError).status).toBe(500);
    expect((err2 as SupabaseBlobsError).message).toContain("[redacted]");
    expect(everythingIn(err2)).not.toContain(SERVICE_KEY);
  });
});
