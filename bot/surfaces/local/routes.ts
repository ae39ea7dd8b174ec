import type { IncomingMessage, ServerResponse } from "node:http";
import type { Actor } from "../../../graph/actor.js";
import { readBody } from "./http.js";

/*
 * What the local page's route modules share: a request as the handlers see it, client errors that
 * become 4xx answers, and JSON bodies that must say so (a cross-site form cannot send
 * application/json without a preflight this server never grants).
 */

export interface LocalRequest {
  req: IncomingMessage;
  res: ServerResponse;
  actor: Actor;
  params: string[];
  url: URL;
}

export type Handler = (r: LocalRequest) => Promise<void>;
export type Route = [method: string, path: RegExp, handler: Handler];

export const JOB_ID = "([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})";
export const UUID_RE = new RegExp(`^${JOB_ID}$`);
const MAX_JSON_BYTES = 16 * 1024;

export class ClientError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "ClientError";
  }
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
    throw new ClientError(415, "Send JSON (content-type: application/json).");
  }
  const body = await readBody(req, MAX_JSON_BYTES);
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new ClientError(400, "That request body is not valid JSON.");
  }
}
