// The SHA-256 of downloads, computed in the engine's wasm (RustCrypto's sha2). The worker
// has the module already; `Engine.download` on the page's thread instantiates it once.

import init, { Sha256 } from "./pkg/hearth.js";

let ready = null;

/** @returns {Promise<{ update(bytes: Uint8Array): void, hex(): string }>} a new incremental hasher */
export async function createSha256() {
  ready ??= init();
  await ready;
  return new Sha256();
}
