import type { Db } from "./db.js";

/*
 * The 🟡 conversations of many scenes in one query (a scene card shows its note and the editor's
 * reply). store/scenes.ts reads one scene's history for the graph; a surface redrawing a whole job
 * on every event should not make one query per scene.
 */

export interface Turn {
  role: "user" | "assistant";
  content: string;
  at: string;
}

export async function conversationsOf(db: Db, sceneIds: string[]): Promise<Map<string, Turn[]>> {
  const out = new Map<string, Turn[]>();
  if (sceneIds.length === 0) return out;
  const r = await db.query<{ scene_id: string; role: Turn["role"]; content: string; created_at: string }>(
    // A note and the reply it caused can share a timestamp: "user" > "assistant", so DESC puts the note first.
    `SELECT scene_id, role, content, created_at FROM scene_messages
     WHERE scene_id = ANY($1::uuid[]) ORDER BY created_at, role DESC`,
    [sceneIds],
  );
  for (const row of r.rows) {
    const list = out.get(row.scene_id) ?? [];
    list.push({ role: row.role, content: row.content, at: new Date(row.created_at).toISOString() });
    out.set(row.scene_id, list);
  }
  return out;
}
