// The chat page: loads a model through the hearth JS API (which runs the engine in a
// Web Worker, so this thread never blocks) and streams answers into the conversation.
// An OpenAI-compatible server set in Settings answers when this device cannot run the
// model (Engine.load's fallback), or at once with "Use the server now" (Engine.connect).

import { Engine, FALLBACK_CODES, checkSupport } from "./js/index.js";
import { decorateCodeBlocks } from "./code-blocks.js";
import { renderInto } from "./markdown.js";
import { refuseLongMessage } from "./message-limit.js";
import {
  deleteConversation,
  exportConversation,
  listConversations,
  newConversation,
  saveConversation,
  titleOf,
} from "./conversations.js";

/** The bundled model, used when the catalogue cannot be read. */
const FALLBACK_MODEL = {
  id: "smollm2-135m-instruct-q4_1",
  name: "SmolLM2-135M-Instruct (Q4_1)",
  urls: ["models/SmolLM2-135M-Instruct.Q4_1.gguf"],
  size: 98362432,
  sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
  license: { spdx: "Apache-2.0", url: "https://www.apache.org/licenses/LICENSE-2.0" },
  contextLength: 8192,
};

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("model-status"),
  modelPanel: $("model-panel"),
  loadForm: $("load-form"),
  loadButton: $("load-button"),
  cancelLoad: $("cancel-load"),
  modelUrl: $("model-url"),
  modelFile: $("model-file"),
  modelFolder: $("model-folder"),
  catalogueModel: $("catalogue-model"),
  modelLicense: $("model-license"),
  cachedModels: $("cached-models"),
  progress: $("progress"),
  progressBar: $("progress-bar"),
  progressText: $("progress-text"),
  error: $("error"),
  systemPrompt: $("system-prompt"),
  temperature: $("temperature"),
  topP: $("top-p"),
  maxTokens: $("max-tokens"),
  backend: $("backend"),
  conversation: $("conversation"),
  conversationList: $("conversation-list"),
  composer: $("composer"),
  prompt: $("prompt"),
  send: $("send"),
  stop: $("stop"),
  regenerate: $("regenerate"),
  newChat: $("new-chat"),
  serverUrl: $("server-url"),
  serverModel: $("server-model"),
  serverKey: $("server-key"),
  serverRemember: $("server-remember"),
  serverConnect: $("server-connect"),
  serverClear: $("server-clear"),
};

/**
 * Where the server settings are kept: the base URL and model always (they are no secret),
 * the API key only when the user ticks "Remember the API key" (else it stays in memory).
 */
const SERVER_KEY = "hearth.server";
const SERVER_API_KEY = "hearth.server.apiKey";
const BACKEND_KEY = "hearth.backend";

const state = {
  engine: null,
  /** The name the loaded model was chosen by (catalogue entry, file, folder or URL). */
  modelLabel: null,
  /** AbortController of the model load in progress. */
  loading: null,
  /** AbortController of the answer being generated. */
  generating: null,
  /**
   * The conversation shown (conversations.js): its `turns` are `{ role, content }`, user
   * and assistant alternating; it is stored after every answer.
   */
  conversation: newConversation(),
  /** Models of catalogue.json, by id. */
  catalogue: new Map([[FALLBACK_MODEL.id, FALLBACK_MODEL]]),
  /** Whether this browser has WebGPU with an adapter (null until checked). */
  webgpu: null,
  /** Why WebGPU is unavailable, when it is. */
  noWebgpuReason: null,
  /** Whether the error shown is "no WebGPU" (a server set afterwards answers it). */
  showingNoWebgpu: false,
  /** While a lost GPU is being replaced: `{ status }`, the top bar's text to restore. */
  reconnecting: null,
};

// ---------------------------------------------------------------- formatting

function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes <= 0) return "0 B";
  const units = ["B", "KB", "MB", "GB"];
  const exponent = Math.min(units.length - 1, Math.floor(Math.log(bytes) / Math.log(1000)));
  return `${(bytes / 1000 ** exponent).toFixed(exponent === 0 ? 0 : 1)} ${units[exponent]}`;
}

const PHASES = { cache: "Reading from cache", download: "Downloading", upload: "Uploading to GPU", compile: "Compiling kernels" };

