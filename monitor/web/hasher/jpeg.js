/*
 * jpeg.js: a JPEG decoder in plain JavaScript that returns exactly the luma
 * (Y) pixels Pillow 13 (with its bundled libjpeg-turbo 3.x) returns for
 *
 *     image = Image.open(...); image.draft("L", fit(image.size)); image.load()
 *
 * i.e. libjpeg decoding to JCS_GRAYSCALE at a DCT scale of 1/1, 1/2, 1/4 or
 * 1/8, JDCT_ISLOW, no colour conversion and no upsampling (monitor/hashing/
 * decode.py). It also reads the EXIF orientation the way Pillow's getexif()
 * does. Written for the ncii-monitor offline hashing page: no dependencies, no
 * network, a classic script defining one global, NciiJpeg.
 *
 * The integer inverse DCTs (jpeg_idct_islow, jpeg_idct_4x4, jpeg_idct_2x2,
 * jpeg_idct_1x1), the Huffman decoding rules (including what libjpeg does with
 * corrupt data: zero bits after a marker, bad codes decoded as 0, restart-marker
 * resynchronisation) and the progressive decoding follow libjpeg-turbo's
 * jidctint.c, jidctred.c, jdhuff.c, jdphuff.c, jdmarker.c and jdcoefct.c.
 * libjpeg-turbo is covered by the IJG licence and the Modified (3-clause) BSD
 * licence; this file is a re-implementation of its arithmetic, and this software
 * is based in part on the work of the Independent JPEG Group.
 *
 * What is not decoded (an Error with .kind "unsupported" is thrown): arithmetic
 * coding, lossless and hierarchical JPEG, CMYK/YCCK (4 components), RGB-coded
 * JPEGs (Adobe transform 0 or component ids R,G,B), files where the first
 * component (Y) does not have the largest sampling factors (libjpeg would
 * upsample it), and progressive files whose scans leave low AC coefficients
 * unrefined (libjpeg would apply its block smoothing).
 *
 * Errors (Error with .kind): "empty" (no bytes), "not_image" (Pillow's
 * Image.open would not identify it), "corrupt" (Pillow's load() or
 * exif_transpose would raise: truncated data, broken markers...),
 * "too_many_pixels" (from the SOF header, before anything is decoded),
 * "unsupported" (above).
 *
 * Known approximations: Pillow's libjpeg-turbo uses SIMD IDCTs for 8x8, 4x4 and
 * 2x2 output; they work in 16-bit lanes and saturate where the C code wraps.
 * This file models that (16-bit dequantization and first pass, saturated
 * output) but not every 16-bit intermediate of the assembly, so blocks of
 * absurd coefficients (corrupt data, never an encoder's output from pixels)
 * might still differ. Where a single-scan file is cut within a few bytes of the
 * end of its entropy-coded data, whether Pillow raises depends on libjpeg's
 * read-ahead (its slow path is modelled here, not its fast path).
 */

