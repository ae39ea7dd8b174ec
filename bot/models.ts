/**
 * Which model ids are current and which are going away, so a configuration that names a retiring
 * model says so at start-up instead of failing on a user's first job. Read November 2026; each
 * entry names where it comes from. Update it when a provider announces a shutdown.
 */

export interface Retirement {
  /** When the provider turns it off (or did), as the provider states it. */
  shutdown: string;
  /** The provider's recommended replacement, when it names one. */
  replacement?: string;
  source: string;
}

const GEMINI_DEPRECATIONS_PAGE = "https://ai.google.dev/gemini-api/docs/deprecations";

/**
 * Gemini models on Google's deprecation page (GEMINI_DEPRECATIONS_PAGE, the copy listing
 * gemini-3.8-flash, released September 2, 2026) and its release notes. The 2.5 Flash and Pro
 * shutdown date and replacements are as quoted from that page on November 10, 2026 by
 * aideprecations.com ("What to Do Before Gemini 2.5 Pro and 2.5 Flash Are Retired").
 */
export const GEMINI_RETIREMENTS: Record<string, Retirement> = {
  "gemini-2.5-flash": { shutdown: "December 1, 2026", replacement: "gemini-3.5-flash-lite", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-2.5-pro": { shutdown: "December 1, 2026", replacement: "gemini-3.8-flash", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-2.5-flash-image": { shutdown: "October 2, 2026", replacement: "gemini-3.1-flash-image", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-2.0-flash": { shutdown: "June 1, 2026", replacement: "gemini-3.5-flash", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-2.0-flash-001": { shutdown: "June 1, 2026", replacement: "gemini-3.5-flash", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-2.0-flash-lite": { shutdown: "June 1, 2026", replacement: "gemini-3.1-flash-lite", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-2.0-flash-lite-001": { shutdown: "June 1, 2026", replacement: "gemini-3.1-flash-lite", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-2.5-pro-preview-03-25": { shutdown: "December 2, 2025", replacement: "gemini-3.1-pro-preview", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-2.5-pro-preview-05-06": { shutdown: "December 2, 2025", replacement: "gemini-3.1-pro-preview", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-2.5-pro-preview-06-05": { shutdown: "December 2, 2025", replacement: "gemini-3.1-pro-preview", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-3-pro-preview": { shutdown: "March 9, 2026", replacement: "gemini-3.1-pro-preview", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-3-pro-image-preview": { shutdown: "June 25, 2026", replacement: "gemini-3-pro-image", source: GEMINI_DEPRECATIONS_PAGE },
  "gemini-3.1-flash-image-preview": { shutdown: "June 25, 2026", replacement: "gemini-3.1-flash-image", source: GEMINI_DEPRECATIONS_PAGE },
  // Gemini API changelog, May 7 and May 25, 2026.
  "gemini-3.1-flash-lite-preview": { shutdown: "May 25, 2026", replacement: "gemini-3.1-flash-lite", source: "https://ai.google.dev/gemini-api/docs/changelog" },
  // Embedding models (providers.md §3.1).
  "embedding-001": { shutdown: "August 14, 2025", replacement: "gemini-embedding-001", source: GEMINI_DEPRECATIONS_PAGE },
  "text-embedding-004": { shutdown: "January 14, 2026", replacement: "gemini-embedding-001", source: GEMINI_DEPRECATIONS_PAGE },
};

/**
 * Generally available Gemini models with no shutdown date on the same page: what the defaults use.
 * gemini-3.5-flash-lite is Google's named replacement for gemini-2.5-flash (GA July 21, 2026,
 * $0.30 / $2.50 per million input / output tokens, ai.google.dev/gemini-api/docs/whats-new-gemini-3.6);
 * gemini-3.8-flash replaces gemini-2.5-pro (GA September 2, 2026).
 */
export const GEMINI_CURRENT = [
  "gemini-3.8-flash", "gemini-3.7-flash", "gemini-3.6-flash", "gemini-3.5-flash", "gemini-3.5-flash-lite", "gemini-3.1-flash-lite",
] as const;

/**
 * DeepSeek model names (https://api-docs.deepseek.com/quick_start/pricing, November 2026): use
 * deepseek-flash; the legacy deepseek-v4-flash is still accepted but served by the new Flash model.
 * deepseek-chat and deepseek-reasoner were retired on 2026-07-24 (providers.md §2).
 */
export const DEEPSEEK_RETIREMENTS: Record<string, Retirement> = {
  "deepseek-chat": { shutdown: "July 24, 2026", replacement: "deepseek-flash", source: "https://api-docs.deepseek.com/" },
  "deepseek-reasoner": { shutdown: "July 24, 2026", replacement: "deepseek-flash", source: "https://api-docs.deepseek.com/" },
};
export const DEEPSEEK_LEGACY: Record<string, string> = { "deepseek-v4-flash": "deepseek-flash" };

/** One sentence about a configured model that is going away, or null when it is current. */
export function retirementWarning(variable: string, model: string): string | null {
  const id = model.replace(/^models\//, "");
  const gone = GEMINI_RETIREMENTS[id] ?? DEEPSEEK_RETIREMENTS[id];
  if (gone) {
    return `${variable}=${id} is on its provider's deprecation list (shut down ${gone.shutdown}); ` +
      `${gone.replacement ? `set ${variable}=${gone.replacement}` : "choose a current model"} (${gone.source}).`;
  }
  const renamed = DEEPSEEK_LEGACY[id];
  if (renamed) return `${variable}=${id} is a legacy name that DeepSeek now serves with ${renamed}; set ${variable}=${renamed}.`;
  return null;
}
