import type { Db } from "./db.js";
import type { Embedder } from "../tools/ports.js";
import { cosineSimilarity } from "../tools/offline/embedder.js";
import { UserFacingError } from "../core/errors.js";
import { boundedText, parseOrThrow } from "../core/text.js";

/*
 * The active rulebook (music spec §4): rules learnt from rejected images, found again by similarity
 * when a later shot is drafted.
 *
 * Vector design: embeddings are stored as REAL[] and ranked here, in TypeScript, after fetching one
 * project's live rules. Why not in SQL:
 * - It runs the same on PGlite, on Postgres 15 without pgvector and on Supabase: no extension, no
 *   PL/pgSQL, no per-database behaviour to test three times.
 * - Without pgvector no index helps anyway: a SQL cosine over unnest() is the same exact full scan
 *   of the project's rules, only slower to write and to debug. A project holds at most
 *   MAX_RULES_PER_PROJECT rules (hundreds in practice): at 768 floats that is ~3 MB on the wire at
 *   the cap, ~100 KB typically, ranked in well under a millisecond.
 * - Ranking next to the embedder lets rules embedded by another model (after a switch from the
 *   offline embedder to a real one) be re-embedded on the spot instead of silently mis-ranked.
 * Moving to pgvector later is a column change (`ALTER COLUMN embedding TYPE vector(n) USING
 * embedding::vector`) and an ORDER BY in relevant(); nothing else changes.
 */

export interface RuleSource {
  /** "rejection" when learnt from a rejected image, "manual" when typed in. */
  kind?: string;
  [key: string]: unknown;
}

export interface Rule {
  id: string;
  projectId: string;
  text: string;
  source: RuleSource;
  embeddingModel: string;
  createdAt: Date;
}

export interface ScoredRule extends Rule {
  /** Cosine similarity to the query, −1..1. */
  score: number;
}

export interface Rules {
  /** Stores the rule with its embedding; the same text (ignoring case, spacing, final punctuation) is kept once. */
  add(projectId: string, text: string, source?: RuleSource): Promise<Rule & { created: boolean }>;
  /** Live rules, oldest first. */
  list(projectId: string): Promise<Rule[]>;
  /** Soft delete; false when there was no such live rule. */
  remove(projectId: string, ruleId: string): Promise<boolean>;
  /** The k rules most similar to the query, best first; with minScore, only those at least that similar. */
  relevant(projectId: string, queryText: string, k?: number, minScore?: number): Promise<ScoredRule[]>;
}

export const MAX_RULES_PER_PROJECT = 1000;
const RuleTextSchema = boundedText(500, 1);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface RuleRow {
  id: string;
  project_id: string;
  text: string;
  source: RuleSource | string;
  embedding_model: string;
  embedding?: number[];
  created_at: Date;
}

const COLUMNS = "id, project_id, text, source, embedding_model, created_at";

