/**
 * The offline automatic fix of a refused shot draft (SongAnalyst.reviseShot): the audit's own
 * findings say what to change, so each attempt answers the previous attempt's findings and never
 * repeats it.
 * - `… mentions "X"` (an "avoid" rule broken) and `describes the character outside the LoRA: "X"`:
 *   X goes, with the article or adjective in front of it.
 * - `… lacks "X"` (an "always" rule not met): X is added.
 * - `missing required term "X"`: nothing to do here, the prompt builder always adds those; a rule
 *   that forbids one can never be met, and the shot fails with that finding.
 * Then every parsable rule is applied to the result as well (rules the audit did not get to).
 */
import { mentions, parseRule } from "./shot-rules.js";

export function reviseDescription(description: string, violations: readonly string[], rules: readonly string[]): string {
  let fixed = description;
  for (const v of violations) {
    const quoted = [...v.matchAll(/"([^"]{1,120})"/g)].map((m) => m[1]);
    if (/\bmentions\b/.test(v) || /outside the LoRA/.test(v)) {
      // The first quote of a rule finding is the rule itself; the rest are what it found.
      for (const term of /^breaks rule/.test(v) ? quoted.slice(1) : quoted) fixed = without(fixed, term);
    } else if (/\blacks\b/.test(v)) {
      for (const term of quoted.slice(1)) if (!mentions(fixed, term)) fixed = `${fixed.trim()}, ${term}`;
    }
  }
  for (const rule of rules) {
    const parsed = parseRule(rule);
    if (!parsed) continue;
    for (const term of parsed.terms) {
      if (parsed.kind === "avoid") fixed = without(fixed, term);
      else if (!mentions(fixed, term)) fixed = `${fixed.trim()}, ${term}`;
    }
  }
  return tidy(fixed);
}

/** The text without the term (singular or plural), and the article or one adjective before it. */
function without(text: string, term: string): string {
  const words = term.trim().replace(/s$/i, "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\s+/g, "[\\s-]+");
  if (!words) return text;
  return text.replace(new RegExp(`\\b(?:an?\\s+|the\\s+)?(?:\\w+\\s+)?${words}s?\\b`, "gi"), "").replace(/\s{2,}/g, " ");
}

function tidy(text: string): string {
  return text.replace(/\s+,/g, ",").replace(/,\s*,/g, ",").replace(/\s+([.;:])/g, "$1").replace(/^[\s,;:]+|[\s,;:]+$/g, "").trim();
}
