// Licences: the built pages (dist/) and the static site ship hearth's licence and the
// licence of every library they vendor, served as text; every catalogue entry names its
// model's licence with a link to its text, and the chat page shows it for the model
// selected.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ARTIFACTS, REPO, startHarness } from "./harness.mjs";

const SITE = path.join(ARTIFACTS, "licences-site");

const HIGHLIGHT_JS = {
  licence: "highlight.js.LICENSE",
  from: "www/node_modules/@highlightjs/cdn-assets/LICENSE",
  kind: /BSD 3-Clause License/,
};

/** Each file of dist/vendor, with the licence shipped next to it and where that comes from. */
const VENDORED = {
  "marked.esm.js": {
    licence: "marked.LICENSE",
    from: "www/node_modules/marked/LICENSE",
    kind: /Permission is hereby granted, free of charge/,
  },
  // DOMPurify is "MPL-2.0 OR Apache-2.0"; its LICENSE file holds the Apache-2.0 text.
  "purify.es.mjs": {
    licence: "dompurify.LICENSE",
    from: "www/node_modules/dompurify/LICENSE",
    kind: /Apache License\s+Version 2\.0/,
  },
  // highlight.js: the library (with its common languages) and two of its themes.
  "highlight.min.js": HIGHLIGHT_JS,
  "highlight-github.min.css": HIGHLIGHT_JS,
  "highlight-github-dark.min.css": HIGHLIGHT_JS,
  "eventsource-parser.js": {
    licence: "eventsource-parser.LICENSE",
    from: "js/node_modules/eventsource-parser/LICENSE",
    kind: /MIT License/,
  },
};

const read = (...parts) => readFileSync(path.join(...parts), "utf8");

let harness;

before(async () => {
  execFileSync(path.join(REPO, "scripts", "build-site.sh"), ["--no-build", "--out", SITE], { stdio: "inherit" });
  harness = await startHarness({ root: SITE });
});

after(async () => {
  await harness?.close();
});

test("hearth's licence is the Apache-2.0 text its manifests declare", () => {
  const licence = read(REPO, "LICENSE");
  assert.match(licence, /Apache License\s+Version 2\.0, January 2004/);
  assert.match(licence, /END OF TERMS AND CONDITIONS/);
  assert.match(read(REPO, "Cargo.toml"), /^license = "Apache-2\.0"$/m);
  assert.equal(JSON.parse(read(REPO, "js", "package.json")).license, "Apache-2.0");
});

test("dist/ and the site ship hearth's licence and one for every vendored library, served as text", async () => {
  const vendored = readdirSync(path.join(REPO, "dist", "vendor")).filter((name) => !name.endsWith(".LICENSE"));
  assert.deepEqual(vendored.sort(), Object.keys(VENDORED).sort(), "a vendored file without a known licence");
  for (const root of [path.join(REPO, "dist"), SITE]) {
    assert.equal(read(root, "LICENSE"), read(REPO, "LICENSE"), `${root}/LICENSE`);
    for (const { licence, from, kind } of Object.values(VENDORED)) {
      const text = read(root, "vendor", licence);
      assert.equal(text, read(REPO, from), `${root}/vendor/${licence} is not ${from}`);
      assert.match(text, kind, licence);
    }
  }
  for (const file of ["LICENSE", ...Object.values(VENDORED).map(({ licence }) => `vendor/${licence}`)]) {
    const response = await fetch(new URL(file, harness.baseUrl));
    assert.equal(response.status, 200, file);
    assert.match(response.headers.get("content-type"), /^text\/plain/, file);
    assert.equal(await response.text(), read(SITE, file), file);
  }
});

test("every catalogue entry names its model's licence: an SPDX id and an https link", () => {
  const catalogue = JSON.parse(read(REPO, "www", "catalogue.json"));
  for (const model of catalogue.models) {
    const { spdx, url } = model.license ?? {};
    assert.match(spdx ?? "", /^(LicenseRef-)?[A-Za-z0-9.-]+$/, `${model.id}: license.spdx`);
    assert.equal(new URL(url).protocol, "https:", `${model.id}: license.url`);
  }
});

test("the chat page shows the licence of the catalogue model selected, linked to its text", async () => {
  const page = await harness.openPage("index.html");
  const catalogue = JSON.parse(read(SITE, "catalogue.json"));
  const count = catalogue.models.length;
  await page.waitForFunction((n) => document.querySelectorAll("#catalogue-model option").length === n, count);
  for (const model of catalogue.models) {
    await page.locator("#catalogue-model").selectOption(model.id);
    const licence = page.locator("#model-license");
    assert.ok(await licence.isVisible(), `${model.id}: no licence shown`);
    assert.equal(await licence.textContent(), `Licence: ${model.license.name ?? model.license.spdx}`, model.id);
    assert.equal(await licence.getAttribute("data-spdx"), model.license.spdx, model.id);
    assert.equal(await licence.locator("a").getAttribute("href"), model.license.url, model.id);
  }
  await page.close();
});
