// The bench page: load time, prefill and decode speed, time to first token and the GPU
// adapter, shown as text and as JSON (read by tests/e2e and by people comparing runs).

import { Engine } from "./js/index.js";

// A fixed English paragraph of about 128 tokens, completed as raw text (no chat template)
// so that runs on different days and machines measure the same work.
const PROMPT =
  "The lighthouse keeper climbed the spiral stairs every evening at dusk, carrying a lantern, " +
  "a notebook and a flask of tea. From the gallery he could see the whole bay: the fishing boats " +
  "returning with their catch, the gulls circling above the harbour, and the long line of cliffs " +
  "that turned gold in the last light. He wrote down the wind, the clouds and the colour of the sea, " +
  "as his father had done before him, and his grandfather before that. One night, as the lamp " +
  "began to turn, he noticed a small light blinking far out on the water, where no ship should be. " +
  "He watched it for a long time, and then he";

const $ = (id) => document.getElementById(id);

/** Three significant digits at most, so slow adapters do not show "0.0". */
const rate = (value) => (value >= 100 ? value.toFixed(0) : value.toPrecision(3));

const mb = (bytes) => (bytes == null ? "?" : `${(bytes / 1e6).toFixed(1)} MB`);

function show(result) {
  const rows = [
    ["Model", result.model],
    ["Backend", result.backend ?? "?"],
    ["Adapter", result.adapter_summary],
    ["Load time", `${(result.load_ms / 1000).toFixed(2)} s`],
    [
      "wasm memory",
      `${(result.wasm_memory_before / 2 ** 20).toFixed(1)} → ${(result.wasm_memory_after / 2 ** 20).toFixed(1)} MiB`,
    ],
    ["Prompt tokens", result.prompt_tokens],
    ["Prefill", `${rate(result.prefill_tokens_per_s)} tok/s`],
    ["Decode", `${rate(result.decode_tokens_per_s)} tok/s (${result.completion_tokens} tokens)`],
    ["TTFT", `${(result.ttft_ms / 1000).toFixed(3)} s (cold: ${(result.cold_ttft_ms / 1000).toFixed(3)} s)`],
    ["Kernels", result.kernels ?? "?"],
    ["Dispatches per token", result.dispatches_per_token ?? "?"],
    ["Weights read per token", mb(result.weight_bytes_read_per_token)],
    ["Weight memory", mb(result.gpu_weight_bytes)],
  ];
  $("summary").replaceChildren(
    ...rows.flatMap(([name, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      return [dt, dd];
    }),
  );
  $("result-json").textContent = JSON.stringify(result, null, 2);
}

async function run() {
  const status = $("status");
  $("error").hidden = true;
  $("run").disabled = true;
  document.body.dataset.state = "running";
  let engine = null;
  try {
    status.textContent = "Loading…";
    engine = await Engine.load($("model-url").value.trim(), {
      backend: $("backend").value,
      onProgress: (p) => (status.textContent = `Loading: ${p.phase} ${Math.round((p.fraction ?? 0) * 100)}%`),
    });
    const maxTokens = Math.max(2, Number($("decode-tokens").value) || 64);

    status.textContent = "Warm-up…";
    const cold = await engine.completions.create({ prompt: "Hello", max_tokens: 2, temperature: 0 });

    status.textContent = "Running…";
    const started = performance.now();
    const measured = await engine.completions.create({
      prompt: PROMPT,
      max_tokens: maxTokens,
      temperature: 0,
      ignore_eos: true,
    });
    const wallMs = performance.now() - started;

    const timings = measured.hearth.timings;
    const { prompt_tokens, completion_tokens } = measured.usage;
    // Engine timings (GPU work of prefill and decode steps), wall clock as a fallback.
    const prefillMs = timings.prefill_ms ?? timings.ttft_ms;
    const prefillTokens = timings.prefill_tokens ?? prompt_tokens;
    const decodeMs = timings.decode_ms ?? wallMs - timings.ttft_ms;
    const decodeTokens = timings.decode_tokens ?? completion_tokens - 1;
    const adapter = engine.adapter ?? "";
    // wgpu's web backend leaves the adapter's name empty: ask the browser too.
    const browserAdapter = (await navigator.gpu.requestAdapter())?.info;
    const browserInfo = browserAdapter
      ? {
          vendor: browserAdapter.vendor,
          architecture: browserAdapter.architecture,
          device: browserAdapter.device,
          description: browserAdapter.description,
          is_fallback_adapter: browserAdapter.isFallbackAdapter ?? null,
        }
      : null;
    const result = {
      model: engine.info?.name ?? null,
      adapter,
      browser_adapter: browserInfo,
      adapter_summary:
        [browserInfo?.vendor, browserInfo?.architecture, browserInfo?.description].filter(Boolean).join(" · ") ||
        adapter.split("\n")[0].replace(/^adapter:\s*/, "") ||
        "WebGPU",
      user_agent: navigator.userAgent,
      load_ms: engine.loadStats.loadMs,
      wasm_memory_before: engine.loadStats.memory.before,
      wasm_memory_after: engine.loadStats.memory.after,
      backend: engine.backend?.kind ?? null,
      kernels: engine.info?.kernels ?? null,
      dispatches_per_token: engine.info?.cost?.dispatches ?? null,
      weight_bytes_read_per_token: engine.info?.cost?.weight_bytes_read ?? null,
      gpu_weight_bytes: engine.info?.cost?.weight_bytes_stored ?? null,
      prompt_tokens,
      completion_tokens,
      prefill_ms: prefillMs,
      decode_ms: decodeMs,
      prefill_tokens_per_s: (prefillTokens * 1000) / prefillMs,
      decode_tokens_per_s: decodeTokens > 0 ? (decodeTokens * 1000) / decodeMs : 0,
      wall_ms: wallMs,
      ttft_ms: timings.ttft_ms,
      cold_ttft_ms: cold.hearth.timings.ttft_ms,
      finish_reason: measured.choices[0].finish_reason,
      text: measured.choices[0].text,
    };
    show(result);
    status.textContent = "Done";
    document.body.dataset.state = "done";
  } catch (error) {
    $("error").textContent = error?.message ?? String(error);
    $("error").hidden = false;
    status.textContent = "Failed";
    document.body.dataset.state = "error";
  } finally {
    await engine?.unload();
    $("run").disabled = false;
  }
}

$("bench-form").addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
const params = new URLSearchParams(location.search);
if (params.has("decode")) $("decode-tokens").value = params.get("decode");
if (params.has("model")) $("model-url").value = params.get("model");
if (params.has("autorun")) run();
