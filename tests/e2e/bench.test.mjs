// The bench page runs end to end and reports its figures as JSON (speed is printed, never
// asserted: it depends on the machine and the adapter).

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ARTIFACTS, LOAD_TIMEOUT_MS, startHarness } from "./harness.mjs";

let harness;

before(async () => {
  harness = await startHarness();
});

after(async () => {
  await harness?.close();
});

test("bench page reports load time, prefill and decode speed, TTFT and the adapter", async (t) => {
  const page = await harness.openPage("bench.html?autorun&decode=8");
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, {
    timeout: LOAD_TIMEOUT_MS * 2,
  });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== "done") t.diagnostic("page log:\n" + harness.logs.join("\n"));
  assert.equal(state, "done", await page.locator("#error").textContent());
  const result = JSON.parse(await page.locator("#result-json").textContent());
  for (const key of ["load_ms", "prefill_tokens_per_s", "decode_tokens_per_s", "ttft_ms"]) {
    assert.ok(Number.isFinite(result[key]) && result[key] > 0, `${key} = ${result[key]}`);
  }
  assert.ok(result.prompt_tokens >= 100, `the fixed prompt has ${result.prompt_tokens} tokens`);
  assert.ok(typeof result.adapter === "string" && result.adapter.length > 0, "adapter info is missing");
  writeFileSync(path.join(ARTIFACTS, "bench.json"), JSON.stringify(result, null, 2));
  await page.screenshot({ path: path.join(ARTIFACTS, "bench.png"), fullPage: true });
  const figures = [
    `load ${(result.load_ms / 1000).toFixed(2)} s`,
    `prefill ${result.prefill_tokens_per_s.toPrecision(3)} tok/s (${result.prompt_tokens} tokens)`,
    `decode ${result.decode_tokens_per_s.toPrecision(3)} tok/s`,
    `TTFT ${(result.ttft_ms / 1000).toFixed(2)} s`,
    `wasm memory ${(result.wasm_memory_after / 2 ** 20).toFixed(1)} MiB`,
    result.adapter_summary,
  ];
  t.diagnostic(figures.join(" · "));
  console.log(`bench: ${figures.join(" · ")}`);
});