export function createRules(db: Db, embedder: Embedder): Rules {
  async function requireProject(projectId: string): Promise<void> {
    const { rows } = UUID.test(projectId)
      ? await db.query(`SELECT 1 FROM projects WHERE id = $1 AND deleted_at IS NULL`, [projectId])
      : { rows: [] };
    if (rows.length === 0) throw new UserFacingError("NOT_FOUND", "I can't find that project; it may have been deleted.");
  }

  async function findByKey(projectId: string, key: string): Promise<RuleRow | undefined> {
    const { rows } = await db.query<RuleRow>(
      `SELECT ${COLUMNS} FROM rules WHERE project_id = $1 AND text_key = $2 AND deleted_at IS NULL`,
      [projectId, key],
    );
    return rows[0];
  }

  async function embedOne(text: string): Promise<number[]> {
    const [vector] = await embedder.embed([text]);
    return checkVector(vector);
  }

  function checkVector(vector: number[] | undefined): number[] {
    if (!vector || vector.length !== embedder.dimensions || !vector.every(Number.isFinite)) {
      throw new Error(`${embedder.model} returned a vector that is not ${embedder.dimensions} finite numbers`);
    }
    return vector;
  }

  return {
    async add(projectId, text, source = {}) {
      const clean = parseOrThrow(RuleTextSchema, text);
      const key = textKey(clean);
      await requireProject(projectId);
      // Checked before embedding: a repeated rule must not cost a paid embedding call.
      const existing = await findByKey(projectId, key);
      if (existing) return { ...toRule(existing), created: false };
      const { rows: count } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM rules WHERE project_id = $1 AND deleted_at IS NULL`,
        [projectId],
      );
      if ((count[0]?.n ?? 0) >= MAX_RULES_PER_PROJECT) {
        throw new UserFacingError(
          "VALIDATION_ERROR",
          `This project's rulebook is full (${MAX_RULES_PER_PROJECT} rules). Remove rules you no longer need and try again.`,
        );
      }
      const embedding = await embedOne(clean);
      const { rows } = await db.query<RuleRow>(
        `INSERT INTO rules (project_id, text, text_key, embedding, embedding_model, source)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (project_id, text_key) WHERE deleted_at IS NULL DO NOTHING
         RETURNING ${COLUMNS}`,
        [projectId, clean, key, embedding, embedder.model, JSON.stringify(source)],
      );
      if (rows[0]) return { ...toRule(rows[0]), created: true };
      // A concurrent add of the same rule won the insert: return that one.
      const raced = await findByKey(projectId, key);
      if (!raced) throw new Error("rule vanished between insert and select");
      return { ...toRule(raced), created: false };
    },

    async list(projectId) {
      if (!UUID.test(projectId)) return [];
      const { rows } = await db.query<RuleRow>(
        `SELECT ${COLUMNS} FROM rules WHERE project_id = $1 AND deleted_at IS NULL ORDER BY created_at, id`,
        [projectId],
      );
      return rows.map(toRule);
    },

    async remove(projectId, ruleId) {
      if (!UUID.test(projectId) || !UUID.test(ruleId)) return false;
      const { rowCount } = await db.query(
        `UPDATE rules SET deleted_at = NOW() WHERE id = $1 AND project_id = $2 AND deleted_at IS NULL`,
        [ruleId, projectId],
      );
      return rowCount > 0;
    },

    async relevant(projectId, queryText, k = 3, minScore) {
      if (!UUID.test(projectId) || k <= 0) return [];
      const { rows } = await db.query<RuleRow & { embedding: number[] }>(
        `SELECT ${COLUMNS}, embedding FROM rules WHERE project_id = $1 AND deleted_at IS NULL ORDER BY created_at, id`,
        [projectId],
      );
      if (rows.length === 0) return [];
      await refreshStale(db, embedder, rows, checkVector);
      const query = await embedOne(queryText);
      return rows
        // Same length: embedOne and refreshStale hold every vector to embedder.dimensions.
        .map((row) => ({ ...toRule(row), score: cosineSimilarity(query, row.embedding) }))
        .filter((r) => minScore === undefined || r.score >= minScore)
        // Stable sort over rows already in creation order: equal scores keep the older rule first.
        .sort((a, b) => b.score - a.score)
        .slice(0, k);
    },
  };
}

/** Rules embedded by another model (or size) are re-embedded with the current one and saved. */
async function refreshStale(
  db: Db,
  embedder: Embedder,
  rows: Array<RuleRow & { embedding: number[] }>,
  check: (v: number[] | undefined) => number[],
): Promise<void> {
  const stale = rows.filter((r) => r.embedding_model !== embedder.model || r.embedding.length !== embedder.dimensions);
  if (stale.length === 0) return;
  const vectors = await embedder.embed(stale.map((r) => r.text));
  for (let i = 0; i < stale.length; i++) {
    stale[i].embedding = check(vectors[i]);
    stale[i].embedding_model = embedder.model;
    await db.query(`UPDATE rules SET embedding = $2, embedding_model = $3 WHERE id = $1`, [stale[i].id, stale[i].embedding, embedder.model]);
  }
}

/** Case, spacing and final punctuation do not make a different rule. */
export function textKey(text: string): string {
  return text.toLowerCase().replace(/\s+/g, " ").replace(/[\s.!;,]+$/, "").trim();
}

function toRule(row: RuleRow): Rule {
  return {
    id: row.id,
    projectId: row.project_id,
    text: row.text,
    source: typeof row.source === "string" ? (JSON.parse(row.source) as RuleSource) : row.source,
    embeddingModel: row.embedding_model,
    createdAt: new Date(row.created_at),
  };
}
