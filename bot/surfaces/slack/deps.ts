import type { Logger } from "pino";
import type { App } from "../../app.js";
import type { Actor } from "../../../graph/actor.js";
import type { ChatMessages } from "../../../store/chatMessages.js";
import type { Renderer } from "./renderer.js";
import type { IdentityLinks } from "../../../store/identityLinks.js";
import type { Accounts } from "../../../store/accounts.js";
import type { ProjectService } from "../common/projectService.js";

/** What every listener gets besides Bolt's own arguments. Built once in index.ts. */
export interface SlackDeps {
  app: App;
  chat: ChatMessages;
  /** /link codes and links between a Slack and a Discord identity. */
  links: IdentityLinks;
  renderer: Renderer;
  logger: Logger;
  /** Downloads a Slack-hosted file, up to maxBytes; the bearer token goes to the allowed file hosts only. */
  download(url: string, maxBytes: number): Promise<Uint8Array>;
  isApprover(actor: Actor): boolean;
  /** Approvers and ADMIN_IDS: who may grant credits and change projects. */
  isAdmin(actor: Actor): boolean;
  /** Balances, recent spend and grants (/credits). */
  accounts: Accounts;
  /** /project and /rules. */
  projects: ProjectService;
  /** Registers background work, so shutdown and tests can wait for it. */
  track<T>(work: Promise<T>): Promise<T>;
  /**
   * file_share deliveries being turned into jobs right now in this process, so a retry that
   * arrives meanwhile is dropped; the durable check is the job's origin (see listeners/events/fileShare.ts).
   */
  intakeInFlight: Set<string>;
}
