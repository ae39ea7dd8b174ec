import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Db } from "./db.js";

/** A live instance sends a heartbeat this often; one silent for 3 beats is gone. */
const HEARTBEAT_MS = 10_000;
const GONE_AFTER_S = 30;

export interface InstanceInfo {
  role: string;
  /** Where this instance keeps media: "local:<host>:<dir>" or "supabase:<url>/<bucket>". */
  media: string;
}

/** Refused at start-up: another live instance could not read this one's media (or the other way round). */
export class InstanceConflictError extends Error {
  override readonly name = "InstanceConflictError";
}

/**
 * The instances sharing one database, each with a heartbeat. Several processes may share local
 * media only when they see the same directory (one machine); otherwise every instance must use
 * shared storage, or previews and clips made by one are missing on the other.
 */
export async function registerInstance(db: Db, info: InstanceInfo): Promise<{ id: string; stop(): Promise<void> }> {
  const others = await db.query<{ role: string; host: string; media: string }>(
    `SELECT role, host, media FROM instances WHERE heartbeat_at > NOW() - make_interval(secs => $1)`,
    [GONE_AFTER_S],
  );
  const clash = others.rows.find((o) => o.media !== info.media && (isLocal(o.media) || isLocal(info.media)));
  if (clash) {
    throw new InstanceConflictError(
      `Another reelbot instance (${clash.role} on ${clash.host}) uses this database with its media in ${where(clash.media)}, ` +
        `but this one keeps media in ${where(info.media)}: neither could show the other's previews and clips. ` +
        `Give every instance the same shared storage (SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY); see README, "Running more than one instance".`,
    );
  }
  const id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  await db.query(
    "INSERT INTO instances (id, role, host, pid, media) VALUES ($1, $2, $3, $4, $5)",
    [id, info.role, hostname(), process.pid, info.media],
  );
  // Old rows of instances that are long gone are cleared by whoever starts next.
  await db.query("DELETE FROM instances WHERE heartbeat_at < NOW() - INTERVAL '1 day'");
  const timer = setInterval(() => {
    db.query("UPDATE instances SET heartbeat_at = NOW() WHERE id = $1", [id]).catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    id,
    async stop() {
      clearInterval(timer);
      await db.query("DELETE FROM instances WHERE id = $1", [id]).catch(() => undefined);
    },
  };
}

function isLocal(media: string): boolean {
  return media.startsWith("local:");
}

function where(media: string): string {
  if (!isLocal(media)) return `shared storage (${media.slice(media.indexOf(":") + 1)})`;
  const [, host, ...dir] = media.split(":");
  return `${dir.join(":")} on ${host}`;
}
