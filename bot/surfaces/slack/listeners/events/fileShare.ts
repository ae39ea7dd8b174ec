import type { AllMiddlewareArgs, SlackEventMiddlewareArgs } from "@slack/bolt";
import { isUserFacing } from "../../../../../core/errors.js";
import type { Actor } from "../../../../../graph/actor.js";
import type { SlackDeps } from "../../deps.js";
import { actorOf, slackLocation, userTextOf } from "../../jobs.js";
import { fileInfo, metadataProblem, needsFileInfo, startJobFromFile, type SlackFileMeta } from "../../intake.js";
import { errorFields } from "../../logger.js";
import { esc } from "../../blocks.js";

type Args = AllMiddlewareArgs & SlackEventMiddlewareArgs<"message">;

/**
 * A file dropped in a channel the bot is in, or in a DM: acknowledge in the thread at once (the
 * acknowledgement becomes the job's status message), then check, download and start the job.
 *
 * Retries: Bolt acks events before this runs, so Slack retries only when a delivery failed
 * (crash, timeout). A retry is dropped when this process is still working on the first delivery,
 * or when a job with this file and message already exists (its origin, checked only for retries
 * so a fresh drop is acknowledged without a database round trip first).
 */
export function fileShare(deps: SlackDeps) {
  return async ({ message, context, client, body }: Args): Promise<void> => {
    if (message.subtype !== "file_share") return;
    const m = message as typeof message & { bot_id?: string };
    // Our own uploads (previews, the final video) come back as file_share events too.
    if (m.bot_id || !m.user || m.user === context.botUserId) return;
    const files = (m.files ?? []) as SlackFileMeta[];
    const dropped = files[0];
    if (!dropped) return;
    const eventId = (body as { event_id?: string }).event_id ?? "";
    const key = `${m.channel}:${m.ts}:${dropped.id}`;
    if (deps.intakeInFlight.has(key)) return;
    deps.intakeInFlight.add(key);
    try {
      const actor = actorOf(context, m.user);
      if (context.retryNum && (await alreadyStarted(deps, actor, { channelId: m.channel, messageTs: m.ts, fileId: dropped.id, eventId }))) {
        deps.logger.info({ eventId, retryNum: context.retryNum }, "slack retry of a file drop that already has a job; ignored");
        return;
      }
      const threadTs = m.thread_ts ?? m.ts;
      const say = (text: string) => client.chat.postMessage({ channel: m.channel, thread_ts: threadTs, text });
      const problem = needsFileInfo(dropped) ? null : metadataProblem(dropped);
      if (problem) {
        await say(`⚠️ ${problem}`);
        return;
      }
      const extra = files.length > 1 ? ` I'm using the first of the ${files.length} files; drop the others one at a time.` : "";
      const ack = await say(`📥 Got ${dropped.name ? `*${esc(dropped.name)}*` : "your file"}: checking it…${extra}`);
      const statusTs = ack.ts as string;
      const fail = (text: string) => client.chat.update({ channel: m.channel, ts: statusTs, text: `⚠️ ${text}` });
      try {
        const file = needsFileInfo(dropped) ? await fileInfo(client, dropped.id) : dropped;
        const late = metadataProblem(file);
        if (late) {
          await fail(late);
          return;
        }
        await startJobFromFile(deps, {
          actor, file, location: slackLocation(m.channel, threadTs), statusTs,
          origin: {
            platform: "slack", via: "file_share", teamId: actor.teamId ?? "", channelId: m.channel, threadTs, statusTs,
            messageTs: m.ts, fileId: dropped.id, eventId,
          },
        });
      } catch (err) {
        if (!isUserFacing(err)) deps.logger.error({ ...errorFields(err), channel: m.channel }, "file drop failed");
        await fail(esc(userTextOf(err)));
      }
    } finally {
      deps.intakeInFlight.delete(key);
    }
  };
}

async function alreadyStarted(deps: SlackDeps, actor: Actor, drop: { channelId: string; messageTs: string; fileId: string; eventId: string }) {
  const user = await deps.app.runner.users.ensure(actor);
  return (await deps.app.runner.jobsOf(user.id)).some(({ origin: o }) =>
    o.platform === "slack" &&
    ((drop.eventId !== "" && o.eventId === drop.eventId) ||
      (o.channelId === drop.channelId && o.messageTs === drop.messageTs && o.fileId === drop.fileId)));
}