function describeProgress(p) {
  const phase = PHASES[p.phase] ?? p.phase;
  const amount = p.total > 0 ? `${formatBytes(p.bytes)} / ${formatBytes(p.total)}` : formatBytes(p.bytes);
  const rate = p.rate > 0 && p.phase !== "compile" ? ` · ${formatBytes(p.rate)}/s` : "";
  const tensors = p.tensorsTotal > 0 ? ` · ${p.tensorsDone}/${p.tensorsTotal} tensors` : "";
  return `${phase}: ${amount}${rate}${tensors}`;
}

// ---------------------------------------------------------------- errors

function showError(error) {
  let text = error?.message ?? String(error);
  // Engine.load's fallback failed too: say why the device was not used either.
  if (error?.cause?.message) text += `\nThis device could not run the model: ${error.cause.message}`;
  if (FALLBACK_CODES.includes(error?.code) && !readServer()) {
    text += "\nA server set in Settings (Server) can answer instead.";
  }
  ui.error.textContent = text;
  ui.error.hidden = false;
}

function clearError() {
  state.showingNoWebgpu = false;
  ui.error.hidden = true;
  ui.error.textContent = "";
}

// ---------------------------------------------------------------- controls

function updateControls() {
  const loaded = state.engine !== null;
  const busy = state.generating !== null;
  const loading = state.loading !== null;
  // WebGPU asked for where there is none: only a server can answer.
  ui.loadButton.disabled = loading || (needsMissingWebgpu() && !readServer());
  ui.serverConnect.disabled = loading || !readServer();
  ui.cancelLoad.hidden = !loading;
  ui.prompt.disabled = !loaded;
  ui.prompt.placeholder = loaded
    ? "Ask something… (Enter to send, Shift+Enter for a new line)"
    : "Load a model, then ask something…";
  ui.send.disabled = !loaded || busy;
  ui.stop.disabled = !busy;
  const last = state.conversation.turns.at(-1);
  ui.regenerate.disabled = !loaded || busy || !last || last.role !== "assistant";
}

// ---------------------------------------------------------------- server settings

/** The server settings, or null while the base URL or the model is empty. */
function readServer() {
  const baseURL = ui.serverUrl.value.trim();
  const model = ui.serverModel.value.trim();
  if (!baseURL || !model) return null;
  const apiKey = ui.serverKey.value.trim();
  return apiKey ? { baseURL, model, apiKey } : { baseURL, model };
}

/** Whether the backend chosen in Settings is WebGPU, which this browser lacks. */
function needsMissingWebgpu() {
  return state.webgpu === false && ui.backend.value === "webgpu";
}

/** What the page says about WebGPU once it knows, for the backend chosen in Settings. */
function showSupport() {
  if (state.webgpu !== false || state.engine) return;
  if (state.showingNoWebgpu) clearError();
  state.showingNoWebgpu = false;
  if (!needsMissingWebgpu()) {
    ui.status.textContent = "No WebGPU here: models run on the CPU (WebAssembly)";
  } else if (readServer()) {
    ui.status.textContent = "WebGPU unavailable: the server will answer";
  } else {
    showError(`${state.noWebgpuReason}\nChoose "Auto" or "CPU" in Settings, or set a server there to answer instead.`);
    state.showingNoWebgpu = true;
    ui.status.textContent = "WebGPU unavailable";
  }
}

function restoreBackend() {
  try {
    const saved = localStorage.getItem(BACKEND_KEY);
    if ([...ui.backend.options].some((option) => option.value === saved)) ui.backend.value = saved;
  } catch {
    // Storage unavailable: the default choice.
  }
}

function saveBackend() {
  try {
    localStorage.setItem(BACKEND_KEY, ui.backend.value);
  } catch {
    // Storage unavailable: the choice lasts as long as the page.
  }
  showSupport();
  updateControls();
}

function restoreServer() {
  try {
    const saved = JSON.parse(localStorage.getItem(SERVER_KEY) ?? "null");
    if (typeof saved?.baseURL === "string") ui.serverUrl.value = saved.baseURL;
    if (typeof saved?.model === "string") ui.serverModel.value = saved.model;
    const apiKey = localStorage.getItem(SERVER_API_KEY);
    if (apiKey) {
      ui.serverKey.value = apiKey;
      ui.serverRemember.checked = true;
    }
  } catch {
    // Storage unavailable or unreadable: start empty.
  }
}

