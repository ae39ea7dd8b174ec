import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import { isUserFacing } from "../../../../../core/errors.js";
import type { SlackDeps } from "../../deps.js";
import { actorOf, slackLocation, userTextOf } from "../../jobs.js";
import { fileInfo, metadataProblem, startJobFromFile, type SlackFileMeta } from "../../intake.js";
import { errorFields } from "../../logger.js";
import { esc } from "../../blocks.js";

type Args = AllMiddlewareArgs & SlackCommandMiddlewareArgs;

const USAGE = "Usage: `/render <link to an image or MP3 already in Slack>` (the file's \"Copy link\"), or just drop the file in a channel I'm in (or in a DM with me).";
const NOT_SLACK = "I can only read files uploaded to Slack, from the link Slack gives them (\"Copy link\" on the file). Upload the image or MP3 here (or drop it in a DM with me) and try again.";

/** The first URL in a command's text; Slack may wrap links as <url> or <url|label>. */
export function urlIn(text: string): string | null {
  const m = /<?(https?:\/\/[^\s|>]+)/.exec(text);
  return m ? m[1] : null;
}

/** A Slack file id from a permalink (/files/U…/F…/name) or a url_private (/files-pri/T…-F…/name). */
export function fileIdIn(url: string): string | null {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return null;
  }
  return /\/files(?:-pri)?\/(?:[A-Z0-9]+[/-])?(F[A-Z0-9]{6,})(?:\/|$)/.exec(path)?.[1] ?? null;
}

/**
 * `/render <url>`: a file already in Slack, named by its link and resolved with files.info (the
 * caller must have uploaded it or it must be shared in this channel, so nobody renders a file they
 * can't see). The job's thread starts at a status message posted in this channel.
 */
export function render(deps: SlackDeps) {
  return async ({ ack, command, client, context, respond }: Args): Promise<void> => {
    await ack();
    const reply = (text: string) => respond({ response_type: "ephemeral", text });
    const actor = actorOf(context, command.user_id, command.user_name);
    const url = urlIn(command.text);
    if (!url) return void (await reply(USAGE));

    // Only a link that names a Slack file id: files.info then says whose file it is and where it
    // is shared, so nobody makes the bot fetch (with its token) a file they could not see.
    const fileId = fileIdIn(url);
    if (!fileId) return void (await reply(NOT_SLACK));
    let file: SlackFileMeta & { user?: string; channels?: string[]; groups?: string[]; ims?: string[] };
    try {
      file = await fileInfo(client, fileId);
    } catch (err) {
      if (!isUserFacing(err)) deps.logger.info({ ...errorFields(err) }, "files.info refused a /render file");
      return void (await reply("I can't see that file. Share it in this channel (or DM it to me) and try again."));
    }
    const sharedHere = [...(file.channels ?? []), ...(file.groups ?? []), ...(file.ims ?? [])].includes(command.channel_id);
    if (file.user !== command.user_id && !sharedHere) {
      return void (await reply("That file isn't yours and isn't shared in this channel. Share it here first, then try again."));
    }
    const problem = metadataProblem(file);
    if (problem) return void (await reply(`⚠️ ${problem}`));

    let statusTs: string;
    try {
      const posted = await client.chat.postMessage({
        channel: command.channel_id,
        text: `📥 <@${command.user_id}> started a video from ${file.name ? `*${esc(file.name)}*` : "a file"}: checking it…`,
      });
      statusTs = posted.ts as string;
    } catch (err) {
      deps.logger.info({ ...errorFields(err), channel: command.channel_id }, "could not post in the /render channel");
      return void (await reply("I can't post in this channel. Invite me with `/invite @reelbot` (or DM me), then run `/render` again."));
    }
    try {
      await startJobFromFile(deps, {
        actor, file, location: slackLocation(command.channel_id, statusTs), statusTs,
        origin: {
          platform: "slack", via: "command", teamId: actor.teamId ?? "", channelId: command.channel_id,
          threadTs: statusTs, statusTs, fileId: file.id,
        },
      });
    } catch (err) {
      if (!isUserFacing(err)) deps.logger.error({ ...errorFields(err) }, "/render failed");
      await client.chat.update({ channel: command.channel_id, ts: statusTs, text: `⚠️ ${esc(userTextOf(err))}` });
    }
  };
}
