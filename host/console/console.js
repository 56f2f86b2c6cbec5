// The gateway console: the live market over Socket.IO, and the plugins
// and connections from the admin API, polled every two seconds; plus
// forms to deploy a plugin, ask the chat plugin, post a test event and,
// in dev mode, mint a token. Every value from the server is written with
// textContent, never parsed as HTML.

import { SioClient } from "/console/sio.js";

const TOKEN_KEY = "gateway-console-token";
const POLL_MS = 2000;
const SPARK_POINTS = 60;
const CONN_HISTORY = 120;

const $ = (id) => document.getElementById(id);

/** `tag` with `text` and optional class. */
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.append(c);
    else td.textContent = c === undefined || c === null ? "" : String(c);
    tr.append(td);
  }
  return tr;
}

function time(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : "";
}

/** Draws `values` as a polyline in the SVG `svg` (viewBox 0 0 w h). */
function spark(svg, values) {
  const [, , w, h] = svg.getAttribute("viewBox").split(" ").map(Number);
  let line = svg.firstChild;
  if (!line) {
    line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    svg.append(line);
  }
  if (values.length < 2) return;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const step = w / (values.length - 1);
  line.setAttribute(
    "points",
    values.map((v, i) => `${(i * step).toFixed(1)},${(h - 1 - ((v - min) / span) * (h - 2)).toFixed(1)}`).join(" "),
  );
}

// ---- authentication --------------------------------------------------

let token = sessionStorage.getItem(TOKEN_KEY);
let devMode = false;

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), authorization: `Bearer ${token}` };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((body.error && `${body.error.code}: ${body.error.message}`) || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

/** A fresh admin token for the console (dev mode only). */
async function devToken() {
  const res = await fetch("/api/dev/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub: "console", admin: true, name: "Console" }),
  });
  if (!res.ok) throw new Error(`minting a dev token failed: HTTP ${res.status}`);
  return (await res.json()).token;
}

function askForToken(message) {
  $("console").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  token = $("login-token").value.trim();
  try {
    await api("/api/plugins");
    sessionStorage.setItem(TOKEN_KEY, token);
    $("login").hidden = true;
    start();
  } catch (err) {
    askForToken(err.message);
  }
});

$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

// ---- live market -----------------------------------------------------

const market = new Map();
let ticksThisSecond = 0;
let socket;
let subscribed = new Set();
let maxSymbols = 50;

function priceRow(symbol) {
  let m = market.get(symbol);
  if (m) return m;
  const tr = document.createElement("tr");
  tr.dataset.symbol = symbol;
  const cells = ["symbol", "bid", "ask", "spread", "trend", "at"].map((k) => {
    const td = el("td", null, k);
    tr.append(td);
    return td;
  });
  cells[0].textContent = symbol;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 120 24");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  cells[4].append(svg);
  const rows = [...$("prices").children];
  const after = rows.find((r) => r.dataset.symbol > symbol);
  $("prices").insertBefore(tr, after || null);
  m = { tr, cells, svg, mids: [] };
  market.set(symbol, m);
  return m;
}

function showTick(t) {
  const m = priceRow(t.symbol);
  const digits = t.bid >= 100 ? 3 : 5;
  const [, bid, ask, spread, , at] = m.cells;
  const up = m.last !== undefined && t.bid > m.last;
  const down = m.last !== undefined && t.bid < m.last;
  bid.textContent = t.bid.toFixed(digits);
  ask.textContent = t.ask.toFixed(digits);
  spread.textContent = (t.ask - t.bid).toFixed(digits);
  at.textContent = time(t.timestamp);
  m.tr.classList.toggle("up", up);
  m.tr.classList.toggle("down", down);
  m.last = t.bid;
  m.mids.push((t.bid + t.ask) / 2);
  if (m.mids.length > SPARK_POINTS) m.mids.shift();
  spark(m.svg, m.mids);
}

setInterval(() => {
  $("tick-rate").textContent = `${ticksThisSecond} ticks/s`;
  ticksThisSecond = 0;
}, 1000);

async function followSymbols(symbols) {
  const left = symbols.length - Math.min(symbols.length, maxSymbols);
  $("symbols-left").textContent = left > 0 ? `(${left} more symbols than a socket may follow)` : "";
  const wanted = symbols.filter((s) => !subscribed.has(s)).slice(0, Math.max(0, maxSymbols - subscribed.size));
  if (!socket || !socket.connected || wanted.length === 0) return;
  wanted.forEach((s) => subscribed.add(s));
  const ack = await socket.emit("subscribe:prices", { symbols: wanted }).catch(() => null);
  if (!ack || !ack.ok) {
    wanted.forEach((s) => subscribed.delete(s));
    return;
  }
  for (const t of ack.prices || []) showTick(t);
}