function saveServer() {
  try {
    const baseURL = ui.serverUrl.value.trim();
    const model = ui.serverModel.value.trim();
    if (baseURL || model) localStorage.setItem(SERVER_KEY, JSON.stringify({ baseURL, model }));
    else localStorage.removeItem(SERVER_KEY);
    const apiKey = ui.serverKey.value.trim();
    if (ui.serverRemember.checked && apiKey) localStorage.setItem(SERVER_API_KEY, apiKey);
    else localStorage.removeItem(SERVER_API_KEY);
  } catch {
    // Storage unavailable: the settings last as long as the page.
  }
  showSupport();
  updateControls();
}

function forgetServer() {
  ui.serverUrl.value = "";
  ui.serverModel.value = "";
  ui.serverKey.value = "";
  ui.serverRemember.checked = false;
  saveServer();
}

// ---------------------------------------------------------------- loading

function selectedSource() {
  const choice = ui.loadForm.elements.source.value;
  if (choice === "url") {
    const url = ui.modelUrl.value.trim();
    if (!url) throw new Error("Enter a model URL first.");
    return { source: url, label: url.split("/").pop() || url };
  }
  if (choice === "file") {
    const file = ui.modelFile.files?.[0];
    if (!file) throw new Error("Choose a .gguf file first.");
    return { source: file, label: file.name };
  }
  if (choice === "folder") {
    const files = [...(ui.modelFolder.files ?? [])];
    if (files.length === 0) throw new Error("Choose a Hugging Face model folder first.");
    // A picked folder's files are named "<folder>/<file>": the folder is the model's name.
    const label = files[0].webkitRelativePath?.split("/")[0] || "model folder";
    return { source: { folder: files }, label };
  }
  const entry = state.catalogue.get(ui.catalogueModel.value) ?? FALLBACK_MODEL;
  return { source: entry, label: entry.name };
}

/** The load sources of a catalogue entry: one per mirror, all sharing one cache entry. */
function catalogueSources(entry) {
  const { id, name, size, sha256 } = entry;
  return entry.urls.map((url) => ({ url, id, name, size: size ?? undefined, sha256: sha256 ?? undefined }));
}

/** Loads a source; a catalogue entry tries its mirrors in order while the network fails. */
async function loadFrom(source, options) {
  if (!Array.isArray(source?.urls)) return Engine.load(source, options);
  let lastError;
  for (const mirror of catalogueSources(source)) {
    try {
      return await Engine.load(mirror, options);
    } catch (error) {
      if (error?.code !== "network") throw error;
      lastError = error;
    }
  }
  throw lastError;
}

/** Replaces the engine by the one `start(signal, onProgress)` resolves to. */
async function switchEngine(label, start) {
  clearError();
  state.generating?.abort();
  const previous = state.engine;
  state.engine = null;
  state.loading = new AbortController();
  updateControls();
  previous?.unload();

  ui.status.textContent = `Loading ${label}…`;
  delete ui.status.dataset.backend;
  ui.status.removeAttribute("title");
  ui.progress.hidden = false;
  ui.progressBar.removeAttribute("value");
  ui.progressText.textContent = "Starting…";
  try {
    const engine = await start(state.loading.signal, (p) => {
      // Also called after the load: a request reloads the model when the GPU was lost.
      if (p.phase === "reconnect") return showReconnecting();
      if (p.fraction !== null) ui.progressBar.value = p.fraction;
      ui.progressText.textContent = describeProgress(p);
    });
    state.engine = engine;
    state.modelLabel = label;
    await showBackend(engine, label);
    ui.progress.hidden = true;
    // The model is chosen: give the room to the conversation (the summary reopens it).
    ui.modelPanel.open = false;
    ui.prompt.focus();
  } catch (error) {
    ui.status.textContent = "No model loaded";
    ui.progress.hidden = true;
    if (error?.name !== "AbortError") showError(error);
  } finally {
    state.loading = null;
    updateControls();
    showCachedModels();
  }
}

