// The SHA-256 of downloads, computed in the engine's wasm (RustCrypto's sha2). The worker
// hands over the build it already runs; `Engine.download` on the page's thread
// instantiates the single-thread build once.

import init, * as single from "./pkg/hearth.js";

let ready = null;

/** Hashes with `module`, an instantiated wasm-bindgen build of the engine. */
export function hashWith(module) {
  ready = Promise.resolve(module);
}

/** @returns {Promise<{ update(bytes: Uint8Array): void, hex(): string }>} a new incremental hasher */
export async function createSha256() {
  ready ??= init().then(() => single);
  const { Sha256 } = await ready;
  return new Sha256();
}
