import { createHash } from "node:crypto";

/**
 * A UUID derived from a key (RFC 9562 version 8 layout). Rows created inside a graph step use it,
 * so a step that replays after a resume or a restart writes the same row again (ON CONFLICT DO
 * NOTHING) instead of a second one.
 */
export function stableUuid(key: string): string {
  const h = createHash("sha256").update(key).digest("hex");
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
