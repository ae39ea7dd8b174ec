import type { AllMiddlewareArgs, BlockAction, RespondFn } from "@slack/bolt";

/** Where a click came from, and how to answer the clicker alone. */
export function clickPlace(body: BlockAction, client: AllMiddlewareArgs["client"], respond?: RespondFn) {
  const channel = body.channel?.id ?? (body.container?.channel_id as string | undefined);
  const threadTs = (body.message?.thread_ts as string | undefined) ?? (body.container?.thread_ts as string | undefined);
  const tell = async (text: string) => {
    if (!channel) return;
    try {
      await client.chat.postEphemeral({ channel, user: body.user.id, text, ...(threadTs ? { thread_ts: threadTs } : {}) });
    } catch (err) {
      // chat.postEphemeral needs the clicker to be a member of the channel (user_not_in_channel,
      // https://docs.slack.dev/reference/methods/chat.postEphemeral), which a guest in a shared
      // channel may not be; the click's response_url reaches them anyway.
      if (!respond || (err as { data?: { error?: string } }).data?.error !== "user_not_in_channel") throw err;
      await respond({ response_type: "ephemeral", replace_original: false, text });
    }
  };
  return { channel, threadTs, tell };
}
