/**
 * Registers the bot's slash commands with Discord (PUT replaces the whole set).
 *
 *   DISCORD_TOKEN=… DISCORD_APP_ID=… [DISCORD_GUILD_ID=…] [DISCORD_API_URL=…] npx tsx scripts/register-discord.ts
 *
 * Without DISCORD_GUILD_ID the commands are global: in every server the bot is in and in DMs with it.
 * With DISCORD_GUILD_ID (while developing) they are registered in that server, where they appear at
 * once, and globally for DMs only: guild commands never work in DMs, and a global set limited to
 * DMs does not show up twice in the server. Discord allows 200 command creates per day per guild,
 * so run this after changing bot/surfaces/discord/commands.ts, not on every start.
 */
import { pathToFileURL } from "node:url";
import { REST, Routes, type RESTPutAPIApplicationCommandsResult } from "discord.js";
import { commandDefinitions, type CommandScope } from "../bot/surfaces/discord/commands.js";

export interface RegisterOptions {
  token: string;
  appId: string;
  guildId?: string;
  /** REST base (`http://127.0.0.1:PORT/api` for a stand-in); Discord's when omitted. */
  apiUrl?: string;
}

export interface Registration {
  route: string;
  registered: RESTPutAPIApplicationCommandsResult;
}

/** @returns each PUT made: the guild set first when a guild is given, then the global set. */
export async function registerCommands(options: RegisterOptions): Promise<Registration[]> {
  const rest = new REST(options.apiUrl ? { api: options.apiUrl } : {}).setToken(options.token);
  const put = async (route: `/${string}`, scope: CommandScope): Promise<Registration> =>
    ({ route, registered: (await rest.put(route, { body: commandDefinitions(scope) })) as RESTPutAPIApplicationCommandsResult });
  if (!options.guildId) return [await put(Routes.applicationCommands(options.appId), "everywhere")];
  return [
    await put(Routes.applicationGuildCommands(options.appId, options.guildId), "guild"),
    await put(Routes.applicationCommands(options.appId), "dm"),
  ];
}

async function main(): Promise<void> {
  // Scripts may read the environment directly; the bot itself goes through bot/config.ts.
  const { DISCORD_TOKEN: token, DISCORD_APP_ID: appId, DISCORD_GUILD_ID: guildId, DISCORD_API_URL: apiUrl } = process.env;
  if (!token || !appId) {
    console.error("Set DISCORD_TOKEN and DISCORD_APP_ID (and DISCORD_GUILD_ID to register in one server only).");
    process.exitCode = 2;
    return;
  }
  const done = await registerCommands({ token, appId, guildId: guildId || undefined, apiUrl: apiUrl || undefined });
  for (const { route, registered } of done) {
    const where = route.includes("/guilds/") ? `in guild ${guildId}` : guildId ? "globally, for DMs with the bot only" : "globally: every server and DMs (may take a while to appear)";
    console.log(`Registered ${registered.length} command(s) ${where} via ${route}:`);
    for (const command of registered) console.log(`  /${command.name}  (id ${command.id}) — ${command.description}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    // A DiscordAPIError names the route and code; the token is only ever in a header.
    console.error(`Registration failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
