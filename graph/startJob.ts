import type { Db } from "../store/db.js";
import type { JobOrigin, Jobs } from "../store/jobs.js";
import type { AuditLog } from "../store/audit.js";
import type { Users } from "../store/users.js";
import type { RateLimiter } from "../store/limits.js";
import type { Tools } from "../tools/ports.js";
import { isUserFacing } from "./errors.js";
import { validateImageUpload } from "./intake.js";
import type { Actor } from "./actor.js";

export interface StartRequest {
  actor: Actor;
  file: { bytes: Uint8Array; filename: string; declaredType?: string };
  /** Where the job lives in chat (channel, thread…), kept with the job for surfaces. */
  origin?: JobOrigin;
}

interface IntakeDeps {
  db: Db;
  tools: Tools;
  store: { jobs: Jobs; audit: AuditLog; users: Users; limits: RateLimiter };
  onCreated: (jobId: string) => void;
}

/**
 * Turns an upload into a job: limits, validation by content, the blob, then the job row and its
 * audit row in one transaction, so a bad file leaves nothing behind but the audit of its refusal.
 */
export function createJobIntake({ db, tools, store, onCreated }: IntakeDeps) {
  async function start(request: StartRequest): Promise<{ jobId: string }> {
    const user = await store.users.ensure(request.actor);
    try {
      await store.limits.enforce(user.id, "upload");
      const upload = await validateImageUpload({
        filename: request.file.filename, declaredType: request.file.declaredType, bytes: request.file.bytes,
      });
      await store.limits.enforce(user.id, "generate");
      // Content-addressed: storing first is harmless, the same bytes always land on one key.
      const inputKey = await tools.blobs.put({ data: request.file.bytes, contentType: upload.mimeType });
      const jobId = await db.transaction(async (tx) => {
        const id = await store.jobs.insert(
          {
            userId: user.id, kind: "image", inputKey, filename: upload.filename, mimeType: upload.mimeType,
            fileSize: upload.sizeBytes, fileHash: upload.sha256, origin: request.origin ?? {},
          },
          tx,
        );
        await store.audit.record(
          {
            userId: user.id, action: "job.created", entityType: "vision_job", entityId: id,
            details: { filename: upload.filename, mimeType: upload.mimeType, size: upload.sizeBytes, width: upload.width, height: upload.height, declaredTypeMismatch: upload.declaredTypeMismatch ?? null },
          },
          tx,
        );
        return id;
      });
      onCreated(jobId);
      return { jobId };
    } catch (err) {
      if (isUserFacing(err)) {
        await store.audit.record({
          userId: user.id, action: "upload.rejected", entityType: "upload",
          details: { code: err.code, filename: request.file.filename.slice(0, 255) },
        });
      }
      throw err;
    }
  }
  return { start };
}
