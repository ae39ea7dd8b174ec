/**
 * The Discord surface: a discord.js gateway client that turns commands, drops, clicks and thread
 * replies into runner calls, and renders every job with a Discord location (or origin) from the
 * runner's events. One handler per file in ./handlers; nothing about a job lives in memory.
 *
 * Intents: Guilds, GuildMessages, DirectMessages, and MessageContent unless DISCORD_MESSAGE_CONTENT
 * is false. MessageContent is privileged (enable it in the Developer Portal, or Discord refuses
 * the login): without it, files dropped in server channels arrive with no attachments (unless the
 * message mentions the bot) and thread replies with no text. `/render file:<attachment>`, the
 * buttons, the modal and DMs work without it.
 */
import { Client, Events, GatewayIntentBits, Partials, type Interaction, type Message } from "discord.js";
import type { Logger } from "pino";
import type { App } from "../../app.js";
import { decodeButton } from "../../views.js";
import { createApproverCheck } from "../../../graph/actor.js";
import { createChatMessages } from "../../../store/chatMessages.js";
import { createIdentityLinks } from "../../../store/identityLinks.js";
import { DEFAULT_IMAGE_LIMITS } from "../../../graph/intake.js";
import { DEFAULT_AUDIO_LIMITS } from "../../../graph/intake-audio.js";
import type { SurfaceContext } from "./context.js";
import { decodeJobButton } from "./ids.js";
import { createPublisher } from "./publisher.js";
import { createMediaLinks } from "../../links/mediaLinks.js";
import { describeError, redactUrl } from "./log.js";
import { SORRY, apologize } from "./respond.js";
import { handleRenderCommand } from "./handlers/renderCommand.js";
import { handleStatusCommand } from "./handlers/statusCommand.js";
import { handleShowCommand } from "./handlers/showCommand.js";
import { handleCancelCommand } from "./handlers/cancelCommand.js";
import { handleLinkCommand } from "./handlers/linkCommand.js";
import { handleDecisionButton } from "./handlers/decisionButton.js";
import { handleEditModal } from "./handlers/editModal.js";
import { handleJobButton } from "./handlers/jobButton.js";
import { handleMessageDrop } from "./handlers/messageDrop.js";
import { handleThreadReply } from "./handlers/threadReply.js";
import { handleCreditsCommand } from "./handlers/creditsCommand.js";
import { handleVersionsCommand } from "./handlers/versionsCommand.js";
import { handleRulesCommand } from "./handlers/rulesCommand.js";
import { handleProjectCommand } from "./handlers/projectCommand.js";
import { handleHistoryButton } from "./handlers/historyButton.js";
import { decodeHistoryButton } from "./ids.js";
import { createAccounts } from "../../../store/accounts.js";
import { createAdminCheck } from "../common/admins.js";
import { createProjectService } from "../common/projectService.js";

export const DISCORD_FILE_HOSTS = ["cdn.discordapp.com", "media.discordapp.net"];

export interface DiscordSurfaceOptions {
  app: App;
  /** DISCORD_TOKEN. Never logged. */
  token: string;
  /** DISCORD_APP_ID (the application id; the bot user's id is the same). */
  appId: string;
  /** DISCORD_API_URL: REST base such as `http://127.0.0.1:PORT/api` for stand-ins; Discord's by default. */
  apiUrl?: string;
  /** Hosts attachments may be downloaded from (DISCORD_FILE_HOSTS). */
  fileHosts?: string[];
  /** Tests only: lets downloads use http (the stand-in's CDN is loopback http). */
  allowHttpDownloads?: boolean;
  /** Files above this are linked instead of attached (Discord's default limit is 10 MiB). */
  uploadLimitBytes?: number;
  /** PUBLIC_URL: videos too large to attach are linked there, signed and expiring (bot/links/). */
  publicUrl?: string;
  /** Ask for the privileged Message Content intent; default DISCORD_MESSAGE_CONTENT (true). */
  messageContent?: boolean;
  /** Minimum time between two passes over a job's messages, at least 1500 ms (each message is edited at most once per pass). */
  editIntervalMs?: number;
  logger?: Logger;
}

export interface DiscordSurface {
  /** Logs in and resolves once the gateway session is ready. */
  start(): Promise<void>;
  /** Flushes pending message updates, stops listening and closes the gateway session. */
  stop(): Promise<void>;
  client: Client;
  /** Resolves when no message update is pending (tests; graceful shutdown). */
  settled(): Promise<void>;
}

