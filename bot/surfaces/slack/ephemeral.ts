import type { RespondFn, webApi } from "@slack/bolt";
import type { SlackMessage } from "./blocks.js";
import { withoutImage } from "./blocks.js";

/** Where a private answer goes: one person, in a channel (and thread). */
export interface PrivatePlace {
  channel: string;
  user: string;
  threadTs?: string;
}

const slackError = (err: unknown) => (err as { data?: { error?: string } })?.data?.error;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A private message with blocks (versions, rules). Images that were just uploaded are refused
 * for about a second (`invalid_blocks`, see imageRetry.ts): the post is tried again after short
 * waits, and finally sent without its images rather than not at all. Where chat.postEphemeral
 * cannot reach the person (see below) the interaction's response_url answers instead.
 */
export async function postPrivately(
  client: webApi.WebClient,
  place: PrivatePlace,
  message: SlackMessage,
  options: { respond?: RespondFn; waitsMs?: number[] } = {},
): Promise<void> {
  const waits = options.waitsMs ?? [1200, 2500];
  let current = message;
  for (let attempt = 0; ; attempt++) {
    try {
      await client.chat.postEphemeral({
        channel: place.channel, user: place.user, text: current.text, blocks: current.blocks,
        ...(place.threadTs ? { thread_ts: place.threadTs } : {}),
      });
      return;
    } catch (err) {
      const code = slackError(err);
      // The person is not a member there, or the bot is not (a command typed in a channel it was
      // never invited to): the interaction's own response_url still reaches the person.
      if (["user_not_in_channel", "not_in_channel", "channel_not_found"].includes(code ?? "") && options.respond) {
        await options.respond({ response_type: "ephemeral", replace_original: false, text: current.text, blocks: current.blocks });
        return;
      }
      const hasImages = current.blocks.some((b) => b.type === "image" || (b.type === "section" && b.accessory?.type === "image"));
      if (code !== "invalid_blocks" || !hasImages) throw err;
      if (attempt < waits.length) await sleep(waits[attempt]);
      else current = withoutImages(current);
    }
  }
}

/** Also drops image accessories, which versions lists use as thumbnails. */
function withoutImages(message: SlackMessage): SlackMessage {
  const bare = withoutImage(message);
  return { ...bare, blocks: bare.blocks.map((b) => (b.type === "section" && b.accessory?.type === "image" ? { ...b, accessory: undefined } : b)) };
}
