// @ts-check
// The project panel of a music video (or of this browser): settings, each role's model and the
// rules learnt from 🔴; rules can be removed, settings changed by the machine's operator.
import { api, byTestId, el, messageOf, postJson, toast } from "./dom.js";

const ui = {
  root: /** @type {HTMLDetailsElement} */ (byTestId("project")),
  lines: byTestId("project-lines"),
  rules: byTestId("rules"),
  form: /** @type {HTMLFormElement} */ (byTestId("project-form")),
  lora: /** @type {HTMLInputElement} */ (byTestId("project-lora")),
  approval: /** @type {HTMLInputElement} */ (byTestId("project-approval")),
  role: /** @type {HTMLSelectElement} */ (byTestId("project-role")),
  model: /** @type {HTMLInputElement} */ (byTestId("project-model")),
};

/** @type {string | null} */
let jobId = null;
/** @type {any} */
let loaded = null;

/** Shown for music videos (brand videos have no project). @param {string | null} id @param {string} kind */
export function showProjectOf(id, kind) {
  ui.root.hidden = kind !== "song";
  if (jobId === id) return;
  jobId = id;
  loaded = null;
  if (ui.root.open) void load();
}

async function load() {
  if (!jobId) return;
  const r = await api(`/api/project?job=${encodeURIComponent(jobId)}`);
  if (!r.ok) return toast(messageOf(r));
  loaded = r.body;
  ui.lines.replaceChildren(...r.body.project.lines.map((/** @type {string} */ l) => el("li", { text: l })));
  ui.form.hidden = !r.body.mayEdit;
  ui.lora.value = r.body.project.settings.loraWeightsId;
  ui.approval.checked = r.body.project.settings.requireHumanApproval;
  ui.rules.replaceChildren(...(r.body.rules.length ? r.body.rules.map(ruleItem) : [el("li", { className: "muted", text: "No rules yet: a 🔴 with a reason teaches one." })]));
}

/** @param {any} rule */
function ruleItem(rule) {
  const remove = /** @type {HTMLButtonElement} */ (el("button", { className: "btn grey small", testid: "btn-remove-rule", text: "Remove" }));
  remove.type = "button";
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    const r = await postJson("/api/rules/remove", { projectId: loaded.project.id, ruleId: rule.id });
    toast(messageOf(r), r.ok ? "info" : "error");
    await load();
  });
  return el("li", { className: "rule", testid: "rule" }, el("span", { text: rule.text }), remove);
}

ui.root.addEventListener("toggle", () => {
  if (ui.root.open && !loaded) void load();
});

ui.form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const s = loaded?.project.settings;
  const change = {
    job: jobId,
    ...(ui.lora.value.trim() && ui.lora.value.trim() !== s?.loraWeightsId ? { lora: ui.lora.value.trim() } : {}),
    ...(ui.approval.checked !== s?.requireHumanApproval ? { approval: ui.approval.checked } : {}),
    ...(ui.role.value && ui.model.value.trim() ? { role: ui.role.value, model: ui.model.value.trim() } : {}),
  };
  const r = await postJson("/api/project", change);
  toast(messageOf(r), r.ok ? "info" : "error");
  if (r.ok) {
    ui.model.value = "";
    ui.role.value = "";
    await load();
  }
});
