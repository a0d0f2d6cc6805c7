// Writes small GGUF v3 files for the browser tests: metadata of the types a model header
// uses and F32 tensors. (The Rust tests have their own builder in tests/formats_common.)

const GGUF_MAGIC = 0x46554747; // "GGUF", little-endian
const ALIGNMENT = 32;
const TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 };
const GGML_F32 = 0;

/** Metadata values, tagged with their GGUF type. */
export const u32 = (value) => ({ type: "u32", value });
export const f32 = (value) => ({ type: "f32", value });
export const str = (value) => ({ type: "string", value });
export const strings = (value) => ({ type: "strings", value });
export const i32s = (value) => ({ type: "i32s", value });

/** Accumulates little-endian bytes. */
class ByteWriter {
  #chunks = [];
  #length = 0;

  get length() {
    return this.#length;
  }

  #push(bytes) {
    this.#chunks.push(bytes);
    this.#length += bytes.length;
  }

  u32(value) {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(value);
    this.#push(bytes);
  }

  i32(value) {
    const bytes = Buffer.alloc(4);
    bytes.writeInt32LE(value);
    this.#push(bytes);
  }

  u64(value) {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64LE(BigInt(value));
    this.#push(bytes);
  }

  f32(value) {
    const bytes = Buffer.alloc(4);
    bytes.writeFloatLE(value);
    this.#push(bytes);
  }

  string(text) {
    const bytes = Buffer.from(text, "utf8");
    this.u64(bytes.length);
    this.#push(bytes);
  }

  bytes(bytes) {
    this.#push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  padTo(alignment) {
    const padding = (alignment - (this.#length % alignment)) % alignment;
    if (padding > 0) this.#push(Buffer.alloc(padding));
  }

  toBuffer() {
    return Buffer.concat(this.#chunks, this.#length);
  }
}

function writeValue(out, { type, value }) {
  switch (type) {
    case "u32":
      out.u32(TYPE.u32);
      return out.u32(value);
    case "f32":
      out.u32(TYPE.f32);
      return out.f32(value);
    case "string":
      out.u32(TYPE.string);
      return out.string(value);
    case "strings":
      out.u32(TYPE.array);
      out.u32(TYPE.string);
      out.u64(value.length);
      return value.forEach((item) => out.string(item));
    case "i32s":
      out.u32(TYPE.array);
      out.u32(TYPE.i32);
      out.u64(value.length);
      return value.forEach((item) => out.i32(item));
    default:
      throw new Error(`unknown metadata type ${type}`);
  }
}

/**
 * A GGUF file. `metadata` maps keys to tagged values; each tensor is
 * `{ name, shape (outermost first), data: Float32Array }`, stored as F32.
 * @returns {Buffer}
 */
export function writeGguf({ metadata, tensors }) {
  const out = new ByteWriter();
  out.u32(GGUF_MAGIC);
  out.u32(3);
  out.u64(tensors.length);
  out.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    out.string(key);
    writeValue(out, value);
  }
  let offset = 0;
  for (const { name, shape, data } of tensors) {
    const elements = shape.reduce((a, b) => a * b, 1);
    if (data.length !== elements) throw new Error(`${name}: ${data.length} values for shape ${shape}`);
    out.string(name);
    out.u32(shape.length);
    // GGUF lists dimensions innermost first.
    for (const dim of [...shape].reverse()) out.u64(dim);
    out.u32(GGML_F32);
    out.u64(offset);
    offset += Math.ceil((data.length * 4) / ALIGNMENT) * ALIGNMENT;
  }
  out.padTo(ALIGNMENT);
  for (const { data } of tensors) {
    out.bytes(data);
    out.padTo(ALIGNMENT);
  }
  return out.toBuffer();
}

/**
 * GPT-2's byte-level alphabet: the character that stands for each byte in a byte-level
 * BPE vocabulary (printable bytes stand for themselves, the rest are shifted past 255).
 */
export function byteLevelAlphabet() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars = [];
  let shifted = 0;
  for (let b = 0; b < 256; b += 1) chars.push(String.fromCodePoint(printable(b) ? b : 256 + shifted++));
  return chars;
}

/** `text` spelled as a byte-level BPE token. */
export function byteLevelSpelling(text) {
  const alphabet = byteLevelAlphabet();
  return [...Buffer.from(text, "utf8")].map((b) => alphabet[b]).join("");
}
