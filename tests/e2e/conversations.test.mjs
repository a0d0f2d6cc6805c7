// The chat page keeps its conversations in the browser (IndexedDB): one survives a reload
// and can be reopened, renamed, exported as JSON and deleted, as a person would do it.
// Screenshots of each state go to target/e2e/.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ask, loadCatalogueModel, setSettings } from "./chat-page.mjs";
import { ARTIFACTS, requireWebGpu, startHarness } from "./harness.mjs";

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

const listed = () =>
  page.locator("#conversation-list li").evaluateAll((items) =>
    items.map((item) => ({
      id: item.dataset.id,
      title: item.querySelector(".open")?.textContent ?? null,
      current: item.getAttribute("aria-current") === "true",
    })),
  );
const shown = () =>
  page.locator("#conversation li").evaluateAll((items) =>
    items.map((item) => ({ role: item.classList.contains("user") ? "user" : "assistant", text: item.querySelector(".body").textContent })),
  );
const snap = (name) => page.screenshot({ path: path.join(ARTIFACTS, `conversations-${name}.png`), fullPage: true });

test("a conversation survives a reload, and can be reopened, renamed, exported and deleted", async (t) => {
  try {
    await loadCatalogueModel(page);
    await setSettings(page, { temperature: 0, maxTokens: 8 });
    const first = await ask(page, "What is the capital of France?");
    assert.equal(first.state, "done", first.error ?? "");
    await page.waitForFunction(() => document.querySelectorAll("#conversation-list li").length === 1);
    const [stored] = await listed();
    assert.equal(stored.title, "What is the capital of France?");
    assert.ok(stored.current);
    const before = await shown();
    assert.equal(before.length, 2);
    await snap("1-first");

    // A reload shows the conversation again, without the model.
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll("#conversation li").length === 2);
    assert.deepEqual(await shown(), before);
    assert.deepEqual((await listed()).map((c) => c.id), [stored.id]);
    await snap("2-after-reload");

    // A second conversation, then back to the first.
    await loadCatalogueModel(page);
    await setSettings(page, { temperature: 0, maxTokens: 8 });
    await page.locator("#new-chat").click();
    assert.equal((await shown()).length, 0);
    const second = await ask(page, "Name a color.");
    assert.equal(second.state, "done", second.error ?? "");
    await page.waitForFunction(() => document.querySelectorAll("#conversation-list li").length === 2);
    const both = await listed();
    assert.equal(both[0].title, "Name a color.", "the latest conversation is listed first");
    assert.ok(both[0].current);
    await page.locator(`#conversation-list li[data-id="${stored.id}"] .open`).click();
    assert.deepEqual(await shown(), before);
    await snap("3-two-conversations");

    // Rename.
    await page.locator(`#conversation-list li[data-id="${stored.id}"] .rename`).click();
    await page.locator("#conversation-list .rename-field").fill("Geography");
    await page.locator("#conversation-list .rename-field").press("Enter");
    await page.waitForFunction(
      (id) => document.querySelector(`#conversation-list li[data-id="${id}"] .open`)?.textContent === "Geography",
      stored.id,
    );
    await snap("4-renamed");

    // Export: a JSON file with the title and the messages.
    const downloading = page.waitForEvent("download");
    await page.locator(`#conversation-list li[data-id="${stored.id}"] .export`).click();
    const download = await downloading;
    assert.equal(download.suggestedFilename(), "Geography.json");
    const file = path.join(ARTIFACTS, "conversations-export.json");
    await download.saveAs(file);
    const exported = JSON.parse(readFileSync(file, "utf8"));
    assert.equal(exported.title, "Geography");
    assert.deepEqual(
      exported.messages,
      before.map(({ role, text }) => ({ role, content: role === "user" ? text : exported.messages[1].content })),
    );
    assert.equal(exported.messages[0].content, "What is the capital of France?");
    assert.ok(exported.messages[1].content.length > 0);

    // Delete the other one; the renamed one stays, also after a reload.
    const other = both[0].id;
    await page.locator(`#conversation-list li[data-id="${other}"] .delete`).click();
    await page.waitForFunction(() => document.querySelectorAll("#conversation-list li").length === 1);
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll("#conversation-list li").length === 1);
    assert.deepEqual(
      (await listed()).map(({ id, title }) => ({ id, title })),
      [{ id: stored.id, title: "Geography" }],
    );
    await snap("5-after-delete");
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  }
});
