// The error codes are one list in three places: Rust's `Error::code()` (src/error.rs), the
// JS `HearthError` (js/errors.js: a code it does not know becomes "internal") and the
// `HearthErrorCode` type (js/index.d.ts). No browser is needed: this reads the sources and
// asks the real HearthError.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { HearthError } from "../../js/errors.js";
import { REPO } from "./harness.mjs";

/** The string literals of the block from `start` to the first `end` after it (included). */
function literalsIn(file, start, end, pattern) {
  const source = readFileSync(path.join(REPO, file), "utf8");
  const from = source.indexOf(start);
  assert.ok(from >= 0, `${file}: "${start}" not found`);
  const to = source.indexOf(end, from);
  assert.ok(to >= 0, `${file}: the end of the block after "${start}" not found`);
  const block = source.slice(from, to + end.length);
  return [...block.matchAll(pattern)].map((match) => match[1]);
}

const rustCodes = literalsIn("src/error.rs", "pub fn code(&self)", "\n    }\n", /=> "([a-z_]+)"/g);
const typeCodes = literalsIn("js/index.d.ts", "export type HearthErrorCode", '";\n', /\| "([a-z_]+)"/g);

test("the lists are read", () => {
  assert.ok(rustCodes.length >= 20, `Rust codes: ${rustCodes}`);
  assert.ok(typeCodes.length >= rustCodes.length, `type codes: ${typeCodes}`);
});

test("every code the Rust engine reports is known to HearthError and to the type", () => {
  for (const code of rustCodes) {
    assert.equal(new HearthError(code, "detail").code, code, `HearthError does not know "${code}"`);
    assert.ok(typeCodes.includes(code), `HearthErrorCode lacks "${code}"`);
  }
});

test("HearthErrorCode lists exactly the codes HearthError knows", () => {
  for (const code of typeCodes) {
    assert.equal(new HearthError(code, "detail").code, code, `HearthErrorCode has "${code}", which HearthError does not know`);
  }
  // The other way: a code HearthError knows but the type lacks. Its advice table is the list.
  const known = literalsIn("js/errors.js", "const ADVICE = {", "\n};", /^ {2}([a-z_]+):/gm);
  assert.deepEqual([...known].sort(), [...typeCodes].sort());
  assert.equal(new HearthError("no_such_code", "detail").code, "internal");
});
