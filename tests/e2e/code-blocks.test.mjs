// Code blocks in the chat page: a finished answer's code is highlighted by highlight.js,
// loaded only once a code block appears, and has a button that copies the code as text.
// A tiny scripted model (hostile-model.mjs) answers with a fenced Python block.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { ask, cspViolations, recordCspViolations, setSettings, waitForLoaded } from "./chat-page.mjs";
import { ARTIFACTS, requireWebGpu, startHarness } from "./harness.mjs";
import { modelRoute, scriptedModel } from "./hostile-model.mjs";

const CODE = 'def greet(name):\n    return f"Hello, {name}!"\n';
const MODEL = scriptedModel({
  name: "coder",
  answer: ["Here it is:\n\n", "```python\n", ...CODE.split(/(?<=\n)/), "```\n"],
});
const ROUTES = { "/scripted/coder.gguf": modelRoute(MODEL) };

let harness;
let page;

before(async () => {
  harness = await startHarness({ routes: ROUTES });
  await harness.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: harness.baseUrl });
  page = await harness.openPage("index.html", (p) => p.addInitScript(recordCspViolations));
  await requireWebGpu(page);
});

after(async () => {
  await harness?.close();
});

const highlighterRequested = () =>
  page.evaluate(() => performance.getEntriesByType("resource").some((entry) => entry.name.endsWith("/vendor/highlight.min.js")));

test("an answer's code block is highlighted, loaded lazily, and copied as text by its button", async () => {
  await page.locator("#model-url").fill(new URL("scripted/coder.gguf", harness.baseUrl).href);
  await page.locator("#load-button").click();
  await waitForLoaded(page);
  assert.match(await page.locator("#model-status").textContent(), /^coder\.gguf · loaded in/, "the file's name is the model's name");
  assert.equal(await highlighterRequested(), false, "the highlighter loads with the first code block, not before");

  await setSettings(page, { temperature: 0, maxTokens: 32 });
  const answer = await ask(page, "Write a greeting function.");
  assert.equal(answer.state, "done", JSON.stringify(answer));
  const block = page.locator("#conversation li.assistant").last().locator("pre");
  const code = block.locator("code");
  await code.locator("span.hljs-keyword").first().waitFor();
  assert.equal(await highlighterRequested(), true);
  assert.match(await code.getAttribute("class"), /\blanguage-python\b/);
  assert.match(await code.getAttribute("class"), /\bhljs\b/);
  const keywords = await code.locator("span.hljs-keyword").allTextContents();
  assert.ok(keywords.includes("def") && keywords.includes("return"), `keywords: ${keywords}`);
  assert.equal(await code.textContent(), CODE, "highlighting keeps the text");

  const copy = block.locator("button.copy-code");
  await copy.click();
  await page.waitForFunction(() => document.querySelector("button.copy-code").textContent !== "Copy");
  assert.equal(await copy.textContent(), "Copied");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), CODE);
  await page.screenshot({ path: path.join(ARTIFACTS, "code-block.png"), fullPage: true });
  assert.deepEqual(await cspViolations(page), [], "the highlighter and its themes load under the page's policy");
});
