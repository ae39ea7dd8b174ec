import type { AddressInfo } from "node:net";
import { App as BoltApp, webApi } from "@slack/bolt";
import type { App } from "../../app.js";
import { createApproverCheck } from "../../../graph/actor.js";
import { createChatMessages } from "../../../store/chatMessages.js";
import { createIdentityLinks } from "../../../store/identityLinks.js";
import { downloadAttachment } from "../download.js";
import type { SlackDeps } from "./deps.js";
import { errorFields, toBoltLogger } from "./logger.js";
import { createRenderer } from "./renderer.js";
import { createMediaLinks } from "../../links/mediaLinks.js";
import { createWorkTracker } from "./work.js";
import { registerListeners } from "./listeners/index.js";
import { createAccounts } from "../../../store/accounts.js";
import { createAdminCheck } from "../common/admins.js";
import { createProjectService } from "../common/projectService.js";

/**
 * Where Slack serves files: files.slack.com, and on Enterprise Grid files-origin.slack.com, to
 * which files.slack.com redirects (a third-party report, see ../shared/reference/chat-surfaces.md;
 * NousResearch/hermes-agent#114483). Both are Slack's own, so the bearer token may go to both.
 */
export const SLACK_FILE_HOSTS = ["files.slack.com", "files-origin.slack.com"];

export interface SlackSurfaceOptions {
  app: App;
  /** xoxb-… (SLACK_BOT_TOKEN). Sent to the Slack API and to the file hosts, nowhere else. */
  botToken: string;
  /** HTTP mode (SLACK_SIGNING_SECRET): Bolt's HTTPReceiver on `port`, POST /slack/events. */
  signingSecret?: string;
  /** Socket Mode (SLACK_APP_TOKEN, xapp-…, connections:write); wins over the signing secret when both are set. */
  appToken?: string;
  /** HTTP port; 0 picks a free one (start() returns it). Unused in Socket Mode. */
  port: number;
  /** Web API base (SLACK_API_URL), e.g. a loopback stand-in in tests; default https://slack.com/api/. */
  apiUrl?: string;
  /** Hosts files may be downloaded from, with the bot token (SLACK_FILE_HOSTS; default SLACK_FILE_HOSTS). */
  fileHosts?: string[];
  /** Tests only: lets a loopback http:// file host through. Production requires https. */
  allowHttpDownloads?: boolean;
  /** The final MP4 is uploaded up to this size and linked above it. */
  uploadLimitBytes: number;
  /** PUBLIC_URL: videos over the upload limit are linked there, signed and expiring (bot/links/). */
  publicUrl?: string;
  /** Least time between two edits of one message; default 1500 ms. */
  editIntervalMs?: number;
}

export interface SlackSurface {
  /** Connects (Socket Mode) or listens (HTTP); checks the token with auth.test first. */
  start(): Promise<{ port?: number }>;
  /** Stops taking events, shows pending edits, waits for work in flight. */
  stop(): Promise<void>;
  /** Resolves when no listener, render or throttled edit is pending (tests, graceful shutdown). */
  settled(): Promise<void>;
  bolt: BoltApp;
}

/**
 * The Slack surface: Bolt listeners that turn Slack events into runner calls, and a renderer that
 * turns the runner's job events into Slack messages. Everything it must remember (which message
 * shows what) is in chat_messages, so any instance can serve any click after any restart.
 */
export function createSlackSurface(options: SlackSurfaceOptions): SlackSurface {
  const { app, botToken } = options;
  if (!botToken) throw new Error("The Slack surface needs a bot token (SLACK_BOT_TOKEN).");
  if (!options.appToken && !options.signingSecret) {
    throw new Error("The Slack surface needs SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode).");
  }
  const logger = app.logger.child({ surface: "slack" });
  const fileHosts = options.fileHosts ?? SLACK_FILE_HOSTS;
  const clientOptions = {
    ...(options.apiUrl ? { slackApiUrl: options.apiUrl } : {}),
    // The default (10 retries over ~30 min) is far too long for a chat answer.
    retryConfig: webApi.retryPolicies.fiveRetriesInFiveMinutes,
  };
  const common = {
    token: botToken,
    logger: toBoltLogger(logger),
    clientOptions,
    // auth.test runs in start() (init), where a bad token is an error, not an unhandled rejection.
    deferInitialization: true,
  };
  const bolt = options.appToken
    ? new BoltApp({ ...common, appToken: options.appToken, socketMode: true })
    : new BoltApp({ ...common, signingSecret: options.signingSecret });

  const tracker = createWorkTracker();
  const isAdmin = createAdminCheck(app.config.env);
  const chat = createChatMessages(app.db);
  const renderer = createRenderer({
    client: bolt.client, app, chat, logger, tracker,
    uploadLimitBytes: options.uploadLimitBytes, editIntervalMs: options.editIntervalMs,
    links: createMediaLinks({ config: app.config, publicUrl: options.publicUrl }),
  });
  const deps: SlackDeps = {
    app, chat, renderer, logger, links: createIdentityLinks(app.db, Date.now, app.runner.users),
    download: (url, maxBytes) =>
      downloadAttachment({
        url, allowedHosts: fileHosts, maxBytes, allowHttp: options.allowHttpDownloads ?? false,
        headers: { Authorization: `Bearer ${botToken}` },
        // Slack answers a download without a usable token with its sign-in page (status 200).
        htmlRefusal: "Slack showed me its sign-in page instead of the file, so I can't read it. Ask whoever runs this bot to check its files:read scope, then drop the file again.",
      }),
    isApprover: createApproverCheck({ slackUserIds: app.config.env.SLACK_APPROVER_IDS, discordRoleIds: [] }),
    isAdmin,
    accounts: createAccounts(app.db),
    projects: createProjectService({ runner: app.runner, isAdmin }),
    track: (work) => tracker.track(work),
    intakeInFlight: new Set(),
  };
  registerListeners(bolt, deps);
  bolt.error(async (err) => {
    logger.error({ ...errorFields(err) }, "slack request failed");
  });

  let unsubscribe: (() => void) | undefined;
  let started = false;

  return {
    bolt,
    async start() {
      await bolt.init();
      unsubscribe = app.runner.on((event) => renderer.handle(event));
      const server = (options.appToken ? await bolt.start() : await bolt.start(options.port)) as unknown;
      started = true;
      const address = (server as { address?: () => AddressInfo | string | null })?.address?.();
      logger.info({ mode: options.appToken ? "socket" : "http" }, "slack surface started");
      return typeof address === "object" && address ? { port: address.port } : {};
    },
    async stop() {
      unsubscribe?.();
      if (started) await bolt.stop();
      started = false;
      renderer.flush();
      await tracker.settled();
    },
    settled: () => tracker.settled(),
  };
}
