// A TypeScript app written against hearth-llm's types, as users write one: the tests run
// `tsc --strict` on it against the installed tarball (tests/e2e/package.test.mjs). It is
// never run; it only has to type-check, and the `@ts-expect-error` lines have to be errors
// (were the types too loose, tsc would report those directives as unused).
import {
  Engine,
  HearthError,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatMessage,
  type HearthErrorCode,
  type ModelInfo,
  type RemoteEngine,
  type Tool,
  type ToolCall,
} from "hearth-llm";

const weather: Tool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

export async function chat(model: string): Promise<string> {
  const engine: Engine = await Engine.load(model, {
    backend: "auto",
    contextLength: 2048,
    workerUrl: new URL("hearth-llm/worker.js", import.meta.url),
    onProgress: (progress) => console.log(progress.phase, progress.fraction ?? 0),
  });
  const info: ModelInfo | null = engine.info;
  console.log(info?.backend.kind, info?.cost.dispatches, engine.backend.kind);

  const messages: ChatMessage[] = [
    { role: "developer", content: "Answer in one sentence." },
    { role: "user", content: [{ type: "text", text: "What is the weather in Paris?" }] },
  ];
  const first: ChatCompletion = await engine.chat.completions.create({
    messages,
    tools: [weather],
    tool_choice: "auto",
    temperature: 0,
  });
  const choice = first.choices[0];
  if (choice.finish_reason === "tool_calls" && choice.message.tool_calls) {
    const calls: ToolCall[] = choice.message.tool_calls;
    messages.push({ role: "assistant", content: choice.message.content, tool_calls: calls });
    for (const call of calls) {
      const args = JSON.parse(call.function.arguments) as { city: string };
      messages.push({ role: "tool", tool_call_id: call.id, content: `21 °C in ${args.city}` });
    }
  }

  const controller = new AbortController();
  const stream = await engine.chat.completions.create(
    { messages, stream: true, stream_options: { include_usage: true }, logprobs: true, top_logprobs: 2 },
    { signal: controller.signal },
  );
  let text = "";
  for await (const chunk of stream) {
    const c: ChatCompletionChunk = chunk;
    text += c.choices[0]?.delta.content ?? "";
    for (const call of c.choices[0]?.delta.tool_calls ?? []) console.log(call.index, call.function.name);
    if (c.usage) console.log(c.usage.total_tokens);
  }

  const text2 = await engine.completions.create({ prompt: "Once upon a time", max_tokens: 8, logprobs: 2 });
  console.log(text2.choices[0]?.text, text2.choices[0]?.logprobs?.tokens);

  // @ts-expect-error: a message needs a role hearth knows
  const bad: ChatMessage = { role: "robot", content: "hi" };
  // @ts-expect-error: tool messages name the call they answer
  const orphan: ChatMessage = { role: "tool", content: "21 °C" };
  // @ts-expect-error: n > 1 is not a type hearth accepts
  await engine.chat.completions.create({ messages, n: 2 });
  console.log(bad, orphan);

  await engine.unload();
  return text;
}

export async function withServer(): Promise<void> {
  const remote: RemoteEngine = await Engine.connect({ baseURL: "http://localhost:8080/v1", model: "m" });
  try {
    await remote.chat.completions.create({ messages: [{ role: "user", content: "hi" }] });
  } catch (error) {
    if (error instanceof HearthError) {
      const code: HearthErrorCode = error.code;
      if (code === "rate_limited") console.log(error.retryAfter);
    }
  }
  const cached = await Engine.cache.list();
  console.log(cached.map((model) => model.id));
}
