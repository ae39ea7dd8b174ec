import { MessageFlags, escapeMarkdown, type ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { acknowledge, explain } from "../respond.js";
import { accountLines, grantText } from "../../common/accountText.js";
import { NOT_ADMIN } from "../../common/admins.js";
import type { AccountSummary } from "../../../../store/accounts.js";

/** Discord shows a timestamp in each reader's time zone (https://discord.com/developers/docs/reference#message-formatting). */
const discordDate = (at: Date) => `<t:${Math.floor(at.getTime() / 1000)}:f>`;

/** File names are user-written: escaped before they go into markdown. */
const escaped = (s: AccountSummary): AccountSummary => ({ ...s, recent: s.recent.map((e) => ({ ...e, filename: e.filename && escapeMarkdown(e.filename) })) });

/**
 * `/credits`: your balance and recent spend, privately. Approvers and admins: `/credits user:@x`
 * shows theirs, `/credits user:@x amount:20 [reason:…]` grants (once per interaction, audited).
 * The person is the one in this server (a DM is its own identity, see identity.ts).
 */
export async function handleCreditsCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  let content: string;
  try {
    const who = interaction.options.getUser("user");
    const amount = interaction.options.getInteger("amount");
    const reason = interaction.options.getString("reason") ?? undefined;
    if (!who && amount === null) {
      const me = await ctx.runner.users.ensure(actor);
      content = accountLines(escaped(await ctx.accounts.summary(me.id)), "You", discordDate).join("\n");
    } else if (!who) {
      content = "Say who gets the credits: `/credits user:@someone amount:20`.";
    } else if (!ctx.isAdmin(actor)) {
      content = NOT_ADMIN;
    } else {
      const name = escapeMarkdown(who.globalName ?? who.username);
      const target = await ctx.runner.users.ensure({ platform: "discord", teamId: interaction.guildId ?? "", userId: who.id });
      if (amount === null) {
        content = accountLines(escaped(await ctx.accounts.summary(target.id)), name, discordDate).join("\n");
      } else {
        const admin = await ctx.runner.users.ensure(actor);
        // The interaction id is unique: a delivery Discord repeats grants once.
        const result = await ctx.accounts.grant({ byUserId: admin.id, toUserId: target.id, amount, reason, key: `discord:${interaction.id}` });
        content = grantText(result, amount, name);
      }
    }
  } catch (err) {
    content = explain(ctx.logger, err, { interactionId: interaction.id });
  }
  await interaction.editReply({ content: content.slice(0, 2000), allowedMentions: { parse: [] } }).catch(() => undefined);
}
