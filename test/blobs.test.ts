import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlobNotFoundError, blobPath, createLocalBlobs } from "../store/blobs.js";
import type { Blobs } from "../tools/ports.js";

let dir: string;
let blobs: Blobs;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "blobs-test-"));
  blobs = createLocalBlobs(join(dir, "store"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytes = (text: string) => new TextEncoder().encode(text);

describe("local blobs", () => {
  it("round-trips bytes and content type under a sha256 key", async () => {
    const data = bytes("not really a png, but bytes are bytes");
    const key = await blobs.put({ data, contentType: "image/png" });
    expect(key).toBe(`${createHash("sha256").update(data).digest("hex")}.png`);
    const back = await blobs.get(key);
    expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true);
    expect(back.contentType).toBe("image/png");
    expect(await blobs.has(key)).toBe(true);
  });

  it("gives the same bytes the same key and stores them once", async () => {
    const media = { data: bytes("same clip"), contentType: "video/mp4" };
    const keys = await Promise.all([blobs.put(media), blobs.put(media), blobs.put({ ...media })]);
    expect(new Set(keys).size).toBe(1);
    // No temp files are left behind by racing writers.
    expect(await readdir(join(dir, "store"))).toEqual([keys[0]]);
    expect(await blobs.put({ data: bytes("other clip"), contentType: "video/mp4" })).not.toBe(keys[0]);
  });

  it("maps content types to extensions and back", async () => {
    const cases: Array<[string, string, string]> = [
      ["image/jpeg", "jpg", "image/jpeg"],
      ["image/webp", "webp", "image/webp"],
      ["audio/mpeg", "mp3", "audio/mpeg"],
      ["application/json; charset=utf-8", "json", "application/json"],
    ];
    for (const [type, ext, back] of cases) {
      const key = await blobs.put({ data: bytes(type), contentType: type });
      expect(key.endsWith(`.${ext}`)).toBe(true);
      expect((await blobs.get(key)).contentType).toBe(back);
    }
    await expect(blobs.put({ data: bytes("x"), contentType: "text/html" })).rejects.toThrow(/unsupported content type/);
  });

  it("hands out its own file for a blob and takes a file in by moving it, keyed by its bytes", async () => {
    const source = join(dir, "render.mp4");
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 7); // larger than one read chunk
    await writeFile(source, data);
    const key = await blobs.putFile(source, "video/mp4");
    expect(key).toBe(`${createHash("sha256").update(data).digest("hex")}.mp4`);
    await expect(stat(source)).rejects.toThrow(/ENOENT/); // moved, not copied
    const file = await blobs.file(key);
    expect(file.path).toBe(blobPath(join(dir, "store"), key));
    expect((await readFile(file.path)).equals(data)).toBe(true);
    await file.release();
    expect(await blobs.has(key)).toBe(true); // releasing the store's own file keeps it

    // The same bytes again: the copy is dropped and the key is the same.
    const again = join(dir, "again.mp4");
    await writeFile(again, data);
    expect(await blobs.putFile(again, "video/mp4")).toBe(key);
    await expect(stat(again)).rejects.toThrow(/ENOENT/);
    expect(await readdir(join(dir, "store"))).toEqual([key]);
    await expect(blobs.file(`${"0".repeat(64)}.mp4`)).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it("returns a file:// URL that points at the stored bytes", async () => {
    const key = await blobs.put({ data: bytes("{}"), contentType: "application/json" });
    const url = await blobs.url(key);
    expect(url.startsWith("file://")).toBe(true);
    expect(await readFile(fileURLToPath(url), "utf8")).toBe("{}");
    expect(fileURLToPath(url)).toBe(blobPath(join(dir, "store"), key));
  });

  it("reports missing blobs", async () => {
    const key = `${"0".repeat(64)}.png`;
    expect(await blobs.has(key)).toBe(false);
    await expect(blobs.get(key)).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it("rejects keys that are not a sha256 plus a known extension", async () => {
    const hex = "a".repeat(64);
    const bad = [
      "../../etc/passwd",
      `../${hex}.png`,
      `${hex}.png/../../x`,
      `${hex}.exe`,
      `${"A".repeat(64)}.png`,
      `${hex.slice(1)}.png`,
      `${hex}.png\n`,
      `sub/${hex}.png`,
      "",
    ];
    for (const key of bad) {
      await expect(blobs.get(key), key).rejects.toThrow(/invalid blob key/);
      await expect(blobs.has(key), key).rejects.toThrow(/invalid blob key/);
      await expect(blobs.url(key), key).rejects.toThrow(/invalid blob key/);
      expect(() => blobPath(dir, key), key).toThrow(/invalid blob key/);
    }
  });
});
