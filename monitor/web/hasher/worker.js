/* The hashing page's worker: decodes one file's bytes and hashes them, off the page's
   thread. JPEG is decoded by NciiJpeg (exactly as Pillow decodes it for our hashing
   rules); PNG, WebP, GIF and BMP by the browser, without colour management, and turned
   into luma as Pillow does (transparent areas on white, ITU-R 601-2 integer weights).
   NciiHash then computes the decision rule's reference views, as `monitor hashes add`.
   Nothing leaves the worker but hashes. */
"use strict";

var NciiDecode = (function () {
  function fail(kind, message) {
    var error = new Error(message);
    error.kind = kind;
    return error;
  }

  function ascii(bytes, start, length) {
    return String.fromCharCode.apply(null, bytes.subarray(start, start + length));
  }

  /* The format from the first bytes, as Pillow's Image.open looks at them. */
  function sniff(bytes) {
    if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "JPEG";
    if (bytes.length >= 8 && ascii(bytes, 1, 3) === "PNG" && bytes[0] === 0x89) return "PNG";
    if (bytes.length >= 6 && (ascii(bytes, 0, 6) === "GIF87a" || ascii(bytes, 0, 6) === "GIF89a")) return "GIF";
    if (bytes.length >= 12 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP") return "WEBP";
    if (bytes.length >= 2 && ascii(bytes, 0, 2) === "BM") return "BMP";
    if (bytes.length >= 4 && (ascii(bytes, 0, 4) === "II*\0" || ascii(bytes, 0, 4) === "MM\0*")) return "TIFF";
    if (bytes.length >= 12 && ascii(bytes, 4, 4) === "ftyp" && /^(heic|heix|hevc|heim|heis|mif1|msf1|avif)/.test(ascii(bytes, 8, 4))) return "HEIC";
    return null;
  }

  /* Width and height from the header, before anything is decoded (null: not found). */
  function headerSize(bytes, format) {
    var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    try {
      if (format === "PNG") return [view.getUint32(16), view.getUint32(20)];
      if (format === "GIF") return [view.getUint16(6, true), view.getUint16(8, true)];
      if (format === "BMP") return [Math.abs(view.getInt32(18, true)), Math.abs(view.getInt32(22, true))];
      if (format === "WEBP") {
        var chunk = ascii(bytes, 12, 4);
        if (chunk === "VP8X") return [1 + (view.getUint32(24, true) & 0xffffff), 1 + (view.getUint32(27, true) & 0xffffff)];
        if (chunk === "VP8 ") return [view.getUint16(26, true) & 0x3fff, view.getUint16(28, true) & 0x3fff];
        if (chunk === "VP8L") {
          var bits = view.getUint32(21, true);
          return [1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff)];
        }
      }
    } catch (e) {
      return null;
    }
    return null;
  }

  function div255(a) {
    var t = a + 128;
    return ((t >> 8) + t) >> 8;
  }

  /* RGBA (not premultiplied) to Pillow's luma: pasted on white with the alpha as mask
     (Paste.c's BLEND), then L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
  function rgbaToLuma(rgba, count) {
    var luma = new Uint8Array(count);
    for (var i = 0, p = 0; i < count; i++, p += 4) {
      var r = rgba[p], g = rgba[p + 1], b = rgba[p + 2], a = rgba[p + 3];
      if (a !== 255) {
        r = div255(255 * (255 - a) + r * a);
        g = div255(255 * (255 - a) + g * a);
        b = div255(255 * (255 - a) + b * a);
      }
      luma[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    }
    return luma;
  }

  function checkPixels(width, height, maxPixels) {
    if (width <= 0 || height <= 0) throw fail("corrupt", "image has no pixels");
    if (width * height > maxPixels) {
      throw fail("too_many_pixels", width + "x" + height + " exceeds the limit of " + maxPixels + " pixels");
    }
  }

  /* {luma, width, height, orientation, format, stored: [w, h]}: the pixels the hashing rules
     start from (not yet oriented). A promise. */
  function decode(bytes, maxPixels) {
    if (!bytes.length) return Promise.reject(fail("empty", "no bytes"));
    var format = sniff(bytes);
    if (format === null) return Promise.reject(fail("not_image", "not a supported image format"));
    if (format === "HEIC") return Promise.reject(fail("heic", "HEIC/AVIF photos are not read here"));
    if (format === "TIFF") return Promise.reject(fail("unsupported", "TIFF files are not read in the browser"));
    if (format === "JPEG") {
      try {
        var jpeg = NciiJpeg.decodeLuma(bytes, { maxPixels: maxPixels, box: 512 });
        return Promise.resolve({
          luma: jpeg.luma, width: jpeg.outWidth, height: jpeg.outHeight,
          orientation: jpeg.orientation, format: "JPEG", stored: [jpeg.width, jpeg.height],
        });
      } catch (error) {
        if (!error.kind) error.kind = "corrupt";
        return Promise.reject(error);
      }
    }
    var size = headerSize(bytes, format);
    if (size) {
      try {
        checkPixels(size[0], size[1], maxPixels);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    var options = { premultiplyAlpha: "none", colorSpaceConversion: "none" };
    return createImageBitmap(new Blob([bytes]), options).then(
      function (bitmap) {
        var width = bitmap.width, height = bitmap.height;
        checkPixels(width, height, maxPixels);
        var canvas = new OffscreenCanvas(width, height);
        var context = canvas.getContext("2d", { willReadFrequently: true });
        context.drawImage(bitmap, 0, 0);
        bitmap.close();
        var rgba = context.getImageData(0, 0, width, height).data;
        return {
          luma: rgbaToLuma(rgba, width * height), width: width, height: height,
          orientation: 1, // the browser has applied it
          format: format, stored: size || [width, height],
        };
      },
      function () {
        throw fail("corrupt", "the browser cannot decode this " + format + " file");
      }
    );
  }

  return { decode: decode, sniff: sniff, rgbaToLuma: rgbaToLuma };
})();

if (typeof self !== "undefined" && typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  self.onmessage = function (event) {
    var message = event.data;
    var bytes = new Uint8Array(message.buffer);
    NciiDecode.decode(bytes, message.maxPixels)
      .then(function (decoded) {
        var views = NciiHash.referenceViews(decoded.luma, decoded.width, decoded.height, decoded.orientation);
        self.postMessage({
          id: message.id, ok: true, views: views, md5: NciiMd5.hex(bytes),
          format: decoded.format, width: decoded.stored[0], height: decoded.stored[1],
          rules: NciiHash.RULES,
        });
      })
      .catch(function (error) {
        self.postMessage({
          id: message.id, ok: false, kind: (error && error.kind) || "corrupt",
          message: String((error && error.message) || error),
        });
      });
  };
}
