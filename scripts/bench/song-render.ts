import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createFfmpeg } from "../../tools/ffmpeg.js";
import { createOfflineSongEditor } from "../../tools/offline/song-editor.js";
import type { Media } from "../../tools/ports.js";

/**
 * The song's final render against the floor: a bare `ffmpeg -f concat -c copy` of the same clips.
 * Clips already match their shots (H.264, same size and fps), so the render should copy streams.
 */
/** Defaults: a 3-minute song of 30 six-second shots. */
export async function benchSongRender(shots = 30, shotS = 6, runs = 5) {
  const ffmpeg = createFfmpeg();
  const dir = mkdtempSync(path.join(tmpdir(), "bench-song-"));
  try {
    const clipFiles: string[] = [];
    for (let i = 0; i < shots; i++) {
      const file = path.join(dir, `clip${i}.mp4`);
      await ffmpeg.run(["-f", "lavfi", "-i", `testsrc2=s=1280x720:r=24:d=${shotS}`, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", file]);
      clipFiles.push(file);
    }
    const song = path.join(dir, "song.mp3");
    await ffmpeg.run(["-f", "lavfi", "-i", `sine=frequency=330:duration=${shots * shotS}`, "-c:a", "libmp3lame", song]);
    const clips: Media[] = clipFiles.map((f) => ({ data: readFileSync(f), contentType: "video/mp4" }));
    const audio: Media = { data: readFileSync(song), contentType: "audio/mpeg" };
    const list = path.join(dir, "list.txt");
    writeFileSync(list, clipFiles.map((f) => `file '${f}'`).join("\n"));
    const editor = createOfflineSongEditor({ ffmpeg, workDir: path.join(dir, "editor") });

    const ours: number[] = [];
    const bare: number[] = [];
    let mode = "";
    for (let r = 0; r < runs; r++) {
      let t = performance.now();
      const out = await editor.renderSong({ clips, durationsMs: clips.map(() => shotS * 1000), audio });
      ours.push(performance.now() - t);
      mode = out.mode;
      t = performance.now();
      await ffmpeg.run(["-y", "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", path.join(dir, "bare.mp4")]);
      bare.push(performance.now() - t);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    return { shots, shotS, mode, oursMs: median(ours), bareMs: median(bare) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