function connectSocket() {
  socket = new SioClient(location.origin, { token });
  socket
    .on("connect", () => {
      $("socket-state").textContent = "live";
      $("socket-state").classList.add("ok");
    })
    .on("disconnect", () => {
      $("socket-state").textContent = "offline";
      $("socket-state").classList.remove("ok");
      subscribed = new Set();
    })
    .on("connect_error", (e) => {
      $("socket-state").textContent = "refused";
      $("status").textContent = `socket refused: ${e.message}`;
    })
    .on("connected", (hello) => {
      maxSymbols = (hello.limits && hello.limits.maxSymbols) || maxSymbols;
      followSymbols(knownSymbols);
    })
    .on("price:update", (t) => {
      ticksThisSecond++;
      showTick(t);
    })
    .on("chat:chunk", (c) => chatChunk(c))
    .on("chat:message", (m) => chatDone(m))
    .on("event:notification", (ev) => {
      $("event-log").textContent = `${time(ev.timestamp)} ${ev.type} [${ev.severity}] ${ev.title}: ${ev.message}\n` + $("event-log").textContent;
    })
    .on("error", (e) => {
      if (e.code === "CHAT_UNAVAILABLE" && e.id === chatId) $("chat-answer").textContent += `\n[${e.code}: ${e.message}]`;
    })
    .open();
}

// ---- plugins ---------------------------------------------------------

let knownSymbols = [];

function reloads(list) {
  const ul = el("ul", null, "reloads");
  for (const r of (list || []).slice().reverse()) {
    const li = el("li", `${time(r.atMs)} ${r.version || "?"} ${r.outcome}`, r.outcome);
    if (r.message) li.title = r.message;
    ul.append(li);
  }
  return ul;
}

// A price source's symbols: those it owns, and those it stands by for
// while another source owns them (a backup feed).
function holdings(p) {
  if (p.kind !== "price-source") return "";
  const div = el("div", null, "holdings");
  if (p.owns && p.owns.length) div.append(el("div", `owns ${p.owns.join(", ")}`));
  for (const [symbol, owner] of Object.entries(p.standsBy || {})) {
    div.append(el("div", `backup for ${symbol} (owner ${owner})`, "standby"));
  }
  return div;
}

function renderPlugins(body) {
  const tbody = $("plugins");
  tbody.replaceChildren(
    ...body.plugins.map((p) => {
      const last = p.lastError || p.lastLoadError;
      const tr = row([
        p.name,
        p.kind,
        p.version,
        el("span", p.state, `pill ${p.state}`),
        el("span", p.breaker, `pill ${p.breaker}`),
        p.calls,
        p.errors,
        p.p99CallMs === null || p.p99CallMs === undefined ? "–" : `${p.p99CallMs.toFixed(2)} ms`,
        last ? `${time(last.atMs)} ${last.message}` : "",
        holdings(p),
        reloads(p.reloads),
      ]);
      tr.dataset.plugin = p.name;
      return tr;
    }),
  );
  $("rejected").replaceChildren(
    ...body.rejected.map((r) => el("p", `Not loaded: ${r.name} (${r.file}): ${r.error.message}`, "error")),
  );
  const symbols = body.plugins.filter((p) => p.kind === "price-source").flatMap((p) => p.symbols);
  knownSymbols = [...new Set(symbols)].sort();
  knownSymbols.forEach(priceRow);
  followSymbols(knownSymbols);
}

// ---- plugin upload ---------------------------------------------------

let upload = null;

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

async function chooseFiles(files) {
  const wasm = [...files].find((f) => f.name.endsWith(".wasm"));
  const toml = [...files].find((f) => f.name.endsWith(".toml"));
  $("upload").hidden = false;
  $("deploy-result").textContent = "";
  if (!wasm) {
    $("verdict").replaceChildren(el("p", "Choose a .wasm component (and optionally its .toml manifest).", "error"));
    $("deploy").disabled = true;
    return;
  }
  upload = {
    wasm: base64(await wasm.arrayBuffer()),
    manifest: toml ? await toml.text() : undefined,
  };
  $("upload-name").value = wasm.name.replace(/\.wasm$/, "").toLowerCase();
  $("upload-files-chosen").textContent = [wasm.name, toml && toml.name].filter(Boolean).join(" + ");
  await checkUpload();
}

async function checkUpload() {
  $("deploy").disabled = true;
  $("verdict").replaceChildren(el("p", "checking…", "muted"));
  try {
    const v = await api(`/api/plugins/${encodeURIComponent($("upload-name").value)}/check`, { method: "POST", body: upload });
    const d = v.described || {};
    const lines = [
      el("p", v.loads ? "✔ the gateway would load it" : `✘ the gateway would NOT load it: ${v.error}`, v.loads ? "ok" : "error"),
    ];
    if (v.kind) lines.push(el("p", `${v.kind} · ${d.name || "?"} ${d.version || ""} · ${d.description || ""}`));
    if (d.symbols && d.symbols.length) lines.push(el("p", `symbols: ${d.symbols.join(", ")}`, "muted"));
    if (v.imports.length) lines.push(el("p", `imports: ${v.imports.join(", ")}`, "muted"));
    lines.push(el("p", `sha256 ${v.sha256}`, "muted"));
    $("verdict").replaceChildren(...lines);
    $("deploy").disabled = !v.loads;
  } catch (err) {
    $("verdict").replaceChildren(el("p", err.message, "error"));
  }
}

