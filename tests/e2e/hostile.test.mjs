// Hostile strings from a model file and from the catalogue reach the chat page only as
// text. A tiny GGUF (hostile-model.mjs) has markup in its general.name, in its vocabulary
// (so its answer is markup) and in the exception its chat template raises; a catalogue
// served in place of catalogue.json has markup in its entry's name, description and
// licence. The page loads that entry, answers with it and shows the template's error: each
// string must appear literally, with no element, event handler or javascript: link made
// from it, no script run (window.__pwned stays unset) and no policy violation (which
// would mean the page made markup the Content-Security-Policy then had to block).
// The tests share one page and run in order.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ask, cspViolations, loadCatalogueModel, recordCspViolations, setSettings } from "./chat-page.mjs";
import { requireWebGpu, startHarness } from "./harness.mjs";
import { ANSWER_TEXT, HOSTILE, RAISE_TRIGGER, hostileModel, modelRoute } from "./hostile-model.mjs";

const MODEL = hostileModel();

const CATALOGUE_ENTRY = {
  id: "hostile-model",
  name: `<img src=x onerror="window.__pwned='catalogue-name'">Tiny</b>`,
  urls: ["hostile/model.gguf"],
  size: MODEL.length,
  sha256: null,
  license: {
    spdx: "LicenseRef-<script>window.__pwned='spdx'</script>",
    name: `<b onclick="window.__pwned='licence'">Licence</b>`,
    url: "javascript:window.__pwned='licence-url'",
  },
  contextLength: 2048,
  description: `<svg onload="window.__pwned='description'">`,
};

const ROUTES = {
  "/catalogue.json": (request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ version: 1, default: CATALOGUE_ENTRY.id, models: [CATALOGUE_ENTRY] }));
  },
  "/hostile/model.gguf": modelRoute(MODEL),
};

let harness;
let page;

before(async () => {
  harness = await startHarness({ routes: ROUTES });
  page = await harness.openPage("index.html", (p) => p.addInitScript(recordCspViolations));
  await requireWebGpu(page);
});

after(async () => {
  await harness?.close();
});

const failed = (t) => t.diagnostic?.("page log:\n" + harness.logs.join("\n"));

/** What hostile markup could have left in the document, if the page had made any. */
function markupLeftInPage(page) {
  return page.evaluate(() => {
    const all = [...document.querySelectorAll("*")];
    const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}`;
    return {
      pwned: window.__pwned ?? null,
      elements: [...document.querySelectorAll("img, svg, iframe, object, embed, b, body script")].map(describe),
      scripts: [...document.scripts].map((s) => s.getAttribute("src")),
      handlers: all.flatMap((el) =>
        [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${describe(el)}[${a.name}]`),
      ),
      javascriptLinks: all.filter((el) => /^\s*javascript:/i.test(el.getAttribute("href") ?? "")).map(describe),
    };
  });
}

async function assertNoMarkup(t) {
  const left = await markupLeftInPage(page);
  const violations = await cspViolations(page);
  if (left.pwned || left.elements.length || left.handlers.length || violations.length) failed(t);
  assert.equal(left.pwned, null, `a script ran: ${left.pwned}`);
  assert.deepEqual(left.elements, [], "elements made from hostile markup");
  assert.deepEqual(left.scripts, ["app.js"], "the page's only script is app.js");
  assert.deepEqual(left.handlers, [], "event handler attributes made from hostile markup");
  assert.deepEqual(left.javascriptLinks, [], "javascript: links made from hostile text");
  assert.deepEqual(violations, [], "Content-Security-Policy violations");
}

test("the catalogue's names, description and licence show as text", async (t) => {
  const option = page.locator("#catalogue-model option");
  await page.waitForFunction(() => document.querySelector("#catalogue-model option").value === "hostile-model");
  assert.equal(await option.count(), 1);
  assert.equal(await option.textContent(), `${CATALOGUE_ENTRY.name}, ${(MODEL.length / 1000).toFixed(1)} KB`);
  assert.match(await option.getAttribute("title"), /<svg onload="window.__pwned='description'">/);
  const license = page.locator("#model-license");
  assert.ok(await license.isVisible(), "the licence is not shown");
  assert.equal(await license.textContent(), `Licence: ${CATALOGUE_ENTRY.license.name}`);
  assert.equal(await license.locator("a").count(), 0, "a javascript: licence address must not become a link");
  await assertNoMarkup(t);
});

test("the catalogue name shows as text in the status and the cache list, the model's general.name in the tooltip", async (t) => {
  await loadCatalogueModel(page);
  const status = await page.locator("#model-status").textContent();
  assert.ok(status.startsWith(`${CATALOGUE_ENTRY.name} · loaded in`), `status: ${status}`);
  assert.match(status, / · (WebGPU|CPU \(WebAssembly)/, "the backend that runs is shown");
  assert.equal(await page.locator("#model-status").getAttribute("title"), `The file calls itself ${HOSTILE.name}`);
  // The model panel closes after a load: the list is there, folded away.
  await page.locator("#cached-models li").first().waitFor({ state: "attached" });
  assert.ok(
    (await page.locator("#cached-models li span").first().textContent()).startsWith(CATALOGUE_ENTRY.name),
    "the cached model's name",
  );
  await assertNoMarkup(t);
});

test("an answer made of hostile tokens shows as text", async (t) => {
  await setSettings(page, { temperature: 0, maxTokens: 16 });
  const answer = await ask(page, "hello");
  if (answer.state !== "done") failed(t);
  assert.equal(answer.state, "done", answer.error ?? "");
  for (const token of HOSTILE.tokens) {
    assert.ok(answer.text.includes(token), `missing as text: ${token}\nshown: ${answer.text}`);
  }
  // The markdown link is rendered as a link, without its javascript: address.
  assert.ok(answer.text.includes("link"));
  assert.ok(!answer.text.includes(HOSTILE.markdownLink), "markdown was not rendered");
  assert.equal(answer.text.replace(/\s+/g, ""), ANSWER_TEXT.replace(HOSTILE.markdownLink, "link").replace(/\s+/g, ""));
  await assertNoMarkup(t);
});

test("the chat template's hostile exception shows as text", async (t) => {
  const answer = await ask(page, RAISE_TRIGGER);
  assert.equal(answer.state, "error");
  assert.ok(answer.error?.includes(HOSTILE.template), `the error shown: ${answer.error}`);
  assert.equal(await page.locator("#prompt").inputValue(), RAISE_TRIGGER, "the question goes back into the box");
  await assertNoMarkup(t);
});
