/**
 * The offline embedder: a hashed bag of words plus character trigrams, L2-normalised. No model, so
 * "similar" means sharing words (or word pieces: "shoulder" and "shoulders" share most trigrams),
 * which is what the rulebook needs offline: a rule about bare shoulders ranks first for a prompt
 * that mentions shoulders, and unrelated texts score near 0.
 *
 * Each content word adds 1 to the bucket of its crude stem ("shoulders", "shoulder" → "shoulder") and
 * its padded trigrams ("#sh", "sho", …, "rs#") share another 1 between them; a second hash bit gives
 * each feature a sign, so bucket collisions cancel out on average instead of piling up (the "hashing
 * trick"). Stop words are skipped, otherwise every English sentence would look alike, and so are the
 * rule words (avoid, always, never…): similarity is about what a text concerns, and a rule's polarity
 * says nothing about which shots it applies to. Deterministic: FNV-1a, no randomness, no state.
 */
import type { Embedder } from "../ports.js";

export interface OfflineEmbedderOptions {
  dimensions?: number;
}

const STOP_WORDS = new Set(
  ("a an and are as at be but by for from has have her his i in is it its of on or she so that the their " +
    "them there they this to was we were will with you your not no do does don't dont " +
    "avoid always never must should make sure ensure").split(" "),
);

export function createOfflineEmbedder(options: OfflineEmbedderOptions = {}): Embedder {
  const dimensions = options.dimensions ?? 256;
  if (!Number.isInteger(dimensions) || dimensions < 8) throw new Error(`dimensions must be an integer >= 8, got ${dimensions}`);
  return {
    model: "offline-hash",
    dimensions,
    async embed(texts: string[]): Promise<number[][]> {
      return texts.map((t) => embedText(t, dimensions));
    },
  };
}

/** An all-zero vector for text without content words: it is similar to nothing. */
export function embedText(text: string, dimensions: number): number[] {
  const v = new Float64Array(dimensions);
  const add = (feature: string, weight: number) => {
    const h = fnv1a(feature);
    v[h % dimensions] += h & 0x80000000 ? -weight : weight;
  };
  for (const word of words(text)) {
    add(`w:${stem(word)}`, 1);
    const padded = `#${word}#`;
    const grams = padded.length - 2;
    for (let i = 0; i < grams; i++) add(`t:${padded.slice(i, i + 3)}`, 1 / grams);
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return Array.from(v, (x) => (norm > 0 ? x / norm : 0));
}

function words(text: string): string[] {
  return (
    text
      .normalize("NFKD")
      .replace(/\p{M}+/gu, "")
      .toLowerCase()
      .match(/[\p{L}\p{N}]+(?:'[\p{L}]+)?/gu) ?? []
  ).filter((w) => !STOP_WORDS.has(w));
}

/** Plural and tense endings off, so "shows"/"showing"/"showed" meet; no dictionary, no exceptions list. */
function stem(word: string): string {
  if (word.length <= 4) return word;
  if (word.endsWith("ies")) return `${word.slice(0, -3)}y`;
  if (/(?:ss|sh|ch|x)es$/.test(word)) return word.slice(0, -2);
  if (word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  if (word.endsWith("ing") && word.length > 5) return word.slice(0, -3);
  if (word.endsWith("ed") && word.length > 4) return word.slice(0, -2);
  return word;
}

/** 32-bit FNV-1a over UTF-16 code units: tiny, fast, and stable across platforms and runs. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`vectors differ in length: ${a.length} and ${b.length}`);
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}
