/**
 * Writes a sample song for trying the music-video route: npm run sample:song -- out.mp3
 * 24 s at 120 bpm (a kick every beat), quiet verse then a louder chorus at 12 s, with lyrics in
 * its ID3 tag.
 */
import { createFfmpeg } from "../tools/ffmpeg.js";

const target = process.argv[2] ?? "sample-song.mp3";
// Commas inside a filter expression must be escaped from the filter-graph parser.
const kick = "0.9*sin(2*PI*60*t)*exp(-18*mod(t\\,0.5))";
const pad = "if(lt(t\\,12)\\,0.12\\,0.35)*sin(2*PI*220*t)+if(lt(t\\,12)\\,0\\,0.2)*sin(2*PI*330*t)";
await createFfmpeg().run([
  "-f", "lavfi", "-i", `aevalsrc=${kick}+${pad}:s=44100:d=24`,
  "-metadata", "title=Sample Song", "-metadata", "lyrics=Morning light on the river\nWe run until the city wakes\nHold on hold on\nThe sky is ours tonight",
  "-c:a", "libmp3lame", "-b:a", "128k", target,
]);
console.log(target);
