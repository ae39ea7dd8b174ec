/**
 * Loopback stand-in for the Supabase Storage API (`/storage/v1`), in the wire format that
 * @supabase/storage-js 2.109 sends and reads (src/packages/StorageFileApi.ts, StorageBucketApi.ts):
 *
 *   POST /object/<bucket>/<path>           raw body, x-upsert → { Key, Id }
 *   GET  /object/<bucket>/<path>           download (also /object/authenticated/…)
 *   HEAD /object/<bucket>/<path>           exists
 *   GET  /object/info/<bucket>/<path>      info → snake_case file object
 *   POST /object/sign/<bucket>/<path>      { expiresIn } → { signedURL: "/object/sign/…?token=…" }
 *   GET  /object/sign/<bucket>/<path>?token=…   the signed download, no credentials
 *   GET  /bucket/<id>, POST /bucket        bucket get / create
 *
 * Errors are rendered as the storage server does ({ statusCode: "409", code, error, message }).
 * In "legacy" mode (what hosted Supabase has long answered) the HTTP status is 400 for every
 * error but 500, with the real code only in the body; in "http" mode the status is the real one.
 * Records every request; credentials only as booleans. On a credential mismatch it echoes the
 * presented token in the message, to prove the adapter redacts it.
 */
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface StorageRequest {
  method: string;
  /** Path below /storage/v1. */
  path: string;
  /** `Authorization: Bearer <key>` matched. */
  bearerOk: boolean;
  /** `apikey: <key>` matched. */
  apikeyOk: boolean;
  upsert?: string;
  contentType?: string;
}

export interface StoredObject {
  data: Buffer;
  contentType: string;
  createdAt: string;
}

export interface SupabaseStorageStandin {
  /** Pass as the Supabase project URL. */
  readonly url: string;
  readonly requests: StorageRequest[];
  /** "<bucket>/<path>" → object. */
  readonly objects: Map<string, StoredObject>;
  readonly buckets: Map<string, { public: boolean; createdAt: string }>;
  /** How errors map to HTTP statuses (see above). */
  setStatusMode(mode: "legacy" | "http"): void;
  /** The next request (signed downloads excluded) fails with this status; the message echoes its Authorization header. */
  failNextEchoingAuth(status: number): void;
  reset(): void;
  close(): Promise<void>;
}

interface StorageErrorSpec {
  status: number;
  code: string;
  error?: string;
  message: string;
}

const ERR = {
  noSuchKey: { status: 404, code: "NoSuchKey", error: "not_found", message: "Object not found" },
  noSuchBucket: { status: 404, code: "NoSuchBucket", error: "Bucket not found", message: "Bucket not found" },
  keyExists: { status: 409, code: "KeyAlreadyExists", error: "Duplicate", message: "The resource already exists" },
  bucketExists: { status: 409, code: "BucketAlreadyExists", error: "Duplicate", message: "The resource already exists" },
  badSignature: { status: 400, code: "InvalidSignature", message: "Invalid signature" },
  expired: { status: 400, code: "ExpiredToken", message: "The provided token has expired." },
} satisfies Record<string, StorageErrorSpec>;

