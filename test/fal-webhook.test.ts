/**
 * fal webhook verification and the HTTP handler, with an Ed25519 key pair made here and a
 * loopback JWKS server: valid, tampered, stale, replayed and rotated-key deliveries, and the
 * handler end to end over a real http server on 127.0.0.1.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  FalJwksUnavailableError,
  createFalWebhookHandler,
  createFalWebhookVerifier,
  type FalWebhookOutcome,
  type VerifiedFalWebhook,
} from "../tools/fal-webhook.js";

type KeyPair = { publicKey: KeyObject; privateKey: KeyObject };
const keyA: KeyPair = generateKeyPairSync("ed25519");
const keyB: KeyPair = generateKeyPairSync("ed25519");
const keyC: KeyPair = generateKeyPairSync("ed25519");

// ---------------------------------------------------------------------------------------------
// Loopback JWKS server

let jwksServer: http.Server;
let jwksUrl: string;
let servedKeys: KeyPair[] = [keyA];
let jwksFetches = 0;
let jwksDown = false;

beforeAll(async () => {
  jwksServer = http.createServer((req, res) => {
    jwksFetches++;
    if (jwksDown || req.url !== "/.well-known/jwks.json") {
      res.writeHead(jwksDown ? 503 : 404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: servedKeys.map((k) => ({ ...k.publicKey.export({ format: "jwk" }), use: "sig" })) }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(async () => {
  jwksServer.closeAllConnections();
  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
});

beforeEach(() => {
  servedKeys = [keyA];
  jwksFetches = 0;
  jwksDown = false;
});

// ---------------------------------------------------------------------------------------------
// Deliveries as fal signs them

let clockMs = Date.UTC(2026, 5, 1, 12, 0, 0);
const now = () => clockMs;

function okBody(requestId: string) {
  return Buffer.from(JSON.stringify({
    request_id: requestId,
    gateway_request_id: `gw-${requestId}`,
    status: "OK",
    // seed above 2^53 on purpose: fal sends such seeds.
    payload: { images: [{ url: "https://v3.fal.media/files/x.png", content_type: "image/png", width: 1024, height: 1024 }], seed: 196619188014358660 },
  }));
}

function signedHeaders(body: Buffer, opts: { requestId: string; key?: KeyPair; timestampS?: number; userId?: string }) {
  const timestamp = String(opts.timestampS ?? Math.floor(clockMs / 1000));
  const userId = opts.userId ?? "user-123";
  const message = Buffer.from(`${opts.requestId}\n${userId}\n${timestamp}\n${createHash("sha256").update(body).digest("hex")}`);
  const signature = sign(null, message, (opts.key ?? keyA).privateKey).toString("hex");
  return {
    "x-fal-webhook-request-id": opts.requestId,
    "x-fal-webhook-user-id": userId,
    "x-fal-webhook-timestamp": timestamp,
    "x-fal-webhook-signature": signature,
  };
}

function verifier(over: Partial<Parameters<typeof createFalWebhookVerifier>[0]> = {}) {
  return createFalWebhookVerifier({ jwksUrl, now, ...over });
}

describe("createFalWebhookVerifier", () => {
  it("accepts a valid delivery and hands back the payload as sent", async () => {
    const body = okBody("req-1");
    const v = await verifier().verify(body, signedHeaders(body, { requestId: "req-1" }));
    expect(v.ok).toBe(true);
    const ok = v as VerifiedFalWebhook;
    expect(ok.requestId).toBe("req-1");
    expect(ok.gatewayRequestId).toBe("gw-req-1");
    expect(ok.status).toBe("OK");
    expect((ok.payload as { images: Array<{ url: string }> }).images[0].url).toBe("https://v3.fal.media/files/x.png");
    expect(jwksFetches).toBe(1);
  });

  it("passes an ERROR delivery through with fal's error text", async () => {
    const body = Buffer.from(JSON.stringify({
      request_id: "req-err", gateway_request_id: "gw", status: "ERROR", error: "Invalid status code: 422",
      payload: { detail: [{ loc: ["body", "prompt"], msg: "field required", type: "value_error.missing" }] },
    }));
    const v = await verifier().verify(body, signedHeaders(body, { requestId: "req-err" }));
    expect(v).toMatchObject({ ok: true, status: "ERROR", error: "Invalid status code: 422" });
  });

  it("rejects a tampered body as bad_signature", async () => {
    const body = okBody("req-2");
    const headers = signedHeaders(body, { requestId: "req-2" });
    const tampered = Buffer.from(body.toString("utf8").replace("x.png", "evil.png"));
    expect(await verifier().verify(tampered, headers)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("rejects a signature made for another request id or user", async () => {
    const body = okBody("req-3");
    const headers = { ...signedHeaders(body, { requestId: "req-3" }), "x-fal-webhook-user-id": "someone-else" };
    expect(await verifier().verify(body, headers)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("rejects timestamps more than 300 s off in either direction as stale, without fetching keys", async () => {
    const body = okBody("req-4");
    const t = Math.floor(clockMs / 1000);
    const v = verifier();
    expect(await v.verify(body, signedHeaders(body, { requestId: "req-4", timestampS: t - 301 }))).toEqual({ ok: false, reason: "stale" });
    expect(await v.verify(body, signedHeaders(body, { requestId: "req-4", timestampS: t + 301 }))).toEqual({ ok: false, reason: "stale" });
    expect((await v.verify(body, signedHeaders(body, { requestId: "req-4", timestampS: t - 299 }))).ok).toBe(true);
    expect(jwksFetches).toBe(1);
  });

  it("rejects missing or malformed headers", async () => {
    const body = okBody("req-5");
    const headers = signedHeaders(body, { requestId: "req-5" });
    const v = verifier();
    const { "x-fal-webhook-signature": _sig, ...noSignature } = headers;
    expect(await v.verify(body, noSignature)).toEqual({ ok: false, reason: "missing_headers" });
    expect(await v.verify(body, { ...headers, "x-fal-webhook-timestamp": "soon" })).toEqual({ ok: false, reason: "missing_headers" });
    expect(await v.verify(body, { ...headers, "x-fal-webhook-signature": "abcd" })).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("rejects an exact replay within the skew window, and accepts it again once released", async () => {
    const body = okBody("req-6");
    const headers = signedHeaders(body, { requestId: "req-6" });
    const v = verifier();
    const first = await v.verify(body, headers);
    expect(first.ok).toBe(true);
    expect(await v.verify(body, headers)).toEqual({ ok: false, reason: "replay" });
    v.release((first as VerifiedFalWebhook).deliveryId);
    expect((await v.verify(body, headers)).ok).toBe(true);
    // The same request re-signed at another second is a new delivery (fal's retries); dedupe on
    // the request id is the caller's job.
    clockMs += 1000;
    expect((await v.verify(body, signedHeaders(body, { requestId: "req-6" }))).ok).toBe(true);
  });

  it("rejects a validly signed body that is not a fal result", async () => {
    const v = verifier();
    const notJson = Buffer.from("not json");
    expect(await v.verify(notJson, signedHeaders(notJson, { requestId: "req-7" }))).toEqual({ ok: false, reason: "bad_body" });
    const otherId = okBody("req-other");
    expect(await v.verify(otherId, signedHeaders(otherId, { requestId: "req-7" }))).toEqual({ ok: false, reason: "bad_body" });
  });

  it("picks up a rotated key with one refetch, and rate-limits refetches on misses", async () => {
    const v = verifier();
    const first = okBody("rot-1");
    expect((await v.verify(first, signedHeaders(first, { requestId: "rot-1" }))).ok).toBe(true);
    expect(jwksFetches).toBe(1);

    // fal rotates to key B (A retired) a while after our cache was filled.
    servedKeys = [keyB];
    clockMs += 61_000;
    const second = okBody("rot-2");
    expect((await v.verify(second, signedHeaders(second, { requestId: "rot-2", key: keyB }))).ok).toBe(true);
    expect(jwksFetches).toBe(2);

    // Forged deliveries right after cannot make us hammer the JWKS endpoint.
    for (let i = 0; i < 5; i++) {
      const forged = okBody(`forged-${i}`);
      expect(await v.verify(forged, signedHeaders(forged, { requestId: `forged-${i}`, key: keyC }))).toEqual({ ok: false, reason: "bad_signature" });
    }
    expect(jwksFetches).toBe(2);
    // Key B is cached now: no fetch for a valid delivery.
    const third = okBody("rot-3");
    expect((await v.verify(third, signedHeaders(third, { requestId: "rot-3", key: keyB }))).ok).toBe(true);
    expect(jwksFetches).toBe(2);
  });

  it("refetches after the cache TTL, and keeps an expired key set while the endpoint is down", async () => {
    const v = verifier({ cacheTtlMs: 60_000 });
    const a = okBody("ttl-1");
    expect((await v.verify(a, signedHeaders(a, { requestId: "ttl-1" }))).ok).toBe(true);
    clockMs += 61_000;
    jwksDown = true;
    const b = okBody("ttl-2");
    expect((await v.verify(b, signedHeaders(b, { requestId: "ttl-2" }))).ok).toBe(true);
    expect(jwksFetches).toBe(2);
  });

  it("throws FalJwksUnavailableError when no key set was ever fetched", async () => {
    jwksDown = true;
    const body = okBody("down-1");
    await expect(verifier().verify(body, signedHeaders(body, { requestId: "down-1" }))).rejects.toBeInstanceOf(FalJwksUnavailableError);
  });

  it("fetches the key set once for a burst of deliveries", async () => {
    const v = verifier();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => {
      const body = okBody(`burst-${i}`);
      return v.verify(body, signedHeaders(body, { requestId: `burst-${i}` }));
    }));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(jwksFetches).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// The HTTP handler over a real server

describe("createFalWebhookHandler over http on 127.0.0.1", () => {
  let server: http.Server;
  let url: string;
  let calls: Array<{ requestId: string; status: string }>;
  let outcome: () => Promise<FalWebhookOutcome>;
  let logs: string[];

  beforeAll(async () => {
    const log = (level: string) => (obj: object, msg?: string) => { logs.push(`${level} ${msg} ${JSON.stringify(obj)}`); };
    const handler = createFalWebhookHandler({
      verifier: createFalWebhookVerifier({ jwksUrl, now }),
      onResult: async (requestId, result) => {
        calls.push({ requestId, status: result.status });
        return outcome();
      },
      logger: { info: log("info"), warn: log("warn"), error: log("error") },
    });
    server = http.createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/fal`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    calls = [];
    logs = [];
    outcome = async () => "accepted";
  });

  const post = (body: Buffer, headers: Record<string, string>) =>
    fetch(url, { method: "POST", body: new Uint8Array(body), headers: { "content-type": "application/json", ...headers } });

  it("calls onResult exactly once for a delivery fal retries 3 times, and answers 200 each time", async () => {
    const body = okBody("e2e-1");
    // fal re-signs every attempt; the first two land together, the third a few seconds later.
    const first = signedHeaders(body, { requestId: "e2e-1" });
    clockMs += 1000;
    const second = signedHeaders(body, { requestId: "e2e-1" });
    let release: (() => void) | undefined;
    outcome = () => new Promise((resolve) => { release = () => resolve("accepted"); });
    const inFlight = [post(body, first), post(body, second)];
    // Hold the first delivery inside onResult until it has arrived (a loaded machine may take a while),
    // and give the second one time to land while it is held.
    while (!release) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    release();
    const answers = await Promise.all(inFlight);
    clockMs += 4000;
    const third = await post(body, signedHeaders(body, { requestId: "e2e-1" }));
    expect([...answers, third].map((r) => r.status)).toEqual([200, 200, 200]);
    expect(calls).toEqual([{ requestId: "e2e-1", status: "OK" }]);
  });

  it("answers 200 for duplicate and unknown request ids so fal stops retrying", async () => {
    outcome = async () => "duplicate";
    const a = okBody("e2e-dup");
    expect((await post(a, signedHeaders(a, { requestId: "e2e-dup" }))).status).toBe(200);
    outcome = async () => "unknown";
    const b = okBody("e2e-unknown");
    expect((await post(b, signedHeaders(b, { requestId: "e2e-unknown" }))).status).toBe(200);
    expect(calls.map((c) => c.requestId)).toEqual(["e2e-dup", "e2e-unknown"]);
  });

  it("answers 401 to tampered, stale, unsigned and replayed deliveries without calling onResult", async () => {
    const body = okBody("e2e-2");
    const headers = signedHeaders(body, { requestId: "e2e-2" });
    expect((await post(Buffer.from(body.toString().replace("OK", "ERROR")), headers)).status).toBe(401);
    const stale = signedHeaders(body, { requestId: "e2e-2", timestampS: Math.floor(clockMs / 1000) - 600 });
    expect((await post(body, stale)).status).toBe(401);
    expect((await post(body, {})).status).toBe(401);
    expect(calls).toEqual([]);

    expect((await post(body, headers)).status).toBe(200);
    expect((await post(body, headers)).status).toBe(401); // the exact same bytes and signature
    expect(calls).toHaveLength(1);
    // The log says why; it never carries a signature.
    expect(logs.some((l) => l.includes('"reason":"replay"'))).toBe(true);
    expect(logs.join("\n")).not.toContain(headers["x-fal-webhook-signature"]);
  });

  it("answers 500 when onResult fails, and takes fal's identical retry afterwards", async () => {
    let attempts = 0;
    outcome = async () => {
      attempts++;
      if (attempts === 1) throw new Error("database unavailable");
      return "accepted";
    };
    const body = okBody("e2e-3");
    const headers = signedHeaders(body, { requestId: "e2e-3" });
    expect((await post(body, headers)).status).toBe(500);
    expect((await post(body, headers)).status).toBe(200);
    expect(calls).toHaveLength(2);
  });

  it("refuses bodies over 1 MB (413) and anything but POST (405)", async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20);
    expect((await post(big, signedHeaders(big, { requestId: "e2e-big" }))).status).toBe(413);
    expect((await fetch(url)).status).toBe(405);
    expect(calls).toEqual([]);
  });

  it("answers 200 to an authentic but malformed body (a resend could not fix it)", async () => {
    const body = Buffer.from(JSON.stringify({ request_id: "e2e-4", status: "MAYBE" }));
    expect((await post(body, signedHeaders(body, { requestId: "e2e-4" }))).status).toBe(200);
    expect(calls).toEqual([]);
  });
});
