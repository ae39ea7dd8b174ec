import { PermissionFlagsBits, type PermissionsBitField } from "discord.js";

/**
 * What the bot needs where a job runs, checked from the interaction's app_permissions before any
 * work starts (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object):
 * a job in a channel the bot cannot post in, or without Attach Files for its previews, would run
 * (and charge) with nobody seeing it. Threads need Send Messages in Threads, not Send Messages
 * (https://discord.com/developers/docs/topics/threads#permissions).
 */
const NAMES: Array<[bigint, string, string]> = [
  [PermissionFlagsBits.ViewChannel, "View Channel", "to see this channel"],
  [PermissionFlagsBits.SendMessages, "Send Messages", "to post the job's status and scene cards"],
  [PermissionFlagsBits.SendMessagesInThreads, "Send Messages in Threads", "to post the job's status and scene cards in a thread"],
  [PermissionFlagsBits.AttachFiles, "Attach Files", "to post the scene previews and the video"],
];

/** The permissions missing for a job here, by their names in Discord's settings. */
export function missingForJob(perms: Readonly<PermissionsBitField>, inThread: boolean): Array<{ name: string; why: string }> {
  const needed = [PermissionFlagsBits.ViewChannel, inThread ? PermissionFlagsBits.SendMessagesInThreads : PermissionFlagsBits.SendMessages, PermissionFlagsBits.AttachFiles];
  return NAMES.filter(([bit]) => needed.includes(bit) && !perms.has(bit)).map(([, name, why]) => ({ name, why }));
}

/** Whether a job may get its own thread here: creating it and talking in it. Otherwise it posts in the channel. */
export function threadsAllowed(perms: Readonly<PermissionsBitField>): boolean {
  return perms.has(PermissionFlagsBits.CreatePublicThreads) && perms.has(PermissionFlagsBits.SendMessagesInThreads);
}

/** "I'm missing Attach Files (to post the scene previews and the video) here. …" */
export function missingSentence(missing: Array<{ name: string; why: string }>): string {
  const list = missing.map((m) => `**${m.name}** (${m.why})`);
  const joined = list.length > 1 ? `${list.slice(0, -1).join(", ")} and ${list.at(-1)}` : list[0];
  return `I can't run a video job here: I'm missing ${joined} in this channel. ` +
    "Ask a server admin to give me that here, or use `/render` in a channel where I can post, or in a DM with me. Nothing was started or charged.";
}
