// @ts-check
// The local chat page: renders the server's job view and turns clicks into API calls.
// Every piece of text from the user or a model goes through textContent, never innerHTML.
import { api, byTestId, el, messageOf, postJson, toast } from "./dom.js";
import { buildTalk, buildVersions } from "./versions.js";
import { refreshAccount } from "./account.js";
import { showProjectOf } from "./project.js";

const settings = JSON.parse(document.getElementById("settings")?.textContent ?? "{}");
const LABELS = settings.labels ?? { GREEN: "🟢 Approve", YELLOW: "🟡 Edit", RED: "🔴 Re-roll" };
const DONE_VERB = { GREEN: "🟢 Approved", YELLOW: "🟡 Edit requested", RED: "🔴 Re-roll requested", REVERT: "↩️ Reverted" };
const STAGES = {
  analyzing: "Analysing", styling: "Styling", directing: "Directing", reviewing: "Reviewing", assembling: "Assembling",
  done: "Done", flagged: "Flagged", failed: "Failed", cancelled: "Cancelled",
};
const SCENE_STATUS = {
  scripting: "Writing", preview_generation: "Drawing preview…", review: "Waiting for review",
  rendering: "Rendering video…", completed: "Clip ready", failed: "Failed",
};
const TERMINAL = ["done", "flagged", "failed", "cancelled"];

const ui = {
  input: /** @type {HTMLInputElement} */ (byTestId("file-input")),
  drop: byTestId("drop-zone"),
  dropTitle: byTestId("drop-title"),
  job: byTestId("job"),
  stage: byTestId("stage"),
  statusLine: byTestId("status-line"),
  progress: byTestId("progress"),
  progressText: byTestId("progress-text"),
  credits: byTestId("credits"),
  engine: byTestId("engine"),
  jobError: byTestId("job-error"),
  approveAll: /** @type {HTMLButtonElement} */ (byTestId("approve-all")),
  retry: /** @type {HTMLButtonElement} */ (byTestId("retry")),
  cancel: /** @type {HTMLButtonElement} */ (byTestId("cancel")),
  carousel: byTestId("carousel"),
  final: byTestId("final"),
  video: /** @type {HTMLVideoElement} */ (byTestId("final-video")),
  download: /** @type {HTMLAnchorElement} */ (byTestId("download")),
  dialog: /** @type {HTMLDialogElement} */ (byTestId("edit-dialog")),
  editTitle: byTestId("edit-title"),
  editCurrent: byTestId("edit-current"),
  editNote: /** @type {HTMLTextAreaElement} */ (byTestId("edit-note")),
  editCount: byTestId("edit-count"),
  editCancel: byTestId("edit-cancel"),
  toasts: byTestId("toasts"),
};

/** @type {string | null} */
let jobId = null;
/** @type {any} */
let view = null;
/** @type {EventSource | null} */
let source = null;
/**
 * Scene id → the review (interrupt id) a decision was sent for: its buttons stay off until the card
 * moves on, to a new version or, for an approved shot no engine could render, to a new review of the same one.
 */
const sent = new Map();
let jobActionInFlight = false;
/** @type {Map<string, ReturnType<typeof buildCard>>} */
const cards = new Map();
/** @type {any} */
let editing = null;
/** After a refusal by the rate limit: 🟢 waits until then (ms since epoch), and says so on the button. */
let coolDownUntil = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let coolDownTimer;

// ------------------------------------------------------------------------------------------
// Upload
// ------------------------------------------------------------------------------------------

/** @param {File} file */
async function upload(file) {
  // Checked here too so a too-large file is refused before it is uploaded: songs may be larger than images.
  const song = file.type === "audio/mpeg" || /\.mp3$/i.test(file.name);
  const limit = song ? settings.maxSongBytes : settings.maxImageBytes;
  if (file.size > limit) {
    const mb = (file.size / (1024 * 1024)).toFixed(1);
    const limitMb = Math.round(limit / (1024 * 1024));
    toast(`That file is ${mb} MB, over the ${limitMb} MB limit. ` +
      (song ? "Trim or re-encode the song and send it again." : "Export a smaller version (e.g. a JPEG at 80% quality) and send it again."));
    return;
  }
  ui.drop.classList.add("busy");
  const before = ui.dropTitle.textContent;
  ui.dropTitle.textContent = `Uploading ${file.name}…`;
  const r = await api("/api/jobs", {
    method: "POST",
    headers: { "x-filename": encodeURIComponent(file.name), "content-type": file.type || "application/octet-stream" },
    body: file,
  });
  ui.drop.classList.remove("busy");
  ui.input.value = "";
  if (!r.ok) {
    // Nothing started: the drop zone says what it said before, the toast says why.
    ui.dropTitle.textContent = before;
    toast(messageOf(r));
    return;
  }
  ui.dropTitle.textContent = "Drop another image or song to start a new video";
  openJob(r.body.jobId);
}

