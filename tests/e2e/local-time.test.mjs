// `strftime_now` in a chat template prints the user's local time, as Hugging Face's
// `datetime.now().strftime(...)` does: the page lives in a time zone 14 hours ahead of UTC
// (the date there differs from UTC's for most of the day), and a tiny model's template
// raises the time it printed as its error, which reaches the page.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { openApiPage, startHarness } from "./harness.mjs";
import { modelRoute, scriptedModel } from "./hostile-model.mjs";

/** UTC+14 all year (no daylight saving time). */
const TIME_ZONE = "Pacific/Kiritimati";
const MODEL = scriptedModel({
  template: "{{ raise_exception('local time ' + strftime_now('%Y-%m-%d %H:%M [%z%Z]')) }}",
});
const ROUTES = { "/clock/model.gguf": modelRoute(MODEL) };

let harness;
let page;

before(async () => {
  harness = await startHarness({ routes: ROUTES, timezoneId: TIME_ZONE });
  page = await openApiPage(harness);
});

after(async () => {
  await harness?.close();
});

test("strftime_now prints the page's local time, with no zone for a naive datetime", async () => {
  const outcome = await page.evaluate(async () => {
    const { Engine } = await import("./js/index.js");
    const engine = await Engine.load("clock/model.gguf");
    const stamp = (d) => {
      const two = (n) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
    };
    const before = new Date();
    const error = await engine.chat.completions
      .create({ messages: [{ role: "user", content: "what time is it?" }], max_tokens: 1 })
      .then(() => null, (e) => ({ code: e.code, message: e.message }));
    const after = new Date();
    await engine.unload();
    return { error, offset: before.getTimezoneOffset(), expected: [stamp(before), stamp(after)] };
  });
  // The emulation took: otherwise the test would only see UTC.
  assert.equal(outcome.offset, -14 * 60);
  assert.ok(outcome.error, "the template's exception did not reach the page");
  assert.equal(outcome.error.code, "template", outcome.error.message);
  const printed = outcome.error.message.match(/local time (\d{4}-\d\d-\d\d \d\d:\d\d) \[(.*?)\]/);
  assert.ok(printed, outcome.error.message);
  assert.ok(outcome.expected.includes(printed[1]), `printed ${printed[1]}, the page's clock said ${outcome.expected.join(" … ")}`);
  assert.equal(printed[2], "", "%z and %Z of a naive datetime print nothing");
});
