// Hugging Face model folders in the browser: SmolLM2 converted by `hearth convert` into a
// folder (config.json, tokenizer.json, tokenizer_config.json, model.safetensors in fp16)
// loads from a base URL and from the files of a picked folder, and answers, through the API
// and through the chat page's folder picker; a folder without config.json is a clear error.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ask, setSettings, waitForLoaded } from "./chat-page.mjs";
import { ARTIFACTS, REPO, openApiPage, startHarness } from "./harness.mjs";

const FOLDER = path.join(ARTIFACTS, "hf-smollm2");
const CLI = path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO, "target"), "debug", "hearth");
const QUESTION = [{ role: "user", content: "What is the capital of France?" }];

/** The folder, written by the CLI from the test model (once). */
function convertedFolder() {
  if (!existsSync(path.join(FOLDER, "model.safetensors"))) {
    assert.ok(existsSync(CLI), `${CLI} is missing: build it with cargo build (make test does)`);
    execFileSync(CLI, ["convert", path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"), FOLDER]);
  }
  return readdirSync(FOLDER);
}

/** Serves the folder at /hf/ and the same folder without config.json at /hf-broken/. */
function folderRoutes(files) {
  const routes = {};
  for (const name of files) {
    const file = path.join(FOLDER, name);
    const serve = (request, response) => {
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": statSync(file).size });
      createReadStream(file).pipe(response);
    };
    routes[`/hf/${name}`] = serve;
    if (name !== "config.json") routes[`/hf-broken/${name}`] = serve;
  }
  return routes;
}

let harness;
let page;
let files;

before(async () => {
  files = convertedFolder();
  harness = await startHarness({ routes: folderRoutes(files) });
  page = await openApiPage(harness);
});

after(async () => {
  await harness?.close();
});

const answerFrom = (source) =>
  page.evaluate(
    async ({ source, messages }) => {
      const { Engine } = await import("./js/index.js");
      const picked = source === "picked" ? { folder: document.querySelector("#picked").files } : source;
      const engine = await Engine.load(picked);
      const reply = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 8 });
      const out = { format: engine.info.format, text: reply.choices[0].message.content };
      await engine.unload();
      return out;
    },
    { source, messages: QUESTION },
  );

test("a folder at a base URL loads and answers", async () => {
  const { format, text } = await answerFrom({ folder: "/hf/" });
  assert.equal(format, "safetensors");
  assert.match(text, /Paris/);
});

test("the files of a picked folder load and answer", async () => {
  await page.evaluate(() => {
    const input = document.createElement("input");
    input.type = "file";
    input.multiple = true;
    input.id = "picked";
    document.body.append(input);
  });
  await page.locator("#picked").setInputFiles(files.map((name) => path.join(FOLDER, name)));
  const { format, text } = await answerFrom("picked");
  assert.equal(format, "safetensors");
  assert.match(text, /Paris/);
});

test("a folder without config.json is a clear error", async () => {
  const error = await page.evaluate(async () => {
    const { Engine } = await import("./js/index.js");
    try {
      await Engine.load({ folder: "/hf-broken/" });
      return null;
    } catch (error) {
      return { code: error.code, message: error.message };
    }
  });
  assert.equal(error?.code, "invalid_config", JSON.stringify(error));
  assert.match(error.message, /config\.json/);
});

/**
 * The folder as a user's download of a repository holds it: the model's files at the top
 * (hard links to the converted ones) and subfolders with files of the same names, which
 * must not be taken for them.
 */
function pickedRepository(files) {
  const repository = path.join(ARTIFACTS, "hf-smollm2-repository");
  rmSync(repository, { recursive: true, force: true });
  mkdirSync(path.join(repository, "original"), { recursive: true });
  mkdirSync(path.join(repository, "onnx"));
  for (const name of files) linkSync(path.join(FOLDER, name), path.join(repository, name));
  writeFileSync(path.join(repository, "original", "model.safetensors"), "not the model");
  writeFileSync(path.join(repository, "onnx", "config.json"), "{ not json");
  return repository;
}

test("the chat page loads a folder the user picks and answers", async () => {
  const repository = pickedRepository(files);
  const chat = await harness.openPage("index.html");
  await chat.locator("#model-folder").setInputFiles(repository);
  assert.equal(await chat.locator("input[name=source][value=folder]").isChecked(), true, "picking selects the folder source");
  await chat.locator("#load-button").click();
  await waitForLoaded(chat);
  await setSettings(chat, { temperature: 0, maxTokens: 8 });
  const answer = await ask(chat, QUESTION[0].content);
  assert.equal(answer.state, "done", JSON.stringify(answer));
  assert.match(answer.text, /Paris/);
  await chat.close();
});
