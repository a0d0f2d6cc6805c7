// A megabyte pasted into the chat page is refused at once with a message that says why
// (www/message-limit.js: longer than the model's context could hold), the page stays
// responsive, the text stays in the box, and the next short question is answered.
// The tests share one page and run in order.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ask, loadCatalogueModel, setSettings } from "./chat-page.mjs";
import { requireWebGpu, startHarness } from "./harness.mjs";

/** 1 MiB of prose-like text (ending in a full stop, so that trimming keeps its length). */
const MEGABYTE = "The quick brown fox jumps over the lazy dog. ".repeat(23302).slice(0, (1 << 20) - 1) + ".";

/** The longest the page may take to refuse, and to answer a trivial evaluation after it. */
const REFUSAL_MS = 5000;
const RESPONSIVE_MS = 1000;

let harness;
let page;

before(async () => {
  harness = await startHarness();
  page = await harness.openPage("index.html");
  await requireWebGpu(page);
});

after(async () => {
  await harness?.close();
});

const failed = (t) => t.diagnostic?.("page log:\n" + harness.logs.join("\n"));

test("a 1 MB message is refused within seconds with a visible reason, and the page stays responsive", async (t) => {
  try {
    await loadCatalogueModel(page);
    const messages = await page.locator("#conversation li").count();
    await page.locator("#prompt").fill(MEGABYTE);
    const sentAt = Date.now();
    await page.locator("#send").click();
    await page.locator("#error").waitFor({ state: "visible", timeout: REFUSAL_MS });
    const refusedMs = Date.now() - sentAt;
    const error = await page.locator("#error").textContent();
    assert.match(error, /This message is too long to send: 1,048,576 characters \(and 28 in the system prompt\)/);
    // The limit comes from the context the engine runs with (the model's, capped for the device).
    const limit = /reads at most ([\d,]+) tokens \(([\d,]+) characters at the very most\)/;
    const [, tokens, characters] = limit.exec(error) ?? [];
    const number = (text) => Number(text?.replaceAll(",", ""));
    assert.ok(number(tokens) >= 1024, `the context: ${error}`);
    assert.equal(number(characters), number(tokens) * 16, "the limit is 16 characters per token of context");
    t.diagnostic(`refused in ${refusedMs} ms: ${error}`);
    assert.ok(refusedMs <= REFUSAL_MS, `refused after ${refusedMs} ms`);

    const probedAt = Date.now();
    const state = await page.evaluate(() => ({
      promptLength: document.querySelector("#prompt").value.length,
      sendEnabled: !document.querySelector("#send").disabled,
    }));
    const probeMs = Date.now() - probedAt;
    assert.ok(probeMs <= RESPONSIVE_MS, `the page took ${probeMs} ms to answer an evaluation`);
    assert.equal(await page.locator("#conversation li").count(), messages, "the message was added to the conversation");
    assert.deepEqual(state, { promptLength: MEGABYTE.length, sendEnabled: true }, "the text stays in the box");
  } catch (error) {
    failed(t);
    throw error;
  }
});

test("after the refusal, a short question is answered", async (t) => {
  await setSettings(page, { system: "", temperature: 0, maxTokens: 6 });
  const answer = await ask(page, "What is the capital of France?");
  if (answer.state !== "done") failed(t);
  assert.equal(answer.state, "done", answer.error ?? "");
  assert.ok(await page.locator("#error").isHidden(), "the refusal stays shown after a question is answered");
  assert.ok(answer.text.trim().length > 0, "the answer is empty");
});
