// Code blocks of finished answers: a copy button, and syntax highlighting by highlight.js
// (vendored by scripts/build-web.sh, no CDN). The highlighter and its themes load with the
// first code block, so a page that shows none never downloads them. It runs on the
// sanitized DOM: highlight.js reads the code's text and writes it back escaped, in spans.

let highlighter = null;

/** highlight.js and its light and dark themes, loaded once. */
function loadHighlighter() {
  highlighter ??= (async () => {
    for (const [theme, media] of [
      ["highlight-github.min.css", "(prefers-color-scheme: light)"],
      ["highlight-github-dark.min.css", "(prefers-color-scheme: dark)"],
    ]) {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = new URL(`./vendor/${theme}`, import.meta.url).href;
      link.media = media;
      document.head.append(link);
    }
    const { default: hljs } = await import("./vendor/highlight.min.js");
    return hljs;
  })();
  return highlighter;
}

function addCopyButton(pre, code) {
  if (pre.querySelector(":scope > .copy-code")) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy-code";
  button.textContent = "Copy";
  button.setAttribute("aria-label", "Copy the code");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code.textContent);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => (button.textContent = "Copy"), 1500);
  });
  pre.prepend(button);
}

/**
 * Gives every code block in `container` a copy button, then highlights them (the language
 * from a fence's info string, else detected). Without the highlighter (offline before it
 * was ever cached) the code stays plain.
 */
export async function decorateCodeBlocks(container) {
  const blocks = [...container.querySelectorAll("pre > code")];
  if (blocks.length === 0) return;
  for (const code of blocks) addCopyButton(code.parentElement, code);
  let hljs;
  try {
    hljs = await loadHighlighter();
  } catch {
    highlighter = null;
    return;
  }
  for (const code of blocks) {
    if (code.isConnected && !code.dataset.highlighted) hljs.highlightElement(code);
  }
}
