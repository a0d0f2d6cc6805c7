// Model management from the JS API: `Engine.download` stores a model without loading it
// (progress, abort and resume), `Engine.cache.has` tells what is stored, and
// `engine.reload` replaces the model in the same worker (here: the same file on the other
// backend), ending the requests of the old one.

import assert from "node:assert/strict";
import { statSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { MODEL_URL_PATH, REPO, openApiPage, startHarness } from "./harness.mjs";

let harness;
let page;

before(async () => {
  harness = await startHarness();
  page = await openApiPage(harness);
});

after(async () => {
  await harness?.close();
});

const MODEL_SIZE = statSync(path.join(REPO, "models", path.basename(MODEL_URL_PATH))).size;

test("download stores a model without loading it; an aborted download resumes", async () => {
  const outcome = await page.evaluate(async (modelPath) => {
    const { Engine } = await import("./js/index.js");
    const url = new URL(modelPath, location.href).href;
    const before = await Engine.cache.has(url);
    // Abort once some bytes arrived.
    const controller = new AbortController();
    let aborted = null;
    try {
      await Engine.download(modelPath, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.bytes > 0) controller.abort();
        },
      });
    } catch (error) {
      aborted = error.name;
    }
    const partial = (await Engine.cache.list()).find((m) => m.id === url);
    const hasPartial = await Engine.cache.has(url);
    const phases = new Set();
    let last = null;
    const entry = await Engine.download(modelPath, {
      onProgress: (p) => {
        phases.add(p.phase);
        last = p;
      },
    });
    const hasAfter = await Engine.cache.has(url);
    const hasRelative = await Engine.cache.has(modelPath);
    // Stored already: one "cache" report, no download and no second hashing.
    const again = new Set();
    await Engine.download(modelPath, { onProgress: (p) => again.add(p.phase) });
    let refused = null;
    try {
      await Engine.download(new Blob([new Uint8Array(4)]));
    } catch (error) {
      refused = error.code;
    }
    return { before, aborted, partial, hasPartial, entry, phases: [...phases], last, hasAfter, hasRelative, again: [...again], refused };
  }, MODEL_URL_PATH);
  assert.equal(outcome.before, false);
  assert.equal(outcome.aborted, "AbortError");
  assert.ok(outcome.partial && !outcome.partial.complete, JSON.stringify(outcome.partial));
  assert.ok(outcome.partial.bytes > 0 && outcome.partial.bytes < MODEL_SIZE, JSON.stringify(outcome.partial));
  assert.equal(outcome.hasPartial, false, "an interrupted download is not a stored model");
  assert.deepEqual(outcome.phases, ["download"]);
  assert.equal(outcome.last.bytes, MODEL_SIZE);
  assert.equal(outcome.last.fraction, 1);
  assert.equal(outcome.entry.complete, true);
  assert.equal(outcome.entry.size, MODEL_SIZE);
  assert.match(outcome.entry.sha256, /^[0-9a-f]{64}$/);
  assert.equal(outcome.hasAfter, true);
  assert.equal(outcome.hasRelative, true, "has() takes the URL as load() takes it");
  assert.deepEqual(outcome.again, ["cache"]);
  assert.equal(outcome.refused, "invalid_request");
});

test("reload replaces the model in the same worker and ends the old model's requests", async () => {
  const outcome = await page.evaluate(async (modelPath) => {
    const { Engine } = await import("./js/index.js");
    const engine = await Engine.load(modelPath, { backend: "webgpu" });
    const ask = () =>
      engine.chat.completions.create({
        messages: [{ role: "user", content: "What is the capital of France?" }],
        temperature: 0,
        max_tokens: 6,
      });
    const first = await ask();
    const backendBefore = engine.backend.kind;
    // A request still queued when the reload starts ends with "unloaded".
    const queued = ask().then(
      () => null,
      (error) => error.code,
    );
    const phases = new Set();
    const same = await engine.reload(modelPath, { backend: "cpu", onProgress: (p) => phases.add(p.phase) });
    const second = await ask();
    const out = {
      same: same === engine,
      backendBefore,
      backendAfter: engine.backend.kind,
      first: first.choices[0].message.content,
      second: second.choices[0].message.content,
      queued: await queued,
      phases: [...phases],
      info: engine.info?.name ?? null,
    };
    await engine.unload();
    return out;
  }, MODEL_URL_PATH);
  assert.equal(outcome.same, true);
  assert.equal(outcome.backendBefore, "webgpu");
  assert.equal(outcome.backendAfter, "cpu");
  assert.ok(outcome.second.length > 0);
  assert.ok(["unloaded", null].includes(outcome.queued), `queued request: ${outcome.queued}`);
  assert.ok(outcome.phases.includes("cache"), `progress phases: ${outcome.phases}`);
  assert.ok(outcome.info, "no model info after the reload");
});
