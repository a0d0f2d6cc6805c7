// Incremental SHA-256 (FIPS 180-4). WebCrypto's `digest` only hashes a whole buffer at
// once; model files are hundreds of megabytes and arrive in chunks (and, after an
// interrupted download, partly from disk and partly from the network), so they are hashed
// as they stream instead.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

export class Sha256 {
  #state = new Uint32Array(INITIAL);
  /** Message schedule, reused for every block. */
  #w = new Uint32Array(64);
  /** Bytes of an incomplete block carried over to the next `update`. */
  #pending = new Uint8Array(64);
  #pendingLength = 0;
  /** Bytes hashed so far (a Number is exact up to 2^53 bytes). */
  #length = 0;

  /** Hashes more bytes. */
  update(bytes) {
    let offset = 0;
    this.#length += bytes.length;
    if (this.#pendingLength > 0) {
      const take = Math.min(64 - this.#pendingLength, bytes.length);
      this.#pending.set(bytes.subarray(0, take), this.#pendingLength);
      this.#pendingLength += take;
      offset = take;
      if (this.#pendingLength < 64) return this;
      this.#blocks(this.#pending, 0, 64);
      this.#pendingLength = 0;
    }
    const whole = offset + Math.floor((bytes.length - offset) / 64) * 64;
    this.#blocks(bytes, offset, whole);
    this.#pending.set(bytes.subarray(whole), 0);
    this.#pendingLength = bytes.length - whole;
    return this;
  }

  /** The digest as lowercase hex. The hasher cannot be updated afterwards. */
  hex() {
    const bitsHigh = Math.floor(this.#length / 0x20000000);
    const bitsLow = (this.#length * 8) >>> 0;
    const padding = new Uint8Array(this.#pendingLength < 56 ? 64 - this.#pendingLength : 128 - this.#pendingLength);
    padding[0] = 0x80;
    const view = new DataView(padding.buffer);
    view.setUint32(padding.length - 8, bitsHigh);
    view.setUint32(padding.length - 4, bitsLow);
    const length = this.#length;
    this.update(padding);
    this.#length = length;
    return Array.from(this.#state, (word) => word.toString(16).padStart(8, "0")).join("");
  }

  /** Compresses the 64-byte blocks of `bytes[start..end)`. */
  #blocks(bytes, start, end) {
    const w = this.#w;
    const s = this.#state;
    for (let block = start; block < end; block += 64) {
      for (let i = 0; i < 16; i += 1) {
        const j = block + i * 4;
        w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
      }
      for (let i = 16; i < 64; i += 1) {
        const a = w[i - 15];
        const b = w[i - 2];
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let a = s[0];
      let b = s[1];
      let c = s[2];
      let d = s[3];
      let e = s[4];
      let f = s[5];
      let g = s[6];
      let h = s[7];
      for (let i = 0; i < 64; i += 1) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (h + S1 + ch + K[i] + w[i]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) | 0;
        h = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      s[0] += a;
      s[1] += b;
      s[2] += c;
      s[3] += d;
      s[4] += e;
      s[5] += f;
      s[6] += g;
      s[7] += h;
    }
  }
}
