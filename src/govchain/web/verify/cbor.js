/* govchain's canonical CBOR in the browser: the decoder accepts exactly what the encoder
 * produces (docs/protocol.md section 3; src/govchain/codec.py).
 *
 * Values: integers are Numbers when safe, else BigInts; byte strings are Uint8Arrays;
 * text strings are strings; arrays are Arrays; maps are Maps with string keys; and
 * true, false, null. No floats, tags, undefined or indefinite lengths. Map keys are
 * ordered shorter UTF-8 first, then bytewise. decode() re-encodes what it read and
 * rejects the input unless the bytes are identical (so duplicate keys, unsorted keys,
 * long heads and trailing bytes are all refused).
 */
(function (root) {
  "use strict";
  const MAX_DEPTH = 32;
  const INT_MIN = -(2n ** 64n);
  const INT_MAX = 2n ** 64n - 1n;
  const utf8 = new TextEncoder();
  const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

  class CodecError extends Error {
    constructor(reason, message) { super(message); this.reason = reason; }
  }

  function intValue(big) {
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }

  function decodeRaw(bytes) {
    if (!(bytes instanceof Uint8Array)) throw new CodecError("type", "input must be bytes");
    let pos = 0;
    function need(n) { if (n > bytes.length - pos) throw new CodecError("malformed", "truncated CBOR"); }
    function argument(info) {
      if (info < 24) return BigInt(info);
      const size = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
      if (size === undefined) throw new CodecError("malformed", "indefinite length or reserved value");
      need(size);
      let v = 0n;
      for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(bytes[pos++]);
      return v;
    }
    function length(arg) {
      if (arg > BigInt(bytes.length - pos)) throw new CodecError("malformed", "length beyond the input");
      return Number(arg);
    }
    function item(depth) {
      need(1);
      const initial = bytes[pos++];
      const major = initial >> 5;
      const info = initial & 31;
      if (major === 7) {
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        throw new CodecError("type", "floats and simple values other than false/true/null are not allowed");
      }
      if (major === 6) throw new CodecError("type", "tags are not allowed");
      const arg = argument(info);
      switch (major) {
        case 0: return intValue(arg);
        case 1: return intValue(-1n - arg);
        case 2: { const n = length(arg); const out = bytes.slice(pos, pos + n); pos += n; return out; }
        case 3: {
          const n = length(arg);
          let text;
          try { text = strictUtf8.decode(bytes.subarray(pos, pos + n)); } catch (e) { throw new CodecError("malformed", "invalid UTF-8"); }
          pos += n;
          return text;
        }
        case 4: {
          if (depth >= MAX_DEPTH) throw new CodecError("too_deep", "nesting deeper than " + MAX_DEPTH);
          const n = length(arg);
          const out = [];
          for (let i = 0; i < n; i++) out.push(item(depth + 1));
          return out;
        }
        default: { // 5: map
          if (depth >= MAX_DEPTH) throw new CodecError("too_deep", "nesting deeper than " + MAX_DEPTH);
          const n = length(arg);
          const out = new Map();
          for (let i = 0; i < n; i++) {
            const key = item(depth + 1);
            if (typeof key !== "string") throw new CodecError("map_key", "map keys must be text strings");
            out.set(key, item(depth + 1));
          }
          return out;
        }
      }
    }
    const value = item(0);
    if (pos !== bytes.length) throw new CodecError("not_canonical", "trailing bytes after the CBOR item");
    return value;
  }

  function keyOrder(a, b) {
    if (a.length !== b.length) return a.length - b.length;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  }

  function encode(value) {
    const out = [];
    function head(major, n) {
      n = BigInt(n);
      const m = major << 5;
      if (n < 24n) out.push(m | Number(n));
      else if (n < 0x100n) out.push(m | 24, Number(n));
      else if (n < 0x10000n) out.push(m | 25, Number(n >> 8n), Number(n & 0xffn));
      else if (n < 0x100000000n) { out.push(m | 26); for (let s = 24n; s >= 0n; s -= 8n) out.push(Number((n >> s) & 0xffn)); }
      else { out.push(m | 27); for (let s = 56n; s >= 0n; s -= 8n) out.push(Number((n >> s) & 0xffn)); }
    }
    function bytesOut(b) { for (let i = 0; i < b.length; i++) out.push(b[i]); }
    function enc(v, depth) {
      if (v === false) return out.push(0xf4);
      if (v === true) return out.push(0xf5);
      if (v === null) return out.push(0xf6);
      if (typeof v === "number" || typeof v === "bigint") {
        if (typeof v === "number" && !Number.isInteger(v)) throw new CodecError("type", "floats are not part of the encoding");
        const big = BigInt(v);
        if (big < INT_MIN || big > INT_MAX) throw new CodecError("int_range", "integer outside the 64-bit CBOR range");
        return big >= 0n ? head(0, big) : head(1, -1n - big);
      }
      if (v instanceof Uint8Array) { head(2, v.length); return bytesOut(v); }
      if (typeof v === "string") { const b = utf8.encode(v); head(3, b.length); return bytesOut(b); }
      if (depth >= MAX_DEPTH) throw new CodecError("too_deep", "nesting deeper than " + MAX_DEPTH);
      if (Array.isArray(v)) { head(4, v.length); for (const x of v) enc(x, depth + 1); return; }
      if (v instanceof Map) {
        const entries = [];
        for (const [k, x] of v) {
          if (typeof k !== "string") throw new CodecError("map_key", "map keys must be text strings");
          entries.push([utf8.encode(k), x]);
        }
        entries.sort((a, b) => keyOrder(a[0], b[0]));
        head(5, entries.length);
        for (const [k, x] of entries) { head(3, k.length); bytesOut(k); enc(x, depth + 1); }
        return;
      }
      throw new CodecError("type", "value is not part of the encoding");
    }
    enc(value, 0);
    return Uint8Array.from(out);
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function decode(bytes) {
    const value = decodeRaw(bytes);
    if (!equalBytes(encode(value), bytes)) throw new CodecError("not_canonical", "CBOR is valid but not in canonical form");
    return value;
  }

  root.GovCbor = { decode, encode, equalBytes, CodecError, MAX_DEPTH };
})(typeof window !== "undefined" ? window : globalThis);
