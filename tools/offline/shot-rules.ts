/**
 * The offline audit and failure analysis: the rule grammar (parseRule), whether a prompt mentions a
 * term (mentions), the audit of a shot prompt against required terms and rules (auditPrompt), and
 * one rule in that grammar from a user's feedback (ruleFromFeedback).
 */
import type { ShotAudit } from "../ports.js";

// ---------------------------------------------------------------------------------------------
// Audit: required terms and rules
// ---------------------------------------------------------------------------------------------

/**
 * The rule grammar the offline audit checks (anything else is left to a model and ignored here):
 * - "Avoid X", "Never X", "No X", "Don't X", "Do not X", "Without X": the prompt must not mention X.
 *   X may list alternatives separated by ",", ";", "/" or " or ": none may appear.
 * - "Always X", "Must X", "Ensure X": the prompt must mention X. "," or ";" list several, all needed.
 * Leading verbs and articles ("show", "include", "use", "have", "wear", "a", "the", …) are dropped from
 * X, so "Never show bare shoulders" checks "bare shoulders". Matching ignores case, treats spaces and
 * hyphens alike, accepts a plural "s", and respects word edges ("red" does not match "tired"). A
 * mention right after a negation in the same clause ("no bare shoulders", "avoid red") does not
 * count, which is also why a prompt may quote its rules.
 */
export interface ParsedRule {
  kind: "avoid" | "always";
  terms: string[];
}