export function createDiscordSurface(options: DiscordSurfaceOptions): DiscordSurface {
  const { app, token } = options;
  if (!token) throw new Error("Discord surface: DISCORD_TOKEN is empty");
  if (!options.appId) throw new Error("Discord surface: DISCORD_APP_ID is empty");
  const logger = (options.logger ?? app.logger).child({ surface: "discord" });
  const messageContent = options.messageContent ?? app.config.env.DISCORD_MESSAGE_CONTENT;
  const client = new Client({
    intents: [
      GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages,
      ...(messageContent ? [GatewayIntentBits.MessageContent] : []),
    ],
    // DM channels are not cached before their first message; without this their events are dropped.
    partials: [Partials.Channel],
    allowedMentions: { parse: [], repliedUser: false },
    // Only set `api` when given: an explicit undefined would replace discord.js's default.
    rest: options.apiUrl ? { api: options.apiUrl } : {},
  });
  const chatMessages = createChatMessages(app.db);
  const isAdmin = createAdminCheck(app.config.env);
  const publisher = createPublisher({
    runner: app.runner,
    blobs: app.tools.blobs,
    chatMessages,
    rest: client.rest,
    logger,
    uploadLimitBytes: options.uploadLimitBytes ?? 10 * 1024 * 1024,
    links: createMediaLinks({ config: app.config, publicUrl: options.publicUrl }),
    // Never below 1.5 s: Discord rate-limits edits, and users cannot read faster anyway.
    editIntervalMs: Math.max(options.editIntervalMs ?? 1500, 1500),
  });
  const ctx: SurfaceContext = {
    app,
    runner: app.runner,
    client,
    rest: client.rest,
    logger,
    publisher,
    chatMessages,
    identityLinks: createIdentityLinks(app.db, Date.now, app.runner.users),
    files: {
      hosts: options.fileHosts ?? DISCORD_FILE_HOSTS,
      allowHttp: options.allowHttpDownloads ?? false,
      maxImageBytes: DEFAULT_IMAGE_LIMITS.maxBytes,
      maxSongBytes: DEFAULT_AUDIO_LIMITS.maxBytes,
    },
    isApprover: createApproverCheck({ slackUserIds: [], discordRoleIds: app.config.env.DISCORD_APPROVER_ROLE_IDS }),
    isAdmin,
    accounts: createAccounts(app.db),
    projects: createProjectService({ runner: app.runner, isAdmin }),
  };

  async function onInteraction(interaction: Interaction): Promise<void> {
    if (interaction.isChatInputCommand()) {
      switch (interaction.commandName) {
        case "render": return handleRenderCommand(ctx, interaction);
        case "status": return handleStatusCommand(ctx, interaction);
        case "show": return handleShowCommand(ctx, interaction);
        case "cancel": return handleCancelCommand(ctx, interaction);
        case "link": return handleLinkCommand(ctx, interaction);
        case "credits": return handleCreditsCommand(ctx, interaction);
        case "versions": return handleVersionsCommand(ctx, interaction);
        case "rules": return handleRulesCommand(ctx, interaction);
        case "project": return handleProjectCommand(ctx, interaction);
      }
      return;
    }
    if (interaction.isButton()) {
      const decision = decodeButton(interaction.customId);
      if (decision) return handleDecisionButton(ctx, interaction, decision);
      const job = decodeJobButton(interaction.customId);
      if (job) return handleJobButton(ctx, interaction, job.action, job.jobId);
      const history = decodeHistoryButton(interaction.customId);
      if (history) return handleHistoryButton(ctx, interaction, history);
      return;
    }
    if (interaction.isModalSubmit()) {
      const action = decodeButton(interaction.customId);
      if (action?.decision === "YELLOW") return handleEditModal(ctx, interaction, action);
    }
  }

  async function onMessage(message: Message): Promise<void> {
    // Bots (this one included: its own posts come back as MESSAGE_CREATE), webhooks, system messages.
    if (message.author.bot || message.webhookId || message.system) return;
    if (message.attachments.size > 0) return handleMessageDrop(ctx, message);
    return handleThreadReply(ctx, message);
  }

  client.on(Events.InteractionCreate, (interaction) => {
    onInteraction(interaction).catch(async (err) => {
      logger.error({ ...describeError(err), interactionId: interaction.id }, "discord: interaction handler failed");
      if (interaction.isRepliable() && (interaction.deferred || interaction.replied)) await apologize(logger, interaction, SORRY);
    });
  });
  client.on(Events.MessageCreate, (message) => {
    onMessage(message).catch((err) => logger.error({ ...describeError(err), messageId: message.id }, "discord: message handler failed"));
  });
  client.on(Events.Error, (err) => logger.error(describeError(err), "discord: client error"));
  // discord.js masks most of the token in its debug output ("Provided token: <id>.<ts>.****");
  // drop even that, and any interaction token in a URL.
  const scrub = (message: string) =>
    redactUrl(message.split(token).join("[redacted]").replace(/Provided token: \S+/g, "Provided token: [redacted]"));
  client.on(Events.Debug, (message) => logger.trace({ message: scrub(message) }, "discord: debug"));
  client.on(Events.Warn, (message) => logger.warn({ message: scrub(message) }, "discord: client warning"));
  client.rest.on("rateLimited", (info) =>
    logger.warn({ method: info.method, route: redactUrl(info.route), retryAfterMs: info.retryAfter, global: info.global, limit: info.limit }, "discord: rate limited"),
  );

  let unsubscribe: (() => void) | null = null;

  return {
    client,
    async start() {
      unsubscribe ??= app.runner.on((event) => publisher.refresh(event.type === "error" ? event.jobId : event.view.jobId));
      const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
      try {
        await client.login(token);
      } catch (err) {
        // Gateway close 4014: a privileged intent the app is not allowed
        // (https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes).
        if (err instanceof Error && /disallowed intents/i.test(err.message)) {
          throw new Error(
            "Discord refused the Message Content intent. Enable it in the Developer Portal (your app → Bot → Privileged Gateway Intents → " +
              "Message Content), or set DISCORD_MESSAGE_CONTENT=false: /render, buttons, DMs and files sent with an @mention of the bot keep working.",
          );
        }
        throw err;
      }
      await ready;
      logger.info({ botUserId: client.user?.id, apiUrl: options.apiUrl ?? "discord.com", fileHosts: ctx.files.hosts }, "discord: connected");
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = null;
      await publisher.drain();
      await client.destroy();
    },
    settled: () => publisher.settled(),
  };
}
