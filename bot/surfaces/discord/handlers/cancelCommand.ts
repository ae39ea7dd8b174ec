import type { ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { replyAboutJob } from "../jobs.js";

/** `/cancel <job>`: stops the job (finished clips are kept); the answer is private, the status message shows it to everyone. */
export async function handleCancelCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  await replyAboutJob(ctx, interaction, async (view, actor) => {
    const result = await ctx.runner.cancel({ jobId: view.jobId, actor });
    ctx.publisher.refresh(view.jobId);
    return result.message;
  });
}