/**
 * The browser took the GPU away (driver reset, background tab): the request waiting now
 * loads the model again on a new device, from the cache, before it answers.
 */
function showReconnecting() {
  state.reconnecting ??= { status: ui.status.textContent };
  ui.status.textContent = "Reconnecting GPU…";
  ui.progress.hidden = false;
  ui.progressBar.removeAttribute("value");
  ui.progressText.textContent = "Reconnecting GPU…";
}

/** The model is back on a GPU (its first token arrived), or the request ended. */
function endReconnecting() {
  if (!state.reconnecting) return;
  ui.status.textContent = state.reconnecting.status;
  ui.progress.hidden = true;
  state.reconnecting = null;
}

/** Says in the top bar which backend answers: the local GPU adapter or the server. */
async function showBackend(engine, label) {
  const { backend } = engine;
  ui.status.dataset.backend = backend.kind;
  if (backend.kind === "remote") {
    ui.status.textContent = `${backend.model} · answered by the server ${backend.baseURL}`;
    if (backend.reason) ui.status.title = `This device could not run ${label}: ${backend.reason.message}`;
    return;
  }
  const seconds = (engine.loadStats.loadMs / 1000).toFixed(1);
  // wgpu's web backend leaves the adapter's name empty: ask the browser for it.
  const info = backend.kind === "webgpu" ? (await navigator.gpu?.requestAdapter())?.info : null;
  const adapter = [info?.vendor, info?.architecture].filter(Boolean).join(" ") || backend.adapter;
  const runs = backend.kind === "cpu" ? `CPU (WebAssembly${adapter ? `, ${adapter}` : ""})` : `WebGPU${adapter ? ` · ${adapter}` : ""}`;
  // The name the user chose the model by (catalogue entry, file or folder name), not the
  // file's own general.name, which can be anything; that one stays in the tooltip.
  ui.status.textContent = `${label} · loaded in ${seconds} s · ${runs}`;
  const notes = [];
  if (engine.info?.name && engine.info.name !== label) notes.push(`The file calls itself ${engine.info.name}`);
  if (backend.singleThreadReason) notes.push(`One thread: ${backend.singleThreadReason}`);
  ui.status.title = notes.join("\n");
}

function loadModel() {
  let picked;
  try {
    picked = selectedSource();
  } catch (error) {
    clearError();
    showError(error);
    return;
  }
  const fallback = readServer() ?? undefined;
  const backend = ui.backend.value;
  return switchEngine(picked.label, (signal, onProgress) => loadFrom(picked.source, { signal, onProgress, fallback, backend }));
}

function connectServer() {
  const server = readServer();
  if (!server) return;
  return switchEngine(server.model, (signal) => Engine.connect(server, { signal }));
}

// ---------------------------------------------------------------- catalogue and cache

async function readCatalogue() {
  try {
    const response = await fetch("catalogue.json");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const catalogue = await response.json();
    const models = (catalogue.models ?? []).filter(
      (model) => typeof model?.id === "string" && Array.isArray(model.urls) && model.urls.length > 0,
    );
    if (models.length > 0) {
      state.catalogue = new Map(models.map((model) => [model.id, model]));
      return catalogue.default;
    }
  } catch {
    // Keep the bundled model: the page stays usable without its catalogue.
  }
  return FALLBACK_MODEL.id;
}

/** The name of a catalogue entry's licence (`{ spdx, name?, url }`), or null. */
function licenseName(license) {
  if (typeof license === "string") return license;
  return license?.name ?? license?.spdx ?? null;
}

function showCatalogue(defaultId) {
  ui.catalogueModel.replaceChildren(
    ...[...state.catalogue.values()].map((model) => {
      const option = document.createElement("option");
      option.value = model.id;
      const size = model.size ? `, ${formatBytes(model.size)}` : "";
      option.textContent = `${model.name}${size}`;
      option.title = [
        licenseName(model.license),
        model.contextLength && `context ${model.contextLength}`,
        model.description,
      ]
        .filter(Boolean)
        .join(" · ");
      return option;
    }),
  );
  if (state.catalogue.has(defaultId)) ui.catalogueModel.value = defaultId;
  showLicense();
}

