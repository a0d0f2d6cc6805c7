// llama.cpp's OpenAI-compatible server (llama-cpp-python, installed into .venv-remote/ by
// scripts/setup-remote.sh) serving the test model on 127.0.0.1, for the remote-backend tests.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { MODEL_FILE, REPO } from "../harness.mjs";

export const PYTHON = path.join(REPO, ".venv-remote", "bin", "python");
/** The name the server answers to (`--model_alias`). */
export const SERVER_MODEL = "smollm2";
const START_TIMEOUT_MS = 120_000;

async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `python -m llama_cpp.server` on a free port and resolves once GET /v1/models
 * answers. `apiKey` makes the server require it.
 * @returns {Promise<{ baseURL: string, logs: string[], stop: () => Promise<void>, kill: () => Promise<void> }>}
 */
export async function startLlamaServer({ apiKey } = {}) {
  if (!existsSync(PYTHON)) {
    throw new Error(`${PYTHON} is missing: run scripts/setup-remote.sh (make test-remote does)`);
  }
  const port = await freePort();
  const args = [
    "-m",
    "llama_cpp.server",
    "--model",
    path.join(REPO, "models", MODEL_FILE),
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--model_alias",
    SERVER_MODEL,
    "--n_ctx",
    "2048",
    ...(apiKey ? ["--api_key", apiKey] : []),
  ];
  const child = spawn(PYTHON, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  const logs = [];
  const keep = (data) => {
    logs.push(String(data));
    if (logs.length > 400) logs.splice(0, logs.length - 400);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let running = true;
  exited.then(() => (running = false));

  const baseURL = `http://127.0.0.1:${port}/v1`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!running) throw new Error(`llama_cpp.server exited before answering:\n${logs.join("")}`);
    try {
      const response = await fetch(`${baseURL}/models`, {
        headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      });
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`llama_cpp.server did not answer within ${START_TIMEOUT_MS / 1000} s:\n${logs.join("")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  const end = async (signal) => {
    if (!running) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    baseURL,
    logs,
    /** Stops the server (SIGTERM, then SIGKILL after 10 s). */
    stop: () => end("SIGTERM"),
    /** Kills the server at once, cutting any reply it is sending. */
    kill: () => end("SIGKILL"),
  };
}