export async function createSupabaseStorageStandin(options: { serviceRoleKey: string; buckets?: string[] }): Promise<SupabaseStorageStandin> {
  const { serviceRoleKey } = options;
  const requests: StorageRequest[] = [];
  const objects = new Map<string, StoredObject>();
  const buckets = new Map<string, { public: boolean; createdAt: string }>();
  const tokens = new Map<string, { object: string; expiresAt: number }>();
  let statusMode: "legacy" | "http" = "legacy";
  let failNext: number | undefined;

  const initialBuckets = () => {
    for (const b of options.buckets ?? []) buckets.set(b, { public: false, createdAt: new Date().toISOString() });
  };
  initialBuckets();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const u = new URL(req.url ?? "/", "http://standin");
      const method = req.method ?? "GET";
      const json = (status: number, payload: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(method === "HEAD" ? undefined : JSON.stringify(payload));
      };
      const fail = (e: StorageErrorSpec, message = e.message) => {
        const status = statusMode === "http" || e.status >= 500 ? e.status : 400;
        json(status, { statusCode: String(e.status), code: e.code, error: e.error ?? e.code, message });
      };
      const bytes = (o: StoredObject) => {
        res.writeHead(200, { "content-type": o.contentType, "content-length": String(o.data.length) });
        res.end(method === "HEAD" ? undefined : o.data);
      };

      if (!u.pathname.startsWith("/storage/v1/")) return json(404, { message: "no route" });
      const path = decodeURIComponent(u.pathname.slice("/storage/v1".length));
      const auth = String(req.headers.authorization ?? "");
      const record: StorageRequest = {
        method,
        path,
        bearerOk: auth === `Bearer ${serviceRoleKey}`,
        apikeyOk: req.headers.apikey === serviceRoleKey,
        ...(typeof req.headers["x-upsert"] === "string" ? { upsert: req.headers["x-upsert"] } : {}),
        ...(typeof req.headers["content-type"] === "string" ? { contentType: req.headers["content-type"] } : {}),
      };
      requests.push(record);

      // Signed downloads carry their own token and no credentials.
      let m = /^\/object\/sign\/([^/]+)\/(.+)$/.exec(path);
      if (method === "GET" && m) {
        const grant = tokens.get(u.searchParams.get("token") ?? "");
        if (!grant || grant.object !== `${m[1]}/${m[2]}`) return fail(ERR.badSignature);
        if (grant.expiresAt < Date.now()) return fail(ERR.expired);
        const o = objects.get(grant.object);
        return o ? bytes(o) : fail(ERR.noSuchKey);
      }

      if (failNext !== undefined) {
        const status = failNext;
        failNext = undefined;
        return json(status, { statusCode: String(status), code: "InternalError", error: "internal", message: `upstream failed for request with authorization "${auth}"` });
      }
      if (!record.bearerOk || !record.apikeyOk) {
        // The real server says "invalid JWT"; echoing the token is the worst case for our errors.
        const presented = auth.replace(/^Bearer /, "");
        return fail({ status: 403, code: "InvalidJWT", error: "Unauthorized", message: `invalid JWT: ${presented} could not be verified` });
      }

      if (method === "GET" && (m = /^\/bucket\/([^/]+)$/.exec(path))) {
        const b = buckets.get(m[1]);
        if (!b) return fail(ERR.noSuchBucket);
        return json(200, { id: m[1], name: m[1], owner: "", public: b.public, file_size_limit: null, allowed_mime_types: null, created_at: b.createdAt, updated_at: b.createdAt, type: "STANDARD" });
      }
      if (method === "POST" && path === "/bucket") {
        const spec = JSON.parse(body.toString("utf8") || "{}") as { id?: string; public?: boolean };
        if (!spec.id) return fail({ status: 400, code: "InvalidRequest", message: "body must have required property 'name'" });
        if (buckets.has(spec.id)) return fail(ERR.bucketExists);
        buckets.set(spec.id, { public: spec.public === true, createdAt: new Date().toISOString() });
        return json(200, { name: spec.id });
      }
      if (method === "POST" && (m = /^\/object\/sign\/([^/]+)\/(.+)$/.exec(path))) {
        const object = `${m[1]}/${m[2]}`;
        if (!objects.has(object)) return fail(ERR.noSuchKey);
        const { expiresIn } = JSON.parse(body.toString("utf8") || "{}") as { expiresIn?: number };
        if (typeof expiresIn !== "number" || expiresIn <= 0) return fail({ status: 400, code: "InvalidRequest", message: "expiresIn must be a positive number" });
        const token = randomBytes(24).toString("base64url");
        tokens.set(token, { object, expiresAt: Date.now() + expiresIn * 1000 });
        return json(200, { signedURL: `/object/sign/${object}?token=${token}` });
      }
      if (method === "GET" && (m = /^\/object\/info\/([^/]+)\/(.+)$/.exec(path))) {
        const o = objects.get(`${m[1]}/${m[2]}`);
        if (!o) return fail(ERR.noSuchKey);
        return json(200, {
          id: randomUUID(), version: "1", name: m[2], bucket_id: m[1], size: o.data.length, content_type: o.contentType,
          cache_control: "max-age=31536000", etag: '"etag"', metadata: {}, last_modified: o.createdAt, created_at: o.createdAt, updated_at: o.createdAt,
        });
      }
      if ((m = /^\/object\/(?:authenticated\/)?([^/]+)\/(.+)$/.exec(path))) {
        const [bucket, name] = [m[1], m[2]];
        const object = `${bucket}/${name}`;
        if (method === "GET" || method === "HEAD") {
          const o = objects.get(object);
          return o ? bytes(o) : fail(ERR.noSuchKey);
        }
        if (method === "POST" || method === "PUT") {
          if (!buckets.has(bucket)) return fail(ERR.noSuchBucket);
          const contentType = String(req.headers["content-type"] ?? "");
          // storage-js sends Blob bodies as multipart; our adapter sends raw bytes only.
          if (contentType.startsWith("multipart/")) return fail({ status: 400, code: "InvalidRequest", message: "multipart not supported by the stand-in" });
          const upsert = method === "PUT" || req.headers["x-upsert"] === "true";
          if (objects.has(object) && !upsert) return fail(ERR.keyExists);
          objects.set(object, { data: body, contentType: contentType || "application/octet-stream", createdAt: new Date().toISOString() });
          return json(200, { Key: object, Id: randomUUID() });
        }
      }
      return json(404, { statusCode: "404", error: "Not Found", message: `Route ${method}:${path} not found` });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    objects,
    buckets,
    setStatusMode: (mode) => { statusMode = mode; },
    failNextEchoingAuth: (status) => { failNext = status; },
    reset() {
      requests.length = 0;
      objects.clear();
      buckets.clear();
      tokens.clear();
      statusMode = "legacy";
      failNext = undefined;
      initialBuckets();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