/** Shows the licence of the catalogue model selected, linked to its text. */
function showLicense() {
  const model = state.catalogue.get(ui.catalogueModel.value);
  const name = licenseName(model?.license);
  ui.modelLicense.hidden = !name;
  if (!name) return ui.modelLicense.replaceChildren();
  // The catalogue is data: only an https link is made from it.
  let url = null;
  try {
    url = new URL(model.license?.url);
  } catch {
    // No link.
  }
  let label = document.createTextNode(name);
  if (url?.protocol === "https:") {
    label = document.createElement("a");
    label.href = url.href;
    label.target = "_blank";
    label.rel = "noopener noreferrer";
    label.textContent = name;
  }
  ui.modelLicense.dataset.spdx = model.license?.spdx ?? name;
  ui.modelLicense.replaceChildren("Licence: ", label);
}

/** Lists the cached models with their sizes and a delete button each. */
async function showCachedModels() {
  let models;
  try {
    models = await Engine.cache.list();
  } catch (error) {
    ui.cachedModels.textContent = `The model cache cannot be read: ${error?.message ?? error}`;
    return;
  }
  if (models.length === 0) {
    ui.cachedModels.textContent = "No models cached yet: a downloaded model is kept for the next visit.";
    return;
  }
  const list = document.createElement("ul");
  for (const model of models) {
    const item = document.createElement("li");
    item.dataset.id = model.id;
    item.dataset.complete = String(model.complete);
    const label = document.createElement("span");
    const size = model.complete
      ? formatBytes(model.size)
      : `${formatBytes(model.bytes)} of ${formatBytes(model.size)}, interrupted`;
    label.textContent = `${model.name ?? model.id} (${size})`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.addEventListener("click", async () => {
      await Engine.cache.delete(model.id);
      showCachedModels();
    });
    item.append(label, " ", remove);
    list.append(item);
  }
  ui.cachedModels.replaceChildren(list);
}

// ---------------------------------------------------------------- conversation

/** Appends a message element and returns its parts. */
function addMessage(role, text) {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  const body = document.createElement("div");
  body.className = "body";
  const stats = document.createElement("div");
  stats.className = "stats";
  item.append(body, stats);
  if (role === "user") body.textContent = text;
  else {
    renderInto(body, text);
    if (text) decorateCodeBlocks(body);
  }
  ui.conversation.append(item);
  item.scrollIntoView({ block: "end" });
  return { item, body, stats };
}

function requestMessages() {
  const system = ui.systemPrompt.value.trim();
  const messages = state.conversation.turns.map(({ role, content }) => ({ role, content }));
  return system ? [{ role: "system", content: system }, ...messages] : messages;
}

function readSettings() {
  const number = (input, fallback) => {
    const value = Number(input.value);
    return Number.isFinite(value) && input.checkValidity() ? value : fallback;
  };
  return {
    temperature: number(ui.temperature, 0.7),
    top_p: number(ui.topP, 0.95),
    max_tokens: Math.round(number(ui.maxTokens, 512)),
  };
}

