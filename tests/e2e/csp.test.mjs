// The Content-Security-Policy of the chat and bench pages (dist/) and of the static site
// (scripts/build-site.sh): each page declares it in a <meta> tag, scripts/serve.mjs also
// sends it as a header (which reaches the engine's Web Worker too), it allows no inline
// script and no eval, and nothing the pages do breaks it: every `securitypolicyviolation`
// is recorded from before the page's scripts run while the page loads SmolLM2 and answers,
// on dist/ and on the built site under its service worker.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { metaPolicy } from "../../scripts/serve.mjs";
import { ask, cspViolations, loadCatalogueModel, recordCspViolations, setSettings } from "./chat-page.mjs";
import { ARTIFACTS, REPO, requireWebGpu, startHarness } from "./harness.mjs";

const SITE = path.join(ARTIFACTS, "csp-site");
const PAGES = ["index.html", "bench.html"];

/** Directive → its sources. */
function parsePolicy(text) {
  const directives = new Map();
  for (const part of text.split(";")) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), sources);
  }
  return directives;
}

/** Fails unless `policy` forbids inline script, eval and foreign scripts, and inline styles. */
function assertStrict(policy) {
  const directives = parsePolicy(policy);
  assert.deepEqual(directives.get("default-src"), ["'self'"], "default-src");
  const scripts = directives.get("script-src");
  assert.ok(scripts, "the policy needs a script-src");
  assert.ok(scripts.includes("'wasm-unsafe-eval'"), "the engine compiles WebAssembly: 'wasm-unsafe-eval'");
  for (const name of ["script-src", "script-src-elem", "script-src-attr", "worker-src"]) {
    for (const source of directives.get(name) ?? []) {
      assert.ok(
        ["'self'", "'wasm-unsafe-eval'", "'none'"].includes(source),
        `${name} allows ${source}: only 'self' scripts (and WebAssembly) may run, never inline code or eval`,
      );
    }
  }
  assert.deepEqual(directives.get("worker-src"), ["'self'"], "worker-src");
  const styles = directives.get("style-src");
  assert.ok(styles && !styles.includes("'unsafe-inline'"), `style-src ${styles}`);
  assert.deepEqual(directives.get("object-src"), ["'none'"], "object-src");
  assert.deepEqual(directives.get("base-uri"), ["'none'"], "base-uri");
  const connect = directives.get("connect-src");
  assert.ok(connect?.includes("'self'"), `connect-src ${connect}`);
  assert.ok(!connect.includes("*") && !connect.includes("http:"), `connect-src allows any host: ${connect}`);
}

/** Fetches `url`: its text and Content-Security-Policy header. */
async function get(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return { text: await response.text(), header: response.headers.get("content-security-policy") };
}

/** Checks what a site serves: one strict policy in every page, the same as a header. */
async function assertServedPolicy(baseUrl) {
  const policies = [];
  for (const page of PAGES) {
    const { text, header } = await get(new URL(page, baseUrl));
    const policy = metaPolicy(text);
    assert.ok(policy, `${page} declares no policy in a <meta> tag`);
    assertStrict(policy);
    assert.equal(header, `${policy}; frame-ancestors 'none'`, `${page}: the header and the <meta> tag differ`);
    // Nothing a strict policy would block: no inline script, event handler or style.
    assert.doesNotMatch(text, /<script(?![^>]*\ssrc=)[^>]*>/i, `${page} has an inline script`);
    assert.doesNotMatch(text, /<[^>]+\son[a-z]+=/i, `${page} has an inline event handler`);
    assert.doesNotMatch(text, /<[^>]+\sstyle=|<style/i, `${page} has an inline style`);
    policies.push(policy);
  }
  assert.equal(new Set(policies).size, 1, "the pages' policies differ");
  const worker = await get(new URL("js/worker.js", baseUrl));
  const header = `${policies[0]}; frame-ancestors 'none'`;
  assert.equal(worker.header, header, "the engine's worker script comes without the policy header");
}

/** Loads the catalogue's model and asks a short question, greedily. */
async function loadAndAsk(page) {
  await loadCatalogueModel(page);
  await setSettings(page, { system: "", temperature: 0, maxTokens: 6 });
  const answer = await ask(page, "What is the capital of France?");
  assert.equal(answer.state, "done", answer.error ?? "");
  assert.ok(answer.text.trim().length > 0, "the answer is empty");
}

