// The chat page's conversations, kept in this origin's IndexedDB so that they survive a
// reload and can be reopened, renamed, deleted and exported. Nothing leaves the device.
//
// A conversation: { id, title, turns: [{ role, content }], createdAt, updatedAt }.

const DB_NAME = "hearth-chat";
const STORE = "conversations";
/** Titles are cut to this many characters (the first question, by default). */
const TITLE_LENGTH = 60;

let opening = null;

/** The database, opened once; rejects where IndexedDB is unavailable (then nothing is kept). */
function database() {
  opening ??= new Promise((resolve, reject) => {
    if (typeof indexedDB === "undefined") {
      reject(new Error("this browser keeps no conversations (IndexedDB is unavailable)"));
      return;
    }
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      const store = request.result.createObjectStore(STORE, { keyPath: "id" });
      store.createIndex("updatedAt", "updatedAt");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  opening.catch(() => (opening = null));
  return opening;
}

/** Runs `work(store)` in one transaction; resolves to the value of the request it returns. */
async function withStore(mode, work) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(STORE, mode);
    const request = work(transaction.objectStore(STORE));
    transaction.oncomplete = () => resolve(request?.result);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

/** A new, empty conversation (stored once it has a turn). */
export function newConversation() {
  const now = Date.now();
  return { id: crypto.randomUUID(), title: "", turns: [], createdAt: now, updatedAt: now };
}

/** The title a conversation shows: its own, or its first question. */
export function titleOf(conversation) {
  if (conversation.title) return conversation.title;
  const first = conversation.turns.find((turn) => turn.role === "user")?.content ?? "New chat";
  const line = first.replace(/\s+/g, " ").trim();
  return line.length > TITLE_LENGTH ? `${line.slice(0, TITLE_LENGTH - 1)}…` : line;
}

/** Every stored conversation, the most recently changed first. */
export async function listConversations() {
  const all = await withStore("readonly", (store) => store.getAll());
  return (all ?? []).sort((a, b) => b.updatedAt - a.updatedAt);
}

export async function saveConversation(conversation) {
  conversation.updatedAt = Date.now();
  await withStore("readwrite", (store) => store.put(structuredClone(conversation)));
}

export async function deleteConversation(id) {
  await withStore("readwrite", (store) => store.delete(id));
}

/** A JSON file of the conversation: its title, times, and the messages as the API takes them. */
export function exportConversation(conversation) {
  const body = {
    title: titleOf(conversation),
    createdAt: new Date(conversation.createdAt).toISOString(),
    updatedAt: new Date(conversation.updatedAt).toISOString(),
    messages: conversation.turns.map(({ role, content }) => ({ role, content })),
  };
  const name = titleOf(conversation).replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-|-$/g, "").slice(0, 40) || "conversation";
  return { name: `${name}.json`, blob: new Blob([JSON.stringify(body, null, 2)], { type: "application/json" }) };
}