ui.input.addEventListener("change", () => {
  const file = ui.input.files?.[0];
  if (file) void upload(file);
});
for (const type of ["dragenter", "dragover"]) {
  ui.drop.addEventListener(type, (e) => {
    e.preventDefault();
    ui.drop.classList.add("over");
  });
}
ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("over"));
ui.drop.addEventListener("drop", (e) => {
  e.preventDefault();
  ui.drop.classList.remove("over");
  const file = /** @type {DragEvent} */ (e).dataTransfer?.files?.[0];
  if (file) void upload(file);
});

// ------------------------------------------------------------------------------------------
// The job: fetch, then follow its events
// ------------------------------------------------------------------------------------------

/** @param {string} id */
async function openJob(id) {
  source?.close();
  source = null;
  jobId = id;
  view = null;
  sent.clear();
  cards.clear();
  ui.carousel.replaceChildren();
  ui.video.removeAttribute("src");
  history.replaceState(null, "", `/?job=${encodeURIComponent(id)}`);
  const r = await api(`/api/jobs/${encodeURIComponent(id)}`);
  if (jobId !== id) return;
  if (!r.ok) {
    toast(messageOf(r));
    return;
  }
  render(r.body);
  void refreshAccount();
  if (TERMINAL.includes(r.body.stage)) return;
  source = new EventSource(`/api/events?job=${encodeURIComponent(id)}`);
  source.addEventListener("view", (e) => render(JSON.parse(/** @type {MessageEvent} */ (e).data)));
  source.addEventListener("job-error", (e) => toast(JSON.parse(/** @type {MessageEvent} */ (e).data).message));
}

/** @param {any} next */
function render(next) {
  if (!next || next.jobId !== jobId) return;
  const spentBefore = view?.creditsUsed;
  view = next;
  ui.job.hidden = false;
  ui.job.dataset.stage = view.stage;
  ui.job.dataset.kind = view.kind;
  ui.stage.textContent = STAGES[view.stage] ?? view.stage;
  ui.stage.dataset.stage = view.stage;
  // A stopped job's reason is the error line; the status line would only say the same once more.
  const terminalWithReason = TERMINAL.includes(view.stage) && Boolean(view.error);
  ui.statusLine.textContent = terminalWithReason ? "" : view.statusLine;
  ui.progress.textContent = view.progress ?? "";
  ui.progressText.textContent = view.progressText ?? "";
  ui.credits.textContent = view.spent ?? `Spent ${view.creditsUsed} credits`;
  ui.engine.textContent = view.engine ? `Engine: ${view.engine}` : "";
  ui.engine.title = view.routingReason ?? "";
  ui.jobError.hidden = !view.error;
  ui.jobError.textContent = view.error ?? "";
  if (spentBefore !== undefined && spentBefore !== view.creditsUsed) void refreshAccount();

  const coolingS = Math.ceil((coolDownUntil - Date.now()) / 1000);
  const reviewable = view.scenes.filter((/** @type {any} */ c) => c.awaiting === "review" && sent.get(c.sceneId) !== c.interruptId);
  ui.approveAll.disabled = jobActionInFlight || reviewable.length === 0 || coolingS > 0;
  ui.approveAll.textContent = coolingS > 0
    ? `✅ Approve all (in ${coolingS} s)`
    : reviewable.length > 0 ? `✅ Approve all · ${view.approveAllPrice}` : "✅ Approve all";
  ui.cancel.disabled = jobActionInFlight || TERMINAL.includes(view.stage);
  ui.approveAll.hidden = ui.cancel.hidden = TERMINAL.includes(view.stage);
  ui.retry.hidden = view.stage !== "failed";
  ui.retry.disabled = jobActionInFlight;
  showProjectOf(view.jobId, view.kind);

  const order = [...view.scenes].sort((a, b) => a.index - b.index);
  for (const card of order) {
    let parts = cards.get(card.sceneId);
    if (!parts) {
      parts = buildCard();
      cards.set(card.sceneId, parts);
    }
    ui.carousel.append(parts.root); // keeps DOM order = scene order without rebuilding cards
    updateCard(parts, card, coolingS);
  }

  ui.final.hidden = !(view.stage === "done" && view.finalVideoKey);
  if (!ui.final.hidden) {
    const src = `/blobs/${view.finalVideoKey}`;
    if (ui.video.getAttribute("src") !== src) {
      ui.video.src = src;
      // The video sits above the cards; bring it into view when it arrives.
      ui.final.scrollIntoView({ block: "nearest" });
      ui.download.href = src;
      ui.download.download = `reelbot-${view.jobId.slice(0, 8)}.mp4`;
    }
  }
  if (TERMINAL.includes(view.stage)) {
    source?.close();
    source = null;
  }
}

