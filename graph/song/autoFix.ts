import { mentions, parseRule } from "../../tools/offline/song-analyst.js";

/**
 * The automatic fix of the VALIDATION → DRAFT loop: strips what "avoid" rules forbid from a shot
 * description and appends what "always" rules require, so the next draft can pass the audit.
 * Required policy terms need no fixing here: the prompt builder always adds them.
 */
export function autoFixDescription(description: string, rules: readonly string[]): string {
  let fixed = description;
  for (const rule of rules) {
    const parsed = parseRule(rule);
    if (!parsed) continue;
    for (const term of parsed.terms) {
      if (parsed.kind === "avoid") {
        const words = term.replace(/s$/i, "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        fixed = fixed.replace(new RegExp(`\\b(?:an?\\s+|the\\s+)?(?:\\w+\\s+)?${words}s?\\b`, "gi"), "").replace(/\s{2,}/g, " ");
      } else if (!mentions(fixed, term)) {
        fixed = `${fixed.trim()}, ${term}`;
      }
    }
  }
  return fixed.replace(/\s+,/g, ",").replace(/,\s*,/g, ",").trim();
}
