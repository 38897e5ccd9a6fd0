import assert from "node:assert/strict";
import { Image } from "imagescript";
import {
  checkDecodedSize,
  checkImage,
  decodeImage,
  ImageError,
  MAX_ASPECT_RATIO,
  probeImage,
  type RgbImage,
} from "../lib/image/decode.ts";
import { cropRgb, resizeBicubic, resizeBicubicWindow } from "../lib/image/resize.ts";
import {
  imageToTensor,
  MAX_RESIZE_PIXELS,
  normalize,
  resizeAndCrop,
  resizedSize,
} from "../lib/image/preprocess.ts";
import { referenceNormalize, referenceResize } from "./helpers/resize_reference.ts";
import { resampleModuleText } from "../tools/build_wasm.ts";
import { ARCHITECTURES } from "../lib/checkpoint/config.ts";
import { encodeBlankPng, encodePng } from "./helpers/png.ts";

// Fixtures are encoded with imagescript's own encoders (native codecs: tests run with FFI).
function gradient(width: number, height: number): Image {
  const img = new Image(width, height);
  for (let y = 1; y <= height; y++) {
    for (let x = 1; x <= width; x++) {
      img.setPixelAt(x, y, Image.rgbaToColor((x * 7) % 256, (y * 5) % 256, (x + y) % 256, 255));
    }
  }
  return img;
}

async function rejects(bytes: Uint8Array, code: string, pattern: RegExp, maxPixels?: number) {
  await assert.rejects(
    decodeImage(bytes, maxPixels),
    (e: Error) => e instanceof ImageError && e.code === code && pattern.test(e.message),
  );
}

Deno.test("image: JPEG and PNG decode to RGB of the right size", async () => {
  const img = gradient(40, 30);
  for (const bytes of [await img.encode(), await img.encodeJPEG(95)]) {
    const rgb = await decodeImage(bytes);
    assert.equal(rgb.width, 40);
    assert.equal(rgb.height, 30);
    assert.equal(rgb.data.length, 40 * 30 * 3);
    // JPEG is lossy: compare loosely, at a pixel away from edges.
    const p = (10 * 40 + 20) * 3;
    assert.ok(Math.abs(rgb.data[p] - (21 * 7) % 256) <= 12);
  }
});

Deno.test("image: the reused decoder gives every image the same pixels, before and after a failure", async () => {
  const images = [gradient(40, 30), gradient(17, 23), gradient(64, 48)];
  for (const encode of [(i: Image) => i.encode(), (i: Image) => i.encodeJPEG(90)]) {
    const files = await Promise.all(images.map(encode));
    const first = await Promise.all(files.map((f) => decodeImage(f)));
    // A decode that fails inside the decoder (a body cut after its headers), then the same again.
    await assert.rejects(decodeImage(files[2].slice(0, files[2].length >> 1)), ImageError);
    for (const [i, f] of files.entries()) {
      assert.deepEqual(await decodeImage(f), first[i]);
      assert.deepEqual(await decodeImage(f), first[i]);
    }
  }
});

Deno.test("image: bad input is a typed error naming the problem", async () => {
  const jpeg = await gradient(64, 64).encodeJPEG(90);
  await rejects(new Uint8Array(0), "empty", /empty body/);
  await rejects(
    new TextEncoder().encode("hello, not an image"),
    "unsupported_format",
    /not a JPEG or PNG/,
  );
  await rejects(jpeg.subarray(0, 30), "corrupt", /jpeg/i);
  await rejects(jpeg.subarray(0, jpeg.length / 2), "corrupt", /cannot decode jpeg/);
  const gif = new TextEncoder().encode("GIF89a......");
  await rejects(gif, "unsupported_format", /not a JPEG or PNG/);
  // A 20000x20000 PNG header is refused from the header alone, before decoding.
  const png = await new Image(2, 2).encode();
  const view = new DataView(png.buffer, png.byteOffset);
  view.setUint32(16, 20000);
  view.setUint32(20, 20000);
  assert.deepEqual(probeImage(png), { format: "png", width: 20000, height: 20000 });
  await rejects(png, "too_large", /20000x20000 image exceeds the 40000000-pixel limit/);
  await rejects(await gradient(10, 10).encode(), "too_large", /pixel limit/, 50);
});