const NciiJpeg = (function () {
  "use strict";

  const MAX_SCANS = 256;
  const MAX_DIMENSION = 65500;

  function fail(kind, message) {
    const error = new Error(message);
    error.kind = kind;
    throw error;
  }

  // jpeg_natural_order, with the 16 extra entries libjpeg adds for corrupt data.
  const NATURAL = new Int32Array(80).fill(63);
  NATURAL.set([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
  ]);

  // Standard Huffman tables (JPEG Annex K.3), which libjpeg-turbo installs in
  // slots 0 and 1 when a file defines none (motion-JPEG frames).
  const STD_DC = [
    [
      [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ],
    [
      [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ],
  ];
  const STD_AC = [
    [
      [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125],
      [
        1, 2, 3, 0, 4, 17, 5, 18, 33, 49, 65, 6, 19, 81, 97, 7, 34, 113, 20, 50, 129, 145, 161, 8,
        35, 66, 177, 193, 21, 82, 209, 240, 36, 51, 98, 114, 130, 9, 10, 22, 23, 24, 25, 26, 37,
        38, 39, 40, 41, 42, 52, 53, 54, 55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84,
        85, 86, 87, 88, 89, 90, 99, 100, 101, 102, 103, 104, 105, 106, 115, 116, 117, 118, 119,
        120, 121, 122, 131, 132, 133, 134, 135, 136, 137, 138, 146, 147, 148, 149, 150, 151, 152,
        153, 154, 162, 163, 164, 165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183, 184,
        185, 186, 194, 195, 196, 197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215, 216,
        217, 218, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 241, 242, 243, 244, 245, 246,
        247, 248, 249, 250,
      ],
    ],
    [
      [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119],
      [
        0, 1, 2, 3, 17, 4, 5, 33, 49, 6, 18, 65, 81, 7, 97, 113, 19, 34, 50, 129, 8, 20, 66, 145,
        161, 177, 193, 9, 35, 51, 82, 240, 21, 98, 114, 209, 10, 22, 36, 52, 225, 37, 241, 23, 24,
        25, 26, 38, 39, 40, 41, 42, 53, 54, 55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84,
        85, 86, 87, 88, 89, 90, 99, 100, 101, 102, 103, 104, 105, 106, 115, 116, 117, 118, 119,
        120, 121, 122, 130, 131, 132, 133, 134, 135, 136, 137, 138, 146, 147, 148, 149, 150, 151,
        152, 153, 154, 162, 163, 164, 165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183,
        184, 185, 186, 194, 195, 196, 197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215,
        216, 217, 218, 226, 227, 228, 229, 230, 231, 232, 233, 234, 242, 243, 244, 245, 246, 247,
        248, 249, 250,
      ],
    ],
  ];

  function rawTable(counts, values) {
    const bits = new Uint8Array(17);
    bits.set(counts, 1);
    const vals = new Uint8Array(256);
    vals.set(values);
    return { bits, vals };
  }

  // jdhuff.c: jpeg_make_d_derived_tbl (with HUFF_LOOKAHEAD = 8).
  function deriveTable(raw, isDC) {
    if (!raw) fail("corrupt", "missing Huffman table");
    const bits = raw.bits;
    const vals = raw.vals;
    const huffsize = new Uint8Array(258);
    let p = 0;
    for (let l = 1; l <= 16; l++) {
      const count = bits[l];
      if (p + count > 256) fail("corrupt", "bad Huffman table");
      for (let i = 0; i < count; i++) huffsize[p++] = l;
    }
    huffsize[p] = 0;
    const numsymbols = p;
    const huffcode = new Int32Array(257);
    let code = 0;
    let si = huffsize[0];
    p = 0;
    while (huffsize[p]) {
      while (huffsize[p] === si) {
        huffcode[p++] = code;
        code++;
      }
      if (code >= 1 << si) fail("corrupt", "bad Huffman table");
      code <<= 1;
      si++;
    }
    const maxcode = new Int32Array(18);
    const valoffset = new Int32Array(18);
    p = 0;
    for (let l = 1; l <= 16; l++) {
      if (bits[l]) {
        valoffset[l] = p - huffcode[p];
        p += bits[l];
        maxcode[l] = huffcode[p - 1];
      } else {
        maxcode[l] = -1;
      }
    }
    maxcode[17] = 0xfffff;
    const lookup = new Int32Array(256).fill(9 << 8);
    p = 0;
    for (let l = 1; l <= 8; l++) {
      for (let i = 1; i <= bits[l]; i++, p++) {
        let lookbits = huffcode[p] << (8 - l);
        for (let ctr = 1 << (8 - l); ctr > 0; ctr--) lookup[lookbits++] = (l << 8) | vals[p];
      }
    }
    if (isDC) {
      for (let i = 0; i < numsymbols; i++) {
        if (vals[i] > 15) fail("corrupt", "bad Huffman table");
      }
    }
    return { maxcode, valoffset, lookup, vals };
  }

  // --------------------------------------------------------------- inverse DCTs

  // IDCT_range_limit(cinfo)[x & RANGE_MASK] for 8-bit samples (jdmaster.c).
  const RANGE = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) {
    RANGE[i] = i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;
  }
  const imul = Math.imul;
  const workspace = new Int32Array(64);

  // libjpeg-turbo's SIMD IDCTs (used by Pillow on x86-64 and Arm for 8x8, 4x4 and
  // 2x2 output; 1x1 has none) work in 16-bit lanes: the dequantized coefficient
  // keeps its low 16 bits (pmullw), the first pass saturates to 16 bits
  // (packssdw) and the output saturates (packsswb) where the C code wraps.
  // Identical to the C code for every block an encoder produces from pixels.
  function dq(coef, quant) {
    return (imul(coef, quant) << 16) >> 16;
  }
  function s16(v) {
    return v < -32768 ? -32768 : v > 32767 ? 32767 : v;
  }
  function sat(v) {
    return v < -128 ? 0 : v > 127 ? 255 : v + 128;
  }

  // jidctint.c: jpeg_idct_islow (CONST_BITS 13, PASS1_BITS 2), into out[8x8].
  function idctIslow(c, o, q, out) {
    const ws = workspace;
    for (let col = 0; col < 8; col++) {
      const i = o + col;
      if (
        c[i + 8] === 0 && c[i + 16] === 0 && c[i + 24] === 0 && c[i + 32] === 0 &&
        c[i + 40] === 0 && c[i + 48] === 0 && c[i + 56] === 0
      ) {
        const dc = s16(dq(c[i], q[col]) << 2);
        ws[col] = dc; ws[col + 8] = dc; ws[col + 16] = dc; ws[col + 24] = dc;
        ws[col + 32] = dc; ws[col + 40] = dc; ws[col + 48] = dc; ws[col + 56] = dc;
        continue;
      }
      let z2 = dq(c[i + 16], q[col + 16]);
      let z3 = dq(c[i + 48], q[col + 48]);
      let z1 = imul(z2 + z3, 4433);
      let tmp2 = z1 + imul(z3, -15137);
      let tmp3 = z1 + imul(z2, 6270);
      z2 = dq(c[i], q[col]);
      z3 = dq(c[i + 32], q[col + 32]);
      let tmp0 = (z2 + z3) << 13;
      let tmp1 = (z2 - z3) << 13;
      const tmp10 = tmp0 + tmp3;
      const tmp13 = tmp0 - tmp3;
      const tmp11 = tmp1 + tmp2;
      const tmp12 = tmp1 - tmp2;
      tmp0 = dq(c[i + 56], q[col + 56]);
      tmp1 = dq(c[i + 40], q[col + 40]);
      tmp2 = dq(c[i + 24], q[col + 24]);
      tmp3 = dq(c[i + 8], q[col + 8]);
      z1 = tmp0 + tmp3;
      z2 = tmp1 + tmp2;
      z3 = tmp0 + tmp2;
      let z4 = tmp1 + tmp3;
      const z5 = imul(z3 + z4, 9633);
      tmp0 = imul(tmp0, 2446);
      tmp1 = imul(tmp1, 16819);
      tmp2 = imul(tmp2, 25172);
      tmp3 = imul(tmp3, 12299);
      z1 = imul(z1, -7373);
      z2 = imul(z2, -20995);
      z3 = imul(z3, -16069) + z5;
      z4 = imul(z4, -3196) + z5;
      tmp0 += z1 + z3;
      tmp1 += z2 + z4;
      tmp2 += z2 + z3;
      tmp3 += z1 + z4;
      ws[col] = s16((tmp10 + tmp3 + 1024) >> 11);
      ws[col + 56] = s16((tmp10 - tmp3 + 1024) >> 11);
      ws[col + 8] = s16((tmp11 + tmp2 + 1024) >> 11);
      ws[col + 48] = s16((tmp11 - tmp2 + 1024) >> 11);
      ws[col + 16] = s16((tmp12 + tmp1 + 1024) >> 11);
      ws[col + 40] = s16((tmp12 - tmp1 + 1024) >> 11);
      ws[col + 24] = s16((tmp13 + tmp0 + 1024) >> 11);
      ws[col + 32] = s16((tmp13 - tmp0 + 1024) >> 11);
    }
    for (let row = 0; row < 64; row += 8) {
      const w = row;
      if (
        ws[w + 1] === 0 && ws[w + 2] === 0 && ws[w + 3] === 0 && ws[w + 4] === 0 &&
        ws[w + 5] === 0 && ws[w + 6] === 0 && ws[w + 7] === 0
      ) {
        const dc = sat((ws[w] + 16) >> 5);
        for (let k = 0; k < 8; k++) out[row + k] = dc;
        continue;
      }
      let z2 = ws[w + 2];
      let z3 = ws[w + 6];
      let z1 = imul(z2 + z3, 4433);
      let tmp2 = z1 + imul(z3, -15137);
      let tmp3 = z1 + imul(z2, 6270);
      let tmp0 = (ws[w] + ws[w + 4]) << 13;
      let tmp1 = (ws[w] - ws[w + 4]) << 13;
      const tmp10 = tmp0 + tmp3;
      const tmp13 = tmp0 - tmp3;
      const tmp11 = tmp1 + tmp2;
      const tmp12 = tmp1 - tmp2;
      tmp0 = ws[w + 7];
      tmp1 = ws[w + 5];
      tmp2 = ws[w + 3];
      tmp3 = ws[w + 1];
      z1 = tmp0 + tmp3;
      z2 = tmp1 + tmp2;
      z3 = tmp0 + tmp2;
      let z4 = tmp1 + tmp3;
      const z5 = imul(z3 + z4, 9633);
      tmp0 = imul(tmp0, 2446);
      tmp1 = imul(tmp1, 16819);
      tmp2 = imul(tmp2, 25172);
      tmp3 = imul(tmp3, 12299);
      z1 = imul(z1, -7373);
      z2 = imul(z2, -20995);
      z3 = imul(z3, -16069) + z5;
      z4 = imul(z4, -3196) + z5;
      tmp0 += z1 + z3;
      tmp1 += z2 + z4;
      tmp2 += z2 + z3;
      tmp3 += z1 + z4;
      const half = 1 << 17;
      out[row] = sat((tmp10 + tmp3 + half) >> 18);
      out[row + 7] = sat((tmp10 - tmp3 + half) >> 18);
      out[row + 1] = sat((tmp11 + tmp2 + half) >> 18);
      out[row + 6] = sat((tmp11 - tmp2 + half) >> 18);
      out[row + 2] = sat((tmp12 + tmp1 + half) >> 18);
      out[row + 5] = sat((tmp12 - tmp1 + half) >> 18);
      out[row + 3] = sat((tmp13 + tmp0 + half) >> 18);
      out[row + 4] = sat((tmp13 - tmp0 + half) >> 18);
    }
  }

  // jidctred.c: jpeg_idct_4x4, into out[4x4] (row stride 4).
  function idct4x4(c, o, q, out) {
    const ws = workspace;
    for (let col = 0; col < 8; col++) {
      if (col === 4) continue;
      const i = o + col;
      if (
        c[i + 8] === 0 && c[i + 16] === 0 && c[i + 24] === 0 &&
        c[i + 40] === 0 && c[i + 48] === 0 && c[i + 56] === 0
      ) {
        const dc = s16(dq(c[i], q[col]) << 2);
        ws[col] = dc; ws[col + 8] = dc; ws[col + 16] = dc; ws[col + 24] = dc;
        continue;
      }
      let tmp0 = dq(c[i], q[col]) << 14;
      const z2 = dq(c[i + 16], q[col + 16]);
      const z3 = dq(c[i + 48], q[col + 48]);
      let tmp2 = imul(z2, 15137) + imul(z3, -6270);
      const tmp10 = tmp0 + tmp2;
      const tmp12 = tmp0 - tmp2;
      const y1 = dq(c[i + 56], q[col + 56]);
      const y2 = dq(c[i + 40], q[col + 40]);
      const y3 = dq(c[i + 24], q[col + 24]);
      const y4 = dq(c[i + 8], q[col + 8]);
      tmp0 = imul(y1, -1730) + imul(y2, 11893) + imul(y3, -17799) + imul(y4, 8697);
      tmp2 = imul(y1, -4176) + imul(y2, -4926) + imul(y3, 7373) + imul(y4, 20995);
      ws[col] = s16((tmp10 + tmp2 + 2048) >> 12);
      ws[col + 24] = s16((tmp10 - tmp2 + 2048) >> 12);
      ws[col + 8] = s16((tmp12 + tmp0 + 2048) >> 12);
      ws[col + 16] = s16((tmp12 - tmp0 + 2048) >> 12);
    }
    for (let r = 0; r < 4; r++) {
      const w = r * 8;
      const o4 = r * 4;
      if (
        ws[w + 1] === 0 && ws[w + 2] === 0 && ws[w + 3] === 0 &&
        ws[w + 5] === 0 && ws[w + 6] === 0 && ws[w + 7] === 0
      ) {
        const dc = sat((ws[w] + 16) >> 5);
        out[o4] = dc; out[o4 + 1] = dc; out[o4 + 2] = dc; out[o4 + 3] = dc;
        continue;
      }
      let tmp0 = ws[w] << 14;
      let tmp2 = imul(ws[w + 2], 15137) + imul(ws[w + 6], -6270);
      const tmp10 = tmp0 + tmp2;
      const tmp12 = tmp0 - tmp2;
      const z1 = ws[w + 7];
      const z2 = ws[w + 5];
      const z3 = ws[w + 3];
      const z4 = ws[w + 1];
      tmp0 = imul(z1, -1730) + imul(z2, 11893) + imul(z3, -17799) + imul(z4, 8697);
      tmp2 = imul(z1, -4176) + imul(z2, -4926) + imul(z3, 7373) + imul(z4, 20995);
      const half = 1 << 18;
      out[o4] = sat((tmp10 + tmp2 + half) >> 19);
      out[o4 + 3] = sat((tmp10 - tmp2 + half) >> 19);
      out[o4 + 1] = sat((tmp12 + tmp0 + half) >> 19);
      out[o4 + 2] = sat((tmp12 - tmp0 + half) >> 19);
    }
  }

  // jidctred.c: jpeg_idct_2x2, into out[2x2] (row stride 2).
  function idct2x2(c, o, q, out) {
    const ws = workspace;
    for (let col = 0; col < 8; col++) {
      if (col === 2 || col === 4 || col === 6) continue;
      const i = o + col;
      if (c[i + 8] === 0 && c[i + 24] === 0 && c[i + 40] === 0 && c[i + 56] === 0) {
        const dc = s16(dq(c[i], q[col]) << 2);
        ws[col] = dc; ws[col + 8] = dc;
        continue;
      }
      const tmp10 = dq(c[i], q[col]) << 15;
      const tmp0 =
        imul(dq(c[i + 56], q[col + 56]), -5906) +
        imul(dq(c[i + 40], q[col + 40]), 6967) +
        imul(dq(c[i + 24], q[col + 24]), -10426) +
        imul(dq(c[i + 8], q[col + 8]), 29692);
      ws[col] = s16((tmp10 + tmp0 + 4096) >> 13);
      ws[col + 8] = s16((tmp10 - tmp0 + 4096) >> 13);
    }
    for (let r = 0; r < 2; r++) {
      const w = r * 8;
      const o2 = r * 2;
      if (ws[w + 1] === 0 && ws[w + 3] === 0 && ws[w + 5] === 0 && ws[w + 7] === 0) {
        const dc = sat((ws[w] + 16) >> 5);
        out[o2] = dc; out[o2 + 1] = dc;
        continue;
      }
      const tmp10 = ws[w] << 15;
      const tmp0 =
        imul(ws[w + 7], -5906) + imul(ws[w + 5], 6967) +
        imul(ws[w + 3], -10426) + imul(ws[w + 1], 29692);
      const half = 1 << 19;
      out[o2] = sat((tmp10 + tmp0 + half) >> 20);
      out[o2 + 1] = sat((tmp10 - tmp0 + half) >> 20);
    }
  }

  // jidctred.c: jpeg_idct_1x1.
  function idct1x1(dc, q0) {
    return RANGE[((imul(dc, q0) + 4) >> 3) & 1023];
  }

  // ----------------------------------------------------- Pillow's header reading

  function u16(d, i) {
    return (d[i] << 8) | d[i + 1];
  }

  function startsWith(d, start, end, ascii) {
    if (end - start < ascii.length) return false;
    for (let i = 0; i < ascii.length; i++) {
      if (d[start + i] !== ascii.charCodeAt(i)) return false;
    }
    return true;
  }

  function compareBytes(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  }

  // JpegImagePlugin.JpegImageFile._open: what Image.open accepts, its size, and
  // the EXIF and XMP it collects. SyntaxError/IndexError/struct.error there make
  // Image.open fail ("not_image"), a short segment read is an OSError ("corrupt").
  function pillowOpen(d) {
    const n = d.length;
    if (n < 3 || d[0] !== 0xff || d[1] !== 0xd8 || d[2] !== 0xff) fail("not_image", "not a JPEG file");
    const h = {
      width: 0, height: 0, layers: 0, sawSOF: false, sawSOS: false,
      exif: null, xmp: null, dpi: false,
    };
    const exifParts = [];
    let icclist = [];
    let pos = 3;
    let s = 0xff; // the one byte Pillow holds in `s`
    for (;;) {
      if (s !== 0xff) {
        if (pos >= n) break;
        s = d[pos++];
        continue;
      }
      if (pos >= n) break;
      const marker = 0xff00 | d[pos++];
      if (marker >= 0xffc0 && marker <= 0xfffe) {
        const hasHandler = !(marker === 0xffc8 || (marker >= 0xffd0 && marker <= 0xffd9) ||
          (marker >= 0xfff0 && marker <= 0xfffd));
        if (hasHandler) {
          if (pos + 2 > n) fail("not_image", "not a JPEG file (truncated marker)");
          const len = u16(d, pos) - 2;
          pos += 2;
          let start = pos;
          let end = pos;
          if (len > 0) {
            if (pos + len > n) fail("corrupt", "truncated file read");
            end = pos + len;
            pos = end;
          }
          start = Math.min(start, end);
          const slen = end - start;
          const isSOF = (marker >= 0xffc0 && marker <= 0xffcf && marker !== 0xffc4 &&
            marker !== 0xffc8 && marker !== 0xffcc) || marker === 0xffde;
          if (isSOF) {
            if (slen < 5) fail("not_image", "bad SOF");
            h.height = u16(d, start + 1);
            h.width = u16(d, start + 3);
            h.sawSOF = true;
            if (d[start] !== 8) fail("not_image", `cannot handle ${d[start]}-bit layers`);
            if (slen < 6) fail("not_image", "bad SOF");
            h.layers = d[start + 5];
            if (h.layers !== 1 && h.layers !== 3 && h.layers !== 4) {
              fail("not_image", `cannot handle ${h.layers}-layer images`);
            }
            if (icclist.length) {
              let first = icclist[0];
              for (const part of icclist) if (compareBytes(part, first) < 0) first = part;
              if (first.length < 14) fail("not_image", "bad ICC profile");
              icclist = [];
            }
            if ((slen - 6) % 3 !== 0) fail("not_image", "bad SOF");
          } else if (marker === 0xffdb) {
            let i = start;
            while (i < end) {
              const qtLength = 1 + (d[i] >> 4 === 0 ? 1 : 2) * 64;
              if (end - i < qtLength) fail("not_image", "bad quantization table marker");
              i += qtLength;
            }
          } else if (marker >= 0xffe0 && marker <= 0xffef) {
            if (marker === 0xffe0 && startsWith(d, start, end, "JFIF")) {
              if (slen < 7) fail("not_image", "bad JFIF segment");
              if (slen >= 12) {
                const unit = d[start + 7];
                if (unit === 1 || unit === 2) h.dpi = true;
              }
            } else if (marker === 0xffe1 && startsWith(d, start, end, "Exif\0\0")) {
              exifParts.push(exifParts.length ? d.subarray(start + 6, end) : d.subarray(start, end));
            } else if (marker === 0xffe1 && startsWith(d, start, end, "http://ns.adobe.com/xap/1.0/\0")) {
              h.xmp = d.subarray(start + 29, end);
            } else if (marker === 0xffe2 && startsWith(d, start, end, "ICC_PROFILE\0")) {
              icclist.push(d.subarray(start, end));
            } else if (marker === 0xffed && startsWith(d, start, end, "Photoshop 3.0\0")) {
              let off = start + 14;
              while (off + 4 <= end && startsWith(d, off, end, "8BIM")) {
                off += 4;
                if (off + 2 > end) break; // struct.error, caught
                off += 2;
                if (off >= end) fail("not_image", "bad Photoshop segment"); // IndexError
                off += 1 + d[off];
                off += (off - start) & 1;
                if (off + 4 > end) break;
                const size = (d[off] * 0x1000000) + ((d[off + 1] << 16) | (d[off + 2] << 8) | d[off + 3]);
                off += 4 + size;
                off += (off - start) & 1;
              }
            } else if (marker === 0xffee && startsWith(d, start, end, "Adobe")) {
              if (slen < 7) fail("not_image", "bad Adobe segment");
            }
          }
        }
        if (marker === 0xffda) {
          h.sawSOS = true;
          break;
        }
        if (pos >= n) break;
        s = d[pos++];
      } else if (marker === 0xffff) {
        s = 0xff;
      } else if (marker === 0xff00) {
        if (pos >= n) break;
        s = d[pos++];
      } else {
        fail("not_image", "no marker found");
      }
    }
    if (exifParts.length) {
      let total = 0;
      for (const part of exifParts) total += part.length;
      const exif = new Uint8Array(total);
      let k = 0;
      for (const part of exifParts) {
        exif.set(part, k);
        k += part.length;
      }
      h.exif = exif;
    }
    return h;
  }

  // ------------------------------------------------------------ EXIF orientation

  const TYPE_SIZES = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

  // Image.Exif.load + TiffImagePlugin.ImageFileDirectory_v2.load, reduced to
  // IFD0's Orientation tag. Returns {value} (a number, NaN or null when absent)
  // or {error: true} when Pillow raises reading the header.
  function exifOrientation(data) {
    let start = 0;
    for (let i = 0; i < 2 && startsWith(data, start, data.length, "Exif\0\0"); i++) start += 6;
    const e = data.subarray(start);
    if (e.length === 0) return { value: null };
    const head = String.fromCharCode(...e.subarray(0, 4));
    const prefixes = ["MM\x00\x2a", "II\x2a\x00", "MM\x2a\x00", "II\x00\x2a", "MM\x00\x2b", "II\x2b\x00"];
    if (!prefixes.includes(head)) return { error: true };
    if (e[2] === 43 || e.length < 8) return { error: true }; // struct.error
    const view = new DataView(e.buffer, e.byteOffset, e.length);
    const le = e[0] === 0x49;
    const next = view.getUint32(4, le);
    const limit = e.length;
    if (next + 2 > limit) return { value: null };
    const count = view.getUint16(next, le);
    let totalSize = 0;
    for (let t = 0; t < count; t++) {
      const at = next + 2 + t * 12;
      if (at + 12 > limit) break; // OSError: stop, keep what was read
      const tag = view.getUint16(at, le);
      const typ = view.getUint16(at + 2, le);
      const cnt = view.getUint32(at + 4, le);
      const unit = TYPE_SIZES[typ];
      if (!unit) continue;
      const size = cnt * unit;
      let off = at + 8;
      if (size > 4) {
        const offset = view.getUint32(at + 8, le);
        totalSize += size;
        if (totalSize > limit) continue;
        if (offset + size > limit) {
          if (tag === 0x0112) return { value: null }; // OSError: stop reading the IFD
          break;
        }
        off = offset;
      }
      if (size === 0) continue;
      if (tag !== 0x0112) continue;
      switch (typ) {
        case 1: case 7: return { value: typ === 7 ? NaN : e[off] };
        case 2: return { value: NaN };
        case 3: return { value: view.getUint16(off, le) };
        case 4: case 13: return { value: view.getUint32(off, le) };
        case 6: return { value: view.getInt8(off) };
        case 8: return { value: view.getInt16(off, le) };
        case 9: return { value: view.getInt32(off, le) };
        case 5: case 10: {
          const num = typ === 5 ? view.getUint32(off, le) : view.getInt32(off, le);
          const den = typ === 5 ? view.getUint32(off + 4, le) : view.getInt32(off + 4, le);
          return { value: den === 0 || num % den !== 0 ? NaN : num / den };
        }
        case 11: return { value: view.getFloat32(off, le) };
        case 12: return { value: view.getFloat64(off, le) };
        default: return { value: NaN };
      }
    }
    return { value: null };
  }

  function orientationOf(h) {
    let value = null;
    if (h.exif) {
      const r = exifOrientation(h.exif);
      if (r.error) {
        // Read (and the error swallowed) while opening unless the JFIF header gave
        // a dpi; then ImageOps.exif_transpose raises and decode_image rejects it.
        if (h.dpi) fail("corrupt", "unreadable EXIF header");
        return 1;
      }
      value = r.value;
    }
    if (value === null && h.xmp) {
      const pattern = "tiff:Orientation";
      const x = h.xmp;
      outer: for (let i = 0; i + pattern.length + 2 <= x.length; i++) {
        for (let k = 0; k < pattern.length; k++) if (x[i + k] !== pattern.charCodeAt(k)) continue outer;
        let j = i + pattern.length;
        if (x[j] === 0x3d && x[j + 1] === 0x22) j += 2;
        else if (x[j] === 0x3e) j += 1;
        else continue;
        if (j < x.length && x[j] >= 0x30 && x[j] <= 0x39) {
          value = x[j] - 0x30;
          break;
        }
      }
    }
    return Number.isInteger(value) && value >= 1 && value <= 8 ? value : 1;
  }

  // -------------------------------------------------- resample.fit and draft()

  function fit(width, height, box) {
    if (width <= box && height <= box) return [width, height];
    const aspect = width / height;
    const roundAspect = (number, key) => {
      const lo = Math.floor(number);
      const hi = Math.ceil(number);
      return Math.max(key(hi) < key(lo) ? hi : lo, 1);
    };
    if (aspect <= 1) return [roundAspect(box * aspect, (n) => Math.abs(aspect - n / box)), box];
    return [box, roundAspect(box / aspect, (n) => (n === 0 ? 0 : Math.abs(aspect - box / n)))];
  }

  function draftScale(width, height, box) {
    const [fw, fh] = fit(width, height, box);
    const scale = Math.min(Math.floor(width / fw), Math.floor(height / fh));
    for (const s of [8, 4, 2]) if (scale >= s) return s;
    return 1;
  }

  // ------------------------------------------------------------ libjpeg decoding

  // The decoder's state: module-level (the decoder is not reentrant) so that V8
  // keeps what it learnt about these functions from one image to the next.
  var d = null;
  var denom = 1;
  var n;
  var S;
  var finishing;
  var qt;
  var dcRaw;
  var acRaw;
  var restartInterval;
  var frame;
  var sawJFIF;
  var sawAdobe;
  var adobeTransform;
  var scans;
  var stdInstalled;
  var seg;
  var segLen;
  var segEOF;
  var segMarker;
  var segNext;
  var p;
  var availEnd;
  var markerReached;
  var insufficient;
  var lastMarker;
  var nextRestart;
  var comps;
  var maxH;
  var maxV;
  var mcusX;
  var mcusY;
  var Y;
  var multiScan;
  var progressive;
  var outW;
  var outH;
  var luma;
  var coefs;
  var coefStride;
  var yQuant;
  var pos;
  var pending;
  const FINISHED = {};
  const tmp = new Uint8Array(64);
  const scratch = new Int16Array(64 * 10);

  // After the last MCU of a single-scan file, jpeg_finish_decompress reads on to
  // EOI: running out of data there is fine for Pillow, errors are not.
  function truncated() {
    if (finishing) throw FINISHED;
    fail("corrupt", "image file is truncated");
  }

  // Marker-level state (jdmarker.c).

  // Entropy-coded segment: the data bytes up to the next marker, unstuffed.

  // next_marker(): skip to the next FF xx (xx not 0, not FF). Returns the
  // position after the marker code, the code in lastMarker.
  function nextMarker(i) {
    for (;;) {
      while (i < n && d[i] !== 0xff) i++;
      while (i < n && d[i] === 0xff) i++;
      if (i >= n) truncated();
      if (d[i] !== 0) {
        lastMarker = d[i];
        return i + 1;
      }
      i++;
    }
  }


  function loadSegment(i) {
    let k = 0;
    segEOF = true;
    segMarker = -1;
    segNext = n;
    while (i < n) {
      const b = d[i];
      if (b !== 0xff) {
        seg[k++] = b;
        i++;
        continue;
      }
      let q = i + 1;
      while (q < n && d[q] === 0xff) q++;
      if (q >= n) break;
      if (d[q] === 0) {
        seg[k++] = 0xff;
        i = q + 1;
        continue;
      }
      segEOF = false;
      segMarker = d[q];
      segNext = q + 1;
      break;
    }
    segLen = k;
    seg[k] = 0; seg[k + 1] = 0; seg[k + 2] = 0; seg[k + 3] = 0;
    p = 0;
    availEnd = 0;
    markerReached = false;
  }


  function emptySegment(marker, next) {
    segLen = 0;
    segEOF = false;
    segMarker = marker;
    segNext = next;
    seg[0] = 0; seg[1] = 0; seg[2] = 0; seg[3] = 0;
    p = 0;
    availEnd = 0;
    markerReached = true;
  }


  // jpeg_fill_bit_buffer (MIN_GET_BITS = 57 on 64-bit builds).
  function fill(nbits) {
    if (!markerReached) {
      const need = (p + 64) >> 3;
      if (need <= segLen) {
        availEnd = need << 3;
        return;
      }
      if (segEOF) truncated();
      availEnd = segLen << 3;
      markerReached = true;
    }
    if (nbits > availEnd - p) {
      insufficient = true;
      availEnd = p + 57;
    }
  }


  function peek16() {
    const i = p >> 3;
    if (i >= segLen) return 0;
    return (((seg[i] << 16) | (seg[i + 1] << 8) | seg[i + 2]) >>> (8 - (p & 7))) & 0xffff;
  }


  function getBits(s) {
    if (availEnd - p < s) fill(s);
    const v = peek16() >>> (16 - s);
    p += s;
    return v;
  }


  function getBit() {
    if (availEnd - p < 1) fill(1);
    const i = p >> 3;
    const bit = i < segLen ? (seg[i] >> (7 - (p & 7))) & 1 : 0;
    p++;
    return bit;
  }

  function slowHuff(t, l) {
    if (availEnd - p < l) fill(l);
    let code = peek16() >>> (16 - l);
    p += l;
    const maxcode = t.maxcode;
    while (code > maxcode[l]) {
      if (availEnd - p < 1) fill(1);
      code = (code << 1) | (peek16() >>> 15);
      p += 1;
      l++;
    }
    if (l > 16) return 0;
    return t.vals[(code + t.valoffset[l]) & 255];
  }


  function huff(t) {
    if (availEnd - p < 8) {
      fill(0);
      if (availEnd - p < 8) return slowHuff(t, 1);
    }
    const e = t.lookup[peek16() >>> 8];
    const nb = e >> 8;
    if (nb <= 8) {
      p += nb;
      return e & 255;
    }
    return slowHuff(t, 9);
  }


  function extend(x, s) {
    return x < 1 << (s - 1) ? x + (-1 << s) + 1 : x;
  }


  // read_restart_marker + jpeg_resync_to_restart.
  function readRestartMarker() {
    if (segEOF) truncated();
    let m = segMarker;
    let next = segNext;
    let fresh = true;
    if (m !== 0xd0 + nextRestart) {
      for (;;) {
        let action;
        if (m < 0xc0) action = 2;
        else if (m < 0xd0 || m > 0xd7) action = 3;
        else if (m === 0xd0 + ((nextRestart + 1) & 7) || m === 0xd0 + ((nextRestart + 2) & 7)) action = 3;
        else if (m === 0xd0 + ((nextRestart - 1) & 7) || m === 0xd0 + ((nextRestart - 2) & 7)) action = 2;
        else action = 1;
        if (action === 1) break;
        if (action === 2) {
          next = nextMarker(next);
          m = lastMarker;
          continue;
        }
        fresh = false;
        break;
      }
    }
    if (fresh) loadSegment(next);
    else emptySegment(m, next);
    nextRestart = (nextRestart + 1) & 7;
    return fresh;
  }


  // Frame geometry.

  function putBlock(c, o, bx, by) {
    const q = yQuant;
    const x0 = bx * S;
    const y0 = by * S;
    if (S === 1) {
      if (x0 < outW && y0 < outH) luma[y0 * outW + x0] = idct1x1(c[o], q[0]);
      return;
    }
    if (S === 8) idctIslow(c, o, q, tmp);
    else if (S === 4) idct4x4(c, o, q, tmp);
    else idct2x2(c, o, q, tmp);
    const w = Math.min(S, outW - x0);
    const h = Math.min(S, outH - y0);
    for (let y = 0; y < h; y++) {
      const row = (y0 + y) * outW + x0;
      const src = y * S;
      for (let x = 0; x < w; x++) luma[row + x] = tmp[src + x];
    }
  }


  function readLength(i) {
    if (i + 2 > n) truncated();
    return u16(d, i);
  }


  function processSOF(i, kind) {
    if (frame) fail("corrupt", "duplicate SOF marker");
    const len = readLength(i);
    if (i + len > n) truncated();
    if (len < 8) fail("corrupt", "bad SOF length");
    const precision = d[i + 2];
    const height = u16(d, i + 3);
    const width = u16(d, i + 5);
    const nc = d[i + 7];
    if (height <= 0 || width <= 0 || nc <= 0) fail("corrupt", "empty image");
    if (len - 8 !== nc * 3) fail("corrupt", "bad SOF length");
    if (kind === "arith") fail("unsupported", "arithmetic-coded JPEG");
    if (precision !== 8) fail("corrupt", `${precision}-bit JPEG`);
    if (width > MAX_DIMENSION || height > MAX_DIMENSION) fail("corrupt", "image too big");
    if (nc > 10) fail("corrupt", "too many components");
    comps = [];
    for (let c = 0; c < nc; c++) {
      const b = i + 8 + c * 3;
      let id = d[b];
      for (const prev of comps) {
        if (prev.id === id) {
          id = comps[0].id;
          for (let k = 1; k < comps.length; k++) if (comps[k].id > id) id = comps[k].id;
          id++;
          break;
        }
      }
      const hs = d[b + 1] >> 4;
      const vs = d[b + 1] & 15;
      if (hs < 1 || hs > 4 || vs < 1 || vs > 4) fail("corrupt", "bad sampling factors");
      comps.push({ id, h: hs, v: vs, tq: d[b + 2], index: c, quant: null, coefBits: new Int32Array(64).fill(-1) });
    }
    frame = { width, height, progressive: kind === "progressive" };
    progressive = frame.progressive;
    for (const c of comps) {
      maxH = Math.max(maxH, c.h);
      maxV = Math.max(maxV, c.v);
    }
    for (const c of comps) {
      c.bw = Math.ceil((width * c.h) / (8 * maxH));
      c.bh = Math.ceil((height * c.v) / (8 * maxV));
    }
    mcusX = Math.ceil(width / (8 * maxH));
    mcusY = Math.ceil(height / (8 * maxV));
    return i + len;
  }


  function processDHT(i) {
    const len = readLength(i);
    if (i + len > n) truncated();
    let length = len - 2;
    let k = i + 2;
    while (length > 16) {
      let index = d[k++];
      const bits = new Uint8Array(17);
      let count = 0;
      for (let l = 1; l <= 16; l++) {
        bits[l] = d[k++];
        count += bits[l];
      }
      length -= 17;
      if (count > 256 || count > length) fail("corrupt", "bad Huffman table");
      const vals = new Uint8Array(256);
      for (let v = 0; v < count; v++) vals[v] = d[k++];
      length -= count;
      const ac = (index & 0x10) !== 0;
      if (ac) index -= 0x10;
      if (index < 0 || index >= 4) fail("corrupt", "bad Huffman table index");
      (ac ? acRaw : dcRaw)[index] = { bits, vals };
    }
    if (length !== 0) fail("corrupt", "bad DHT length");
    return i + len;
  }


  function processDQT(i) {
    const len = readLength(i);
    if (i + len > n) truncated();
    let length = len - 2;
    let k = i + 2;
    while (length > 0) {
      length--;
      const b = d[k++];
      const prec = b >> 4;
      const index = b & 15;
      if (index >= 4) fail("corrupt", "bad quantization table index");
      const table = new Int32Array(64).fill(1);
      let count;
      if (prec) count = length < 128 ? length >> 1 : 64;
      else count = length < 64 ? length : 64;
      if (count !== 64) fail("corrupt", "short quantization table"); // Pillow refuses these
      for (let j = 0; j < 64; j++) {
        let v;
        if (prec) {
          v = u16(d, k);
          k += 2;
        } else {
          v = d[k++];
        }
        table[NATURAL[j]] = v;
      }
      length -= prec ? 128 : 64;
      qt[index] = table;
    }
    if (length !== 0) fail("corrupt", "bad DQT length");
    return i + len;
  }


  function skipVariable(i) {
    const len = readLength(i);
    const end = i + Math.max(len, 2);
    if (end > n) truncated();
    return end;
  }


  function processAPP(i, marker) {
    const len = readLength(i);
    const datalen = len - 2;
    if (marker === 0xe0 && datalen >= 14 && i + 2 + 14 <= n && startsWith(d, i + 2, i + 7, "JFIF\0")) sawJFIF = true;
    if (marker === 0xee && datalen >= 12 && i + 2 + 12 <= n && startsWith(d, i + 2, i + 7, "Adobe")) {
      sawAdobe = true;
      adobeTransform = d[i + 2 + 11];
    }
    const end = i + 2 + Math.max(datalen, 0);
    if (end > n) truncated();
    return end;
  }


  // Set up decoding at the first SOS: what libjpeg decides in
  // jpeg_start_decompress for an output in JCS_GRAYSCALE.
  function setupFrame() {
    if (comps.length === 4) fail("unsupported", "CMYK/YCCK JPEG");
    if (comps.length === 3) {
      let rgb = false;
      if (sawJFIF) rgb = false;
      else if (sawAdobe) rgb = adobeTransform === 0;
      else rgb = comps[0].id === 82 && comps[1].id === 71 && comps[2].id === 66;
      if (rgb) fail("unsupported", "RGB-coded JPEG (not YCbCr)");
    } else if (comps.length !== 1) {
      fail("unsupported", `${comps.length}-component JPEG`);
    }
    Y = comps[0];
    if (Y.h !== maxH || Y.v !== maxV) fail("unsupported", "luma is subsampled relative to chroma");
    outW = Math.ceil(frame.width / denom);
    outH = Math.ceil(frame.height / denom);
    luma = new Uint8Array(outW * outH);
    if (!stdInstalled) {
      stdInstalled = true;
      for (let t = 0; t < 2; t++) {
        if (!dcRaw[t]) dcRaw[t] = rawTable(STD_DC[t][0], STD_DC[t][1]);
        if (!acRaw[t]) acRaw[t] = rawTable(STD_AC[t][0], STD_AC[t][1]);
      }
    }
  }


  function allocCoefs() {
    coefStride = S === 1 ? 1 : 64;
    const blocks = mcusX * Y.h * mcusY * Y.v;
    coefs = new Int16Array(blocks * coefStride);
  }


  // Returns true when decoding is over (single-scan file fully output).
  function processSOS(i) {
    if (!frame) fail("corrupt", "SOS before SOF");
    const len = readLength(i);
    if (i + len > n) truncated();
    const ns = d[i + 2];
    if (len !== ns * 2 + 6 || ns < 1 || ns > 4) fail("corrupt", "bad SOS length");
    const scomps = [];
    for (let k = 0; k < ns; k++) {
      const id = d[i + 3 + k * 2];
      const tables = d[i + 4 + k * 2];
      const c = comps.find((x) => x.id === id);
      if (!c || scomps.includes(c)) fail("corrupt", "bad component id in SOS");
      scomps.push({ c, dc: tables >> 4, ac: tables & 15 });
    }
    const Ss = d[i + 3 + ns * 2];
    const Se = d[i + 4 + ns * 2];
    const Ah = d[i + 5 + ns * 2] >> 4;
    const Al = d[i + 5 + ns * 2] & 15;
    const dataStart = i + len;
    nextRestart = 0;
    if (++scans > MAX_SCANS) fail("unsupported", "too many scans");
    if (scans === 1) {
      setupFrame();
      multiScan = progressive || ns < comps.length;
      if (multiScan) allocCoefs();
    }
    let blocksInMCU = 0;
    if (ns === 1) blocksInMCU = 1;
    else for (const sc of scomps) blocksInMCU += sc.c.h * sc.c.v;
    if (blocksInMCU > 10) fail("corrupt", "bad MCU size");
    // Quantization tables are latched at a component's first scan.
    for (const sc of scomps) {
      if (!sc.c.quant) {
        if (sc.c.tq >= 4 || !qt[sc.c.tq]) fail("corrupt", "missing quantization table");
        sc.c.quant = qt[sc.c.tq].slice();
      }
    }
    yQuant = Y.quant;
    return progressive ? progressiveScan(scomps, Ss, Se, Ah, Al, dataStart)
      : sequentialScan(scomps, dataStart);
  }


  function skipScan(i) {
    for (;;) {
      i = nextMarker(i);
      if (lastMarker < 0xd0 || lastMarker > 0xd7) return { next: i, marker: lastMarker };
    }
  }


  // jdhuff.c decode_mcu (slow path semantics).
  function sequentialScan(scomps, dataStart) {
    const dct = [];
    const act = [];
    for (const sc of scomps) {
      if (sc.dc >= 4 || sc.ac >= 4) fail("corrupt", "missing Huffman table");
      dct.push(deriveTable(dcRaw[sc.dc], true));
      act.push(deriveTable(acRaw[sc.ac], false));
    }
    const hasY = scomps.some((sc) => sc.c === Y);
    if (multiScan && !hasY) return skipScan(dataStart);
    const acNeeded = S > 1;
    const pred = new Int32Array(scomps.length);
    // Layout of one MCU: [scan comp index, block x offset, block y offset].
    const layout = [];
    if (scomps.length === 1) layout.push([0, 0, 0]);
    else {
      scomps.forEach((sc, k) => {
        for (let y = 0; y < sc.c.v; y++) for (let x = 0; x < sc.c.h; x++) layout.push([k, x, y]);
      });
    }
    const single = scomps.length === 1;
    const cols = single ? scomps[0].c.bw : mcusX;
    const rows = single ? scomps[0].c.bh : mcusY;
    const bpl = mcusX * Y.h;
    insufficient = false;
    loadSegment(dataStart);
    let restartsToGo = restartInterval;
    for (let my = 0; my < rows; my++) {
      for (let mx = 0; mx < cols; mx++) {
        if (restartInterval) {
          if (restartsToGo === 0) {
            if (readRestartMarker()) insufficient = false;
            pred.fill(0);
            restartsToGo = restartInterval;
          }
        }
        if (!insufficient) {
          for (let b = 0; b < layout.length; b++) {
            const [k, ox, oy] = layout[b];
            const isY = scomps[k].c === Y;
            const dtab = dct[k];
            const atab = act[k];
            let s = huff(dtab);
            if (s) s = extend(getBits(s), s);
            let out = null;
            let o = 0;
            let bx = 0;
            let by = 0;
            if (isY) {
              s = (s + pred[k]) | 0;
              pred[k] = s;
              bx = single ? mx : mx * Y.h + ox;
              by = single ? my : my * Y.v + oy;
              if (multiScan) {
                out = coefs;
                o = (by * bpl + bx) * coefStride;
              } else {
                out = scratch;
                o = 0;
                scratch.fill(0, 0, 64);
              }
              out[o] = s;
            }
            if (isY && acNeeded) {
              for (let kk = 1; kk < 64; kk++) {
                s = huff(atab);
                const r = s >> 4;
                s &= 15;
                if (s) {
                  kk += r;
                  out[o + NATURAL[kk]] = extend(getBits(s), s);
                } else {
                  if (r !== 15) break;
                  kk += 15;
                }
              }
            } else {
              for (let kk = 1; kk < 64; kk++) {
                s = huff(atab);
                const r = s >> 4;
                s &= 15;
                if (s) {
                  kk += r;
                  if (availEnd - p < s) fill(s);
                  p += s;
                } else {
                  if (r !== 15) break;
                  kk += 15;
                }
              }
            }
            if (isY && !multiScan && bx < Y.bw && by < Y.bh) putBlock(scratch, 0, bx, by);
          }
        } else if (!multiScan) {
          // Skipped MCU: its blocks stay zero (uniform gray).
          scratch.fill(0, 0, 64);
          for (const [k, ox, oy] of layout) {
            if (scomps[k].c !== Y) continue;
            const bx = single ? mx : mx * Y.h + ox;
            const by = single ? my : my * Y.v + oy;
            if (bx < Y.bw && by < Y.bh) putBlock(scratch, 0, bx, by);
          }
        }
        restartsToGo--;
      }
    }
    if (!multiScan) return { done: true };
    if (segEOF) truncated();
    return { next: segNext, marker: segMarker };
  }


  // jdphuff.c.
  function progressiveScan(scomps, Ss, Se, Ah, Al, dataStart) {
    const isDC = Ss === 0;
    let bad = false;
    if (isDC) {
      if (Se !== 0) bad = true;
    } else {
      if (Ss > Se || Se >= 64) bad = true;
      if (scomps.length !== 1) bad = true;
    }
    if (Ah !== 0 && Al !== Ah - 1) bad = true;
    if (Al > 13) bad = true;
    if (bad) fail("corrupt", "bad progression parameters");
    for (const sc of scomps) {
      for (let k = Ss; k <= Se; k++) sc.c.coefBits[k] = Al;
    }
    const tables = [];
    for (const sc of scomps) {
      if (isDC) {
        if (Ah === 0) {
          if (sc.dc >= 4) fail("corrupt", "missing Huffman table");
          tables.push(deriveTable(dcRaw[sc.dc], true));
        } else tables.push(null);
      } else {
        if (sc.ac >= 4) fail("corrupt", "missing Huffman table");
        tables.push(deriveTable(acRaw[sc.ac], false));
      }
    }
    const hasY = scomps.some((sc) => sc.c === Y);
    if (!hasY || (!isDC && S === 1)) return skipScan(dataStart);
    insufficient = false;
    loadSegment(dataStart);
    if (isDC) progressiveDC(scomps, tables, Ah, Al);
    else if (Ah === 0) progressiveACFirst(tables[0], Ss, Se, Al);
    else progressiveACRefine(tables[0], Ss, Se, Al);
    if (segEOF) truncated();
    return { next: segNext, marker: segMarker };
  }


  // The (scan component, x, y) of each block of an interleaved MCU, and
  // whether it is a block of Y.
  function mcuLayout(scomps) {
    const ks = [];
    const xs = [];
    const ys = [];
    if (scomps.length === 1) {
      ks.push(0); xs.push(0); ys.push(0);
    } else {
      scomps.forEach((sc, k) => {
        for (let y = 0; y < sc.c.v; y++) {
          for (let x = 0; x < sc.c.h; x++) {
            ks.push(k); xs.push(x); ys.push(y);
          }
        }
      });
    }
    const isY = Uint8Array.from(ks, (k) => (scomps[k].c === Y ? 1 : 0));
    return { ks: Int32Array.from(ks), xs: Int32Array.from(xs), ys: Int32Array.from(ys), isY, count: ks.length };
  }


  // decode_mcu_DC_first / decode_mcu_DC_refine.
  function progressiveDC(scomps, tables, Ah, Al) {
    const single = scomps.length === 1;
    const cols = single ? scomps[0].c.bw : mcusX;
    const rows = single ? scomps[0].c.bh : mcusY;
    const bpl = mcusX * Y.h;
    const L = mcuLayout(scomps);
    const pred = new Int32Array(scomps.length);
    const p1 = 1 << Al;
    const stride = coefStride;
    const yh = Y.h;
    const yv = Y.v;
    let restartsToGo = restartInterval;
    for (let my = 0; my < rows; my++) {
      for (let mx = 0; mx < cols; mx++) {
        if (restartInterval && restartsToGo === 0) {
          if (readRestartMarker()) insufficient = false;
          pred.fill(0);
          restartsToGo = restartInterval;
        }
        if (Ah === 0) {
          if (!insufficient) {
            for (let b = 0; b < L.count; b++) {
              const k = L.ks[b];
              let s = huff(tables[k]);
              if (s) s = extend(getBits(s), s);
              s = (s + pred[k]) | 0;
              pred[k] = s;
              if (L.isY[b]) {
                const bx = single ? mx : mx * yh + L.xs[b];
                const by = single ? my : my * yv + L.ys[b];
                coefs[(by * bpl + bx) * stride] = s << Al;
              }
            }
          }
        } else {
          for (let b = 0; b < L.count; b++) {
            const bit = getBit();
            if (bit && L.isY[b]) {
              const bx = single ? mx : mx * yh + L.xs[b];
              const by = single ? my : my * yv + L.ys[b];
              coefs[(by * bpl + bx) * stride] |= p1;
            }
          }
        }
        restartsToGo--;
      }
    }
  }


  // decode_mcu_AC_first, for Y (one component per AC scan).
  function progressiveACFirst(tbl, Ss, Se, Al) {
    const cols = Y.bw;
    const rows = Y.bh;
    const bpl = mcusX * Y.h;
    const c = coefs;
    let EOBRUN = 0;
    let restartsToGo = restartInterval;
    for (let my = 0; my < rows; my++) {
      for (let mx = 0; mx < cols; mx++) {
        if (restartInterval && restartsToGo === 0) {
          if (readRestartMarker()) insufficient = false;
          EOBRUN = 0;
          restartsToGo = restartInterval;
        }
        restartsToGo--;
        if (insufficient) continue;
        if (EOBRUN > 0) {
          EOBRUN--;
          continue;
        }
        const o = (my * bpl + mx) * 64;
        for (let k = Ss; k <= Se; k++) {
          let s = huff(tbl);
          const r = s >> 4;
          s &= 15;
          if (s) {
            k += r;
            c[o + NATURAL[k]] = extend(getBits(s), s) << Al;
          } else if (r === 15) {
            k += 15;
          } else {
            EOBRUN = 1 << r;
            if (r) EOBRUN += getBits(r);
            EOBRUN--;
            break;
          }
        }
      }
    }
  }


  // decode_mcu_AC_refine, for Y.
  function progressiveACRefine(tbl, Ss, Se, Al) {
    const cols = Y.bw;
    const rows = Y.bh;
    const bpl = mcusX * Y.h;
    const c = coefs;
    const p1 = 1 << Al;
    const m1 = -1 << Al;
    let EOBRUN = 0;
    let restartsToGo = restartInterval;
    for (let my = 0; my < rows; my++) {
      for (let mx = 0; mx < cols; mx++) {
        if (restartInterval && restartsToGo === 0) {
          if (readRestartMarker()) insufficient = false;
          EOBRUN = 0;
          restartsToGo = restartInterval;
        }
        restartsToGo--;
        if (insufficient) continue;
        const o = (my * bpl + mx) * 64;
        let k = Ss;
        if (EOBRUN === 0) {
          for (; k <= Se; k++) {
            let s = huff(tbl);
            let r = s >> 4;
            s &= 15;
            if (s) {
              s = getBit() ? p1 : m1;
            } else if (r !== 15) {
              EOBRUN = 1 << r;
              if (r) EOBRUN += getBits(r);
              break;
            }
            do {
              const at = o + NATURAL[k];
              const coef = c[at];
              if (coef !== 0) {
                if (getBit()) {
                  if ((coef & p1) === 0) c[at] = coef >= 0 ? coef + p1 : coef + m1;
                }
              } else if (--r < 0) {
                break;
              }
              k++;
            } while (k <= Se);
            if (s) c[o + NATURAL[k]] = s;
          }
        }
        if (EOBRUN > 0) {
          for (; k <= Se; k++) {
            const at = o + NATURAL[k];
            const coef = c[at];
            if (coef !== 0) {
              if (getBit()) {
                if ((coef & p1) === 0) c[at] = coef >= 0 ? coef + p1 : coef + m1;
              }
            }
          }
          EOBRUN--;
        }
      }
    }
  }


  // jdcoefct.c smoothing_ok(): libjpeg smooths (we refuse) when the
  // progression leaves any of the first 9 AC coefficients unrefined.
  function checkSmoothing() {
    if (!progressive) return;
    const qpos = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24];
    let useful = false;
    for (const c of comps) {
      if (!c.quant) return;
      for (const pos of qpos) if (c.quant[pos] === 0) return;
      if (c.coefBits[0] < 0) return;
      for (let k = 1; k < 10; k++) if (c.coefBits[k] !== 0) useful = true;
    }
    if (useful) fail("unsupported", "progressive JPEG with an incomplete set of scans (libjpeg block smoothing)");
  }


  function outputMultiScan() {
    checkSmoothing();
    if (!Y.quant) {
      luma.fill(128);
      return;
    }
    yQuant = Y.quant;
    const bpl = mcusX * Y.h;
    for (let by = 0; by < Y.bh; by++) {
      for (let bx = 0; bx < Y.bw; bx++) putBlock(coefs, (by * bpl + bx) * coefStride, bx, by);
    }
  }


  function readMarkers() {
    for (;;) {
      let m;
      if (pending >= 0) {
        m = pending;
        pending = -1;
      } else {
        pos = nextMarker(pos);
        m = lastMarker;
      }
      if (m === 0xd8) fail("corrupt", "duplicate SOI marker");
      else if (m === 0xc0 || m === 0xc1) pos = processSOF(pos, "sequential");
      else if (m === 0xc2) pos = processSOF(pos, "progressive");
      else if (m === 0xc9 || m === 0xca) pos = processSOF(pos, "arith");
      else if (m === 0xc3 || m === 0xcb) fail("unsupported", "lossless JPEG");
      else if (m === 0xc5 || m === 0xc6 || m === 0xc7 || m === 0xc8 || (m >= 0xcd && m <= 0xcf)) {
        fail("unsupported", "hierarchical JPEG");
      } else if (m === 0xda) {
        if (finishing) fail("corrupt", "EOI expected");
        const r = processSOS(pos);
        if (r.done) {
          finishing = true;
          if (segEOF) return;
          pos = segNext;
          pending = segMarker;
          continue;
        }
        pos = r.next;
        if (r.marker !== undefined) pending = r.marker;
      } else if (m === 0xd9) {
        if (!frame || scans === 0) fail("corrupt", "no image in file");
        return;
      } else if (m === 0xcc || m === 0xdc) pos = skipVariable(pos);
      else if (m === 0xc4) pos = processDHT(pos);
      else if (m === 0xdb) pos = processDQT(pos);
      else if (m === 0xdd) {
        const len = readLength(pos);
        if (len !== 4) fail("corrupt", "bad DRI length");
        if (pos + 4 > n) truncated();
        restartInterval = u16(d, pos + 2);
        pos += 4;
      } else if (m >= 0xe0 && m <= 0xef) pos = processAPP(pos, m);
      else if (m === 0xfe) pos = skipVariable(pos);
      else if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) continue;
      else fail("corrupt", `unknown JPEG marker 0x${m.toString(16)}`);
    }
  }

  function decodeY(bytes, scale) {
    d = bytes;
    denom = scale;
    n = d.length;
    S = 8 / denom;
    finishing = false;
    qt = [null, null, null, null];
    dcRaw = [null, null, null, null];
    acRaw = [null, null, null, null];
    restartInterval = 0;
    frame = null;
    sawJFIF = false;
    sawAdobe = false;
    adobeTransform = 0;
    scans = 0;
    stdInstalled = false;
    seg = new Uint8Array(n + 8);
    segLen = 0;
    segEOF = false;
    segMarker = -1;
    segNext = n;
    p = 0;
    availEnd = 0;
    markerReached = false;
    insufficient = false;
    lastMarker = 0;
    nextRestart = 0;
    comps = null;
    maxH = 1;
    maxV = 1;
    mcusX = 0;
    mcusY = 0;
    Y = null;
    multiScan = false;
    progressive = false;
    outW = 0;
    outH = 0;
    luma = null;
    coefs = null;
    coefStride = 64;
    yQuant = null;
    pos = 2;
    pending = -1;
    // read_markers loop.
    try {
      readMarkers();
    } catch (error) {
      if (error !== FINISHED) throw error;
    }
    if (multiScan) outputMultiScan();
    return { outWidth: outW, outHeight: outH, luma };
  }

  function decodeLuma(bytes, opts) {
    if (!(bytes instanceof Uint8Array)) bytes = new Uint8Array(bytes);
    const maxPixels = opts && opts.maxPixels != null ? opts.maxPixels : Infinity;
    const box = (opts && opts.box) || 512;
    if (bytes.length === 0) fail("empty", "no bytes");
    const h = pillowOpen(bytes);
    // ImageFile.__init__: no mode or an empty size is "not identified".
    if (!h.sawSOF || h.width <= 0 || h.height <= 0) fail("not_image", "image has no pixels");
    if (h.width * h.height > maxPixels) {
      fail("too_many_pixels", `${h.width}x${h.height} exceeds the limit of ${maxPixels} pixels`);
    }
    if (!h.sawSOS) fail("corrupt", "cannot load this image");
    if (h.layers === 4) fail("unsupported", "CMYK/YCCK JPEG");
    const denom = draftScale(h.width, h.height, box);
    const r = decodeY(bytes, denom);
    if (r.outWidth !== Math.ceil(h.width / denom) || r.outHeight !== Math.ceil(h.height / denom)) {
      fail("corrupt", "frame size mismatch");
    }
    const orientation = orientationOf(h);
    return {
      width: h.width,
      height: h.height,
      outWidth: r.outWidth,
      outHeight: r.outHeight,
      luma: r.luma,
      orientation,
      format: "JPEG",
    };
  }

  return { decodeLuma, fit, draftScale };
})();

if (typeof module !== "undefined") module.exports = NciiJpeg;
