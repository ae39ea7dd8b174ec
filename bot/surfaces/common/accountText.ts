import type { AccountSummary, GrantResult, LedgerEntry } from "../../../store/accounts.js";
import { credits } from "./money.js";

/*
 * /credits in words, the same on every platform. Markup is left to the platform: callers pass how
 * to show a moment (Slack's <!date^…>, Discord's <t:…:R>) and escape names themselves.
 */

export type When = (at: Date) => string;

/** "2026-11-28 14:02 UTC": readable anywhere, when a platform has no date markup. */
export const utc: When = (at) => `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;

function entryLine(e: LedgerEntry, when: When): string {
  const signed = e.amount > 0 ? `+${e.amount}` : `−${-e.amount}`;
  const scene = e.sceneIndex !== null ? `scene ${e.sceneIndex + 1} of ` : "";
  const what = e.filename ? `${scene}${e.filename}` : e.jobId ? `job ${e.jobId.slice(0, 8)}` : "";
  const words = e.reason === "reserve" ? `approved ${what}` : e.reason === "refund" ? `refund for ${what}` : "granted";
  return `${signed} · ${words.trim()} · ${when(e.at)}`;
}

/** The balance, the last 30 days' spend and the latest entries. `whose`: "You" or a name. */
export function accountLines(summary: AccountSummary, whose: string, when: When = utc): string[] {
  const you = whose === "You";
  const head = `${whose} ${you ? "have" : "has"} ${credits(summary.balance)}. Spent in the last 30 days: ${credits(summary.spent30d)}.`;
  if (summary.recent.length === 0) return [head, "Nothing spent or granted yet."];
  return [head, "Recent:", ...summary.recent.map((e) => `• ${entryLine(e, when)}`)];
}

export function grantText(result: GrantResult, amount: number, name: string): string {
  return result.granted
    ? `Granted ${credits(amount)} to ${name}: they now have ${credits(result.balance)}.`
    : `That grant was already made; ${name} has ${credits(result.balance)}.`;
}

export const GRANT_USAGE_SLACK = "Usage: `/credits` (yours), `/credits @someone` (admins), `/credits grant @someone 20 [reason]` (admins).";

/** What `/credits …` on Slack asks for. Mentions arrive escaped (`<@U123|ann>`, should_escape in manifest.yml). */
export type CreditsRequest =
  | { kind: "show" }
  | { kind: "show_other"; userId: string }
  | { kind: "grant"; userId: string; amount: number; reason?: string }
  | { kind: "usage" };

export function parseCreditsText(text: string): CreditsRequest {
  const t = text.trim();
  if (!t) return { kind: "show" };
  const mention = "<@([UW][A-Z0-9]+)(?:\\|[^>]*)?>";
  const other = new RegExp(`^${mention}$`).exec(t);
  if (other) return { kind: "show_other", userId: other[1] };
  const grant = new RegExp(`^grant\\s+${mention}\\s+\\+?(\\d{1,7})(?:\\s+([\\s\\S]+))?$`, "i").exec(t);
  if (grant) return { kind: "grant", userId: grant[1], amount: Number(grant[2]), ...(grant[3]?.trim() ? { reason: grant[3].trim() } : {}) };
  return { kind: "usage" };
}
