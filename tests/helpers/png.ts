/** A minimal PNG writer for fixtures imagescript cannot produce (greyscale, palette). */

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function header(width: number, height: number, colourType: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, colourType, 0, 0, 0], 8);
  return ihdr;
}

/** Signature, IHDR, the given chunks, IEND. */
function assemble(ihdr: Uint8Array, chunks: Uint8Array[]): Uint8Array {
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    ...chunks,
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new CompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Encodes 8-bit pixels: colour type 0 (grey, 1 byte/px) or 3 (palette index, with `palette`). */
export async function encodePng(
  width: number,
  height: number,
  pixels: Uint8Array,
  palette?: [number, number, number][],
): Promise<Uint8Array> {
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) {
    raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  }
  return assemble(header(width, height, palette ? 3 : 0), [
    ...(palette ? [chunk("PLTE", Uint8Array.from(palette.flat()))] : []),
    chunk("IDAT", await deflate(raw)),
  ]);
}

/** A valid all-black greyscale PNG of any size, deflated as a stream (no full raw buffer). */
export async function encodeBlankPng(width: number, height: number): Promise<Uint8Array> {
  const row = new Uint8Array(width + 1);
  let y = 0;
  const rows = new ReadableStream<BufferSource>({
    pull(controller) {
      if (y++ < height) controller.enqueue(row.slice());
      else controller.close();
    },
  });
  const idat = new Uint8Array(
    await new Response(rows.pipeThrough(new CompressionStream("deflate"))).arrayBuffer(),
  );
  return assemble(header(width, height, 0), [chunk("IDAT", idat)]);
}