/** A JPEG header only: SOI, then one SOF0 (8-bit, 3 components) per size, then SOS. */
function jpegHeader(...sizes: [number, number][]): Uint8Array {
  // Marker, length 17, precision, height, width, 3 components (id, sampling, table).
  const sof = ([w, h]: [number, number]) => [
    ...[0xff, 0xc0, 0x00, 0x11, 8, h >> 8, h & 0xff, w >> 8, w & 0xff, 3],
    ...[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1],
  ];
  return Uint8Array.from([0xff, 0xd8, ...sizes.flatMap(sof), 0xff, 0xda, 0x00, 0x02]);
}

function throwsImage(f: () => unknown, code: string, pattern: RegExp) {
  assert.throws(
    f,
    (e: Error) => e instanceof ImageError && e.code === code && pattern.test(e.message),
  );
}

Deno.test("image: thin strips are refused before decoding (aspect-ratio limit)", async () => {
  // 1x40000 passes the 40-megapixel limit, but its resize would be 248 x 9.9 M pixels.
  const tall = await encodeBlankPng(1, 40000);
  await rejects(
    tall,
    "bad_aspect",
    /1x40000 image exceeds the 20:1 aspect-ratio limit \(40000\.0:1\)/,
  );
  await rejects(await encodeBlankPng(40000, 1), "bad_aspect", /40000x1 .* 20:1 aspect-ratio limit/);
  throwsImage(() => checkImage(jpegHeader([65535, 1])), "bad_aspect", /65535x1 .* 20:1/);
  // At the limit is fine, and decodes.
  const edge = await decodeImage(await encodeBlankPng(MAX_ASPECT_RATIO, 1));
  assert.equal(edge.width, MAX_ASPECT_RATIO);
  assert.deepEqual(checkImage(jpegHeader([200, 10])), { format: "jpeg", width: 200, height: 10 });
});

Deno.test("image: lying headers are corrupt (IHDR not first, two SOFs, decoded size)", async () => {
  const png = await encodePng(2, 2, new Uint8Array(4));
  // A tEXt chunk before IHDR: the fixed offsets would read its bytes as the size.
  const text = Uint8Array.from([0, 0, 0, 4, 0x74, 0x45, 0x58, 0x74, 0, 0, 0xff, 0xff, 0, 0, 0, 0]);
  const moved = new Uint8Array(png.length + text.length);
  moved.set(png.subarray(0, 8));
  moved.set(text, 8);
  moved.set(png.subarray(8), 8 + text.length);
  throwsImage(() => probeImage(moved), "corrupt", /does not start with a 13-byte IHDR chunk/);
  const badLength = png.slice();
  badLength[11] = 14;
  throwsImage(() => probeImage(badLength), "corrupt", /13-byte IHDR/);
  throwsImage(() => probeImage(png.subarray(0, 28)), "corrupt", /PNG truncated/);
  // A small first frame header and a huge second one: which one would the decoder use?
  throwsImage(() => probeImage(jpegHeader([10, 10], [65535, 1])), "corrupt", /second frame header/);
  throwsImage(() => probeImage(jpegHeader()), "corrupt", /no frame header/);
  const info = probeImage(png);
  checkDecodedSize(info, 2, 2);
  throwsImage(
    () => checkDecodedSize(info, 2, 3),
    "corrupt",
    /png decoded to 2x3, its header says 2x2/,
  );
});

Deno.test("preprocess: the resize target is limited too", () => {
  const cfg = ARCHITECTURES.deit_tiny_patch16_224.preprocess;
  // An image that skipped the decode limits (1x40000) stops before any resize buffer exists.
  const strip = { width: 1, height: 40000, data: new Uint8Array(40000 * 3) };
  throwsImage(
    () => resizeAndCrop(strip, cfg),
    "resize_too_large",
    new RegExp(`1x40000 image resizes to 256x10240000, beyond the ${MAX_RESIZE_PIXELS}-pixel`),
  );
});

