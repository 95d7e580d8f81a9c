/* MD5 (RFC 1321) of a file's bytes, lower-case hex: the exact-file hash StopNCII and
   ThreatExchange exchange. Browsers' crypto.subtle has no MD5. */
"use strict";
var NciiMd5 = (function () {
  var S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  var K = new Int32Array(64);
  for (var i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0;

  function hex(bytes) {
    var length = bytes.length;
    var blocks = ((length + 8) >> 6) + 1;
    var tail = new Uint8Array(blocks * 64 - (length & ~63));
    tail.set(bytes.subarray(length & ~63));
    tail[length & 63] = 0x80;
    var tailView = new DataView(tail.buffer);
    tailView.setUint32(tail.length - 8, (length * 8) >>> 0, true);
    tailView.setUint32(tail.length - 4, Math.floor(length / 0x20000000), true);
    var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    var a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
    var m = new Int32Array(16);
    var full = length >> 6;
    for (var block = 0; block < blocks; block++) {
      for (var j = 0; j < 16; j++) {
        m[j] = block < full
          ? view.getInt32(block * 64 + 4 * j, true)
          : tailView.getInt32((block - full) * 64 + 4 * j, true);
      }
      var a = a0, b = b0, c = c0, d = d0;
      for (var k = 0; k < 64; k++) {
        var f, g;
        if (k < 16) { f = (b & c) | (~b & d); g = k; }
        else if (k < 32) { f = (d & b) | (~d & c); g = (5 * k + 1) & 15; }
        else if (k < 48) { f = b ^ c ^ d; g = (3 * k + 5) & 15; }
        else { f = c ^ (b | ~d); g = (7 * k) & 15; }
        var s = S[(k >> 4) * 4 + (k & 3)];
        var sum = (a + f + K[k] + m[g]) | 0;
        a = d; d = c; c = b;
        b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
      }
      a0 = (a0 + a) | 0; b0 = (b0 + b) | 0; c0 = (c0 + c) | 0; d0 = (d0 + d) | 0;
    }
    var out = "";
    [a0, b0, c0, d0].forEach(function (word) {
      for (var n = 0; n < 4; n++) {
        var byte = (word >>> (8 * n)) & 255;
        out += (byte < 16 ? "0" : "") + byte.toString(16);
      }
    });
    return out;
  }

  return { hex: hex };
})();
if (typeof module !== "undefined") module.exports = NciiMd5;