/** Streams one assistant answer for the current turns. */
async function answer() {
  const engine = state.engine;
  if (!engine) return;
  // The answer belongs to the conversation it was asked in, even if another is opened.
  const conversation = state.conversation;
  clearError();
  const controller = new AbortController();
  state.generating = controller;
  updateControls();

  const view = addMessage("assistant", "");
  view.item.dataset.state = "streaming";
  view.item.dataset.updates = "0";
  let text = "";
  // At most one render per frame while tokens stream; the final render cancels a pending
  // one, which would otherwise replace the finished answer (and its code decorations).
  let frame = null;
  const render = () => {
    if (frame !== null) cancelAnimationFrame(frame);
    frame = null;
    renderInto(view.body, text);
    view.item.dataset.updates = String(Number(view.item.dataset.updates) + 1);
    view.item.scrollIntoView({ block: "end" });
  };
  // The answer as it ends: rendered now, its code blocks highlighted and copyable.
  const renderFinished = () => {
    render();
    decorateCodeBlocks(view.body);
  };

  const sentAt = performance.now();
  let firstAt = null;
  let final = null;
  let usage = null;
  try {
    const stream = await engine.chat.completions.create({
      messages: requestMessages(),
      stream: true,
      // The usage comes in a last chunk of its own, as OpenAI's streams send it.
      stream_options: { include_usage: true },
      signal: controller.signal,
      ...readSettings(),
    });
    for await (const chunk of stream) {
      endReconnecting();
      const delta = chunk.choices[0]?.delta?.content ?? "";
      if (delta) {
        firstAt ??= performance.now();
        text += delta;
        frame ??= requestAnimationFrame(render);
      }
      if (chunk.choices[0]?.finish_reason) final = chunk;
      if (chunk.usage) usage = chunk.usage;
    }
    const endedAt = performance.now();
    renderFinished();
    conversation.turns.push({ role: "assistant", content: text });
    view.item.dataset.state = "done";
    view.stats.textContent = describeAnswer(final, usage, sentAt, firstAt, endedAt);
    persist(conversation);
  } catch (error) {
    view.item.dataset.state = "error";
    if (text) {
      renderFinished();
      conversation.turns.push({ role: "assistant", content: text });
      persist(conversation);
    } else {
      view.item.remove();
      // The question goes back into the message box so it can be sent again.
      if (conversation === state.conversation && conversation.turns.at(-1)?.role === "user") {
        const question = conversation.turns.pop();
        ui.conversation.lastElementChild?.remove();
        if (!ui.prompt.value) ui.prompt.value = question.content;
      }
    }
    showError(error);
  } finally {
    endReconnecting();
    state.generating = null;
    updateControls();
  }
}

function describeAnswer(final, usage, sentAt, firstAt, endedAt) {
  const tokens = usage?.completion_tokens ?? 0;
  const parts = [`${tokens} tokens`];
  if (firstAt !== null) {
    const decodeSeconds = (endedAt - firstAt) / 1000;
    const rate = (tokens - 1) / decodeSeconds;
    if (tokens > 1 && decodeSeconds > 0) parts.push(`${rate >= 100 ? rate.toFixed(0) : rate.toPrecision(3)} tok/s`);
    parts.push(`TTFT ${((firstAt - sentAt) / 1000).toFixed(2)} s`);
  }
  const reason = final?.choices[0]?.finish_reason;
  if (reason === "abort") parts.push("stopped");
  if (reason === "length") parts.push("reached max tokens");
  return parts.join(" · ");
}

function send() {
  const content = ui.prompt.value.trim();
  if (!content || !state.engine || state.generating) return;
  const refusal = refuseLongMessage({
    message: content,
    system: ui.systemPrompt.value.trim(),
    contextLength: state.engine.info?.context_length ?? null,
    model: state.modelLabel ?? "the model",
  });
  if (refusal) {
    clearError();
    showError(refusal);
    return;
  }
  ui.prompt.value = "";
  state.conversation.turns.push({ role: "user", content });
  addMessage("user", content);
  answer();
}

function regenerate() {
  if (!state.engine || state.generating || state.conversation.turns.at(-1)?.role !== "assistant") return;
  state.conversation.turns.pop();
  ui.conversation.lastElementChild?.remove();
  answer();
}

function newChat() {
  state.generating?.abort();
  state.conversation = newConversation();
  ui.conversation.replaceChildren();
  clearError();
  updateControls();
  showConversations();
}

// ---------------------------------------------------------------- stored conversations

/** Stores a conversation (once it has a turn) and refreshes the list. */
async function persist(conversation) {
  if (conversation.turns.length === 0) return;
  try {
    await saveConversation(conversation);
  } catch (error) {
    showError(`The conversation could not be saved in this browser: ${error?.message ?? error}`);
  }
  showConversations();
}

/** Shows a stored conversation in place of the current one. */
function openConversation(conversation) {
  state.generating?.abort();
  state.conversation = conversation;
  ui.conversation.replaceChildren();
  for (const turn of conversation.turns) addMessage(turn.role, turn.content).item.dataset.state = "done";
  clearError();
  // A standing condition (WebGPU chosen but missing) is said again.
  showSupport();
  updateControls();
  showConversations();
}