Deno.test("image: grey and palette PNGs become RGB", async () => {
  const grey = await decodeImage(await encodePng(2, 1, new Uint8Array([200, 7])));
  assert.deepEqual(Array.from(grey.data), [200, 200, 200, 7, 7, 7]);
  const palette: [number, number, number][] = [[10, 20, 30], [250, 128, 0]];
  const indexed = await decodeImage(await encodePng(3, 1, new Uint8Array([1, 0, 1]), palette));
  assert.deepEqual(Array.from(indexed.data), [250, 128, 0, 10, 20, 30, 250, 128, 0]);
});

function constant(width: number, height: number, v: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).fill(v) };
}

Deno.test("resize: bicubic keeps constants, is a no-op at the same size, and antialiases", () => {
  for (const [w, h] of [[64, 48], [7, 300], [256, 256]]) {
    const out = resizeBicubic(constant(100, 80, 77), w, h);
    assert.ok(out.data.every((v) => v === 77), `${w}x${h}`);
  }
  const src = {
    width: 9,
    height: 5,
    data: Uint8Array.from({ length: 135 }, (_, i) => (i * 37) % 256),
  };
  assert.deepEqual(resizeBicubic(src, 9, 5).data, src.data);
  // A 1-pixel checkerboard shrunk 8x: antialiasing averages it to mid grey (no aliasing).
  const checker = constant(256, 256, 0);
  for (let y = 0; y < 256; y++) {
    for (let x = 0; x < 256; x++) {
      if ((x + y) % 2) checker.data.fill(255, (y * 256 + x) * 3, (y * 256 + x) * 3 + 3);
    }
  }
  const small = resizeBicubic(checker, 32, 32);
  for (let i = 3 * 33; i < small.data.length - 3 * 33; i++) {
    assert.ok(Math.abs(small.data[i] - 127.5) <= 1.5);
  }
});

Deno.test("resize: matches a float64 evaluation of the same filter within one level", () => {
  const src = {
    width: 37,
    height: 23,
    data: Uint8Array.from({ length: 37 * 23 * 3 }, (_, i) => (i * 91 + (i >> 4) * 13) % 256),
  };
  const out = resizeBicubic(src, 16, 41);
  // Separable float reference: PIL's support and normalisation, no fixed point, round once.
  const cubic = (x: number) => {
    x = Math.abs(x);
    return x < 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? ((-0.5 * x + 2.5) * x - 4) * x + 2 : 0;
  };
  const taps = (inSize: number, outSize: number, o: number) => {
    const scale = inSize / outSize, fs = Math.max(scale, 1), c = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(c - 2 * fs + 0.5), 0),
      hi = Math.min(Math.trunc(c + 2 * fs + 0.5), inSize);
    const w = [];
    for (let i = lo; i < hi; i++) w.push([i, cubic((i - c + 0.5) / fs)]);
    const s = w.reduce((a, [, v]) => a + v, 0);
    return w.map(([i, v]) => [i, v / s]);
  };
  let worst = 0;
  for (let y = 0; y < 41; y++) {
    for (let x = 0; x < 16; x++) {
      for (let ch = 0; ch < 3; ch++) {
        let acc = 0;
        for (const [sy, wy] of taps(23, 41, y)) {
          let row = 0;
          for (const [sx, wx] of taps(37, 16, x)) row += wx * src.data[(sy * 37 + sx) * 3 + ch];
          acc += wy * Math.min(255, Math.max(0, Math.round(row)));
        }
        worst = Math.max(
          worst,
          Math.abs(out.data[(y * 16 + x) * 3 + ch] - Math.min(255, Math.max(0, acc))),
        );
      }
    }
  }
  assert.ok(worst <= 1, `worst difference ${worst}`);
});

Deno.test("preprocess: short side to floor(224/0.875)=256, centre crop, normalised CHW", async () => {
  assert.deepEqual(resizedSize(227, 227, 256), [256, 256]);
  assert.deepEqual(resizedSize(500, 375, 256), [341, 256]);
  assert.deepEqual(resizedSize(300, 601, 256), [256, 512]);
  const cfg = ARCHITECTURES.deit_tiny_patch16_224.preprocess;
  const img = new Image(300, 200);
  img.fill(Image.rgbaToColor(255, 0, 128, 255));
  const x = await imageToTensor(await img.encode(), cfg);
  assert.equal(x.length, 3 * 224 * 224);
  const n = 224 * 224;
  assert.ok(Math.abs(x[0] - (1 - 0.485) / 0.229) < 1e-5);
  assert.ok(Math.abs(x[n + 500] - (0 - 0.456) / 0.224) < 1e-5);
  assert.ok(Math.abs(x[2 * n + 999] - (128 / 255 - 0.406) / 0.225) < 1e-5);
});

