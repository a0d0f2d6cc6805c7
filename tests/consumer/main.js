// Loads the model named by `?model=<url>` with hearth from npm and streams a short answer,
// then (with `?server=<baseURL>`) streams one from an OpenAI-compatible server through
// Engine.connect, which needs the package's dependency eventsource-parser. The outcome is
// `window.consumer`, for the test that drives this page.
import { Engine } from "hearth-llm";

const status = document.getElementById("status");
const answer = document.getElementById("answer");
const params = new URLSearchParams(location.search);
const model = params.get("model");
const server = params.get("server");

async function askServer() {
  const engine = await Engine.connect({ baseURL: new URL(server, location.href).href, model: "test-model" });
  const stream = await engine.chat.completions.create({
    messages: [{ role: "user", content: "Say hello" }],
    stream: true,
  });
  let text = "";
  let finishReason = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
  }
  return { backend: engine.backend.kind, text, finishReason };
}

async function run() {
  const engine = await Engine.load(model);
  status.textContent = "loaded";
  const stream = await engine.chat.completions.create({
    messages: [{ role: "user", content: "What is the capital of France?" }],
    stream: true,
    temperature: 0,
    max_tokens: 4,
  });
  const deltas = [];
  let finishReason = null;
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta?.content ?? "";
    if (delta) {
      deltas.push(delta);
      answer.textContent += delta;
    }
    finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
  }
  await engine.unload();
  return { deltas, finishReason, remote: server ? await askServer() : null };
}

window.consumer = run().then(
  (result) => {
    status.textContent = "done";
    return { ok: true, ...result };
  },
  (error) => {
    status.textContent = `failed: ${error.message}`;
    return { ok: false, code: error.code ?? error.name, message: error.message };
  },
);
