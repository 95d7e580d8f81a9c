/* ncii-monitor: the hashing rules of `monitor hashes add`, in plain JavaScript.
 *
 * A classic script (no modules, no dependencies, no network) that defines one global,
 * NciiHash. From the luma pixels of a decoded photo it makes the list of hashes
 * `monitor hashes add` stores for it (DecisionRule.reference_views), so that a page in
 * the victim's own browser can hash her photos without the photos leaving it.
 *
 * It ports, step by step (the Python names in brackets):
 *   - EXIF orientation, as PIL.ImageOps.exif_transpose (Image.transpose);
 *   - the decoding rules' integer reduction (decode._prepare: resample.fit to 512,
 *     Image.reduce, i.e. Pillow's libImaging/Reduce.c with its integer rounding);
 *   - HashInput.coarse (another Image.reduce), .resized (Pillow's own Lanczos resize,
 *     libImaging/Resample.c in 22-bit fixed point, when the decoded image is the nominal
 *     image; otherwise the projected operators rounded once) and .project (the
 *     composition of PDQ's or Lanczos' matrix with Pillow's bilinear taps and the block
 *     sums, as scipy computes it, in float32);
 *   - PDQ (algorithms.pdq_from_grid: quality, float32 DCT, Torben's median), pHash
 *     (scipy.fftpack.dct type II, numpy's median) and dHash;
 *   - DecisionRule.reference_views: the plain hashes, PDQ of six turns (Image.rotate on a
 *     mode "F" image with the bilinear filter: libImaging/Geometry.c) cropped to their
 *     largest upright box (_inscribed), PDQ and pHash of the fills and crops
 *     (fill_windows, crop_windows), deduplicated, PDQ of quality below 50 dropped.
 *
 * Where Python computes in float32 (the sparse products of the PDQ grid, in scipy's
 * stored order, the turned image, PDQ's quality) this port rounds with Math.fround in
 * the same order; BLAS's products (PDQ's float32 DCT, the dense Lanczos products of the
 * crops) are computed in float64: they differ from numpy's only in the last bits, which
 * matter only when a coefficient sits on the median. tests/test_hasher_core.py compares
 * it with the Python code in Chromium: the plain hashes, the turns and fills are equal
 * bit for bit on the test photos (at every EXIF orientation, and enlarged to 2000x1500,
 * 1100x900, 700x3000), 1 crop hash in 30,000 differs by 2 bits. Images with a side under
 * 64 px are the exception: PDQ's grid repeats their pixels and rounding noise decides
 * many of its bits, in Python as here.
 *
 * Like reference_views, referenceViews throws for an image whose turned box is empty
 * (1x1: Python raises IndexError there).
 */

