// The npm package as users get it: `npm pack` of js/, installed into a Vite app
// (tests/consumer) that has no bundler configuration, built with `vite build`, served as
// static files, and run in the browser: it imports Engine, loads the model and streams an
// answer, then streams one from an OpenAI-compatible server (a scripted one) through
// Engine.connect, which bundles the package's dependency eventsource-parser. A TypeScript
// file of the same app type-checks against the package's types with `tsc --strict`.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ANSWER_TIMEOUT_MS, ARTIFACTS, LOAD_TIMEOUT_MS, MODEL_URL_PATH, REPO, requireWebGpu, startHarness } from "./harness.mjs";

const WORK = path.join(ARTIFACTS, "package");
const APP = path.join(WORK, "consumer");
const NPM = process.env.NPM ?? "npm";

/** Runs a command, failing with its output when it fails. */
function run(command, args, cwd) {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${error.stdout}\n${error.stderr}`);
  }
}

/** A scripted OpenAI-compatible server on the app's origin, at /server/v1. */
const SERVER_ROUTES = {
  "/server/v1/models": (request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ object: "list", data: [{ id: "test-model", object: "model" }] }));
  },
  "/server/v1/chat/completions": (request, response) => {
    const chunk = (delta, finish_reason = null) =>
      `data: ${JSON.stringify({
        id: "chatcmpl-1",
        object: "chat.completion.chunk",
        created: 1700000000,
        model: "test-model",
        choices: [{ index: 0, delta, logprobs: null, finish_reason }],
      })}\n\n`;
    response.writeHead(200, { "content-type": "text/event-stream" });
    response.write(chunk({ role: "assistant", content: "Hello" }));
    response.write(chunk({ content: " from the server" }));
    response.write(chunk({}, "stop"));
    response.end("data: [DONE]\n\n");
  },
};

let tarball;
let harness;

before(async () => {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const packed = JSON.parse(run(NPM, ["pack", "--json", "--pack-destination", WORK], path.join(REPO, "js")));
  tarball = { path: path.join(WORK, packed[0].filename), files: packed[0].files.map((file) => file.path) };

  const consumer = path.join(REPO, "tests", "consumer");
  cpSync(consumer, APP, { recursive: true, filter: (source) => path.basename(source) !== "node_modules" });
  // --prefer-offline: Vite comes from npm's local cache (scripts/install-web-tools.sh fills it).
  run(NPM, ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball.path], APP);
  run(path.join(APP, "node_modules", ".bin", "vite"), ["build", "--logLevel", "warn"], APP);
  harness = await startHarness({ root: path.join(APP, "dist"), routes: SERVER_ROUTES });
});

after(async () => {
  await harness?.close();
});

const failed = (t) => t.diagnostic?.("page log:\n" + harness.logs.join("\n"));

test("the tarball holds the modules, the types, the wasm and the licence, with ESM exports", () => {
  for (const file of [
    "index.js",
    "index.d.ts",
    "worker.js",
    "cache.js",
    "download.js",
    "remote.js",
    "request.js",
    "pkg/hearth_bg.wasm",
    "pkg-threads/hearth.js",
    "pkg-threads/hearth_bg.wasm",
    "LICENSE",
  ]) {
    assert.ok(tarball.files.includes(file), `${file} is missing from the tarball: ${tarball.files.join(", ")}`);
  }
  // The threaded build's worker pool starts its workers from this script.
  assert.ok(
    tarball.files.some((file) => /^pkg-threads\/snippets\/wasm-bindgen-rayon-[^/]+\/src\/workerHelpers\.js$/.test(file)),
    `the thread pool's worker script is missing from the tarball: ${tarball.files.join(", ")}`,
  );
  const licence = readFileSync(path.join(APP, "node_modules", "hearth-llm", "LICENSE"), "utf8");
  assert.equal(licence, readFileSync(path.join(REPO, "LICENSE"), "utf8"), "the package's LICENSE is not the repository's");
  const manifest = JSON.parse(readFileSync(path.join(APP, "node_modules", "hearth-llm", "package.json"), "utf8"));
  assert.equal(manifest.type, "module");
  assert.equal(manifest.name, "hearth-llm");
  assert.deepEqual(manifest.exports["."], { types: "./index.d.ts", default: "./index.js" });
  assert.equal(manifest.exports["./worker.js"], "./worker.js");
  assert.match(manifest.version, /^\d+\.\d+\.\d+/);
  assert.ok(manifest.dependencies?.["eventsource-parser"], "eventsource-parser is not a dependency of the package");
});

test("a TypeScript app type-checks against the tarball's index.d.ts with tsc --strict", () => {
  // tests/consumer/typecheck.ts: the API as apps use it, plus misuses that must not compile.
  run(path.join(APP, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], APP);
});

test("a Vite app that installs the tarball loads the model and streams an answer, and one from a server", async (t) => {
  const page = await harness.openPage(`index.html?model=/${MODEL_URL_PATH}&server=/server/v1`);
  try {
    await requireWebGpu(page);
    const result = await page.evaluate(() => window.consumer);
    assert.ok(result.ok, `the app failed: ${result.code}: ${result.message}`);
    assert.ok(result.deltas.length > 0, "no token streamed");
    assert.ok(["length", "stop"].includes(result.finishReason), `finish_reason ${result.finishReason}`);
    assert.ok(result.deltas.join("").trim().length > 0, "the answer is empty");
    assert.deepEqual(result.remote, { backend: "remote", text: "Hello from the server", finishReason: "stop" });
  } catch (error) {
    failed(t);
    throw error;
  } finally {
    await page.close();
  }
}, { timeout: LOAD_TIMEOUT_MS + ANSWER_TIMEOUT_MS });