function buildCard() {
  const img = /** @type {HTMLImageElement} */ (el("img", { testid: "scene-preview" }));
  img.loading = "lazy";
  img.decoding = "async";
  const frame = el("div", { className: "frame" }, img, el("div", { className: "placeholder", text: "Drawing preview…" }));
  const title = el("span", { className: "scene-title", testid: "scene-title" });
  const status = el("span", { className: "chip", testid: "scene-status" });
  const excerpt = el("p", { className: "excerpt", testid: "scene-excerpt" });
  const decided = el("p", { className: "decided muted", testid: "scene-decided" });
  const error = el("p", { className: "card-error", testid: "scene-error" });
  const impact = el("p", { className: "impact muted", testid: "scene-impact" });
  const redo = /** @type {HTMLButtonElement} */ (el("button", { className: "btn grey", testid: "btn-redo" }));
  redo.type = "button";
  const talk = buildTalk();
  const versions = buildVersions(() => ({ jobId, card: parts.card }));
  const green = /** @type {HTMLButtonElement} */ (el("button", { className: "btn green", testid: "btn-green", text: LABELS.GREEN }));
  const yellow = /** @type {HTMLButtonElement} */ (el("button", { className: "btn grey", testid: "btn-yellow", text: LABELS.YELLOW }));
  const red = /** @type {HTMLButtonElement} */ (el("button", { className: "btn red", testid: "btn-red", text: LABELS.RED }));
  for (const b of [green, yellow, red]) b.type = "button";
  const buttons = el("div", { className: "buttons" }, green, yellow, red, redo);
  const root = el(
    "article",
    { className: "card", testid: "scene-card" },
    frame,
    el("div", { className: "card-body" }, el("div", { className: "card-head" }, title, status), excerpt, decided, error, impact, talk.root, versions.toggle, versions.panel),
    buttons,
  );
  const parts = { root, img, title, status, excerpt, decided, error, impact, talk, versions, buttons, green, yellow, red, redo, card: /** @type {any} */ (null) };
  redo.addEventListener("click", () => void redoShots(parts.card));
  green.addEventListener("click", () => void decide(parts.card, "GREEN"));
  red.addEventListener("click", () => void decide(parts.card, "RED"));
  yellow.addEventListener("click", () => openEdit(parts.card));
  return parts;
}

/** @param {ReturnType<typeof buildCard>} parts @param {any} card @param {number} coolingS */
function updateCard(parts, card, coolingS) {
  parts.card = card;
  const { root, img } = parts;
  root.dataset.sceneIndex = String(card.index);
  root.dataset.version = String(card.versionNo);
  root.dataset.status = card.status;
  root.dataset.light = card.trafficLight;
  root.dataset.awaiting = card.awaiting ?? "";
  if (card.previewKey && img.dataset.key !== card.previewKey) {
    img.dataset.key = card.previewKey;
    img.src = `/blobs/${card.previewKey}`;
  }
  img.alt = `Preview of scene ${card.index + 1}`;
  root.classList.toggle("has-preview", Boolean(card.previewKey));
  parts.title.textContent = `${view.kind === "song" ? "Shot" : "Scene"} ${card.index + 1}/${card.count}` + (card.timeRange ? ` · ${card.timeRange}` : "");
  parts.status.textContent = (SCENE_STATUS[card.status] ?? card.status) + (card.renderNote ? ` · ${card.renderNote}` : "");
  parts.status.dataset.status = card.status;
  parts.excerpt.textContent = card.scriptExcerpt;
  parts.excerpt.title = card.scriptExcerpt;
  const verb = card.lastDecision ? DONE_VERB[/** @type {keyof typeof DONE_VERB} */ (card.lastDecision)] : null;
  parts.decided.textContent = verb ? `${verb}${card.decidedBy ? ` by ${card.decidedBy}` : ""}` : "";
  parts.error.textContent = card.errorMessage ?? "";
  parts.impact.textContent = card.impact ? `↪️ ${card.impact}` : "";
  parts.impact.hidden = !card.impact;
  parts.redo.textContent = card.redo ?? "";
  parts.redo.hidden = !card.redo;
  parts.talk.update(card.conversation ?? []);
  parts.versions.update(card);
  // The price is on the button before anything is paid; while the rate limit cools down, the wait is.
  parts.green.textContent = coolingS > 0 ? `${LABELS.GREEN} (in ${coolingS} s)` : `${LABELS.GREEN} · ${card.price}`;
  // Once a scene is approved its card reads like an edited chat message: the decision, no buttons.
  parts.buttons.hidden = card.status === "rendering" || card.status === "completed";
  const off = card.awaiting !== "review" || sent.get(card.sceneId) === card.interruptId;
  for (const b of [parts.green, parts.yellow, parts.red]) b.disabled = off;
  if (coolingS > 0) parts.green.disabled = true;
}