/** Lists the stored conversations, each with open, rename, export and delete. */
async function showConversations() {
  let conversations;
  try {
    conversations = await listConversations();
  } catch (error) {
    ui.conversationList.replaceChildren(`Conversations are not kept: ${error?.message ?? error}`);
    return;
  }
  const button = (label, action, onClick) => {
    const element = document.createElement("button");
    element.type = "button";
    element.className = action;
    element.textContent = label;
    element.addEventListener("click", onClick);
    return element;
  };
  const items = conversations.map((conversation) => {
    const item = document.createElement("li");
    item.dataset.id = conversation.id;
    if (conversation.id === state.conversation.id) item.setAttribute("aria-current", "true");
    const open = button(titleOf(conversation), "open", () => openConversation(conversation));
    open.title = `${conversation.turns.length} messages, ${new Date(conversation.updatedAt).toLocaleString()}`;
    const rename = button("Rename", "rename", () => renameConversation(item, conversation));
    const download = button("Export", "export", () => {
      const { name, blob } = exportConversation(conversation);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    });
    const remove = button("Delete", "delete", async () => {
      await deleteConversation(conversation.id);
      if (conversation.id === state.conversation.id) newChat();
      else showConversations();
    });
    item.append(open, rename, download, remove);
    return item;
  });
  ui.conversationList.replaceChildren(...items);
}

/** Turns a conversation's title into a text field; Enter (or leaving it) saves the name. */
function renameConversation(item, conversation) {
  const field = document.createElement("input");
  field.type = "text";
  field.className = "rename-field";
  field.value = titleOf(conversation);
  field.setAttribute("aria-label", "Conversation name");
  let done = false;
  const save = async () => {
    if (done) return;
    done = true;
    conversation.title = field.value.trim();
    if (conversation.id === state.conversation.id) state.conversation.title = conversation.title;
    await saveConversation(conversation);
    showConversations();
  };
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter") save();
    if (event.key === "Escape") {
      done = true;
      showConversations();
    }
  });
  field.addEventListener("blur", save);
  item.querySelector(".open").replaceWith(field);
  field.focus();
  field.select();
}

// ---------------------------------------------------------------- wiring

ui.loadForm.addEventListener("submit", (event) => {
  event.preventDefault();
  loadModel();
});
ui.cancelLoad.addEventListener("click", () => state.loading?.abort());
ui.modelUrl.addEventListener("input", () => (ui.loadForm.elements.source.value = "url"));
ui.modelFile.addEventListener("change", () => (ui.loadForm.elements.source.value = "file"));
ui.modelFolder.addEventListener("change", () => (ui.loadForm.elements.source.value = "folder"));
ui.catalogueModel.addEventListener("change", () => {
  ui.loadForm.elements.source.value = "default";
  showLicense();
});
ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
ui.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
ui.stop.addEventListener("click", () => state.generating?.abort());
ui.regenerate.addEventListener("click", regenerate);
ui.newChat.addEventListener("click", newChat);
for (const input of [ui.serverUrl, ui.serverModel, ui.serverKey]) input.addEventListener("input", saveServer);
ui.serverRemember.addEventListener("change", saveServer);
ui.serverConnect.addEventListener("click", connectServer);
ui.backend.addEventListener("change", saveBackend);
ui.serverClear.addEventListener("click", forgetServer);

restoreServer();
restoreBackend();
updateControls();
// The last conversation comes back after a reload.
listConversations().then(
  (stored) => (stored.length > 0 ? openConversation(stored[0]) : showConversations()),
  () => showConversations(),
);
readCatalogue().then(showCatalogue);
showCachedModels();
if ("serviceWorker" in navigator) {
  // The app shell is kept for offline use; the page works without it. On a host that does
  // not send the cross-origin isolation headers the service worker adds them: a first
  // visit reloads (once) as soon as it controls the page, so the CPU backend has threads.
  const reloadedKey = "hearth.isolationReload";
  if (!self.crossOriginIsolated && !sessionStorage.getItem(reloadedKey)) {
    navigator.serviceWorker.addEventListener(
      "controllerchange",
      () => {
        if (state.engine || state.loading) return;
        sessionStorage.setItem(reloadedKey, "1");
        location.reload();
      },
      { once: true },
    );
  }
  navigator.serviceWorker.register("sw.js").catch(() => {});
}
checkSupport().then(({ supported, reason }) => {
  state.webgpu = supported;
  state.noWebgpuReason = reason ?? null;
  showSupport();
  updateControls();
});
