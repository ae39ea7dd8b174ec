import { quoteLine, type ApproveAllQuote, type JobView, type SceneCard } from "../../../graph/jobView.js";

/*
 * Prices and spend in the same words on every surface. A price is shown before money is spent
 * (on 🟢 and on Approve all), in credits (what the person pays) and in dollars (what the providers
 * will bill, an estimate); what a job spent is shown on its status.
 */

export { quoteLine };

export function credits(n: number): string {
  return `${n} credit${n === 1 ? "" : "s"}`;
}

/** "2 credits · ≈ $0.70"; "no charge" when neither is due (offline engines, a free promotion). */
export function priceText(creditsDue: number, usd: number): string {
  if (creditsDue <= 0 && usd <= 0) return "no charge";
  return usd > 0 ? `${credits(creditsDue)} · ≈ $${usd.toFixed(2)}` : credits(creditsDue);
}

/** "for 2 credits · ≈ $0.70", or "at no charge": a price inside a sentence. */
export function forPrice(price: string): string {
  return price === "no charge" ? "at no charge" : `for ${price}`;
}

/** What a 🟢 on this scene costs. */
export function scenePrice(card: Pick<SceneCard, "approvalCredits" | "approvalUsd">): string {
  return priceText(card.approvalCredits, card.approvalUsd);
}

/** What Approve all costs now: "22 clips · 22 credits · ≈ $7.70" (or "3 clips · no charge"). */
export function approveAllPrice(quote: ApproveAllQuote): string {
  if (quote.credits <= 0 && quote.usd <= 0) return `${quote.clips} clip${quote.clips === 1 ? "" : "s"} · no charge`;
  return quoteLine(quote);
}

/**
 * The job's cost line: credits charged (reservations net of refunds) and the providers' bill so
 * far (every paid call, previews included). "Spent 6 credits · $2.14 at the providers".
 */
export function spentText(view: Pick<JobView, "creditsUsed" | "costUsd">): string {
  const bill = view.costUsd > 0 ? ` · $${view.costUsd.toFixed(2)} at the providers` : "";
  return `Spent ${credits(view.creditsUsed)}${bill}`;
}

/** Whether the owner can pay for what a 🟢 on this card asks. */
export function affordable(view: Pick<JobView, "ownerCredits">, creditsDue: number): boolean {
  return creditsDue <= view.ownerCredits;
}