/** A blocked request: proves the policy is enforced and the violations are seen. */
function probeBlockedConnection(scope) {
  return scope.evaluate(async () => {
    const seen = new Promise((resolve) =>
      self.addEventListener("securitypolicyviolation", (event) => resolve(event.effectiveDirective), { once: true }),
    );
    // TEST-NET-1: never reached, since the policy refuses plain http beyond this machine.
    const fetched = await fetch("http://192.0.2.1/").then(
      () => "fetched",
      () => "refused",
    );
    const directive = await Promise.race([seen, new Promise((resolve) => setTimeout(() => resolve(null), 2000))]);
    return { fetched, directive };
  });
}

describe("the chat and bench pages (dist/)", () => {
  let harness;
  let page;

  before(async () => {
    harness = await startHarness();
    page = await harness.openPage("index.html", (p) => p.addInitScript(recordCspViolations));
    await requireWebGpu(page);
  });

  after(async () => {
    await harness?.close();
  });

  test("declare one strict policy, also sent as a header", async () => {
    await assertServedPolicy(harness.baseUrl);
  });

  test("the chat page loads SmolLM2 and answers with no policy violation", async (t) => {
    try {
      await loadAndAsk(page);
      assert.deepEqual(await cspViolations(page), []);
    } catch (error) {
      t.diagnostic("page log:\n" + harness.logs.join("\n"));
      throw error;
    }
  });

  test("the policy is enforced in the page and, from the header, in the engine's worker", async () => {
    assert.deepEqual(await probeBlockedConnection(page), { fetched: "refused", directive: "connect-src" });
    // One report per policy that refused it: the <meta> tag's and the header's.
    const recorded = await cspViolations(page);
    assert.deepEqual(
      recorded.map((v) => `${v.directive} ${v.blocked}`),
      ["connect-src http://192.0.2.1/", "connect-src http://192.0.2.1/"],
      "the probe's violations were not recorded",
    );
    const worker = page.workers().find((w) => w.url().endsWith("/js/worker.js"));
    assert.ok(worker, `the engine's worker is not running: ${page.workers().map((w) => w.url())}`);
    assert.deepEqual(await probeBlockedConnection(worker), { fetched: "refused", directive: "connect-src" });
  });

  test("the bench page opens with no policy violation", async () => {
    const bench = await harness.openPage("bench.html", (p) => p.addInitScript(recordCspViolations));
    await bench.waitForFunction(() => document.readyState === "complete");
    // bench.js ran: its form is wired and waits for a click.
    assert.ok(await bench.locator("#run").isEnabled());
    assert.deepEqual(await cspViolations(bench), []);
    await bench.close();
  });
});

describe("the static site (scripts/build-site.sh)", () => {
  let harness;
  let page;

  before(async () => {
    execFileSync(path.join(REPO, "scripts", "build-site.sh"), ["--no-build", "--out", SITE], { stdio: "inherit" });
    harness = await startHarness({ root: SITE });
    page = await harness.openPage("index.html", (p) => p.addInitScript(recordCspViolations));
    await requireWebGpu(page);
  });

  after(async () => {
    await harness?.close();
  });

  test("declares the same strict policy, also sent as a header", async () => {
    await assertServedPolicy(harness.baseUrl);
    const site = metaPolicy((await get(new URL("index.html", harness.baseUrl))).text);
    const dist = metaPolicy(readFileSync(path.join(REPO, "dist", "index.html"), "utf8"));
    assert.equal(site, dist, "the site's policy is not dist's");
  });

  test("its service worker installs and serves the page, which answers with no policy violation", async (t) => {
    try {
      await page.evaluate(async () => {
        await navigator.serviceWorker.ready;
        if (!navigator.serviceWorker.controller) {
          await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve));
        }
      });
      assert.deepEqual(await cspViolations(page), [], "violations while the service worker installed");
      // Now the service worker answers the page's requests, from the network or its cache.
      await page.reload();
      assert.ok(await page.evaluate(() => navigator.serviceWorker.controller !== null), "the page is not controlled");
      const policy = await page.evaluate(
        () => document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.content ?? null,
      );
      assertStrict(policy);
      await loadAndAsk(page);
      assert.deepEqual(await cspViolations(page), []);
    } catch (error) {
      t.diagnostic("page log:\n" + harness.logs.join("\n"));
      throw error;
    }
  });
});
