// Drives the chat page (www/index.html) as a person would, for the tests of what the page
// shows: load the catalogue's selected model, set the sampling settings, ask and wait for
// the answer. Also records the page's Content-Security-Policy violations.

import assert from "node:assert/strict";
import { ANSWER_TIMEOUT_MS, LOAD_TIMEOUT_MS } from "./harness.mjs";

/**
 * An init script (page.addInitScript) that records every `securitypolicyviolation` in
 * `window.__cspViolations`: it runs before the page's own scripts, so nothing is missed.
 */
export function recordCspViolations() {
  window.__cspViolations = [];
  window.addEventListener(
    "securitypolicyviolation",
    (event) =>
      window.__cspViolations.push({
        directive: event.effectiveDirective,
        blocked: event.blockedURI,
        source: `${event.sourceFile}:${event.lineNumber}`,
        sample: event.sample,
      }),
    true,
  );
}

/** The violations recorded so far by `recordCspViolations`. */
export function cspViolations(page) {
  return page.evaluate(() => window.__cspViolations);
}

/** Waits until the model loaded, failing with the page's error if it did not. */
export async function waitForLoaded(page) {
  await page.waitForFunction(
    () =>
      document.querySelector("#model-status").textContent.includes("loaded in") ||
      !document.querySelector("#error").hidden,
    null,
    { timeout: LOAD_TIMEOUT_MS },
  );
  const error = await page.locator("#error").textContent();
  assert.ok(await page.locator("#error").isHidden(), `the model did not load: ${error}`);
}

/** Loads the catalogue model selected in the page. */
export async function loadCatalogueModel(page) {
  await page.locator("input[name=source][value=default]").check();
  await page.locator("#load-button").click();
  await waitForLoaded(page);
}

/** Sets the system prompt, the sampling settings and what runs the model (Settings panel). */
export async function setSettings(page, { system, temperature, maxTokens, backend }) {
  await page.evaluate(() => (document.querySelector("#settings").open = true));
  if (system !== undefined) await page.locator("#system-prompt").fill(system);
  if (temperature !== undefined) await page.locator("#temperature").fill(String(temperature));
  if (maxTokens !== undefined) await page.locator("#max-tokens").fill(String(maxTokens));
  if (backend !== undefined) await page.locator("#backend").selectOption(backend);
}

/** Sends `question` and waits until the answer stops streaming. */
export async function ask(page, question) {
  const before = await page.locator("#conversation li.assistant").count();
  await page.locator("#prompt").fill(question);
  await page.locator("#send").click();
  await page.waitForFunction(
    (before) => {
      const answers = document.querySelectorAll("#conversation li.assistant");
      const last = answers[answers.length - 1];
      const failed = !document.querySelector("#error").hidden;
      return (answers.length > before && last.dataset.state !== "streaming") || failed;
    },
    before,
    { timeout: ANSWER_TIMEOUT_MS },
  );
  const last = page.locator("#conversation li.assistant").last();
  const error = (await page.locator("#error").isVisible()) ? await page.locator("#error").textContent() : null;
  if ((await page.locator("#conversation li.assistant").count()) === before) return { state: "error", error };
  return {
    state: await last.getAttribute("data-state"),
    text: await last.locator(".body").textContent(),
    html: await last.locator(".body").innerHTML(),
    error,
  };
}
