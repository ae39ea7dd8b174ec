// @ts-check
// Helpers every script of the page shares: building elements (text only, never innerHTML), toasts
// and JSON calls to the bot.

/** @param {string} id */
export const byTestId = (id) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${id}"]`));

/**
 * @param {string} tag
 * @param {{ className?: string, testid?: string, text?: string }} [props]
 * @param {Node[]} children
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.testid) node.dataset.testid = props.testid;
  if (props.text !== undefined) node.textContent = props.text;
  node.append(...children);
  return node;
}

/** @param {string} message @param {"error" | "info"} [kind] */
export function toast(message, kind = "error") {
  const node = el("div", { className: `toast ${kind}`, testid: "toast", text: message });
  node.setAttribute("role", kind === "error" ? "alert" : "status");
  byTestId("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 8000 : 4000);
}

/** @param {string} path @param {RequestInit} [init] */
export async function api(path, init = {}) {
  let response;
  try {
    response = await fetch(path, { credentials: "same-origin", ...init });
  } catch {
    return { ok: false, status: 0, body: { error: "I can't reach the bot. Is it still running?" }, retryAfterS: 0 };
  }
  const body = await response.json().catch(() => ({}));
  const retryAfterS = Number(response.headers.get("retry-after") ?? body?.retryAfterS ?? 0) || 0;
  return { ok: response.ok, status: response.status, body, retryAfterS };
}

/** @param {string} path @param {unknown} payload */
export const postJson = (path, payload) =>
  api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload) });

/** @param {{ body: any }} r */
export const messageOf = (r) => r.body?.message ?? r.body?.error ?? "Something went wrong.";

/** A fresh id for one press of a button (a double submit is recognised by the server). */
export function nonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
