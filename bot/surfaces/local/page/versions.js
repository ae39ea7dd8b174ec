// @ts-check
// Two parts of a scene card: its 🟡 conversation (the notes and the editor's replies, collapsible)
// and its versions (thumbnails, what each was, who asked; Revert brings one back).
import { api, el, messageOf, postJson, toast } from "./dom.js";

/** The 🟡 conversation of a scene: opens by itself when a new turn arrives. */
export function buildTalk() {
  const list = el("ol", { className: "talk-list", testid: "scene-talk-list" });
  const summary = el("summary", { testid: "scene-talk-summary" });
  const root = /** @type {HTMLDetailsElement} */ (el("details", { className: "talk", testid: "scene-talk" }, summary, list));
  let shown = 0;
  return {
    root,
    /** @param {Array<{ role: "user" | "assistant", content: string }>} turns */
    update(turns) {
      root.hidden = turns.length === 0;
      const notes = turns.filter((t) => t.role === "user").length;
      summary.textContent = `🟡 Notes and replies (${notes} note${notes === 1 ? "" : "s"})`;
      if (turns.length === shown) return;
      list.replaceChildren(...turns.map((t) => el("li", { className: `turn ${t.role}`, testid: `turn-${t.role}` },
        el("strong", { text: t.role === "user" ? "Note: " : "Editor: " }), document.createTextNode(t.content))));
      if (turns.length > shown) root.open = true;
      shown = turns.length;
    },
  };
}

/**
 * The versions of a scene, fetched when opened (and again when the card or its impact note moves on while open).
 * @param {() => { jobId: string | null, card: any }} current
 */
export function buildVersions(current) {
  const toggle = /** @type {HTMLButtonElement} */ (el("button", { className: "btn link", testid: "btn-versions", text: "🕘 Versions" }));
  toggle.type = "button";
  const list = el("ul", { className: "versions", testid: "versions" });
  const note = el("p", { className: "muted versions-note", testid: "versions-note" });
  const panel = el("div", { className: "versions-panel", testid: "versions-panel" }, list, note);
  panel.hidden = true;
  let loadedFor = "";
  // What the list shows depends on: a new version, or later shots drawn again (the impact note).
  const stateOf = (/** @type {any} */ card) => `${card.sceneId}:${card.versionNo}:${card.impact ?? ""}`;

  async function load() {
    const { jobId, card } = current();
    if (!jobId || !card) return;
    loadedFor = stateOf(card);
    const r = await api(`/api/jobs/${encodeURIComponent(jobId)}/scenes/${card.index}/versions`);
    if (!r.ok) return toast(messageOf(r));
    list.replaceChildren(...r.body.entries.map((/** @type {any} */ v) => entry(jobId, card, v)));
    note.textContent = [r.body.hidden ? `${r.body.hidden} older version(s) not shown.` : "", r.body.revertNote ?? "", r.body.impact ? `↪️ ${r.body.impact}` : ""].filter(Boolean).join(" ");
  }

  /** @param {string} jobId @param {any} card @param {any} v */
  function entry(jobId, card, v) {
    const thumb = /** @type {HTMLImageElement} */ (el("img", { className: "thumb", testid: "version-thumb" }));
    if (v.previewKey) thumb.src = `/blobs/${v.previewKey}`;
    thumb.alt = `Version ${v.versionNo} of scene ${card.index + 1}`;
    thumb.hidden = !v.previewKey;
    const words = [v.label, v.note ? `“${v.note}”` : "", v.decidedBy ? `by ${v.decidedBy}` : "", v.current ? "on the card now" : ""].filter(Boolean).join(" · ");
    const item = el("li", { className: "version", testid: "version" }, thumb, el("span", {}, el("strong", { text: `v${v.versionNo} ` }), document.createTextNode(words)));
    item.dataset.version = String(v.versionNo);
    if (v.revertable) {
      const revert = /** @type {HTMLButtonElement} */ (el("button", { className: "btn grey small", testid: "btn-revert", text: `↩️ Revert to v${v.versionNo}` }));
      revert.type = "button";
      revert.addEventListener("click", async () => {
        revert.disabled = true;
        const r = await postJson(`/api/jobs/${encodeURIComponent(jobId)}/revert`, { sceneIndex: card.index, toVersion: v.versionNo });
        toast(messageOf(r), r.ok ? "info" : "error");
        if (!r.ok) revert.disabled = false;
      });
      item.append(revert);
    }
    return item;
  }

  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) void load();
  });

  return {
    toggle,
    panel,
    /** @param {any} card */
    update(card) {
      toggle.hidden = !card.versionNo || card.versionNo < 2;
      if (!panel.hidden && loadedFor !== stateOf(card)) void load();
    },
  };
}
