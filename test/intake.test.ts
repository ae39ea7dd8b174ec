import { createHash } from "node:crypto";
import zlib from "node:zlib";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { isUserFacing, UserFacingError } from "../core/errors.js";
import { failure } from "./helpers/errors.js";
import { DecisionSchema, RefineActionSchema, inspectImage, sanitizeFilename, validateImageUpload } from "../graph/intake.js";
import { parseOrThrow } from "../core/text.js";

// Fixtures are made here, not committed: a noisy image so truncating it really cuts pixel data.
async function makeImage(format: "png" | "jpeg" | "webp", width = 64, height = 48): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251;
  return sharp(pixels, { raw: { width, height, channels: 3 } })[format]().toBuffer();
}

/** A valid 1-bit greyscale PNG of any size; all-zero rows deflate to almost nothing. */
function blankPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth 1, colour type 0 (greyscale), default compression/filter/interlace
  const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(rows, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const codeOf = async (promise: Promise<unknown>) => (await failure(promise)).code;

let png: Buffer, jpeg: Buffer, webp: Buffer;
beforeAll(async () => {
  [png, jpeg, webp] = await Promise.all([makeImage("png"), makeImage("jpeg"), makeImage("webp")]);
});

describe("UserFacingError", () => {
  it("carries the code in message, the plain text in userMessage and toJSON", () => {
    const err = new UserFacingError("TOO_MANY_REQUESTS", "Try again in 5 s.", { retryAfterS: 5 });
    expect(err.message).toBe("TOO_MANY_REQUESTS: Try again in 5 s.");
    expect(err.userMessage).toBe("Try again in 5 s.");
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      name: "UserFacingError",
      code: "TOO_MANY_REQUESTS",
      message: "Try again in 5 s.",
      retryAfterS: 5,
    });
    expect(isUserFacing(err)).toBe(true);
    expect(isUserFacing(new Error("x"))).toBe(false);
  });
});

describe("inspectImage", () => {
  it("accepts JPEG, PNG and WebP detected from the content", async () => {
    for (const [bytes, mimeType, extension] of [
      [png, "image/png", "png"],
      [jpeg, "image/jpeg", "jpg"],
      [webp, "image/webp", "webp"],
    ] as const) {
      const result = await inspectImage(bytes);
      expect(result).toMatchObject({ mimeType, extension, width: 64, height: 48, sizeBytes: bytes.length });
    }
  });

  // Spec §7 test 8. Chosen code: UNSUPPORTED_FILE for content that is not an accepted image
  // (the user must send another file); VALIDATION_ERROR for malformed input fields.
  it("rejects other file types by content, whatever their name or declared type", async () => {
    const exe = Buffer.concat([Buffer.from("MZ"), Buffer.alloc(512)]);
    const pdf = Buffer.from("%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n");
    const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#f00" } }).gif().toBuffer();
    await expect(validateImageUpload({ filename: "test.jpg", declaredType: "image/jpeg", bytes: exe })).rejects.toThrow(
      "UNSUPPORTED_FILE",
    );
    await expect(inspectImage(pdf)).rejects.toThrow("That file is a PDF file. Send a JPEG, PNG or WebP image (up to 10 MB).");
    expect(await codeOf(inspectImage(gif))).toBe("UNSUPPORTED_FILE");
    expect(await codeOf(inspectImage(Buffer.from("just some text")))).toBe("UNSUPPORTED_FILE");
    expect(await codeOf(inspectImage(new Uint8Array(0)))).toBe("VALIDATION_ERROR");
  });

  it("rejects malformed upload input (the spec's base64 string shape) with VALIDATION_ERROR", async () => {
    const specShape = { filename: "test.exe", mimeType: "application/x-executable", data: "base64data" };
    await expect(validateImageUpload(specShape as never)).rejects.toThrow("VALIDATION_ERROR");
  });

  it("ignores the declared type in favour of the content", async () => {
    const result = await validateImageUpload({ filename: "logo.jpg", declaredType: "image/jpeg", bytes: png });
    expect(result.mimeType).toBe("image/png");
    expect(result.filename).toBe("logo.png");
    expect(result.declaredTypeMismatch).toBe("image/jpeg");
    const honest = await validateImageUpload({ filename: "logo.png", declaredType: "image/png", bytes: png });
    expect(honest.declaredTypeMismatch).toBeUndefined();
  });

  it("caps the file size at 10 MB before looking at the content", async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 1);
    png.copy(big); // a PNG header, then padding
    const err = await failure(inspectImage(big));
    expect(err.code).toBe("FILE_TOO_LARGE");
    expect(err.userMessage).toMatch(/over the 10 MB limit/);
    expect(await codeOf(inspectImage(png, { maxBytes: png.length - 1 }))).toBe("FILE_TOO_LARGE");
    await expect(inspectImage(png, { maxBytes: png.length })).resolves.toBeTruthy();
  });

  it("caps the pixel count from the header, without decoding", async () => {
    const tall = blankPng(1000, 45_000); // 45 MP, a few KB
    expect(tall.length).toBeLessThan(50_000);
    const err = await failure(inspectImage(tall));
    expect(err.code).toBe("IMAGE_TOO_LARGE");
    expect(err.userMessage).toContain("1000 × 45000 px (45 MP), over the 40 MP limit");
    expect(await codeOf(inspectImage(png, { maxPixels: 64 * 48 - 1 }))).toBe("IMAGE_TOO_LARGE");
    await expect(inspectImage(blankPng(100, 50), { maxPixels: 5000 })).resolves.toMatchObject({ width: 100, height: 50 });
  });

  it("refuses truncated images that a header read alone would accept", async () => {
    for (const bytes of [png, jpeg, webp]) {
      const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
      const err = await failure(inspectImage(cut));
      expect(err.code).toBe("UNSUPPORTED_FILE");
      expect(err.userMessage).toMatch(/damaged/);
    }
  });

  it("returns a stable sha256 of the bytes", async () => {
    const a = await inspectImage(png);
    const b = await inspectImage(Buffer.from(png));
    expect(a.sha256).toBe(createHash("sha256").update(png).digest("hex"));
    expect(b.sha256).toBe(a.sha256);
    expect((await inspectImage(jpeg)).sha256).not.toBe(a.sha256);
  });
});

