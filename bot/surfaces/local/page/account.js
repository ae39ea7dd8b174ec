// @ts-check
// The account panel: this browser's credits and recent spend, and for the machine's operator a
// form that grants credits to anyone the bot knows (audited on the server).
import { api, byTestId, el, messageOf, nonce, postJson, toast } from "./dom.js";

const ui = {
  balance: byTestId("balance"),
  lines: byTestId("account-lines"),
  form: /** @type {HTMLFormElement} */ (byTestId("grant-form")),
  user: /** @type {HTMLSelectElement} */ (byTestId("grant-user")),
  amount: /** @type {HTMLInputElement} */ (byTestId("grant-amount")),
  reason: /** @type {HTMLInputElement} */ (byTestId("grant-reason")),
  submit: /** @type {HTMLButtonElement} */ (byTestId("grant-submit")),
};

export async function refreshAccount() {
  const r = await api("/api/me");
  if (!r.ok) return;
  ui.balance.textContent = `Credits: ${r.body.balance}`;
  ui.balance.dataset.balance = String(r.body.balance);
  ui.lines.replaceChildren(...r.body.lines.map((/** @type {string} */ line) => el("p", { text: line })));
  ui.form.hidden = !r.body.admin;
  if (r.body.admin) await loadUsers();
}

async function loadUsers() {
  const r = await api("/api/admin/users");
  if (!r.ok) return;
  const chosen = ui.user.value;
  ui.user.replaceChildren(...r.body.users.map((/** @type {any} */ u) => {
    const option = /** @type {HTMLOptionElement} */ (el("option", { text: `${u.name} (${u.platform}) · ${u.credits} credits` }));
    option.value = u.id;
    return option;
  }));
  if (chosen) ui.user.value = chosen;
}

ui.form.addEventListener("submit", async (e) => {
  e.preventDefault();
  ui.submit.disabled = true;
  const r = await postJson("/api/admin/grant", {
    userId: ui.user.value, amount: Number(ui.amount.value), nonce: nonce(), ...(ui.reason.value.trim() ? { reason: ui.reason.value.trim() } : {}),
  });
  ui.submit.disabled = false;
  toast(messageOf(r), r.ok ? "info" : "error");
  if (r.ok) {
    ui.reason.value = "";
    await refreshAccount();
  }
});
