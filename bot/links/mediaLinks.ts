import type { AppConfig } from "../config.js";
import { createSupabaseBlobs } from "../../store/supabase-blobs.js";
import { createLinkSigner, type LinkSigner } from "./sign.js";
import { loadLinkSecret } from "./secret.js";

/** A download link for a chat message, and when it stops working (said on the message). */
export interface MediaLink {
  url: string;
  expiresAt: Date;
}

export interface MediaLinks {
  /** A link to a stored blob for people in a chat; null when this deployment has no way to serve one. */
  link(key: string): Promise<MediaLink | null>;
}

export interface MediaLinkOptions {
  config: AppConfig;
  /** PUBLIC_URL: the public listener serves signed `/blobs/<key>` links there. */
  publicUrl?: string;
  /** Tests: a fixed clock. */
  now?: () => number;
}

/**
 * How a video too big to upload reaches chat. A person may come back to a thread days later, so
 * links last MEDIA_LINK_TTL_S (7 days by default), never the hour a provider needs:
 * 1. PUBLIC_URL set: our own listener, with an HMAC-signed, expiring link (preferred: it is
 *    ours to revoke by rotating the secret, and it does not depend on the storage provider);
 * 2. else Supabase Storage: a signed URL from Supabase with the same lifetime;
 * 3. else none: the message says where the video is kept instead.
 */
export function createMediaLinks(options: MediaLinkOptions): MediaLinks {
  const { env } = options.config;
  const ttlS = env.MEDIA_LINK_TTL_S;
  const now = options.now ?? Date.now;
  const base = options.publicUrl?.replace(/\/+$/, "");
  let signer: Promise<LinkSigner> | undefined;
  const supabase = env.SUPABASE_URL && env.SUPABASE_SERVICE_ROLE_KEY
    ? createSupabaseBlobs({ url: env.SUPABASE_URL, serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY, bucket: env.SUPABASE_BUCKET, signedUrlTtlS: ttlS })
    : null;
  return {
    async link(key) {
      if (base) {
        signer ??= loadLinkSecret(options.config).then(createLinkSigner);
        const signed = (await signer).sign(key, ttlS, now());
        return { url: `${base}${signed.path}`, expiresAt: signed.expiresAt };
      }
      if (supabase) {
        // Supabase counts the lifetime from its own clock; the stated expiry is a few ms early at worst.
        const expiresAt = new Date(now() + ttlS * 1000);
        return { url: await supabase.url(key), expiresAt };
      }
      return null;
    },
  };
}