const AVOID_HEAD = /^(?:avoid|never|no|don'?t|do\s+not|without)\b\s*/i;
const ALWAYS_HEAD = /^(?:always|must|ensure)\b\s*/i;
const FILLER = /^(?:(?:use|using|show|showing|include|including|draw|drawing|depict|add|have|put|keep|make|give|be|wear|wearing|any|a|an|the|her|his|their|its)\s+)+/i;

export function parseRule(rule: string): ParsedRule | null {
  const text = rule.trim().replace(/[.!]+$/, "");
  const kind = AVOID_HEAD.test(text) ? "avoid" : ALWAYS_HEAD.test(text) ? "always" : null;
  if (!kind) return null;
  const body = text.replace(kind === "avoid" ? AVOID_HEAD : ALWAYS_HEAD, "");
  const separators = kind === "avoid" ? /\s*(?:[,;/]|\bor\b)\s*/i : /\s*[,;]\s*/;
  const terms = body
    .split(separators)
    .map((t) => t.replace(FILLER, "").trim())
    .filter((t) => t.length > 0 && t.length <= 80);
  return terms.length ? { kind, terms } : null;
}

function termPattern(term: string): RegExp {
  const words = term.trim().split(/[\s-]+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  // A plural term also matches its singular ("bare shoulders" finds "bare shoulder"), not "dress" → "dres".
  const last = words.length - 1;
  if (/[^s]s$/i.test(words[last]) && words[last].length > 3) words[last] = words[last].slice(0, -1);
  return new RegExp(`(?<![\\p{L}\\p{N}])${words.join("[\\s-]+")}(?:e?s)?(?![\\p{L}\\p{N}])`, "giu");
}

const NEGATED = /\b(?:no|not|never|avoid|avoiding|without|don'?t|nor|non)\b[^.,;:!?()]*$/i;

/** Whether the prompt mentions the term outside a negation. */
export function mentions(prompt: string, term: string): boolean {
  for (const m of prompt.matchAll(termPattern(term))) {
    const before = prompt.slice(Math.max(0, m.index - 60), m.index);
    if (!NEGATED.test(before)) return true;
  }
  return false;
}

export function auditPrompt(prompt: string, requiredTerms: string[], rules: string[]): ShotAudit {
  const violations: string[] = [];
  const lower = prompt.toLowerCase();
  for (const term of requiredTerms) {
    if (!lower.includes(term.toLowerCase())) violations.push(`missing required term "${term}"`);
  }
  for (const rule of rules) {
    const parsed = parseRule(rule);
    if (!parsed) continue;
    if (parsed.kind === "avoid") {
      const found = parsed.terms.filter((t) => mentions(prompt, t));
      if (found.length) violations.push(`breaks rule "${rule}": the prompt mentions "${found.join('", "')}"`);
    } else {
      const missing = parsed.terms.filter((t) => !mentions(prompt, t));
      if (missing.length) violations.push(`breaks rule "${rule}": the prompt lacks "${missing.join('", "')}"`);
    }
  }
  return { ok: violations.length === 0, violations };
}

// ---------------------------------------------------------------------------------------------
// Failure analysis: feedback → one rule
// ---------------------------------------------------------------------------------------------

const MAX_THING_WORDS = 8;
const LEAD = /^(?:(?:the|a|an|her|his|its|their|this|that|these|those|any|some|it'?s|it\s+is|show|showing|draw|drawing|use|using|put|add|include|depict)\s+)+/i;

/**
 * One short rule in the audit's grammar ("Avoid <thing>" or "Always <thing>"), from the first clause
 * of the feedback, by the first pattern that matches:
 * 1. "always …", "make sure …", "ensure …", "keep …", "must …"             → Always …
 * 2. "add …", "include …", "show …", "I want/need/would like …"             → Always include …
 * 3. "I don't like/want …", "avoid/never/no/remove/get rid of/without/stop …" → Avoid …
 * 4. "<thing> is/are missing|gone"                                          → Always include <thing>
 * 5. "<thing> looks like <y>"                                               → Avoid <thing> that looks like <y>
 * 6. "<thing> is/are/looks/seems [too] <quality>"                           → Avoid <quality> <thing>
 * 7. "too/overly/very <quality>"                                            → Avoid <quality>
 * 8. anything else                                                          → Avoid <clause>
 */
export function ruleFromFeedback(feedback: string): string {
  const clause = feedback
    .replace(/[\x00-\x1F\x7F]+/g, " ")
    .split(/[.!?;\n]|\bbut\b/i)
    .map((c) => c.trim().replace(/\s+/g, " ").toLowerCase())
    .find((c) => c.length > 0);
  if (!clause) throw new Error("analyzeFailure needs the user's feedback to formulate a rule");
  const c = clause.replace(/^(?:please|pls|hmm|ok|okay|well|so)[,\s]+/, "");
  const rules: Array<[RegExp, (m: RegExpMatchArray) => string]> = [
    [/^(?:always|make sure(?: that| to)?|ensure(?: that)?|keep|must)\s+(.+)/, (m) => `Always ${thing(m[1])}`],
    [/^(?:add|include|show|put|give (?:her|it))\s+(.+)/, (m) => `Always include ${thing(m[1])}`],
    [/^i\s+(?:want|need|would like|'d like)\s+(.+)/, (m) => `Always include ${thing(m[1])}`],
    [/^(?:i\s+)?(?:don'?t|do not|didn'?t)\s+(?:like|want|love)\s+(.+)/, (m) => `Avoid ${thing(m[1])}`],
    [
      /^(?:avoid|never|no|remove|delete|get rid of|lose|drop|without|stop|don'?t (?:show|use|draw|add|put|make)|do not (?:show|use|draw|add|put|make))\s+(.+)/,
      (m) => `Avoid ${thing(m[1])}`,
    ],
    [/^(.+?)\s+(?:is|are|was|were)\s+(?:missing|gone|absent|not visible)$/, (m) => `Always include ${thing(m[1])}`],
    [/^(.+?)\s+(?:looks?|seems?)\s+like\s+(.+)$/, (m) => `Avoid ${thing(m[1])} that looks like ${thing(m[2])}`],
    [
      /^(.+?)\s+(?:is|are|was|were|looks?|seems?)\s+(?:too\s+|way too\s+|so\s+|very\s+|a bit\s+)?(\S+(?:\s+\S+){0,2})$/,
      (m) => `Avoid ${thing(m[2])} ${thing(m[1])}`,
    ],
    [/^(?:too|overly|very|way too)\s+(.+)/, (m) => `Avoid ${thing(m[1])}`],
  ];
  for (const [pattern, make] of rules) {
    const m = c.match(pattern);
    if (m) return make(m);
  }
  return `Avoid ${thing(c)}`;
}

function thing(text: string): string {
  const words = text.replace(LEAD, "").replace(/[,:]+$/, "").trim().split(" ");
  return words.slice(0, MAX_THING_WORDS).join(" ");
}
