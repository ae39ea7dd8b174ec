import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createFfmpeg } from "../../tools/ffmpeg.js";
import { createOfflineSongEditor } from "../../tools/offline/song-editor.js";
import { createLocalBlobs } from "../../store/blobs.js";
import { withBlobFiles } from "../../graph/nodes/blobFiles.js";

/**
 * The song's final render against the floor: a bare `ffmpeg -f concat -c copy` of the same clips,
 * in the same run. Clips already match their shots (H.264, same size and fps), so the render should
 * copy streams. Clips and song sit in a local blob store, as in the graph; two figures are timed:
 * - render: what renderSongVideo asks of the editor (clips read in place, the song muxed in, the
 *   index written at the front), against the bare concat;
 * - render + store: the same plus moving the result into the content-addressed store, which hashes
 *   every byte of it once (sha256), the price of a key that names the content.
 */
/** Defaults: a 3-minute song of 30 six-second shots. */
export async function benchSongRender(shots = 30, shotS = 6, runs = 5) {
  const ffmpeg = createFfmpeg();
  const dir = mkdtempSync(path.join(tmpdir(), "bench-song-"));
  try {
    const blobs = createLocalBlobs(path.join(dir, "blobs"));
    const clipKeys: string[] = [];
    for (let i = 0; i < shots; i++) {
      const file = path.join(dir, `clip${i}.mp4`);
      // A different pattern per clip, so each has its own bytes and its own key.
      await ffmpeg.run(["-f", "lavfi", "-i", `testsrc2=s=1280x720:r=24:d=${shotS}`, "-vf", `hue=h=${i * 12}`, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", file]);
      clipKeys.push(await blobs.putFile(file, "video/mp4"));
    }
    const song = path.join(dir, "song.mp3");
    await ffmpeg.run(["-f", "lavfi", "-i", `sine=frequency=330:duration=${shots * shotS}`, "-c:a", "libmp3lame", song]);
    const songKey = await blobs.putFile(song, "audio/mpeg");
    const editor = createOfflineSongEditor({ ffmpeg, workDir: path.join(dir, "editor") });
    const durationsMs = clipKeys.map(() => shotS * 1000);

    const render: number[] = [];
    const stored: number[] = [];
    const bare: number[] = [];
    let mode = "";
    for (let r = 0; r < runs; r++) {
      let t = performance.now();
      const out = await withBlobFiles(blobs, [songKey, ...clipKeys], ([audio, ...clips]) => editor.renderSong({ clips, durationsMs, audio }));
      render.push(performance.now() - t);
      await blobs.putFile(out.output.path, out.output.contentType);
      stored.push(performance.now() - t);
      mode = out.mode;
      t = performance.now();
      await withBlobFiles(blobs, clipKeys, async (paths) => {
        const list = path.join(dir, "list.txt");
        writeFileSync(list, paths.map((f) => `file '${f}'`).join("\n"));
        await ffmpeg.run(["-f", "concat", "-safe", "0", "-i", list, "-c", "copy", path.join(dir, "bare.mp4")]);
      });
      bare.push(performance.now() - t);
      rmSync(path.join(dir, "bare.mp4"), { force: true });
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    return { shots, shotS, mode, oursMs: median(render), storedMs: median(stored), bareMs: median(bare) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
