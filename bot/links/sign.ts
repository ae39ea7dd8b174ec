import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Signed media links: `/blobs/<key>?exp=<unix s>&sig=<HMAC-SHA256, base64url>`. The signature
 * covers the key and the expiry together, so neither can be changed (a later `exp` on a leaked
 * link, or another key under a valid signature) without the secret. A content-hash key alone is
 * unguessable but never expires and cannot be revoked; the signature adds both (rotating the
 * secret revokes every link at once).
 */

export interface SignedLink {
  /** Path and query, to append to PUBLIC_URL: `/blobs/<key>?exp=…&sig=…`. */
  path: string;
  /** When the link stops working. */
  expiresAt: Date;
}

export type LinkCheck = "ok" | "expired" | "bad_signature";

const MIN_SECRET_BYTES = 32;

function mac(secret: Buffer, key: string, exp: number): Buffer {
  // A fixed prefix keeps these signatures from ever validating anything else signed with the same secret.
  return createHmac("sha256", secret).update(`reelbot-blob-link:v1:${key}:${exp}`).digest();
}

export function createLinkSigner(secret: Buffer) {
  if (secret.byteLength < MIN_SECRET_BYTES) throw new Error(`the media link secret must be at least ${MIN_SECRET_BYTES} bytes`);
  return {
    sign(key: string, ttlS: number, now: number = Date.now()): SignedLink {
      const exp = Math.floor(now / 1000) + Math.round(ttlS);
      const sig = mac(secret, key, exp).toString("base64url");
      return { path: `/blobs/${key}?exp=${exp}&sig=${sig}`, expiresAt: new Date(exp * 1000) };
    },
    /** Checks the signature first (constant time), so an attacker learns nothing from "expired". */
    check(key: string, expParam: string | null, sigParam: string | null, now: number = Date.now()): LinkCheck {
      if (!expParam || !sigParam || !/^\d{1,12}$/.test(expParam)) return "bad_signature";
      const exp = Number(expParam);
      const given = Buffer.from(sigParam, "base64url");
      const expected = mac(secret, key, exp);
      if (given.byteLength !== expected.byteLength || !timingSafeEqual(given, expected)) return "bad_signature";
      return exp * 1000 <= now ? "expired" : "ok";
    },
  };
}

export type LinkSigner = ReturnType<typeof createLinkSigner>;