/** A refusal by the rate limit: 🟢 and Approve all wait, counting down on their labels, then come back. @param {number} seconds */
function coolDown(seconds) {
  coolDownUntil = Date.now() + seconds * 1000;
  clearTimeout(coolDownTimer);
  const tick = () => {
    refreshButtons();
    if (Date.now() < coolDownUntil) coolDownTimer = setTimeout(tick, 1000);
  };
  tick();
}

function refreshButtons() {
  if (view) render(view);
}

// ------------------------------------------------------------------------------------------
// Decisions
// ------------------------------------------------------------------------------------------

/** @param {any} card @param {"GREEN" | "YELLOW" | "RED"} decision @param {string} [note] */
async function decide(card, decision, note) {
  if (!card || !jobId) return false;
  sent.set(card.sceneId, card.interruptId);
  refreshButtons();
  const r = await postJson(`/api/jobs/${encodeURIComponent(jobId)}/decide`, {
    sceneIndex: card.index, versionNo: card.versionNo, decision, ...(note ? { note } : {}),
  });
  if (!r.ok) {
    // A refusal changed nothing: the buttons come back so the user can act on the message.
    if (sent.get(card.sceneId) === card.interruptId) sent.delete(card.sceneId);
    if (r.status === 429 && r.retryAfterS > 0) coolDown(r.retryAfterS);
    refreshButtons();
    toast(messageOf(r));
    return false;
  }
  toast(messageOf(r), "info");
  void refreshAccount();
  return true;
}

/** 🔁 Redo on a shot's impact note: the later shots drawn from it are drawn again. @param {any} card */
async function redoShots(card) {
  if (!card || !jobId) return;
  const r = await postJson(`/api/jobs/${encodeURIComponent(jobId)}/redo`, { sceneIndex: card.index });
  if (r.status === 429 && r.retryAfterS > 0) coolDown(r.retryAfterS);
  toast(messageOf(r), r.ok ? "info" : "error");
}

/** @param {any} card */
function openEdit(card) {
  if (!card) return;
  editing = card;
  ui.editTitle.textContent = `🟡 Edit ${view?.kind === "song" ? "shot" : "scene"} ${card.index + 1}/${card.count}`;
  ui.editCurrent.textContent = card.scriptExcerpt;
  ui.editNote.value = "";
  ui.editNote.maxLength = settings.maxNoteChars ?? 500;
  updateCount();
  ui.dialog.showModal();
  ui.editNote.focus();
}

function updateCount() {
  ui.editCount.textContent = `${ui.editNote.value.length}/${ui.editNote.maxLength}`;
}

ui.editNote.addEventListener("input", () => {
  ui.editNote.setCustomValidity("");
  updateCount();
});
ui.editCancel.addEventListener("click", () => ui.dialog.close());
ui.dialog.addEventListener("close", () => (editing = null));
ui.dialog.querySelector("form")?.addEventListener("submit", (e) => {
  const note = ui.editNote.value.trim();
  if (!note) {
    e.preventDefault();
    ui.editNote.setCustomValidity("Tell me what to change.");
    ui.editNote.reportValidity();
    return;
  }
  const card = editing;
  void decide(card, "YELLOW", note);
});

ui.approveAll.addEventListener("click", () => void jobAction("approve-all"));
ui.retry.addEventListener("click", () => void jobAction("retry"));
ui.cancel.addEventListener("click", () => {
  if (confirm("Cancel this job? Finished clips are kept; nothing more will be charged.")) void jobAction("cancel");
});

/** @param {"approve-all" | "cancel" | "retry"} action */
async function jobAction(action) {
  if (!jobId) return;
  jobActionInFlight = true;
  refreshButtons();
  const r = await postJson(`/api/jobs/${encodeURIComponent(jobId)}/${action}`, {});
  jobActionInFlight = false;
  if (r.status === 429 && r.retryAfterS > 0) coolDown(r.retryAfterS);
  refreshButtons();
  toast(messageOf(r), r.ok ? "info" : "error");
  if (r.ok) void refreshAccount();
  // A failed job's event stream was closed; tried again, it moves on: follow it again.
  if (r.ok && action === "retry") void openJob(jobId);
}

// A reload (or a shared link) resumes the job in the address bar.
const initial = new URLSearchParams(location.search).get("job");
if (initial) void openJob(initial);
else void refreshAccount();
