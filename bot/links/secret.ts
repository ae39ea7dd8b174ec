import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { AppConfig } from "../config.js";

const FILE = "media-link-secret";

/**
 * The key that signs media links: MEDIA_LINK_SECRET when set, else one generated on first use
 * and kept in DATA_DIR/media-link-secret (mode 0600).
 *
 * Why generating is acceptable: links must keep working across restarts for as long as they say
 * (days), so the key has to be as durable as the media it signs for, and DATA_DIR already holds
 * that media and the database on a single instance. It is not acceptable across instances (each
 * would generate its own and refuse the others' links), so several instances must share
 * MEDIA_LINK_SECRET; .env.example says so.
 */
export async function loadLinkSecret(config: AppConfig): Promise<Buffer> {
  const configured = config.env.MEDIA_LINK_SECRET;
  if (configured) return Buffer.from(configured, "utf8");
  const file = path.join(config.dataDir, FILE);
  try {
    return Buffer.from((await readFile(file, "utf8")).trim(), "base64url");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(config.dataDir, { recursive: true });
  const secret = randomBytes(32);
  try {
    // "wx": when two processes start together, the first file wins and the second reads it.
    await writeFile(file, secret.toString("base64url"), { mode: 0o600, flag: "wx" });
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return Buffer.from((await readFile(file, "utf8")).trim(), "base64url");
  }
}
