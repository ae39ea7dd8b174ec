/**
 * Links to videos too big for a chat upload: HMAC-signed, expiring PUBLIC_URL links served by the
 * public listener, preferred over storage-provider URLs, and lasting days rather than an hour.
 * Everything runs for real: the listener over HTTP, the secret on disk, Supabase through
 * supabase-js against its loopback stand-in.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../bot/config.js";
import { createPublicServer } from "../bot/publicServer.js";
import { createLinkSigner } from "../bot/links/sign.js";
import { loadLinkSecret } from "../bot/links/secret.js";
import { createMediaLinks } from "../bot/links/mediaLinks.js";
import { createLocalBlobs } from "../store/blobs.js";
import { createSupabaseBlobs } from "../store/supabase-blobs.js";
import type { Runner } from "../graph/runner.js";
import { createSupabaseStorageStandin, type SupabaseStorageStandin } from "./standins/supabase-storage.js";

const SECRET = Buffer.from("a-test-secret-that-is-long-enough-for-hmac-0001");
const DAY = 86_400_000;
const SERVICE_KEY = "sb-service-role-test-key-media-links-01";

let dir: string;
let supabase: SupabaseStorageStandin;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "media-links-"));
  supabase = await createSupabaseStorageStandin({ serviceRoleKey: SERVICE_KEY, buckets: ["media"] });
});
afterAll(async () => {
  await supabase.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => vi.useRealTimers());

describe("link signatures", () => {
  const signer = createLinkSigner(SECRET);
  const key = `${"a".repeat(64)}.mp4`;
  const parts = (p: string) => {
    const u = new URL(p, "https://x.test");
    return [u.searchParams.get("exp"), u.searchParams.get("sig")] as const;
  };

  it("accepts its own link until it expires, then says expired", () => {
    const now = Date.UTC(2026, 10, 28, 12);
    const link = signer.sign(key, 7 * 24 * 3600, now);
    expect(link.expiresAt.getTime()).toBe(now + 7 * DAY);
    const [exp, sig] = parts(link.path);
    expect(signer.check(key, exp, sig, now)).toBe("ok");
    expect(signer.check(key, exp, sig, now + 7 * DAY - 1000)).toBe("ok");
    expect(signer.check(key, exp, sig, now + 7 * DAY)).toBe("expired");
  });

  it("refuses a changed expiry, another key, a changed signature, a missing one and another secret", () => {
    const now = Date.now();
    const [exp, sig] = parts(signer.sign(key, 3600, now).path);
    expect(signer.check(key, String(Number(exp) + 3600), sig, now)).toBe("bad_signature");
    expect(signer.check(`${"b".repeat(64)}.mp4`, exp, sig, now)).toBe("bad_signature");
    expect(signer.check(key, exp, `${sig!.slice(0, -2)}AA`, now)).toBe("bad_signature");
    expect(signer.check(key, exp, null, now)).toBe("bad_signature");
    expect(signer.check(key, null, sig, now)).toBe("bad_signature");
    expect(createLinkSigner(Buffer.from("another-secret-that-is-also-long-enough-0002")).check(key, exp, sig, now)).toBe("bad_signature");
    expect(() => createLinkSigner(Buffer.from("short"))).toThrow(/at least 32 bytes/);
  });
});

describe("the link secret", () => {
  it("is MEDIA_LINK_SECRET when set; otherwise generated once, kept private under DATA_DIR and reused", async () => {
    const configured = loadConfig({ DATA_DIR: path.join(dir, "a"), MEDIA_LINK_SECRET: "x".repeat(40) });
    expect((await loadLinkSecret(configured)).toString()).toBe("x".repeat(40));
    expect(() => loadConfig({ MEDIA_LINK_SECRET: "too-short" })).toThrow(/MEDIA_LINK_SECRET/);

    const config = loadConfig({ DATA_DIR: path.join(dir, "b") });
    const [first, second] = await Promise.all([loadLinkSecret(config), loadLinkSecret(config)]);
    expect(first.byteLength).toBe(32);
    expect(second.equals(first)).toBe(true);
    expect((await loadLinkSecret(config)).equals(first)).toBe(true); // a restart reads the same key
    expect(statSync(path.join(config.dataDir, "media-link-secret")).mode & 0o777).toBe(0o600);
  });
});

describe("the public listener's /blobs route", () => {
  let blobs: ReturnType<typeof createLocalBlobs>;
  let base: string;
  let stop: () => Promise<void>;
  let key: string;
  const video = new Uint8Array(Buffer.from("\0\0\0\x18ftypisom fake but bytes are bytes"));

  beforeAll(async () => {
    blobs = createLocalBlobs(path.join(dir, "blobs"));
    key = await blobs.put({ data: video, contentType: "video/mp4" });
    const server = createPublicServer({
      runner: {} as Runner, blobs, logger: pino({ level: "silent" }), port: 0, host: "127.0.0.1", linkSecret: SECRET,
    });
    base = `http://127.0.0.1:${await server.start()}`;
    stop = server.stop;
  });
  afterAll(() => stop());

  it("serves a signed link, and refuses a bare key, a tampered link and an expired one with a sentence", async () => {
    const signer = createLinkSigner(SECRET);
    const good = signer.sign(key, 3600);
    const ok = await fetch(`${base}${good.path}`);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(Buffer.from(video))).toBe(true);
    expect(ok.headers.get("content-type")).toBe("video/mp4");

    // The old route served any key without a signature (issue 8): a key is not a credential.
    const bare = await fetch(`${base}/blobs/${key}`);
    expect(bare.status).toBe(403);
    expect(await bare.text()).toContain("This link is not valid");

    const tampered = good.path.replace(/exp=(\d+)/, (_m, e) => `exp=${Number(e) + 86_400}`);
    expect((await fetch(`${base}${tampered}`)).status).toBe(403);

    const expired = signer.sign(key, 3600, Date.now() - 2 * 3600_000);
    const gone = await fetch(`${base}${expired.path}`);
    expect(gone.status).toBe(410);
    expect(await gone.text()).toContain("This link has expired. Run /show");
  });

  it("serves nothing at all without a secret", async () => {
    const server = createPublicServer({ runner: {} as Runner, blobs, logger: pino({ level: "silent" }), port: 0, host: "127.0.0.1" });
    const port = await server.start();
    try {
      const link = createLinkSigner(SECRET).sign(key, 3600);
      expect((await fetch(`http://127.0.0.1:${port}${link.path}`)).status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});

describe("which link a chat gets", () => {
  it("prefers a signed PUBLIC_URL link lasting days over the storage provider's one-hour URL", async () => {
    // Supabase storage configured (its own signed URLs last SUPABASE_SIGNED_URL_TTL_S = 1 h, for fal).
    const config = loadConfig({
      DATA_DIR: path.join(dir, "c"), SUPABASE_URL: supabase.url, SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY, MEDIA_LINK_SECRET: SECRET.toString(),
    });
    const now = Date.UTC(2026, 10, 28, 9);
    const link = await createMediaLinks({ config, publicUrl: "https://reel.example.test/", now: () => now }).link(`${"c".repeat(64)}.mp4`);
    expect(link!.url).toMatch(new RegExp(`^https://reel\\.example\\.test/blobs/${"c".repeat(64)}\\.mp4\\?exp=\\d+&sig=[\\w-]+$`));
    expect(link!.expiresAt.getTime()).toBe(now + 7 * DAY);
    const u = new URL(link!.url);
    expect(createLinkSigner(SECRET).check(`${"c".repeat(64)}.mp4`, u.searchParams.get("exp"), u.searchParams.get("sig"), now + 6 * DAY)).toBe("ok");
  });

  it("without PUBLIC_URL, a Supabase signed URL that still works after a day and stops after the stated expiry", async () => {
    const config = loadConfig({ DATA_DIR: path.join(dir, "d"), SUPABASE_URL: supabase.url, SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY });
    const store = createSupabaseBlobs({ url: supabase.url, serviceRoleKey: SERVICE_KEY });
    const key = await store.put({ data: new Uint8Array(Buffer.from("video bytes")), contentType: "video/mp4" });
    const link = (await createMediaLinks({ config }).link(key))!;
    expect(link.expiresAt.getTime() - Date.now()).toBeGreaterThan(7 * DAY - 60_000);

    // The stand-in checks expiry against Date.now(); only Date is faked, so sockets still run.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + DAY);
    expect((await fetch(link.url)).status).toBe(200);
    vi.setSystemTime(link.expiresAt.getTime() + 60_000);
    expect((await fetch(link.url)).status).not.toBe(200);
  });

  it("without PUBLIC_URL or Supabase there is no link (the message then says where the video is)", async () => {
    expect(await createMediaLinks({ config: loadConfig({ DATA_DIR: path.join(dir, "e") }) }).link(`${"d".repeat(64)}.mp4`)).toBeNull();
  });
});