async function deploy() {
  $("deploy").disabled = true;
  try {
    const r = await api(`/api/plugins/${encodeURIComponent($("upload-name").value)}`, { method: "PUT", body: upload });
    $("deploy-result").textContent = r.plugin ? `deployed: ${r.plugin.name} ${r.plugin.version}` : "written; not loaded (see Plugins)";
    refreshPlugins();
  } catch (err) {
    $("deploy-result").textContent = err.message;
  }
}

$("upload-files").addEventListener("change", (e) => chooseFiles(e.target.files));
$("upload-name").addEventListener("change", () => upload && checkUpload());
$("deploy").addEventListener("click", deploy);
$("drop").addEventListener("dragover", (e) => {
  e.preventDefault();
  $("drop").classList.add("over");
});
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (e) => {
  e.preventDefault();
  $("drop").classList.remove("over");
  chooseFiles(e.dataTransfer.files);
});

// ---- connections -----------------------------------------------------

const connHistory = [];

function renderConnections(body) {
  $("conn-count").textContent = body.count;
  connHistory.push(body.count);
  if (connHistory.length > CONN_HISTORY) connHistory.shift();
  spark($("conn-spark"), connHistory);
  const list = body.connections;
  $("conn-users").textContent = new Set(list.map((c) => c.userId)).size;
  $("conn-ws").textContent = list.filter((c) => c.transport === "websocket").length;
  $("conn-polling").textContent = list.filter((c) => c.transport === "polling").length;
  $("conn-parked").textContent = body.parked;
  $("connections").replaceChildren(
    ...list.map((c) =>
      row([
        c.userId,
        c.socketId,
        c.transport,
        time(c.connectedAt),
        c.subscriptions.symbols.length,
        c.subscriptions.orders ? "yes" : "",
        c.subscriptions.eventTypes.join(", "),
      ]),
    ),
  );
}

// ---- try it ----------------------------------------------------------

let chatId = null;

function chatChunk(c) {
  if (c.id === chatId) $("chat-answer").textContent += c.delta;
}

function chatDone(m) {
  if (m.id !== chatId) return;
  $("chat-answer").textContent = m.message;
  $("chat-answer").classList.add("done");
}

$("chat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("chat-answer").textContent = "";
  $("chat-answer").classList.remove("done");
  try {
    const ack = await socket.emit("chat:message", { message: $("chat-input").value });
    if (!ack.ok) throw new Error(`${ack.error.code}: ${ack.error.message}`);
    chatId = ack.id;
  } catch (err) {
    $("chat-answer").textContent = err.message;
  }
});

$("event-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const type = $("event-type").value;
  try {
    const ack = await socket.emit("subscribe:events", { eventTypes: [type] });
    if (!ack.ok) throw new Error(`${ack.error.code}: ${ack.error.message}`);
    const r = await api("/api/events", {
      method: "POST",
      body: { type, title: $("event-title").value, message: $("event-message").value, severity: $("event-severity").value },
    });
    $("event-log").textContent = `accepted ${r.id}\n` + $("event-log").textContent;
  } catch (err) {
    $("event-log").textContent = `${err.message}\n` + $("event-log").textContent;
  }
});

$("mint-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await fetch("/api/dev/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub: $("mint-sub").value, admin: $("mint-admin").checked }),
  });
  const body = await res.json().catch(() => ({}));
  $("mint-token").textContent = res.ok ? body.token : `HTTP ${res.status}: ${body.error ? body.error.message : ""}`;
});

// ---- polling and start -----------------------------------------------

async function refreshPlugins() {
  renderPlugins(await api("/api/plugins"));
}

async function refresh() {
  try {
    const [status, , conns] = await Promise.all([
      fetch("/api/status").then((r) => r.json()),
      refreshPlugins(),
      api("/api/connections"),
    ]);
    renderConnections(conns);
    $("status").textContent =
      `${status.service} ${status.version} · up ${status.uptimeSeconds}s · ${status.connections} sockets` + (devMode ? " · dev mode" : "");
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      askForToken(`${err.message} — paste an admin token`);
      return;
    }
    $("status").textContent = err.message;
  }
  setTimeout(refresh, POLL_MS);
}

function start() {
  $("console").hidden = false;
  $("sign-out").hidden = devMode;
  $("mint-form").hidden = !devMode;
  connectSocket();
  refresh();
}

async function boot() {
  devMode = (await fetch("/console/mode.json").then((r) => r.json())).dev;
  if (!token && devMode) {
    token = await devToken();
    sessionStorage.setItem(TOKEN_KEY, token);
  }
  if (!token) {
    askForToken();
    return;
  }
  start();
}

boot().catch((err) => {
  $("status").textContent = err.message;
});
