import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf } from "../../jobs.js";
import { showVersions } from "../../versions.js";
import { clickPlace } from "./clickPlace.js";

type Args = AllMiddlewareArgs & SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

/** 🕘 Versions on a card (value `<job>:<scene index>`): the list, privately, in the card's thread. */
export function versionsButton(deps: SlackDeps) {
  return async ({ ack, body, action, client, context, respond }: Args): Promise<void> => {
    await ack();
    const m = /^([0-9a-f-]{36}):(\d{1,2})$/.exec(action.value ?? "");
    const { channel, threadTs } = clickPlace(body, client, respond);
    if (!m || !channel) return;
    const actor = actorOf(context, body.user.id, body.user.name ?? body.user.username);
    await showVersions(deps, client, { actor, jobId: m[1], sceneIndex: Number(m[2]), channel, threadTs, respond });
  };
}
