import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { createOfflineIllustrator } from "../tools/offline/illustrator.js";
import { applyFeedback } from "../tools/offline/analyst.js";
import { lookOf, readNote } from "../tools/offline/adjustments.js";
import type { Media, YellowContextPayload } from "../tools/ports.js";

/*
 * A 🟡 note visibly answered without any key: the offline analyst adds the note to the prompt, the
 * offline illustrator draws it. Measured on the pixels with sharp, in the middle of the frame (the
 * corners carry labels and the bottom band the caption).
 */

const illustrator = createOfflineIllustrator();
const SCRIPT = "Hero shot: slow push-in, 50mm lens. A rich and warm brand subject in red, even lighting.";
let reference: Media;

/** A colourful reference with a 40 px checkerboard over it, so framing changes are countable. */
async function styleReference(): Promise<Media> {
  const W = 1280, H = 720;
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      const dark = (Math.floor(x / 40) + Math.floor(y / 40)) % 2 === 0;
      px[i] = dark ? 90 : 180;
      px[i + 1] = dark ? 110 : 170;
      px[i + 2] = dark ? 120 : 150;
    }
  }
  return { data: new Uint8Array(await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer()), contentType: "image/png" };
}

/** The prompt the offline analyst writes for these notes, one edit after another. */
function edited(...notes: string[]): string {
  let prompt = SCRIPT;
  for (const note of notes) {
    const payload = {
      brand_essence_prompt: "", style_reference_url: "", conversation_history: [], user_feedback: note,
      current_scene: { id: "s", sequence_index: 0, cinematography_prompt: prompt, camera_movement: "slow push-in", lighting_notes: "", invariant_token: "", preview_image_url: "", preview_seed: 1, traffic_light: "YELLOW" },
    } as unknown as YellowContextPayload;
    prompt = applyFeedback(payload).cinematographyPrompt;
  }
  return prompt;
}

async function draw(prompt: string, seed = 7): Promise<Buffer> {
  const media = await illustrator.preview({ prompt, styleReference: reference, seed, sequenceIndex: 1, sceneCount: 3 });
  return Buffer.from(media.data);
}

/** Mean R, G, B and luminance of the frame's middle (x 320–960, y 120–540). */
async function middle(jpeg: Buffer) {
  const { data } = await sharp(jpeg).extract({ left: 320, top: 120, width: 640, height: 420 }).raw().toBuffer({ resolveWithObject: true });
  let r = 0, g = 0, b = 0, chroma = 0;
  const n = data.length / 3;
  for (let i = 0; i < data.length; i += 3) {
    r += data[i]; g += data[i + 1]; b += data[i + 2];
    chroma += Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]);
  }
  return { r: r / n, g: g / n, b: b / n, luma: (0.299 * r + 0.587 * g + 0.114 * b) / n, chroma: chroma / n };
}

/** Light/dark changes along the middle row: a tighter crop shows fewer, larger squares. */
async function edgesAcross(jpeg: Buffer): Promise<number> {
  const { data } = await sharp(jpeg).extract({ left: 0, top: 330, width: 1280, height: 1 }).greyscale().raw().toBuffer({ resolveWithObject: true });
  let edges = 0;
  let last = -10;
  for (let x = 1; x < data.length; x++) {
    // A blurred edge spans a pixel or two: count it once.
    if (Math.abs(data[x] - data[x - 1]) > 25 && x - last > 3) edges++;
    if (Math.abs(data[x] - data[x - 1]) > 25) last = x;
  }
  return edges;
}

beforeAll(async () => {
  reference = await styleReference();
});

describe("offline 🟡 edits change the preview the way the note says", () => {
  it("reads light, colour, camera and mood words, negations included", () => {
    expect(readNote("Warmer light, and make the logo twice as large").labels).toEqual(["warmer light"]);
    expect(readNote("less warm please").labels).toEqual(["cooler light"]);
    expect(readNote("zoom in and make it more dramatic").labels).toEqual(["closer framing", "more dramatic"]);
    expect(readNote("black and white, dutch angle").labels).toEqual(["black and white", "tilted angle"]);
    expect(readNote("slower camera move").labels).toEqual([]);
    expect(lookOf(["warmer", "even warmer"]).look.warmth).toBe(2);
  });

  it("a warmer note warms the preview; the rest of the shot stays as it was", async () => {
    const [before, warmer, unrelated] = await Promise.all([draw(edited()), draw(edited("warmer light")), draw(edited("slower camera move"))]);
    const [b, w, u] = await Promise.all([middle(before), middle(warmer), middle(unrelated)]);
    // Red minus blue rises by more than 12 levels (of 255) in the middle of the frame.
    expect((w.r - w.b) - (b.r - b.b)).toBeGreaterThan(12);
    // A note with no word the offline tools can draw keeps the framing and colours (the caption differs).
    expect(Math.abs(u.r - b.r) + Math.abs(u.g - b.g) + Math.abs(u.b - b.b)).toBeLessThan(1.5);
    expect(await edgesAcross(unrelated)).toBe(await edgesAcross(before));
  });

  it("cooler, brighter, darker, black and white, closer and wider are visible too", async () => {
    const base = await middle(await draw(edited()));
    const cooler = await middle(await draw(edited("cooler, bluer light")));
    const brighter = await middle(await draw(edited("brighter")));
    const darker = await middle(await draw(edited("darker, night")));
    const mono = await middle(await draw(edited("black and white")));
    expect((cooler.r - cooler.b) - (base.r - base.b)).toBeLessThan(-12);
    expect(brighter.luma - base.luma).toBeGreaterThan(10);
    expect(darker.luma - base.luma).toBeLessThan(-10);
    expect(mono.chroma).toBeLessThan(3);
    const [edges, closer, wider] = await Promise.all([
      edgesAcross(await draw(edited())), edgesAcross(await draw(edited("closer"))), edgesAcross(await draw(edited("wider shot"))),
    ]);
    expect(closer).toBeLessThan(edges);
    expect(wider).toBeGreaterThan(edges);
  });

  it("the editor's reply says what the new preview shows, or that it cannot draw the note", () => {
    const payload = (note: string) => ({
      brand_essence_prompt: "", style_reference_url: "", conversation_history: [], user_feedback: note,
      current_scene: { id: "s", sequence_index: 2, cinematography_prompt: SCRIPT, camera_movement: "", lighting_notes: "", invariant_token: "", preview_image_url: "", preview_seed: 1, traffic_light: "YELLOW" },
    }) as unknown as YellowContextPayload;
    expect(applyFeedback(payload("warmer light")).reply).toMatch(/Scene 3: added "warmer light".*The new preview shows it: warmer light\./);
    expect(applyFeedback(payload("logo twice as large")).reply).toMatch(/keeps its look; a real model would follow the note/);
  });

  it("the framing follows the script, not the seed: a new script is a new shot, the same script the same shot", async () => {
    const [a, b, other] = await Promise.all([draw(SCRIPT, 1), draw(SCRIPT, 2), draw("Closing shot: crane up, 24mm wide lens. Something else entirely.", 1)]);
    expect(a.equals(b)).toBe(false); // the caption names the seed
    expect(await edgesAcross(a)).toBe(await edgesAcross(b));
    const [ma, mo] = await Promise.all([middle(a), middle(other)]);
    expect(Math.abs(ma.r - mo.r) + Math.abs(ma.g - mo.g) + Math.abs(ma.b - mo.b) + Math.abs((await edgesAcross(a)) - (await edgesAcross(other)))).toBeGreaterThan(2);
  });
});
