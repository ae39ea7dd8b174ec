import type { Db } from "../store/db.js";
import type { JobOrigin, Jobs, NewJob } from "../store/jobs.js";
import type { AuditLog } from "../store/audit.js";
import type { Users } from "../store/users.js";
import type { RateLimiter } from "../store/limits.js";
import type { Projects } from "../store/projects.js";
import type { Tools } from "../tools/ports.js";
import { isUserFacing } from "../core/errors.js";
import { inspectUpload } from "./inspectUpload.js";
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
  store: { jobs: Jobs; audit: AuditLog; users: Users; limits: RateLimiter; projects: Projects };
  /** Asks for the job's first pass. */
  onCreated: (jobId: string) => Promise<void>;
}

type Upload = Omit<NewJob, "userId" | "inputKey" | "origin"> & { details: Record<string, unknown> };

/**
 * Turns an upload into a job: limits, validation by content (an image starts a brand video, an
 * MP3 a music video), the blob, then the job row and its audit row in one transaction, so a bad
 * file leaves nothing behind but the audit of its refusal.
 */
export function createJobIntake({ db, tools, store, onCreated }: IntakeDeps) {
  async function inspect(request: StartRequest, userId: string): Promise<Upload> {
    const upload = await inspectUpload(request.file);
    if (upload.kind === "song") {
      const { audio } = upload;
      // A first project takes the deployment's song model as its LLM (agent roles default to it);
      // offline there is no model to name, and the spec's default stands.
      const project = await store.projects.ensureDefault(userId, tools.songAnalyst.model === "offline" ? {} : { llmModel: tools.songAnalyst.model });
      return {
        kind: "song", filename: upload.filename, mimeType: audio.mimeType, fileSize: audio.sizeBytes,
        fileHash: audio.sha256, projectId: project.id,
        details: { durationMs: audio.durationMs, title: audio.title ?? null, projectId: project.id },
      };
    }
    const { image } = upload;
    return {
      kind: "image", filename: image.filename, mimeType: image.mimeType, fileSize: image.sizeBytes, fileHash: image.sha256,
      details: { width: image.width, height: image.height, declaredTypeMismatch: image.declaredTypeMismatch ?? null },
    };
  }

  async function start(request: StartRequest): Promise<{ jobId: string }> {
    const user = await store.users.ensure(request.actor);
    try {
      await store.limits.enforce(user.id, "general");
      await store.limits.enforce(user.id, "upload");
      const { details, ...upload } = await inspect(request, user.id);
      await store.limits.enforce(user.id, "generate");
      // Content-addressed: storing first is harmless, the same bytes always land on one key.
      const inputKey = await tools.blobs.put({ data: request.file.bytes, contentType: upload.mimeType });
      const jobId = await db.transaction(async (tx) => {
        const id = await store.jobs.insert({ ...upload, userId: user.id, inputKey, origin: request.origin ?? {} }, tx);
        await store.audit.record(
          {
            userId: user.id, action: "job.created", entityType: "vision_job", entityId: id,
            details: { kind: upload.kind, filename: upload.filename, mimeType: upload.mimeType, size: upload.fileSize, ...details },
          },
          tx,
        );
        return id;
      });
      await onCreated(jobId);
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
