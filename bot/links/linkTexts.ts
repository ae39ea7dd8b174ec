import { formatCode, LINK_CODE_TTL_MS, type LinkPlatform, type RedeemResult } from "../../store/identityLinks.js";

/** What /link says, the same on both platforms (each surface escapes for its own markup; nothing here is user text). */

const NAME: Record<LinkPlatform, string> = { slack: "Slack", discord: "Discord" };
const OTHER: Record<LinkPlatform, LinkPlatform> = { slack: "discord", discord: "slack" };
/** How the code is typed on each platform (Discord commands take named options). */
const TYPED: Record<LinkPlatform, (code: string) => string> = {
  slack: (code) => `/link ${code}`,
  discord: (code) => `/link code:${code}`,
};
const minutes = Math.round(LINK_CODE_TTL_MS / 60_000);
const credits = (n: number) => `${n} credit${n === 1 ? "" : "s"}`;

export function issuedText(on: LinkPlatform, code: string, creditsLeft: number): string {
  const other = OTHER[on];
  return `Your link code is \`${formatCode(code)}\`, valid for ${minutes} minutes and once. On ${NAME[other]}, type ` +
    `\`${TYPED[other](formatCode(code))}\`. Then both accounts are you: jobs started on either can be decided on the other, ` +
    `and both use this account's credits (${credits(creditsLeft)} left). Only type it yourself: whoever types it gets your jobs and credits.`;
}

export function redeemedText(on: LinkPlatform, result: RedeemResult): string {
  const other = NAME[OTHER[on]];
  const again = `Run \`/link\` on ${other} for a new code, then type it here within ${minutes} minutes.`;
  if (result.ok) {
    const moved = result.movedJobs > 0 ? ` The ${result.movedJobs} job${result.movedJobs === 1 ? "" : "s"} you started here moved with you.` : "";
    return `Linked: this ${NAME[on]} account and your ${other} account are now one person here. Jobs from either can be decided on both, ` +
      `with your ${other} account's credits (${credits(result.canonical.credits_remaining)} left).${moved}`;
  }
  switch (result.reason) {
    case "unknown": return `That code doesn't match any I gave out. ${again}`;
    case "expired": return `That code has expired (codes last ${minutes} minutes). ${again}`;
    case "same_platform": return `That code was made on ${NAME[on]}, so it has to be typed on ${other}. It is used up now: run \`/link\` again for a new one.`;
    case "same_person": return `These two accounts are already linked.`;
    case "already_linked": return `This ${NAME[on]} account is already linked to another account; it can be linked only once.`;
    case "has_links": return `Another account is already linked to this one, so it can't be linked to a third. Run \`/link\` here instead and type that code on ${other}.`;
  }
}
