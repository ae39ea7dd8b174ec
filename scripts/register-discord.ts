/**
 * Registers the bot's slash commands with Discord (PUT replaces the whole set).
 *
 *   DISCORD_TOKEN=… DISCORD_APP_ID=… [DISCORD_GUILD_ID=…] [DISCORD_API_URL=…] npx tsx scripts/register-discord.ts
 *
 * With DISCORD_GUILD_ID the commands are registered in that server only and appear at once (use
 * this while developing); without it they are global. Discord allows 200 command creates per day
 * per guild, so run this after changing bot/surfaces/discord/commands.ts, not on every start.
 */
import { pathToFileURL } from "node:url";
import { REST, Routes, type RESTPutAPIApplicationCommandsResult } from "discord.js";
import { commandDefinitions } from "../bot/surfaces/discord/commands.js";

export interface RegisterOptions {
  token: string;
  appId: string;
  guildId?: string;
  /** REST base (`http://127.0.0.1:PORT/api` for a stand-in); Discord's when omitted. */
  apiUrl?: string;
}

export async function registerCommands(options: RegisterOptions): Promise<{ route: string; registered: RESTPutAPIApplicationCommandsResult }> {
  const rest = new REST(options.apiUrl ? { api: options.apiUrl } : {}).setToken(options.token);
  const route = options.guildId ? Routes.applicationGuildCommands(options.appId, options.guildId) : Routes.applicationCommands(options.appId);
  const registered = (await rest.put(route, { body: commandDefinitions() })) as RESTPutAPIApplicationCommandsResult;
  return { route, registered };
}

async function main(): Promise<void> {
  // Scripts may read the environment directly; the bot itself goes through bot/config.ts.
  const { DISCORD_TOKEN: token, DISCORD_APP_ID: appId, DISCORD_GUILD_ID: guildId, DISCORD_API_URL: apiUrl } = process.env;
  if (!token || !appId) {
    console.error("Set DISCORD_TOKEN and DISCORD_APP_ID (and DISCORD_GUILD_ID to register in one server only).");
    process.exitCode = 2;
    return;
  }
  const { route, registered } = await registerCommands({ token, appId, guildId: guildId || undefined, apiUrl: apiUrl || undefined });
  console.log(`Registered ${registered.length} command(s) ${guildId ? `in guild ${guildId}` : "globally (may take a while to appear)"} via ${route}:`);
  for (const command of registered) console.log(`  /${command.name}  (id ${command.id}) — ${command.description}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    // A DiscordAPIError names the route and code; the token is only ever in a header.
    console.error(`Registration failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