var NciiHash = (function () {
  "use strict";

  var HASH_SIZE = 512;
  var COARSE_SIZE = 128;
  var PDQ_MIN_QUALITY = 50;
  var f32 = Math.fround;

  // ------------------------------------------------------------------ Python's numerics

  /** Python's round(x) (half to even) of a float, as an integer. */
  function roundHalfEven(x) {
    var floor = Math.floor(x);
    var diff = x - floor; // exact for the magnitudes used here
    if (diff > 0.5) return floor + 1;
    if (diff < 0.5) return floor;
    return floor % 2 === 0 ? floor : floor + 1;
  }

  /** Python's round(x, digits) for the few constants of the rule (exact decimal rounding). */
  function roundDigits(x, digits) {
    return parseFloat(x.toFixed(digits));
  }

  /** Python's x % m for floats (the sign of m). */
  function pyMod(x, m) {
    var r = x % m;
    if (r !== 0 && r < 0 !== m < 0) r += m;
    return r;
  }

  /** numpy's pairwise summation of a contiguous float64 run (the sum of a row). */
  function pairwiseSum(a, start, n) {
    var i, res;
    if (n < 8) {
      res = 0;
      for (i = 0; i < n; i++) res += a[start + i];
      return res;
    }
    if (n <= 128) {
      var r0 = a[start], r1 = a[start + 1], r2 = a[start + 2], r3 = a[start + 3];
      var r4 = a[start + 4], r5 = a[start + 5], r6 = a[start + 6], r7 = a[start + 7];
      for (i = 8; i < n - (n % 8); i += 8) {
        r0 += a[start + i]; r1 += a[start + i + 1]; r2 += a[start + i + 2]; r3 += a[start + i + 3];
        r4 += a[start + i + 4]; r5 += a[start + i + 5]; r6 += a[start + i + 6]; r7 += a[start + i + 7];
      }
      res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
      for (; i < n; i++) res += a[start + i];
      return res;
    }
    var n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
  }

  // ------------------------------------------------------------------ sizes

  /** resample.fit: the size Image.thumbnail((box, box)) gives (unchanged if it fits). */
  function fit(width, height, box) {
    if (box === undefined) box = HASH_SIZE;
    if (width <= box && height <= box) return [width, height];
    var aspect = width / height;
    function roundAspect(number, key) {
      var lo = Math.floor(number), hi = Math.ceil(number);
      var best = key(hi) < key(lo) ? hi : lo; // min() keeps the first on ties
      return Math.max(best, 1);
    }
    if (aspect <= 1) {
      return [roundAspect(box * aspect, function (n) { return Math.abs(aspect - n / box); }), box];
    }
    return [box, roundAspect(box / aspect, function (n) {
      return n === 0 ? 0 : Math.abs(aspect - box / n);
    })];
  }

  // ------------------------------------------------------------------ Pillow: transpose

  /** PIL.ImageOps.exif_transpose: orientation 1..8 (anything else: unchanged). */
  function exifTranspose(data, w, h, orientation) {
    var x, y, out;
    switch (orientation) {
      case 2: // FLIP_LEFT_RIGHT
        out = new Uint8Array(w * h);
        for (y = 0; y < h; y++) for (x = 0; x < w; x++) out[y * w + (w - 1 - x)] = data[y * w + x];
        return { data: out, w: w, h: h };
      case 3: // ROTATE_180
        out = new Uint8Array(w * h);
        for (y = 0; y < h; y++) for (x = 0; x < w; x++) out[(h - 1 - y) * w + (w - 1 - x)] = data[y * w + x];
        return { data: out, w: w, h: h };
      case 4: // FLIP_TOP_BOTTOM
        out = new Uint8Array(w * h);
        for (y = 0; y < h; y++) out.set(data.subarray(y * w, y * w + w), (h - 1 - y) * w);
        return { data: out, w: w, h: h };
      case 5: // TRANSPOSE: out[x][y] = in[y][x]
        out = new Uint8Array(w * h);
        for (y = 0; y < h; y++) for (x = 0; x < w; x++) out[x * h + y] = data[y * w + x];
        return { data: out, w: h, h: w };
      case 6: // ROTATE_270: out[x][h-1-y] = in[y][x]
        out = new Uint8Array(w * h);
        for (y = 0; y < h; y++) for (x = 0; x < w; x++) out[x * h + (h - 1 - y)] = data[y * w + x];
        return { data: out, w: h, h: w };
      case 7: // TRANSVERSE: out[w-1-x][h-1-y] = in[y][x]
        out = new Uint8Array(w * h);
        for (y = 0; y < h; y++) for (x = 0; x < w; x++) out[(w - 1 - x) * h + (h - 1 - y)] = data[y * w + x];
        return { data: out, w: h, h: w };
      case 8: // ROTATE_90: out[w-1-x][y] = in[y][x]
        out = new Uint8Array(w * h);
        for (y = 0; y < h; y++) for (x = 0; x < w; x++) out[(w - 1 - x) * h + y] = data[y * w + x];
        return { data: out, w: h, h: w };
      default:
        return { data: data, w: w, h: h };
    }
  }

  // ------------------------------------------------------------------ Pillow: Image.reduce

  /** Reduce.c's division_UINT32: (UINT32)(float(2^32) / float((1 << bits) * divider)). */
  function divisionUint32(divider, resultBits) {
    return Math.trunc(f32(4294967296 / f32(Math.pow(2, resultBits) * divider)));
  }

  /** Image.reduce(factor) of an 8-bit luma image (ImagingReduce, square factor, the
   * whole image): the special cases for 2 and 3, the general case, then the corners. */
  function reduce8(data, w, h, factor) {
    if (factor === 1) return { data: data, w: w, h: h };
    var ow = Math.floor((w + factor - 1) / factor), oh = Math.floor((h + factor - 1) / factor);
    var out = new Uint8Array(ow * oh);
    var fw = Math.floor(w / factor), fh = Math.floor(h / factor);
    var x, y, xx, yy, ss, base;
    if (factor === 2) {
      for (y = 0; y < fh; y++) {
        base = 2 * y * w;
        for (x = 0; x < fw; x++) {
          xx = 2 * x;
          ss = data[base + xx] + data[base + xx + 1] + data[base + w + xx] + data[base + w + xx + 1];
          out[y * ow + x] = (ss + 2) >> 2;
        }
      }
    } else {
      // ImagingReduce3x3 and ImagingReduceNxN: ((sum + amend) * multiplier) >> 24.
      var multiplier = divisionUint32(factor * factor, 8);
      var amend = Math.floor((factor * factor) / 2);
      for (y = 0; y < fh; y++) {
        for (x = 0; x < fw; x++) {
          ss = amend;
          for (yy = y * factor; yy < y * factor + factor; yy++) {
            base = yy * w + x * factor;
            for (xx = 0; xx < factor; xx++) ss += data[base + xx];
          }
          out[y * ow + x] = Math.floor((ss * multiplier) / 16777216);
        }
      }
    }
    // ImagingReduceCorners: the last column, the last row, the corner (partial blocks).
    var scale, mult, am;
    if (w % factor) {
      scale = (w % factor) * factor;
      mult = divisionUint32(scale, 8);
      am = Math.floor(scale / 2);
      x = fw;
      for (y = 0; y < fh; y++) {
        ss = am;
        for (yy = y * factor; yy < y * factor + factor; yy++) {
          for (xx = x * factor; xx < w; xx++) ss += data[yy * w + xx];
        }
        out[y * ow + x] = Math.floor((ss * mult) / 16777216);
      }
    }
    if (h % factor) {
      scale = factor * (h % factor);
      mult = divisionUint32(scale, 8);
      am = Math.floor(scale / 2);
      y = fh;
      for (x = 0; x < fw; x++) {
        ss = am;
        for (yy = y * factor; yy < h; yy++) {
          for (xx = x * factor; xx < x * factor + factor; xx++) ss += data[yy * w + xx];
        }
        out[y * ow + x] = Math.floor((ss * mult) / 16777216);
      }
    }
    if (w % factor && h % factor) {
      scale = (w % factor) * (h % factor);
      mult = divisionUint32(scale, 8);
      ss = Math.floor(scale / 2);
      x = fw;
      y = fh;
      for (yy = y * factor; yy < h; yy++) {
        for (xx = x * factor; xx < w; xx++) ss += data[yy * w + xx];
      }
      out[y * ow + x] = Math.floor((ss * mult) / 16777216);
    }
    return { data: out, w: ow, h: oh };
  }

  // ------------------------------------------------------------------ filters

  function sinc(x) {
    if (x === 0) return 1;
    x = x * Math.PI;
    return Math.sin(x) / x;
  }

  /** Resample.c's lanczos_filter (and resample._lanczos: the same values). */
  function lanczosFilter(x) {
    if (-3 <= x && x < 3) return sinc(x) * sinc(x / 3);
    return 0;
  }

  function bilinearFilter(x) {
    if (x < 0) x = -x;
    return x < 1 ? 1 - x : 0;
  }

  // ------------------------------------------------------------------ Pillow: resize (8 bit)

  /** Resample.c's precompute_coeffs (box = the whole image). */
  function precomputeCoeffs(inSize, outSize, filter, filterSupport) {
    var scale = inSize / outSize;
    var filterscale = scale < 1 ? 1 : scale;
    var support = filterSupport * filterscale;
    var ksize = Math.ceil(support) * 2 + 1;
    var kk = new Float64Array(outSize * ksize);
    var bounds = new Int32Array(outSize * 2);
    var ss = 1.0 / filterscale;
    for (var xx = 0; xx < outSize; xx++) {
      var center = (xx + 0.5) * scale;
      var ww = 0.0;
      var xmin = Math.trunc(center - support + 0.5);
      if (xmin < 0) xmin = 0;
      var xmax = Math.trunc(center + support + 0.5);
      if (xmax > inSize) xmax = inSize;
      xmax -= xmin;
      var k = xx * ksize, x;
      for (x = 0; x < xmax; x++) {
        var wgt = filter((x + xmin - center + 0.5) * ss);
        kk[k + x] = wgt;
        ww += wgt;
      }
      for (x = 0; x < xmax; x++) if (ww !== 0.0) kk[k + x] /= ww;
      bounds[xx * 2] = xmin;
      bounds[xx * 2 + 1] = xmax;
    }
    // normalize_coeffs_8bpc: 22-bit fixed point, rounded away from zero.
    var fixed = new Float64Array(kk.length);
    for (var i = 0; i < kk.length; i++) {
      fixed[i] = kk[i] < 0 ? Math.trunc(-0.5 + kk[i] * 4194304) : Math.trunc(0.5 + kk[i] * 4194304);
    }
    return { ksize: ksize, bounds: bounds, kk: fixed };
  }

  /** clip8: the fixed-point sum shifted back to 8 bits and clamped. */
  function clip8(ss) {
    var v = Math.floor(ss / 4194304);
    return v < 0 ? 0 : v > 255 ? 255 : v;
  }

  /** One 8bpc pass along rows (horizontal) of a (w x h) image, or along columns. */
  function pass8(src, w, h, outSize, horizontal) {
    var c = precomputeCoeffs(horizontal ? w : h, outSize, lanczosFilter, 3.0);
    var ow = horizontal ? outSize : w, oh = horizontal ? h : outSize;
    var out = new Uint8Array(ow * oh);
    var xx, yy, x, k, ss, min, count;
    if (horizontal) {
      for (yy = 0; yy < oh; yy++) {
        var line = yy * w;
        for (xx = 0; xx < ow; xx++) {
          min = c.bounds[xx * 2];
          count = c.bounds[xx * 2 + 1];
          k = xx * c.ksize;
          ss = 2097152; // 1 << (PRECISION_BITS - 1)
          for (x = 0; x < count; x++) ss += src[line + x + min] * c.kk[k + x];
          out[yy * ow + xx] = clip8(ss);
        }
      }
    } else {
      for (yy = 0; yy < oh; yy++) {
        min = c.bounds[yy * 2];
        count = c.bounds[yy * 2 + 1];
        k = yy * c.ksize;
        for (xx = 0; xx < ow; xx++) {
          ss = 2097152;
          for (x = 0; x < count; x++) ss += src[(x + min) * w + xx] * c.kk[k + x];
          out[yy * ow + xx] = clip8(ss);
        }
      }
    }
    return out;
  }

  /** Whether Pillow 13 runs the vertical pass first. Older Pillows (the Resample.c read
   * for this port) always run the horizontal pass first; Pillow 13.0.0 picks the order,
   * and its rule, measured on its output for the two sizes the hashes resize to (990
   * random sizes up to 520 px, every one explained), is: vertical first when the height
   * shrinks and h >= 2 w - c, c = 31 for 32x32 and 9 for 9x8. Both passes round to 8 bits,
   * so the order changes the result by a unit here and there. */
  var VERTICAL_FIRST = { "32x32": 31, "9x8": 9 };
  function verticalFirst(w, h, outW, outH) {
    var c = VERTICAL_FIRST[outW + "x" + outH];
    if (c === undefined) return false;
    return h > outH && h >= 2 * w - c;
  }

  /** Image.resize((outW, outH), LANCZOS) of an 8-bit luma image: Resample.c's 8bpc passes
   * (22-bit fixed point, clip8 after each pass), in Pillow 13's order. */
  function resizeLanczos8(data, w, h, outW, outH) {
    if (w === outW && h === outH) return data.slice();
    if (outW === w) return pass8(data, w, h, outH, false);
    if (outH === h) return pass8(data, w, h, outW, true);
    if (verticalFirst(w, h, outW, outH)) return pass8(pass8(data, w, h, outH, false), w, outH, outW, true);
    return pass8(pass8(data, w, h, outW, true), outW, h, outH, false);
  }

  // ------------------------------------------------------------------ Pillow: rotate ("F")

  function round15(x) {
    return roundDigits(x, 15);
  }

  /** Image.rotate(angle, BILINEAR) of a mode "F" image (same size, 0 outside): Pillow's
   * reverse affine matrix and ImagingGenericTransform with bilinear_filter32F. */
  function rotateF(src, w, h, angleDeg) {
    var angle = pyMod(angleDeg, 360.0);
    var out = new Float32Array(w * h);
    if (angle === 0) {
      out.set(src);
      return out;
    }
    var x, y;
    if (angle === 180) {
      for (y = 0; y < h; y++) for (x = 0; x < w; x++) out[(h - 1 - y) * w + (w - 1 - x)] = src[y * w + x];
      return out;
    }
    if ((angle === 90 || angle === 270) && w === h) {
      for (y = 0; y < h; y++) {
        for (x = 0; x < w; x++) {
          if (angle === 90) out[(w - 1 - x) * h + y] = src[y * w + x];
          else out[x * h + (h - 1 - y)] = src[y * w + x];
        }
      }
      return out;
    }
    var cx = w / 2, cy = h / 2;
    var rad = -(angle * (Math.PI / 180));
    var a0 = round15(Math.cos(rad)), a1 = round15(Math.sin(rad));
    var a3 = round15(-Math.sin(rad)), a4 = round15(Math.cos(rad));
    var a2 = a0 * -cx + a1 * -cy + 0.0;
    var a5 = a3 * -cx + a4 * -cy + 0.0;
    a2 += cx;
    a5 += cy;
    for (y = 0; y < h; y++) {
      var yin0 = y + 0.5;
      for (x = 0; x < w; x++) {
        var xin0 = x + 0.5;
        var xin = a0 * xin0 + a1 * yin0 + a2;
        var yin = a3 * xin0 + a4 * yin0 + a5;
        if (xin < 0.0 || xin >= w || yin < 0.0 || yin >= h) continue; // filled with 0
        xin -= 0.5;
        yin -= 0.5;
        var ix = Math.floor(xin), iy = Math.floor(yin);
        var dx = xin - ix, dy = yin - iy;
        var row = (iy < 0 ? 0 : iy < h ? iy : h - 1) * w;
        var x0 = ix < 0 ? 0 : ix < w ? ix : w - 1;
        var x1 = ix + 1 < 0 ? 0 : ix + 1 < w ? ix + 1 : w - 1;
        var p = src[row + x0], q = src[row + x1];
        var v1 = p + (q - p) * dx, v2;
        if (iy + 1 >= 0 && iy + 1 < h) {
          row = (iy + 1) * w;
          p = src[row + x0];
          q = src[row + x1];
          v2 = p + (q - p) * dx;
        } else {
          v2 = v1;
        }
        out[y * w + x] = v1 + (v2 - v1) * dy; // Float32Array: rounded as C's (FLOAT32)
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ sparse matrices (scipy)

  /** A CSR matrix: rows x cols, per row the column indices and values in scipy's
   * stored order (the order its products accumulate in). */
  function Csr(rows, cols, ptr, idx, val) {
    this.rows = rows;
    this.cols = cols;
    this.ptr = ptr;
    this.idx = idx;
    this.val = val;
  }

  /** scipy.sparse.csr_matrix(dense): the nonzeros, row by row, ascending columns. */
  function csrFromDense(dense, rows, cols) {
    var ptr = new Int32Array(rows + 1), idx = [], val = [];
    for (var r = 0; r < rows; r++) {
      for (var c = 0; c < cols; c++) {
        var v = dense[r * cols + c];
        if (v !== 0) {
          idx.push(c);
          val.push(v);
        }
      }
      ptr[r + 1] = idx.length;
    }
    return new Csr(rows, cols, ptr, Int32Array.from(idx), Float64Array.from(val));
  }

  /** scipy's csr_matmat (sparsetools/csr.h): A @ B, each output row in the reverse order
   * of first insertion, zero sums dropped. */
  function matmat(A, B) {
    var nCol = B.cols;
    var next = new Int32Array(nCol).fill(-1);
    var sums = new Float64Array(nCol);
    var ptr = new Int32Array(A.rows + 1), idx = [], val = [];
    for (var i = 0; i < A.rows; i++) {
      var head = -2, length = 0;
      for (var jj = A.ptr[i]; jj < A.ptr[i + 1]; jj++) {
        var j = A.idx[jj], v = A.val[jj];
        for (var kk = B.ptr[j]; kk < B.ptr[j + 1]; kk++) {
          var k = B.idx[kk];
          sums[k] += v * B.val[kk];
          if (next[k] === -1) {
            next[k] = head;
            head = k;
            length++;
          }
        }
      }
      for (var t = 0; t < length; t++) {
        if (sums[head] !== 0) {
          idx.push(head);
          val.push(sums[head]);
        }
        var temp = head;
        head = next[head];
        next[temp] = -1;
        sums[temp] = 0;
      }
      ptr[i + 1] = idx.length;
    }
    return new Csr(A.rows, nCol, ptr, Int32Array.from(idx), Float64Array.from(val));
  }

  function toFloat32(A) {
    return new Csr(A.rows, A.cols, A.ptr, A.idx, Float64Array.from(A.val, f32));
  }

  function sortRows(A) {
    var idx = new Int32Array(A.idx.length), val = new Float64Array(A.val.length);
    for (var r = 0; r < A.rows; r++) {
      var entries = [];
      for (var jj = A.ptr[r]; jj < A.ptr[r + 1]; jj++) entries.push([A.idx[jj], A.val[jj]]);
      entries.sort(function (a, b) { return a[0] - b[0]; });
      for (var e = 0; e < entries.length; e++) {
        idx[A.ptr[r] + e] = entries[e][0];
        val[A.ptr[r] + e] = entries[e][1];
      }
    }
    return new Csr(A.rows, A.cols, A.ptr, idx, val);
  }

  /** Rows of ascending columns as contiguous runs (start, length, weights padded with 0),
   * for the tight loops of the crops: the same sums, in the same order. */
  function runs(A) {
    return cached("runs:" + A.key, function () {
      var start = new Int32Array(A.rows), length = new Int32Array(A.rows), widest = 1, r;
      for (r = 0; r < A.rows; r++) {
        var from = A.ptr[r], to = A.ptr[r + 1];
        start[r] = to > from ? A.idx[from] : 0;
        length[r] = to > from ? A.idx[to - 1] - A.idx[from] + 1 : 0;
        widest = Math.max(widest, length[r]);
      }
      var weights = new Float64Array(A.rows * widest);
      for (r = 0; r < A.rows; r++) {
        for (var jj = A.ptr[r]; jj < A.ptr[r + 1]; jj++) weights[r * widest + A.idx[jj] - start[r]] = A.val[jj];
      }
      return { start: start, length: length, weights: weights, stride: widest };
    });
  }

  // ------------------------------------------------------------------ the operators

  // Operators by size, shared by the images of a session (emptied when it grows large).
  var cache = {};
  var cacheSize = 0;
  function cached(key, make) {
    if (!(key in cache)) {
      if (++cacheSize > 4000) {
        cache = {};
        cacheSize = 1;
      }
      cache[key] = make();
    }
    return cache[key];
  }

  /** PDQ's box filter along n pixels (pdq_matrix / _grid_matrix): per row i, the
   * columns low..high, each weighted 1/count, as a CSR matrix (n x n). */
  function pdqBox(n) {
    var windowSize = Math.floor((n + 127) / 128);
    var half = Math.floor((windowSize + 2) / 2);
    var before = windowSize - half, after = half - 1;
    var ptr = new Int32Array(n + 1), idx = [], val = [];
    for (var i = 0; i < n; i++) {
      var low = Math.max(0, i - before), high = Math.min(n - 1, i + after);
      var weight = 1.0 / (high - low + 1);
      for (var c = low; c <= high; c++) {
        idx.push(c);
        val.push(weight);
      }
      ptr[i + 1] = idx.length;
    }
    return new Csr(n, n, ptr, Int32Array.from(idx), Float64Array.from(val));
  }

  function pdqKept(n) {
    var kept = new Int32Array(64);
    for (var k = 0; k < 64; k++) kept[k] = Math.trunc(((k + 0.5) * n) / 64);
    return kept;
  }

  function selectRows(A, rows) {
    var ptr = new Int32Array(rows.length + 1), idx = [], val = [];
    for (var r = 0; r < rows.length; r++) {
      for (var jj = A.ptr[rows[r]]; jj < A.ptr[rows[r] + 1]; jj++) {
        idx.push(A.idx[jj]);
        val.push(A.val[jj]);
      }
      ptr[r + 1] = idx.length;
    }
    return new Csr(rows.length, A.cols, ptr, Int32Array.from(idx), Float64Array.from(val));
  }

  /** rule._grid_matrix(n): (64 x n) float32, PDQ's two box passes and decimation. */
  function gridMatrix(n) {
    return cached("grid:" + n, function () {
      if (n <= 0) throw new Error("NciiHash: an empty box has no PDQ grid");
      var box = pdqBox(n);
      var matrix = sortRows(toFloat32(matmat(selectRows(box, pdqKept(n)), box)));
      matrix.key = "grid:" + n;
      return matrix;
    });
  }

  /** algorithms.pdq_matrix(64, n), dense float64 (64 x n). */
  function pdqDense(n) {
    return cached("pdqdense:" + n, function () {
      var box = pdqBox(n);
      var product = matmat(selectRows(box, pdqKept(n)), box);
      var dense = new Float64Array(64 * n);
      for (var r = 0; r < 64; r++) {
        for (var jj = product.ptr[r]; jj < product.ptr[r + 1]; jj++) dense[r * n + product.idx[jj]] = product.val[jj];
      }
      return dense;
    });
  }

  /** resample._pillow_taps: Pillow's taps in double precision, as numpy computes them
   * (the weights divided by filterscale, normalised by numpy's pairwise sum). Returns per
   * output row the columns and weights of the taps inside the image (zeros included). */
  function pillowTaps(kind, outSize, inSize) {
    var filter = kind === "lanczos" ? lanczosFilter : bilinearFilter;
    var filterSupport = kind === "lanczos" ? 3.0 : 1.0;
    var scale = inSize / outSize;
    var filterscale = Math.max(scale, 1.0);
    var support = filterSupport * filterscale;
    var taps = Math.ceil(support) * 2 + 1;
    var weights = new Float64Array(taps);
    var ptr = new Int32Array(outSize + 1), idx = [], val = [];
    for (var i = 0; i < outSize; i++) {
      var center = (i + 0.5) * scale;
      var xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      var xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
      var t;
      for (t = 0; t < taps; t++) {
        var x = xmin + t;
        weights[t] = x < xmax ? filter((x - center + 0.5) / filterscale) : 0.0;
      }
      var total = pairwiseSum(weights, 0, taps);
      for (t = 0; t < taps && xmin + t < xmax; t++) {
        idx.push(xmin + t);
        val.push(total !== 0.0 ? weights[t] / total : weights[t]);
      }
      ptr[i + 1] = idx.length;
    }
    return new Csr(outSize, inSize, ptr, Int32Array.from(idx), Float64Array.from(val));
  }

  /** resample.pillow_matrix(kind, out, in): the taps as a dense float64 matrix's nonzeros
   * (csr_matrix(dense): ascending, explicit zeros gone). */
  function pillowMatrix(kind, outSize, inSize) {
    return cached("pm:" + kind + ":" + outSize + ":" + inSize, function () {
      var taps = pillowTaps(kind, outSize, inSize);
      var ptr = new Int32Array(outSize + 1), idx = [], val = [];
      for (var r = 0; r < outSize; r++) {
        for (var jj = taps.ptr[r]; jj < taps.ptr[r + 1]; jj++) {
          if (taps.val[jj] !== 0) {
            idx.push(taps.idx[jj]);
            val.push(taps.val[jj]);
          }
        }
        ptr[r + 1] = idx.length;
      }
      var matrix = new Csr(outSize, inSize, ptr, Int32Array.from(idx), Float64Array.from(val));
      matrix.key = "pm:" + kind + ":" + outSize + ":" + inSize;
      return matrix;
    });
  }

  /** resample._composed(operator, nominal, actual, factor) as float32 CSR, in scipy's
   * stored order. ``kind``: "pdq" (64 rows) or "lanczos" (``rows`` rows). */
  function composed(kind, rows, nominal, actual, factor) {
    return cached("comp:" + kind + ":" + rows + ":" + nominal + ":" + actual + ":" + factor, function () {
      var matrix;
      if (kind === "pdq") matrix = csrFromDense(pdqDense(nominal), 64, nominal);
      else matrix = pillowMatrix("lanczos", rows, nominal);
      if (actual !== nominal) matrix = matmat(matrix, pillowTaps("bilinear", nominal, actual));
      if (factor > 1) {
        var blocks = Math.ceil(actual / factor);
        var ptr = new Int32Array(actual + 1), idx = new Int32Array(actual), val = new Float64Array(actual);
        for (var p = 0; p < actual; p++) {
          ptr[p + 1] = p + 1;
          idx[p] = Math.floor(p / factor);
          val[p] = 1.0;
        }
        matrix = matmat(matrix, new Csr(actual, blocks, ptr, idx, val));
      }
      return toFloat32(matrix);
    });
  }

  /** ``(right @ (left @ pixels).T).T`` as scipy computes it: csr_matvecs, accumulating
   * ``y += a * x`` in float32 (``single``) or float64, in the stored order. ``pixels`` is
   * (height x width) row-major; returns (left.rows x right.rows) row-major. */
  function sandwich(left, right, pixels, width, single, colStart, colCount) {
    if (colStart === undefined) {
      colStart = 0;
      colCount = width;
    }
    var R = left.rows, C = right.rows;
    var partial = new Float64Array(R * colCount);
    var r, c, jj, j, a, x, base, src, acc;
    for (r = 0; r < R; r++) {
      base = r * colCount;
      for (jj = left.ptr[r]; jj < left.ptr[r + 1]; jj++) {
        j = left.idx[jj];
        a = left.val[jj];
        src = j * width + colStart;
        if (single) {
          for (x = 0; x < colCount; x++) partial[base + x] = f32(partial[base + x] + f32(a * pixels[src + x]));
        } else {
          for (x = 0; x < colCount; x++) partial[base + x] += a * pixels[src + x];
        }
      }
    }
    var out = new Float64Array(R * C);
    for (c = 0; c < C; c++) {
      for (r = 0; r < R; r++) {
        acc = 0;
        base = r * colCount;
        for (jj = right.ptr[c]; jj < right.ptr[c + 1]; jj++) {
          if (single) acc = f32(acc + f32(right.val[jj] * partial[base + right.idx[jj]]));
          else acc += right.val[jj] * partial[base + right.idx[jj]];
        }
        out[r * C + c] = acc;
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ PDQ

  var PDQ_DCT = (function () {
    var d = new Float64Array(16 * 64);
    var scale = Math.sqrt(2.0 / 64);
    var step = Math.PI / 2.0 / 64;
    for (var k = 1; k <= 16; k++) {
      for (var j = 0; j < 64; j++) d[(k - 1) * 64 + j] = f32(scale * Math.cos(step * (k * (2 * j + 1))));
    }
    return d;
  })();

  var GRID32 = new Float32Array(64 * 64);
  var DCT_TMP = new Float64Array(16 * 64);
  var COEFFICIENTS = new Float64Array(256);

  /** algorithms.pdq_from_grid: (bits: 256 booleans, bit 0 first; quality). */
  function pdqFromGrid(gridIn) {
    var grid = GRID32, i, j, k, total = 0, d;
    grid.set(gridIn); // float32, as grid.astype(np.float32)
    // Quality: sum of |trunc((a - b) * 100 / 255)| in float32, down and across.
    for (i = 0; i < 63 * 64; i++) {
      d = f32(grid[i] - grid[i + 64]);
      total += Math.abs(Math.trunc(f32(f32(d * 100) / 255)));
    }
    for (i = 0; i < 64; i++) {
      for (j = 0; j < 63; j++) {
        d = f32(grid[i * 64 + j] - grid[i * 64 + j + 1]);
        total += Math.abs(Math.trunc(f32(f32(d * 100) / 255)));
      }
    }
    var quality = Math.min(Math.floor(total / 90), 100);
    // _PDQ_DCT @ grid @ _PDQ_DCT.T (16 x 16), in float64.
    var tmp = DCT_TMP, dct = PDQ_DCT;
    tmp.fill(0);
    for (k = 0; k < 16; k++) {
      var tk = k * 64;
      for (i = 0; i < 64; i++) {
        var c = dct[tk + i], gi = i * 64;
        for (j = 0; j < 64; j++) tmp[tk + j] += c * grid[gi + j];
      }
    }
    var coefficients = COEFFICIENTS;
    for (k = 0; k < 16; k++) {
      for (var l = 0; l < 16; l++) {
        var t = 0, tk2 = k * 64, dl = l * 64;
        for (j = 0; j < 64; j++) t += tmp[tk2 + j] * dct[dl + j];
        coefficients[k * 16 + l] = t;
      }
    }
    var median = Float64Array.from(coefficients).sort()[127];
    var bits = new Array(256);
    for (i = 0; i < 256; i++) bits[i] = coefficients[i] > median;
    return { bits: bits, quality: quality };
  }

  /** algorithms.pdq_hex: bit 255 is the most significant bit of the first digit. */
  function pdqHex(bits) {
    var hex = "";
    for (var nibble = 0; nibble < 64; nibble++) {
      var v = 0;
      for (var b = 0; b < 4; b++) v = (v << 1) | (bits[255 - nibble * 4 - b] ? 1 : 0);
      hex += v.toString(16);
    }
    return hex;
  }

  function bitsHex(bits) {
    var hex = "";
    for (var nibble = 0; nibble < bits.length / 4; nibble++) {
      var v = 0;
      for (var b = 0; b < 4; b++) v = (v << 1) | (bits[nibble * 4 + b] ? 1 : 0);
      hex += v.toString(16);
    }
    return hex;
  }

  function pdqValue(grid) {
    var result = pdqFromGrid(grid);
    return { algorithm: "pdq", value: pdqHex(result.bits), quality: result.quality };
  }

  // ------------------------------------------------------------------ pHash, dHash

  var COS_TABLES = {};
  function cosTable(n) {
    // cos(pi k (2i + 1) / 2n) for odd k < n, i < n / 2
    if (!COS_TABLES[n]) {
      var half = n / 2, table = new Float64Array(n * half);
      for (var k = 1; k < n; k += 2) {
        for (var i = 0; i < half; i++) table[k * half + i] = Math.cos((Math.PI * k * (2 * i + 1)) / (2 * n));
      }
      COS_TABLES[n] = table;
    }
    return COS_TABLES[n];
  }

  /** The first ``m`` outputs of the unnormalised DCT-II (scipy.fftpack.dct, type 2):
   * y[k] = 2 sum x[i] cos(pi k (2i+1) / 2n), by even/odd halving (the even outputs are the
   * DCT of x[i] + x[n-1-i], the odd ones sums of x[i] - x[n-1-i]), so that symmetric
   * inputs (flat rows, ramps) give exact zeros, as pocketfft does. ``n`` a power of two. */
  function dct2(x, offset, stride, n, m, out) {
    if (n === 1) {
      out[0] = 2 * x[offset];
      return;
    }
    var half = n / 2, sum = new Float64Array(half), diff = new Float64Array(half), i, k;
    for (i = 0; i < half; i++) {
      var a = x[offset + i * stride], b = x[offset + (n - 1 - i) * stride];
      sum[i] = a + b;
      diff[i] = a - b;
    }
    var even = new Float64Array(half);
    dct2(sum, 0, 1, half, Math.ceil(m / 2), even);
    for (k = 0; 2 * k < m; k++) out[2 * k] = even[k];
    var table = cosTable(n);
    for (k = 1; k < m; k += 2) {
      var s = 0, row = k * half;
      for (i = 0; i < half; i++) s += diff[i] * table[row + i];
      out[k] = 2 * s;
    }
  }

  /** rule._phash_of: pHash of 32x32 pixels (row-major). */
  function phashOf(pixels) {
    var c, k;
    var column = new Float64Array(8);
    var afterRows = new Float64Array(8 * 32); // dct along axis 0, first 8 frequencies
    for (c = 0; c < 32; c++) {
      dct2(pixels, c, 32, 32, 8, column);
      for (k = 0; k < 8; k++) afterRows[k * 32 + c] = column[k];
    }
    var dct = new Float64Array(64);
    for (k = 0; k < 8; k++) {
      dct2(afterRows, k * 32, 1, 32, 8, column);
      for (c = 0; c < 8; c++) dct[k * 8 + c] = column[c];
    }
    var sorted = Float64Array.from(dct).sort();
    var median = (sorted[31] + sorted[32]) / 2;
    var bits = [];
    for (var i = 0; i < 64; i++) bits.push(dct[i] > median);
    return { algorithm: "phash", value: bitsHex(bits), quality: null };
  }

  function dhashOf(pixels) {
    var bits = [];
    for (var r = 0; r < 8; r++) {
      for (var c = 0; c < 8; c++) bits.push(pixels[r * 9 + c + 1] > pixels[r * 9 + c]);
    }
    return { algorithm: "dhash", value: bitsHex(bits), quality: null };
  }

  // ------------------------------------------------------------------ HashInput

  /** decode._prepare from the decoded luma: orientation, fit, integer reduction. */
  function prepare(luma, width, height, orientation) {
    if (!(width > 0 && height > 0)) throw new Error("NciiHash: the image has no pixels");
    if (luma.length !== width * height) throw new Error("NciiHash: luma is not width x height");
    var img = exifTranspose(luma, width, height, orientation | 0);
    var nominal = fit(img.w, img.h);
    var factor = Math.min(Math.floor(img.w / nominal[0]), Math.floor(img.h / nominal[1]));
    if (factor >= 2) img = reduce8(img.data, img.w, img.h, factor);
    return new HashInput(img.data, img.w, img.h, nominal[0], nominal[1]);
  }

  function HashInput(pixels, w, h, nominalW, nominalH) {
    this.pixels = pixels; // Uint8Array, the decoded pixels (after orientation and reduction)
    this.w = w;
    this.h = h;
    this.nw = nominalW;
    this.nh = nominalH;
    this._array = null;
    this._coarse = null;
  }

  HashInput.prototype.array = function () {
    if (!this._array) this._array = Float32Array.from(this.pixels);
    return this._array;
  };

  HashInput.prototype.coarse = function () {
    if (!this._coarse) {
      var factor = Math.max(1, Math.floor(Math.min(this.w, this.h) / COARSE_SIZE));
      if (factor === 1) this._coarse = { data: this.array(), w: this.w, h: this.h, factor: 1 };
      else {
        var reduced = reduce8(this.pixels, this.w, this.h, factor);
        this._coarse = { data: Float32Array.from(reduced.data), w: reduced.w, h: reduced.h, factor: factor };
      }
    }
    return this._coarse;
  };

  HashInput.prototype.pdqGrid = function () {
    var left = composed("pdq", 64, this.nh, this.h, 1);
    var right = composed("pdq", 64, this.nw, this.w, 1);
    return sandwich(left, right, this.array(), this.w, true);
  };

  /** HashInput.resized: 8-bit values (height x width). */
  HashInput.prototype.resized = function (width, height) {
    if (this.nw === this.w && this.nh === this.h) {
      return resizeLanczos8(this.pixels, this.w, this.h, width, height);
    }
    var coarse = this.coarse();
    var left = composed("lanczos", height, this.nh, this.h, coarse.factor);
    var right = composed("lanczos", width, this.nw, this.w, coarse.factor);
    var values = sandwich(left, right, coarse.data, coarse.w, true);
    var out = new Float64Array(values.length);
    for (var i = 0; i < values.length; i++) {
      var v = Math.floor(f32(values[i] + 0.5));
      out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
    return out;
  };

  function plain(input) {
    var pdq = pdqValue(input.pdqGrid());
    return [
      { algorithm: "pdq", value: pdq.value, quality: pdq.quality, view: "original" },
      { algorithm: "phash", value: phashOf(input.resized(32, 32)).value, quality: null, view: "original" },
      { algorithm: "dhash", value: dhashOf(input.resized(9, 8)).value, quality: null, view: "original" },
    ];
  }

  // ------------------------------------------------------------------ the rule's views

  var REFERENCE_TURNS = [-7.25, -5.5, -3.75, 3.75, 5.5, 7.25];

  /** rule._inscribed: the largest upright box inside a w x h box turned by ``angle`` (rad). */
  function inscribed(width, height, angle) {
    var longSide = Math.max(width, height), shortSide = Math.min(width, height);
    var sin = Math.abs(Math.sin(angle)), cos = Math.abs(Math.cos(angle));
    var w, h;
    if (shortSide <= 2 * sin * cos * longSide) {
      var x = 0.5 * shortSide;
      if (width >= height) {
        w = x / sin;
        h = x / cos;
      } else {
        w = x / cos;
        h = x / sin;
      }
    } else {
      var cos2 = cos * cos - sin * sin;
      w = (width * cos - height * sin) / cos2;
      h = (height * cos - width * sin) / cos2;
    }
    return [Math.trunc(w), Math.trunc(h)];
  }

  /** Python's f"{angle:+g}" for the turns. */
  function turnName(angle) {
    return "turn:" + (angle >= 0 ? "+" : "") + String(angle);
  }

  function boxGrid(array, width, left, top, right, bottom) {
    var rows = gridMatrix(bottom - top), columns = gridMatrix(right - left);
    return sandwich(rows, columns, array.subarray(top * width), width, true, left, right - left);
  }

  /** rule.crop_windows(): (start, end) fractions of a side. */
  var CROP_WINDOWS = (function () {
    var step = 0.05, low = 0.7, high = 0.9;
    var count = Math.trunc(roundHalfEven((1 - low) / step));
    var found = { "0,1": [0.0, 1.0] };
    for (var i = 0; i <= count; i++) {
      for (var j = 0; j <= count; j++) {
        var start = roundDigits(i * step, 6), end = roundDigits(1 - j * step, 6);
        if (low - step / 2 <= end - start && end - start <= high + step / 2) found[start + "," + end] = [start, end];
      }
    }
    return Object.keys(found).map(function (k) { return found[k]; }).sort(function (a, b) {
      return a[0] - b[0] || a[1] - b[1];
    });
  })();

  /** rule.fill_windows(): [name, [left, right], [top, bottom]]. */
  var FILL_WINDOWS = (function () {
    var low = 0.35, high = 0.75, step = 0.05, found = [];
    var steps = roundHalfEven((high - low) / step);
    for (var s = 0; s <= steps; s++) {
      var keep = roundDigits(low + s * step, 6);
      var middle = [roundDigits((1 - keep) / 2, 6), roundDigits((1 + keep) / 2, 6)];
      var percent = roundHalfEven(keep * 100);
      found.push(["fill:w" + percent, middle, [0.0, 1.0]]);
      found.push(["fill:h" + percent, [0.0, 1.0], middle]);
    }
    return found;
  })();

  function cropName(x, y) {
    return "crop:" + [x[0], y[0], x[1], y[1]].map(function (v) { return String(roundHalfEven(v * 100)); }).join("-");
  }

  /** rule._crop_views on the decoded pixels (float64 products, as numpy). */
  function cropViews(array, width, height) {
    if (Math.min(height, width) < 20) return [];
    var windows = FILL_WINDOWS.slice();
    for (var a = 0; a < CROP_WINDOWS.length; a++) {
      for (var b = 0; b < CROP_WINDOWS.length; b++) {
        var x = CROP_WINDOWS[a], y = CROP_WINDOWS[b];
        if (x[0] === 0 && x[1] === 1 && y[0] === 0 && y[1] === 1) continue;
        windows.push([cropName(x, y), x, y]);
      }
    }
    var bands = {};
    var hashes = [];
    var small = new Float64Array(32 * 32);
    var grid = new Float64Array(64 * 64);
    for (var w = 0; w < windows.length; w++) {
      var view = windows[w][0], xs = windows[w][1], ys = windows[w][2];
      var left = roundHalfEven(xs[0] * width), right = roundHalfEven(xs[1] * width);
      var top = roundHalfEven(ys[0] * height), bottom = roundHalfEven(ys[1] * height);
      var key = top + ":" + bottom;
      var filtered = bands[key];
      if (!filtered) filtered = bands[key] = filterBand(array, width, top, bottom);
      // PDQ: _grid_matrix(right - left) @ filtered[0][:, left:right].T, then .T
      var columns = runs(gridMatrix(right - left));
      var fg = filtered.grid, fl = filtered.lanczos, weights = columns.weights, stride = columns.stride;
      var r, c, t, acc, base, count, wbase;
      for (c = 0; c < 64; c++) {
        count = columns.length[c];
        wbase = c * stride;
        for (r = 0; r < 64; r++) {
          acc = 0;
          base = r * width + left + columns.start[c];
          for (t = 0; t < count; t++) acc += weights[wbase + t] * fg[base + t];
          grid[r * 64 + c] = acc;
        }
      }
      var pdq = pdqValue(grid);
      hashes.push({ algorithm: "pdq", value: pdq.value, quality: pdq.quality, view: view });
      // pHash: filtered[1][:, left:right] @ pillow_matrix("lanczos", 32, right - left).T
      var lz = runs(pillowMatrix("lanczos", 32, right - left));
      weights = lz.weights;
      stride = lz.stride;
      for (r = 0; r < 32; r++) {
        for (c = 0; c < 32; c++) {
          acc = 0;
          count = lz.length[c];
          wbase = c * stride;
          base = r * width + left + lz.start[c];
          for (t = 0; t < count; t++) acc += weights[wbase + t] * fl[base + t];
          var v = Math.floor(acc + 0.5);
          small[r * 32 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
      hashes.push({ algorithm: "phash", value: phashOf(small).value, quality: null, view: view });
    }
    return hashes;
  }

  /** The rows of a band filtered once: PDQ's grid rows (64 x width) and Lanczos' (32 x width). */
  function filterBand(array, width, top, bottom) {
    var n = bottom - top;
    var rows = gridMatrix(n), lz = pillowMatrix("lanczos", 32, n);
    function apply(matrix) {
      var out = new Float64Array(matrix.rows * width);
      var mp = matrix.ptr, mi = matrix.idx, mv = matrix.val;
      for (var r = 0; r < matrix.rows; r++) {
        var base = r * width;
        for (var jj = mp[r]; jj < mp[r + 1]; jj++) {
          var a = mv[jj], src = (top + mi[jj]) * width;
          for (var x = 0; x < width; x++) out[base + x] += a * array[src + x];
        }
      }
      return out;
    }
    return { grid: apply(rows), lanczos: apply(lz) };
  }

  function usable(h) {
    return !(h.algorithm === "pdq" && h.quality !== null && h.quality < PDQ_MIN_QUALITY);
  }

  /** DecisionRule.reference_views. */
  function referenceViews(luma, width, height, orientation) {
    var input = prepare(luma, width, height, orientation);
    var hashes = plain(input);
    var work = input.array(), w = input.w, h = input.h;
    for (var t = 0; t < REFERENCE_TURNS.length; t++) {
      var angle = REFERENCE_TURNS[t];
      var turned = rotateF(work, w, h, angle);
      var box = inscribed(w, h, Math.abs(angle) * (Math.PI / 180));
      if (box[0] < 1 || box[1] < 1) continue; // a sliver: no upright box survives the turn
      var left = Math.floor((w - box[0]) / 2), top = Math.floor((h - box[1]) / 2);
      var pdq = pdqValue(boxGrid(turned, w, left, top, left + box[0], top + box[1]));
      hashes.push({ algorithm: "pdq", value: pdq.value, quality: pdq.quality, view: turnName(angle) });
    }
    hashes = hashes.concat(cropViews(work, w, h));
    var seen = {}, unique = [];
    for (var i = 0; i < hashes.length; i++) {
      var key = hashes[i].algorithm + ":" + hashes[i].value;
      if (!(key in seen) && usable(hashes[i])) {
        seen[key] = true;
        unique.push(hashes[i]);
      }
    }
    return unique;
  }

  /** The plain hashes (view "original"): PDQ (with its quality, even below 50), pHash, dHash. */
  function plainHashes(luma, width, height, orientation) {
    return plain(prepare(luma, width, height, orientation));
  }

  return {
    RULES: { pdq: 2, phash: 2, dhash: 1, rule: 2 },
    referenceViews: referenceViews,
    plainHashes: plainHashes,
    // The steps, for tests.
    _internal: {
      fit: fit,
      exifTranspose: exifTranspose,
      reduce8: reduce8,
      resizeLanczos8: resizeLanczos8,
      rotateF: rotateF,
      inscribed: inscribed,
      composed: composed,
      gridMatrix: gridMatrix,
      pillowMatrix: pillowMatrix,
      dct2: dct2,
      cropWindows: CROP_WINDOWS,
      fillWindows: FILL_WINDOWS,
      prepare: prepare,
    },
  };
})();

if (typeof module !== "undefined") module.exports = NciiHash;