describe("sanitizeFilename", () => {
  it("strips path traversal (spec §7 test 8)", async () => {
    const result = await validateImageUpload({ filename: "../../../etc/passwd.jpg", declaredType: "image/jpeg", bytes: jpeg });
    expect(result.filename).toBe("passwd.jpg");
    expect(result.filename).not.toContain("..");
    expect(sanitizeFilename("..\\..\\windows\\system32\\evil.png")).toBe("evil.png");
    expect(sanitizeFilename("../..")).toBe("upload");
  });

  it("removes null bytes, control and bidi characters and unsafe punctuation", () => {
    expect(sanitizeFilename("shell.php\0.png")).toBe("shell.php.png");
    expect(sanitizeFilename("invoice\u202Egnp.exe", "png")).toBe("invoicegnp.png");
    expect(sanitizeFilename("my logo (final)!.PNG")).toBe("my_logo_final.png");
    expect(sanitizeFilename(".htaccess")).toBe("htaccess");
    expect(sanitizeFilename("-rf.png")).toBe("rf.png");
    expect(sanitizeFilename("Café Ürün 写真.jpg")).toBe("Café_Ürün_写真.jpg");
    expect(sanitizeFilename("CON.png")).toBe("_CON.png");
  });

  it("is never empty and keeps or fixes the extension to the detected type", () => {
    expect(sanitizeFilename("")).toBe("upload");
    expect(sanitizeFilename("\0\0", "png")).toBe("upload.png");
    expect(sanitizeFilename(".png", "png")).toBe("png.png");
    expect(sanitizeFilename("photo.jpeg", "jpg")).toBe("photo.jpeg");
    expect(sanitizeFilename("photo.exe", "webp")).toBe("photo.webp");
    expect(sanitizeFilename("photo", "webp")).toBe("photo.webp");
    expect(sanitizeFilename("brand.final_version", "png")).toBe("brand.final_version.png");
  });

  it("limits the name to 255 UTF-8 bytes, keeping the extension", () => {
    const long = sanitizeFilename(`${"é".repeat(300)}.png`, "png");
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(255);
    expect(long.endsWith(".png")).toBe(true);
    expect(sanitizeFilename(`${"a".repeat(400)}.jpg`)).toHaveLength(255);
  });
});

describe("schemas", () => {
  const sceneId = "0b3f7f5e-3c1a-4d2b-9a6e-2f1c0d9e8a7b";

  it("RefineActionSchema needs feedback for YELLOW, sanitised and at most 500 chars", () => {
    expect(parseOrThrow(RefineActionSchema, { sceneId, status: "RED" })).toEqual({ sceneId, status: "RED" });
    expect(parseOrThrow(RefineActionSchema, { sceneId, status: "YELLOW", feedback: " warmer\n\u0000light " })).toEqual({
      sceneId,
      status: "YELLOW",
      feedback: "warmer light",
    });
    expect(() => parseOrThrow(RefineActionSchema, { sceneId, status: "YELLOW", feedback: " \u0007 " })).toThrow(
      "VALIDATION_ERROR: Tell me what to change",
    );
    expect(() => parseOrThrow(RefineActionSchema, { sceneId, status: "YELLOW", feedback: "x".repeat(501) })).toThrow(
      "500 characters",
    );
    expect(() => parseOrThrow(RefineActionSchema, { sceneId: "nope", status: "RED" })).toThrow("VALIDATION_ERROR");
  });

  it("DecisionSchema needs a non-empty note for YELLOW after sanitising", () => {
    expect(parseOrThrow(DecisionSchema, { decision: "GREEN" })).toEqual({ decision: "GREEN" });
    expect(parseOrThrow(DecisionSchema, { decision: "YELLOW", note: "more motion" }).note).toBe("more motion");
    expect(() => parseOrThrow(DecisionSchema, { decision: "YELLOW", note: "\t\r\n" })).toThrow("VALIDATION_ERROR");
    expect(() => parseOrThrow(DecisionSchema, { decision: "BLUE" })).toThrow("VALIDATION_ERROR");
  });
});
