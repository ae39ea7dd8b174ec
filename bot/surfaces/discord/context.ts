import type { Client, REST } from "discord.js";
import type { Logger } from "pino";
import type { App } from "../../app.js";
import type { Actor } from "../../../graph/actor.js";
import type { Runner } from "../../../graph/runner.js";
import type { ChatMessages } from "../../../store/chatMessages.js";
import type { IdentityLinks } from "../../../store/identityLinks.js";
import type { FileRules } from "./intake.js";
import type { Publisher } from "./publisher.js";
import type { Accounts } from "../../../store/accounts.js";
import type { ProjectService } from "../common/projectService.js";

/** What every handler gets: injected once by createDiscordSurface, nothing global. */
export interface SurfaceContext {
  app: App;
  runner: Runner;
  client: Client;
  rest: REST;
  logger: Logger;
  publisher: Publisher;
  chatMessages: ChatMessages;
  /** /link codes and links between a Discord and a Slack identity. */
  identityLinks: IdentityLinks;
  files: FileRules;
  /** Configured approvers (DISCORD_APPROVER_ROLE_IDS), the same rule the runner applies. */
  isApprover(actor: Actor): boolean;
  /** Approvers and ADMIN_IDS: who may grant credits and change projects. */
  isAdmin(actor: Actor): boolean;
  /** Balances, recent spend and grants (/credits). */
  accounts: Accounts;
  /** /project and /rules. */
  projects: ProjectService;
}
