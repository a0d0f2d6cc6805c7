#!/usr/bin/env node
// Runs the browser tests (headless Chromium with WebGPU, driven by playwright-core) and
// exits non-zero on any failure. Missing Chromium, WebGPU, the built site or the model is
// a failure with instructions, never a skip.
//   node tests/e2e/run.mjs [test-file-name-filter]
//   node tests/e2e/run.mjs --models   the large-model tests of large/ (`make test-models`)
//   node tests/e2e/run.mjs --remote [filter]   the tests of remote/ against llama.cpp's server
//                                      (`make test-remote`, after scripts/setup-remote.sh)
//   node tests/e2e/run.mjs --soak      the soak test of soak/ (`make soak`)

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
if (!existsSync(path.join(here, "node_modules", "playwright-core"))) {
  console.error("error: playwright-core is not installed: run scripts/install-web-tools.sh");
  process.exit(1);
}
/** Suites kept out of the default run, each in its own folder. */
const SUITES = { "--models": "large", "--remote": "remote", "--soak": "soak" };
const suite = SUITES[process.argv[2]];
const dir = suite ? path.join(here, suite) : here;
const filter = (suite ? process.argv[3] : process.argv[2]) ?? "";
const files = readdirSync(dir)
  .filter((name) => name.endsWith(".test.mjs") && name.includes(filter))
  .sort()
  .map((name) => path.join(dir, name));
if (files.length === 0) {
  console.error(`error: no test file matches '${filter}'`);
  process.exit(1);
}
// One file at a time: each drives its own Chromium, and the machine has two cores.
const result = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
