// Markdown rendering of model output. Model output is untrusted: it is parsed by marked
// and the resulting HTML is sanitized by DOMPurify before it touches the DOM, so markup
// such as <script> or <img onerror=...> in an answer is shown inert or dropped.
// Both libraries are vendored into the built site by scripts/build-web.sh (no CDN).

import { Marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";

const parser = new Marked({ gfm: true, breaks: true, async: false });

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
