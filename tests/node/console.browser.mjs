// Drives the console (/console) in headless Chromium (the system's, through
// playwright-core) against a gateway in dev mode; run by
// tests/tests/console.rs, which starts the gateway and says where things are:
//
//   GATEWAY_URL   the gateway, e.g. http://127.0.0.1:3006
//   CHROMIUM      the browser executable (/usr/bin/chromium)
//   PLUGINS_DIR   the gateway's plugins directory
//   DROP_WASM     a component copied into PLUGINS_DIR as DROP_NAME.wasm
//   DROP_NAME, DROP_VERSION    the name it loads as and the version it reports
//   UPLOAD_WASM   a component uploaded through the page's file input
//   UPLOAD_VERSION             the version it reports
//   LOGIN_URL     a gateway not in dev mode, and ADMIN_TOKEN an admin JWT for it
//   SCREENSHOT    optional: where to save a PNG of the page at the end
//
// Prints one `ok - ...` line per check and exits non-zero on the first
// failure (or if the page logged any console error or uncaught exception).

import { copyFileSync, renameSync } from "node:fs";
import { basename, join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const url = env("GATEWAY_URL");
const browser = await chromium.launch({ executablePath: env("CHROMIUM"), args: ["--no-sandbox"] });
const problems = [];
let failed = false;

function ok(what) {
  console.log(`ok - ${what}`);
}

try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));

  await page.goto(`${url}/console`);
  await page.waitForSelector("#socket-state.ok", { timeout: 10000 });
  await page.waitForSelector("#prices tr td.bid:not(:empty)", { timeout: 10000 });
  ok("the console loads, connects its socket and shows prices");

  // A price cell changes within two seconds.
  const symbol = await page.$eval("#prices tr:has(td.bid:not(:empty))", (tr) => tr.dataset.symbol);
  const cell = `#prices tr[data-symbol="${symbol}"]`;
  const before = await page.$eval(cell, (tr) => tr.querySelector(".bid").textContent + "/" + tr.querySelector(".ask").textContent);
  const started = Date.now();
  await page.waitForFunction(
    ([sel, was]) => {
      const tr = document.querySelector(sel);
      return tr.querySelector(".bid").textContent + "/" + tr.querySelector(".ask").textContent !== was;
    },
    [cell, before],
    { timeout: 2000, polling: 20 },
  );
  ok(`the ${symbol} price cell changed from ${before} within ${Date.now() - started} ms`);

  // A plugin dropped into the plugins directory appears with its version.
  const dropName = env("DROP_NAME");
  copyFileSync(env("DROP_WASM"), join(env("PLUGINS_DIR"), `.${dropName}.wasm.tmp`));
  renameSync(join(env("PLUGINS_DIR"), `.${dropName}.wasm.tmp`), join(env("PLUGINS_DIR"), `${dropName}.wasm`));
  await page.waitForFunction(
    ([name, version]) => {
      const tr = document.querySelector(`#plugins tr[data-plugin="${name}"]`);
      return tr && tr.children[2].textContent === version;
    },
    [dropName, env("DROP_VERSION")],
    { timeout: 20000 },
  );
  ok(`the plugin dropped into the directory appears as ${dropName} ${env("DROP_VERSION")}`);

  // Each price source shows the symbols it owns.
  await page.waitForFunction(
    () => {
      const tr = document.querySelector('#plugins tr[data-plugin="sim-prices"]');
      return tr && /owns [A-Z]/.test(tr.querySelector(".holdings")?.textContent || "");
    },
    null,
    { timeout: 10000 },
  );
  ok("the default price source shows the symbols it owns");

  // A plugin uploaded through the page: its verdict first, then deployed.
  const uploadWasm = env("UPLOAD_WASM");
  const uploadName = basename(uploadWasm, ".wasm").toLowerCase();
  await page.setInputFiles("#upload-files", uploadWasm);
  await page.waitForSelector("#verdict p.ok", { timeout: 20000 });
  const verdict = await page.textContent("#verdict");
  if (!verdict.includes(env("UPLOAD_VERSION"))) throw new Error(`the verdict does not name the version: ${verdict}`);
  if (await page.$(`#plugins tr[data-plugin="${uploadName}"]`)) throw new Error("the upload went live before it was deployed");
  ok(`the upload's check verdict is shown before it goes live: ${verdict.slice(0, 80)}…`);
  await page.click("#deploy");
  await page.waitForFunction(
    ([name, version]) => {
      const tr = document.querySelector(`#plugins tr[data-plugin="${name}"]`);
      return tr && tr.children[2].textContent === version;
    },
    [uploadName, env("UPLOAD_VERSION")],
    { timeout: 20000 },
  );
  ok(`the uploaded plugin is deployed and listed as ${uploadName} ${env("UPLOAD_VERSION")}`);

  // A chat answer streams in: the answer grows through partial texts
  // before the final message arrives.
  await page.evaluate(() => {
    window.__answers = [];
    const pre = document.getElementById("chat-answer");
    new MutationObserver(() => window.__answers.push([pre.textContent, pre.classList.contains("done")])).observe(pre, {
      childList: true,
      characterData: true,
      subtree: true,
      attributes: true,
    });
  });
  await page.fill("#chat-input", "What is EURUSD doing?");
  await page.click("#chat-form button");
  await page.waitForSelector("#chat-answer.done", { timeout: 20000 });
  const seen = await page.evaluate(() => window.__answers);
  const partial = [...new Set(seen.filter(([text, done]) => !done && text.length > 0).map(([text]) => text))];
  const final = await page.textContent("#chat-answer");
  if (partial.length < 2) throw new Error(`the answer did not stream: partial texts ${JSON.stringify(partial)}`);
  // Each part extends the one before; the final message is the whole.
  for (const [i, text] of partial.entries()) {
    if (i > 0 && !(text.startsWith(partial[i - 1]) && text.length > partial[i - 1].length)) {
      throw new Error(`the answer did not grow: ${JSON.stringify(partial[i - 1])} then ${JSON.stringify(text)}`);
    }
  }
  if (!final.startsWith(partial[partial.length - 1])) {
    throw new Error(`the final answer ${JSON.stringify(final)} does not continue ${JSON.stringify(partial[partial.length - 1])}`);
  }
  ok(`the chat answer streamed in ${partial.length} growing parts: ${JSON.stringify(final.slice(0, 60))}…`);

  // A test event posted from the page comes back on its socket.
  await page.click("#event-form button");
  await page.waitForFunction(() => /CONSOLE_TEST \[medium\] Hello/.test(document.getElementById("event-log").textContent), null, {
    timeout: 10000,
  });
  ok("a test event posted from the page arrived on its socket");

  // Dev mode mints a token.
  await page.click("#mint-form button");
  await page.waitForFunction(() => document.getElementById("mint-token").textContent.split(".").length === 3, null, { timeout: 10000 });
  ok("dev mode minted a token");

  // Outside dev mode the page asks for an admin token once and keeps it
  // for the tab's session.
  const tab = await (await browser.newContext()).newPage();
  tab.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error (login): ${m.text()}`);
  });
  tab.on("pageerror", (e) => problems.push(`uncaught (login): ${e.message}`));
  await tab.goto(`${env("LOGIN_URL")}/console`);
  await tab.waitForSelector("#login-token", { state: "visible", timeout: 10000 });
  if (await tab.isVisible("#console")) throw new Error("the console showed before a token was given");
  await tab.fill("#login-token", env("ADMIN_TOKEN"));
  await tab.click("#login-form button");
  await tab.waitForSelector("#prices tr td.bid:not(:empty)", { timeout: 10000 });
  await tab.waitForSelector("#plugins tr[data-plugin]", { timeout: 10000 });
  await tab.reload();
  await tab.waitForSelector("#socket-state.ok", { timeout: 10000 });
  if (await tab.isVisible("#login")) throw new Error("the token was asked for again after a reload");
  if (await tab.isVisible("#mint-form")) throw new Error("token minting is offered outside dev mode");
  ok("outside dev mode the page asked for an admin token once, kept it across a reload, and offers no minting");

  if (process.env.SCREENSHOT) {
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    ok(`screenshot saved to ${process.env.SCREENSHOT}`);
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
  ok("no console errors");
} catch (e) {
  failed = true;
  console.log(`not ok - ${e.message}`);
  if (problems.length > 0) console.log(problems.join("\n"));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
