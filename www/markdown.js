// Markdown rendering of model output. Model output is untrusted (a model's vocabulary and
// the text it echoes come from whoever made the file or wrote the prompt): HTML written in
// an answer is shown as text, like any other characters, and only markdown syntax makes
// elements. The HTML marked produces is then sanitized by DOMPurify before it touches the
// DOM, a second line should a markdown construct ever carry markup through.
// Both libraries are vendored into the built site by scripts/build-web.sh (no CDN).

import { Marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `text` as HTML text: markup characters escaped. */
function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const parser = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    // Raw HTML in the answer (a block such as "<div>..." or an inline tag): text, not markup.
    html({ text, block }) {
      return block ? `<p>${escapeHtml(text.trim()).replace(/\n/g, "<br>\n")}</p>\n` : escapeHtml(text);
    },
  },
});

const SANITIZE = {
  USE_PROFILES: { html: true },
  // No forms, frames, media or styles from a model: text, code, lists, tables, links.
  FORBID_TAGS: [
    "style",
    "form",
    "input",
    "button",
    "textarea",
    "select",
    "iframe",
    "object",
    "embed",
    "video",
    "audio",
    "svg",
    "math",
  ],
  FORBID_ATTR: ["style"],
};

// Links from the model open in a new tab without access to this page.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

/** Markdown → sanitized HTML string. */
export function renderMarkdown(text) {
  const html = parser.parse(String(text ?? ""));
  return DOMPurify.sanitize(html, SANITIZE);
}

/** Renders markdown into `element`, replacing its content. */
export function renderInto(element, text) {
  element.innerHTML = renderMarkdown(text);
}
