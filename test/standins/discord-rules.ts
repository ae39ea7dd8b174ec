/**
 * Rules the Discord stand-in enforces on what a bot sends, each with its source in Discord's
 * documentation (https://discord.com/developers/docs/…) or ../shared/reference/chat-surfaces.md.
 * Violations are answered as Discord answers them: 400 with code 50035 "Invalid Form Body" and an
 * `errors` tree naming the field (https://discord.com/developers/docs/reference#error-messages).
 */

/** https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags */
export const PERMISSIONS = {
  VIEW_CHANNEL: 1n << 10n,
  SEND_MESSAGES: 1n << 11n,
  EMBED_LINKS: 1n << 14n,
  ATTACH_FILES: 1n << 15n,
  READ_MESSAGE_HISTORY: 1n << 16n,
  MANAGE_THREADS: 1n << 34n,
  CREATE_PUBLIC_THREADS: 1n << 35n,
  SEND_MESSAGES_IN_THREADS: 1n << 38n,
} as const;

/** What Discord sends as app_permissions for a bot with an ordinary set of rights (View, Send, Attach, threads…). */
export const DEFAULT_BOT_PERMISSIONS = 2248473465835073n;

/** https://discord.com/developers/docs/events/gateway#gateway-intents : MESSAGE_CONTENT is 1 << 15 and privileged. */
export const MESSAGE_CONTENT_INTENT = 1 << 15;

export const LIMITS = {
  // https://discord.com/developers/docs/resources/message#create-message : content up to 2000 characters, up to 10 embeds.
  content: 2000,
  embeds: 10,
  // https://discord.com/developers/docs/components/reference : custom_id 1–100, label ≤ 80, url ≤ 512,
  // ≤ 5 buttons in an action row, ≤ 5 action rows in a message without the Components V2 flag.
  customId: 100,
  buttonLabel: 80,
  url: 512,
  buttonsPerRow: 5,
  rows: 5,
  // https://discord.com/developers/docs/components/reference#text-input : label ≤ 45, placeholder ≤ 100, max_length ≤ 4000.
  textInputLabel: 45,
  placeholder: 100,
  textInputMax: 4000,
  // https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-modal :
  // title ≤ 45 characters, 1–5 components.
  modalTitle: 45,
  modalComponents: 5,
  // The reference (§2.6, discord-api-docs developers/reference.mdx): 10 MiB per file by default, 25 MiB per request.
  fileBytes: 10 * 1024 * 1024,
  requestBytes: 25 * 1024 * 1024,
} as const;

/** A 50035 body: `{ errors: { <path>: { _errors: [{ code, message }] } } }`, with the path nested as Discord nests it. */
export function invalidFormBody(path: string, message: string): { message: string; code: number; errors: unknown } {
  const errors = path.split(".").reduceRight<unknown>((inner, key) => ({ [key]: inner }), { _errors: [{ code: "BASE_TYPE_BAD_LENGTH", message }] });
  return { message: "Invalid Form Body", code: 50035, errors };
}

type Violation = { path: string; message: string } | null;

function len(value: unknown, path: string, min: number, max: number): Violation {
  if (typeof value !== "string" || value.length < min || value.length > max) return { path, message: `Must be between ${min} and ${max} in length.` };
  return null;
}

function button(b: any, path: string, ids: Set<string>): Violation {
  if (b.type !== 2) return null;
  if (b.style === 5) {
    // Link buttons carry a url and no custom_id.
    return len(b.url, `${path}.url`, 1, LIMITS.url) ?? (b.label !== undefined ? len(b.label, `${path}.label`, 0, LIMITS.buttonLabel) : null);
  }
  const bad = len(b.custom_id, `${path}.custom_id`, 1, LIMITS.customId) ?? (b.label !== undefined ? len(b.label, `${path}.label`, 0, LIMITS.buttonLabel) : null);
  if (bad) return bad;
  // https://discord.com/developers/docs/components/reference#anatomy-of-a-component : custom_id unique per message.
  if (ids.has(b.custom_id)) return { path: `${path}.custom_id`, message: "Component custom id cannot be duplicated" };
  ids.add(b.custom_id);
  return null;
}

/** A message body (create, edit, interaction response, webhook): content, embeds, legacy action rows. */
export function messageViolation(body: any): Violation {
  if (!body || typeof body !== "object") return null;
  if (typeof body.content === "string" && body.content.length > LIMITS.content) return { path: "content", message: `Must be ${LIMITS.content} or fewer in length.` };
  if (Array.isArray(body.embeds) && body.embeds.length > LIMITS.embeds) return { path: "embeds", message: `Must be ${LIMITS.embeds} or fewer in length.` };
  const rows = body.components;
  if (rows === undefined || rows === null) return null;
  if (!Array.isArray(rows)) return { path: "components", message: "Must be an array." };
  if (rows.length > LIMITS.rows) return { path: "components", message: `Must be ${LIMITS.rows} or fewer in length.` };
  const ids = new Set<string>();
  for (const [r, row] of rows.entries()) {
    if (row.type !== 1) continue;
    const parts = row.components ?? [];
    if (parts.length < 1 || parts.length > LIMITS.buttonsPerRow) return { path: `components.${r}.components`, message: `Must be between 1 and ${LIMITS.buttonsPerRow} in length.` };
    for (const [i, part] of parts.entries()) {
      const bad = button(part, `components.${r}.components.${i}`, ids);
      if (bad) return bad;
    }
  }
  return null;
}

/** A modal (interaction callback type 9). */
export function modalViolation(data: any): Violation {
  const bad = len(data?.title, "data.title", 1, LIMITS.modalTitle) ?? len(data?.custom_id, "data.custom_id", 1, LIMITS.customId);
  if (bad) return bad;
  const parts = data.components;
  if (!Array.isArray(parts) || parts.length < 1 || parts.length > LIMITS.modalComponents) {
    return { path: "data.components", message: `Must be between 1 and ${LIMITS.modalComponents} in length.` };
  }
  for (const [i, part] of parts.entries()) {
    // A Label (type 18) wraps one component; an action row (type 1) holds one text input.
    const inner = part.type === 18 ? [part.component] : part.components ?? [];
    const label = part.type === 18 ? part.label : undefined;
    if (label !== undefined) {
      const badLabel = len(label, `data.components.${i}.label`, 1, LIMITS.textInputLabel);
      if (badLabel) return badLabel;
    }
    for (const input of inner) {
      if (input?.type !== 4) continue;
      const badInput = len(input.custom_id, `data.components.${i}.component.custom_id`, 1, LIMITS.customId) ??
        (input.label !== undefined ? len(input.label, `data.components.${i}.component.label`, 1, LIMITS.textInputLabel) : null) ??
        (input.placeholder !== undefined ? len(input.placeholder, `data.components.${i}.component.placeholder`, 0, LIMITS.placeholder) : null);
      if (badInput) return badInput;
      if (input.max_length !== undefined && (input.max_length < 1 || input.max_length > LIMITS.textInputMax)) {
        return { path: `data.components.${i}.component.max_length`, message: `Must be between 1 and ${LIMITS.textInputMax}.` };
      }
    }
  }
  return null;
}
