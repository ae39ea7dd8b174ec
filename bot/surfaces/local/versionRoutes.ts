import type { ServerResponse } from "node:http";
import { z } from "zod";
import type { Runner } from "../../../graph/runner.js";
import type { DecideResult } from "../../../graph/decide.js";
import { sceneVersions } from "../common/versions.js";
import { sendJson } from "./http.js";
import { JOB_ID, readJson, type Route } from "./routes.js";

/*
 * A scene's versions on its card (thumbnails, what each was, who asked) and Revert, which brings
 * one back as a new version. Anyone who may watch a job may list its versions, as in a channel;
 * the runner lets only the owner or an approver revert.
 */

const RevertBody = z.object({ sceneIndex: z.number().int().min(0).max(99), toVersion: z.number().int().min(1) });

export function versionRoutes(deps: { runner: Runner; answered: (res: ServerResponse, jobId: string, result: DecideResult) => void }): Route[] {
  const { runner } = deps;
  return [
    ["GET", new RegExp(`^/api/jobs/${JOB_ID}/scenes/(\\d{1,2})/versions$`), async ({ res, params }) => {
      const view = await runner.view(params[0]);
      if (!view) return sendJson(res, 404, { error: "I can't find that job." });
      const list = await sceneVersions(runner, view, Number(params[1]));
      if (!list) return sendJson(res, 404, { error: `This job has no scene ${Number(params[1]) + 1}.` });
      sendJson(res, 200, {
        entries: list.entries.map((e) => ({ ...e, at: e.at.toISOString() })), hidden: list.hidden, revertNote: list.revertNote, impact: list.impact,
      });
    }],
    ["POST", new RegExp(`^/api/jobs/${JOB_ID}/revert$`), async ({ req, res, actor, params }) => {
      const parsed = RevertBody.safeParse(await readJson(req));
      if (!parsed.success) return sendJson(res, 400, { error: "Say which scene and which version to bring back." });
      deps.answered(res, params[0], await runner.revert({ jobId: params[0], ...parsed.data, actor }));
    }],
  ];
}