Deno.test("resize: a window is that crop of the whole resize, in every direction of scaling", () => {
  // A deterministic pseudo-random walk over sizes and windows (up, down, mixed, one axis only).
  let seed = 7;
  const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let k = 0; k < 120; k++) {
    const src = {
      width: 1 + next(70),
      height: 1 + next(70),
      data: Uint8Array.from({ length: 70 * 70 * 3 }, () => next(256)),
    };
    src.data = src.data.subarray(0, src.width * src.height * 3);
    const w = k % 5 === 0 ? src.width : 1 + next(90);
    const h = k % 7 === 0 ? src.height : 1 + next(90);
    const left = next(w), top = next(h);
    const window = { left, top, width: 1 + next(w - left), height: 1 + next(h - top) };
    const whole = resizeBicubic(src, w, h);
    const expected = cropRgb(whole, left, top, window.width, window.height);
    assert.deepEqual(resizeBicubicWindow(src, w, h, window), expected, JSON.stringify(window));
  }
  assert.throws(
    () => resizeBicubicWindow(constant(4, 4, 0), 8, 8, { left: 4, top: 0, width: 5, height: 1 }),
    RangeError,
  );
});

Deno.test("resize: the WebAssembly kernels give PIL's bytes in every direction of scaling", () => {
  let seed = 11;
  const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const sizes: [number, number, number, number][] = [[500, 375, 341, 256], [37, 23, 16, 41]];
  for (let k = 0; k < 150; k++) {
    // Widths of 1-5 and 17 pixels put a row's end inside a 16-byte vector.
    const w = k % 9 === 0 ? 1 + next(5) : 1 + next(70);
    sizes.push([w, 1 + next(70), k % 5 === 0 ? w : 1 + next(90), k % 11 === 0 ? 17 : 1 + next(90)]);
  }
  for (const [sw, sh, w, h] of sizes) {
    const src = {
      width: sw,
      height: sh,
      data: Uint8Array.from({ length: sw * sh * 3 }, () => next(256)),
    };
    assert.deepEqual(
      resizeBicubic(src, w, h),
      referenceResize(src, w, h),
      `${sw}x${sh} -> ${w}x${h}`,
    );
  }
});

Deno.test("resize: after an image that grows the kernels' memory past what is kept, the next is still right", () => {
  const small = {
    width: 30,
    height: 20,
    data: Uint8Array.from({ length: 1800 }, (_, i) => i % 251),
  };
  const expected = referenceResize(small, 13, 9);
  // 4000 x 3000 RGB is 36 MB in the kernels' memory, past what an instance keeps.
  const big = resizeBicubic(constant(4000, 3000, 9), 40, 30);
  assert.ok(big.data.every((v) => v === 9));
  assert.deepEqual(resizeBicubic(small, 13, 9), expected);
});

Deno.test("preprocess: normalize gives the plain loop's floats for every byte value", () => {
  for (
    const cfg of [
      ARCHITECTURES.deit_tiny_patch16_224.preprocess,
      ARCHITECTURES.vit_tiny_patch16_224.preprocess,
    ]
  ) {
    const img = {
      width: 16,
      height: 16,
      data: Uint8Array.from({ length: 768 }, (_, i) => (i * 7) % 256),
    };
    assert.deepEqual(normalize(img, cfg), referenceNormalize(img, cfg));
  }
});

Deno.test("resize: lib/image/resample_wasm.ts is built from resample.wat (deno task build:wasm)", async () => {
  const built = await Deno.readTextFile(new URL("../lib/image/resample_wasm.ts", import.meta.url));
  assert.equal(built, await resampleModuleText(), "run deno task build:wasm and commit the result");
});
