/** Writes a sample brand image (a PNG with a logo-like mark) for trying the bot: npm run sample -- out.png */
import sharp from "sharp";
const target = process.argv[2] ?? "sample-brand.png";
const svg = `<svg width="1200" height="800" xmlns="http://www.w3.org/2000/svg">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#0f4c81"/><stop offset="1" stop-color="#f4a261"/></linearGradient></defs>
  <rect width="1200" height="800" fill="url(#g)"/>
  <circle cx="600" cy="360" r="190" fill="#e9c46a"/><circle cx="600" cy="360" r="120" fill="#2a9d8f"/>
  <text x="600" y="690" font-size="96" text-anchor="middle" fill="#ffffff" font-family="sans-serif" font-weight="bold">LONGEVITY</text>
</svg>`;
await sharp(Buffer.from(svg)).png().toFile(target);
console.log(target);
