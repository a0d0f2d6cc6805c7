// Threads on a static host that sends no headers: the site (scripts/build-site.sh) served
// without COOP/COEP opens not cross-origin isolated; its service worker adds the headers,
// the page reloads once as soon as the worker controls it, and from then on it is isolated,
// so the CPU backend runs on one thread per processor.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { ARTIFACTS, MODEL_URL_PATH, REPO, startHarness } from "./harness.mjs";

const SITE = path.join(ARTIFACTS, "site-isolation");
const ISOLATION_WAIT_MS = 30_000;

let harness;

before(async () => {
  execFileSync(path.join(REPO, "scripts", "build-site.sh"), ["--no-build", "--out", SITE], { stdio: "inherit" });
  harness = await startHarness({ root: SITE, isolated: false });
});

after(async () => {
  await harness?.close();
});

/** Whether the page is cross-origin isolated; false while it is reloading. */
async function isolated(page) {
  try {
    return await page.evaluate(() => self.crossOriginIsolated);
  } catch {
    return false;
  }
}

test("a host without isolation headers gets them from the service worker: one reload, then threads", async (t) => {
  const page = await harness.openPage("index.html");
  page.setDefaultTimeout(120_000);
  const navigations = [];
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) navigations.push(frame.url());
  });
  try {
    const deadline = Date.now() + ISOLATION_WAIT_MS;
    while (!(await isolated(page))) {
      assert.ok(Date.now() < deadline, "the page never became cross-origin isolated");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await page.waitForLoadState("load");
    // Exactly one reload brought the headers.
    assert.equal(navigations.length, 1, `navigations: ${navigations.join(", ")}`);
    const result = await page.evaluate(async (model) => {
      const { Engine } = await import("./js/index.js");
      const engine = await Engine.load(model, { backend: "cpu" });
      const completion = await engine.completions.create({ prompt: "The capital of France is", max_tokens: 4, temperature: 0 });
      const out = { backend: engine.backend, processors: navigator.hardwareConcurrency, text: completion.choices[0].text };
      await engine.unload();
      return out;
    }, MODEL_URL_PATH);
    assert.ok(result.processors >= 2, `the browser reports ${result.processors} processors`);
    assert.equal(result.backend.threads, result.processors);
    assert.equal(result.backend.singleThreadReason, undefined);
    assert.match(result.text, /Paris/);
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  }
});
