// The synthetic families (tests/fixtures/synthetic/: Qwen3, Llama 3, Gemma 3, Phi-3, small
// random-weight models that llama.cpp ran) in the browser on WebGPU: each from its Hugging
// Face folder, streamed through the wasm loader (Phi-3's fused tensors split as they
// arrive), completes llama.cpp's first prompt with llama.cpp's greedy tokens (a divergence
// only at a near-tie step). Their GGUF files hold the same fp16 weights, so they would
// compile the same kernels: tests/synthetic_families.rs loads both natively, and the GGUF
// path in the browser is every SmolLM2 test's.

import assert from "node:assert/strict";
import { createReadStream, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { REPO, compareGreedy, startHarness } from "./harness.mjs";

const SYNTHETIC = path.join(REPO, "tests", "fixtures", "synthetic");
const FAMILIES = readdirSync(SYNTHETIC).sort();

/** Every file of every family at /synthetic/<family>/…, as on disk. */
function syntheticRoutes() {
  const routes = {};
  const add = (url, file) => {
    routes[url] = (request, response) => {
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": statSync(file).size });
      createReadStream(file).pipe(response);
    };
  };
  for (const family of FAMILIES) {
    const dir = path.join(SYNTHETIC, family);
    for (const name of readdirSync(path.join(dir, "hf"))) {
      add(`/synthetic/${family}/hf/${name}`, path.join(dir, "hf", name));
    }
  }
  return routes;
}

let harness;
let page;

before(async () => {
  harness = await startHarness({ routes: syntheticRoutes() });
  page = await harness.openPage("bench.html");
});

after(async () => {
  await harness?.close();
});

test("there are synthetic families to check", () => {
  assert.ok(FAMILIES.includes("phi3") && FAMILIES.length >= 4, FAMILIES.join(", "));
});

for (const family of FAMILIES) {
  test(`${family} from its Hugging Face folder matches llama.cpp on WebGPU`, async (t) => {
    const reference = JSON.parse(readFileSync(path.join(SYNTHETIC, family, "reference.json"), "utf8"));
    const [first] = reference.cases;
    const prompt = reference.tokenize[0].text;
    const source = { folder: `/synthetic/${family}/hf/` };
    let result;
    try {
      result = await page.evaluate(
        async ({ source, prompt, tokens }) => {
          const { Engine } = await import("./js/index.js");
          const engine = await Engine.load(source, { backend: "webgpu", contextLength: 256 });
          const completion = await engine.completions.create({ prompt, temperature: 0, max_tokens: tokens });
          const out = {
            backend: engine.backend.kind,
            format: engine.info.format,
            ids: completion.hearth.token_ids,
            promptTokens: completion.usage.prompt_tokens,
          };
          await engine.unload();
          return out;
        },
        { source, prompt, tokens: first.greedy_ids.length },
      );
    } catch (error) {
      t.diagnostic("page log:\n" + harness.logs.join("\n"));
      throw error;
    }
    const { backend, format, ids, promptTokens } = result;
    assert.equal(format, "safetensors");
    assert.equal(backend, "webgpu");
    assert.equal(promptTokens, first.prompt_ids.length, `${family}: prompt tokens`);
    // A continuation that ended at a special token ends there.
    const last = first.greedy_ids.at(-1);
    const verdict = compareGreedy(first.greedy_ids, ids, first.top2_margins, {
      eos: last,
      limit: first.greedy_ids.length,
    });
    assert.ok(verdict.ok, `${family}: ${verdict.message}\n  expected ${first.greedy_ids}\n  got      ${ids}`);
    console.log(`${family}: ${verdict.compared} of ${first.greedy_ids.length} tokens as llama.cpp`);
  });
}
