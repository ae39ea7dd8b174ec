import { z } from "zod";
import { UserFacingError } from "./errors.js";

/** Text and schema helpers shared by every layer that takes input from a user. */

/**
 * Removes control characters (C0, DEL, C1) and trims. Line breaks and tabs become spaces first so
 * that "warmer\nmore motion" does not turn into "warmermore motion".
 */
export function sanitizeText(value: string): string {
  return value
    .replace(/[\t\n\r\v\f]+/g, " ")
    .replace(/[\x00-\x1F\x7F-\x9F]/g, "")
    .trim();
}

/** A string with control characters removed and surrounding space trimmed. */
export const sanitizedString = z.string().transform(sanitizeText);

/** sanitizedString whose length bounds apply to the sanitised text. */
export function boundedText(max: number, min = 0) {
  return sanitizedString.pipe(
    z
      .string()
      .min(min, min === 1 ? "This can't be empty." : `Use at least ${min} characters.`)
      .max(max, `Keep it to ${max} characters or fewer.`),
  );
}

/** Parses input or throws VALIDATION_ERROR with the first problem in words a user can act on. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  // Our own refinements are written for users; zod's built-in messages need the field name.
  const where = issue && issue.code !== "custom" && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  throw new UserFacingError("VALIDATION_ERROR", `${where}${issue?.message ?? "invalid input"}`, {
    cause: result.error,
  });
}

/** "an ELF", "an MP4", "a PDF": the article a file type's name takes when read aloud. */
export function withArticle(name: string): string {
  // Letters read as their name: A E F H I L M N O R S X start with a vowel sound ("an MP3", "an SVG").
  const first = name[0]?.toUpperCase() ?? "";
  const spelled = name === name.toUpperCase();
  const vowel = spelled ? "AEFHILMNORSX".includes(first) : "AEIOU".includes(first);
  return `${vowel ? "an" : "a"} ${name}`;
}
