import type { App as BoltApp } from "@slack/bolt";
import type { SlackDeps } from "../deps.js";
import { errorFields } from "../logger.js";
import { ACTION_APPROVE_ALL, ACTION_CANCEL, ACTION_REDO, ACTION_RETRY, ACTION_VERSIONS, EDIT_CALLBACK } from "../blocks.js";
import { ACTION_REVERT_PREFIX, ACTION_RULE_REMOVE_PREFIX } from "../historyBlocks.js";
import { fileShare } from "./events/fileShare.js";
import { threadReply } from "./events/threadReply.js";
import { sceneDecision } from "./actions/sceneDecision.js";
import { approveAll } from "./actions/approveAll.js";
import { cancelJob } from "./actions/cancelJob.js";
import { editScene } from "./views/editScene.js";
import { render } from "./commands/render.js";
import { status } from "./commands/status.js";
import { show } from "./commands/show.js";
import { cancel } from "./commands/cancel.js";
import { link } from "./commands/link.js";
import { credits } from "./commands/credits.js";
import { versions } from "./commands/versions.js";
import { rules } from "./commands/rules.js";
import { project } from "./commands/project.js";
import { jobRetry } from "./actions/jobRetry.js";
import { versionsButton } from "./actions/versionsButton.js";
import { revertVersion } from "./actions/revertVersion.js";
import { redoShots } from "./actions/redoShots.js";
import { removeRule } from "./actions/removeRule.js";

const startsWith = (prefix: string) => new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`);

/**
 * Every listener is tracked (shutdown and tests wait for it) and guarded: a failure is logged with
 * safe fields only and never reaches Bolt's default error log, which prints whole error objects.
 */
function guarded<A>(deps: SlackDeps, name: string, listener: (args: A) => Promise<void>) {
  return (args: A): Promise<void> =>
    deps.track(listener(args).catch((err) => deps.logger.error({ ...errorFields(err), listener: name }, "slack listener failed")));
}

export function registerListeners(bolt: BoltApp, deps: SlackDeps): void {
  bolt.message(guarded(deps, "fileShare", fileShare(deps)));
  bolt.message(guarded(deps, "threadReply", threadReply(deps)));
  bolt.action(/^rb:/, guarded(deps, "sceneDecision", sceneDecision(deps)));
  bolt.action(ACTION_APPROVE_ALL, guarded(deps, "approveAll", approveAll(deps)));
  bolt.action(ACTION_CANCEL, guarded(deps, "cancelJob", cancelJob(deps)));
  bolt.action(ACTION_RETRY, guarded(deps, "jobRetry", jobRetry(deps)));
  bolt.action(ACTION_VERSIONS, guarded(deps, "versionsButton", versionsButton(deps)));
  bolt.action(ACTION_REDO, guarded(deps, "redoShots", redoShots(deps)));
  bolt.action(startsWith(ACTION_REVERT_PREFIX), guarded(deps, "revertVersion", revertVersion(deps)));
  bolt.action(startsWith(ACTION_RULE_REMOVE_PREFIX), guarded(deps, "removeRule", removeRule(deps)));
  bolt.view(EDIT_CALLBACK, guarded(deps, "editScene", editScene(deps)));
  bolt.command("/render", guarded(deps, "render", render(deps)));
  bolt.command("/status", guarded(deps, "status", status(deps)));
  bolt.command("/show", guarded(deps, "show", show(deps)));
  bolt.command("/cancel", guarded(deps, "cancel", cancel(deps)));
  bolt.command("/link", guarded(deps, "link", link(deps)));
  bolt.command("/credits", guarded(deps, "credits", credits(deps)));
  bolt.command("/versions", guarded(deps, "versions", versions(deps)));
  bolt.command("/rules", guarded(deps, "rules", rules(deps)));
  bolt.command("/project", guarded(deps, "project", project(deps)));
}
