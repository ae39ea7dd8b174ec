import { z } from "zod";
import type { Runner } from "../../../graph/runner.js";
import type { Accounts } from "../../../store/accounts.js";
import { MAX_GRANT } from "../../../store/accounts.js";
import { accountLines, grantText } from "../common/accountText.js";
import { sendJson } from "./http.js";
import { readJson, type Route } from "./routes.js";

/*
 * The page's account panel: the browser's balance and recent spend, and for the machine's operator
 * (the page listens on loopback only) a form that grants credits to anyone the bot knows.
 */

const GrantBody = z.object({
  userId: z.string().uuid(),
  amount: z.number().int().min(1).max(MAX_GRANT),
  reason: z.string().max(200).optional(),
  // A fresh value per press of the button: a double submit grants once.
  nonce: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
});

export function accountRoutes(deps: { runner: Runner; accounts: Accounts; isAdmin: boolean }): Route[] {
  const { runner, accounts } = deps;
  return [
    ["GET", /^\/api\/me$/, async ({ res, actor }) => {
      const user = await runner.users.ensure(actor);
      const summary = await accounts.summary(user.id);
      sendJson(res, 200, { name: user.name, balance: summary.balance, spent30d: summary.spent30d, lines: accountLines(summary, "You"), admin: deps.isAdmin });
    }],
    ["GET", /^\/api\/admin\/users$/, async ({ res }) => {
      if (!deps.isAdmin) return sendJson(res, 403, { error: NOT_HERE });
      sendJson(res, 200, { users: await accounts.known() });
    }],
    ["POST", /^\/api\/admin\/grant$/, async ({ req, res, actor }) => {
      const parsed = GrantBody.safeParse(await readJson(req));
      if (!deps.isAdmin) return sendJson(res, 403, { error: NOT_HERE });
      if (!parsed.success) return sendJson(res, 400, { error: `Choose someone and a whole number of credits from 1 to ${MAX_GRANT.toLocaleString("en")}.` });
      const { userId, amount, reason, nonce } = parsed.data;
      const admin = await runner.users.ensure(actor);
      const target = await runner.users.get(userId);
      if (!target) return sendJson(res, 404, { error: "I can't find that person." });
      const result = await accounts.grant({ byUserId: admin.id, toUserId: target.id, amount, reason, key: `local:${nonce}` });
      sendJson(res, 200, { ...result, message: grantText(result, amount, target.name ?? target.platform_user_id) });
    }],
  ];
}

const NOT_HERE = "Granting credits from this page works only while it listens on this machine (HOST=127.0.0.1). Use /credits on Slack or Discord.";
