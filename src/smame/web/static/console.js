/* smame operator console: one script for every page; talks to /v1 with the session cookie.
   Charts are inline SVG built here; nothing is loaded from anywhere else. */
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (selector, root = document) => root.querySelector(selector);

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, options = {}) {
  const opts = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (opts.method && opts.method !== "GET") {
    opts.headers["X-CSRF-Token"] = cookie("smame_csrf");
    if (opts.body && typeof opts.body !== "string") {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.body);
    }
  }
  const answer = await fetch(path, opts);
  if (answer.status === 401) { location.href = "/console/login"; throw new ApiError(401, "log in"); }
  const type = answer.headers.get("content-type") || "";
  const body = type.includes("json") ? await answer.json() : await answer.text();
  if (!answer.ok) throw new ApiError(answer.status, (body && body.detail) || answer.statusText);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

const hhmm = (iso) => iso ? iso.slice(11, 16) : "";
const pct = (x) => x === null || x === undefined ? "–" : (100 * x).toFixed(2) + "%";
const params = () => new URLSearchParams(location.search);

function card(label, value, cls = "", testid = "") {
  return el("div", { class: "card " + cls, "data-testid": testid || null },
    el("div", { class: "value", text: value }), el("div", { class: "label", text: label }));
}

function rows(table, items, cells) {
  const body = $("tbody", table);
  body.replaceChildren(...items.map((item) => {
    const row = el("tr");
    for (const cell of cells(item)) row.append(cell instanceof Node && cell.tagName === "TD" ? cell : el("td", {}, cell));
    return row;
  }));
}

/* ---------------------------------------------------------------- charts */

function frame(width, height, pad) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  root.append(svg("line", { class: "axis", x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }));
  root.append(svg("line", { class: "axis", x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b }));
  return root;
}

function yTicks(root, lo, hi, y, width, pad, fmt) {
  for (let k = 0; k <= 4; k++) {
    const v = lo + (hi - lo) * k / 4;
    root.append(svg("line", { class: "grid", x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }));
    const t = svg("text", { x: pad.l - 4, y: y(v) + 3, "text-anchor": "end" });
    t.textContent = fmt(v);
    root.append(t);
  }
}

/** Bars: items = [{label, value, cls}] */
function barChart(container, items, { max = null, fmt = (v) => v.toFixed(1), height = 220 } = {}) {
  container.replaceChildren();
  if (!items.length) { container.append(el("div", { class: "empty", text: "no data" })); return; }
  const width = 960, pad = { l: 48, r: 8, t: 10, b: 22 };
  const top = max ?? Math.max(...items.map((i) => i.value), 1e-9);
  const root = frame(width, height, pad);
  const y = (v) => height - pad.b - (v / top) * (height - pad.t - pad.b);
  yTicks(root, 0, top, y, width, pad, fmt);
  const step = (width - pad.l - pad.r) / items.length;
  items.forEach((item, k) => {
    const x = pad.l + k * step;
    const bar = svg("rect", { class: "bar " + (item.cls || ""), x: x + 1, width: Math.max(1, step - 2),
      y: y(item.value), height: Math.max(0, height - pad.b - y(item.value)), "data-value": item.value });
    const tip = svg("title"); tip.textContent = `${item.label}: ${fmt(item.value)}`; bar.append(tip);
    root.append(bar);
    if (k % Math.ceil(items.length / 12) === 0) {
      const t = svg("text", { x: x + step / 2, y: height - 6, "text-anchor": "middle" });
      t.textContent = item.label; root.append(t);
    }
  });
  container.append(root);
}

/** Lines: points = [[t (s), value]], band = [lo, hi] drawn behind */
function lineChart(container, points, { lo = null, hi = null, band = null, cls = "", fmt = (v) => v.toFixed(1), start, end, height = 200 } = {}) {
  container.replaceChildren();
  if (!points.length) { container.append(el("div", { class: "empty", text: "no data" })); return; }
  const width = 960, pad = { l: 48, r: 8, t: 10, b: 22 };
  const values = points.map((p) => p[1]).concat(band || []);
  const ylo = lo ?? Math.min(...values), yhi = hi ?? Math.max(...values);
  const span = yhi - ylo || 1;
  const t0 = start ?? points[0][0], t1 = end ?? points[points.length - 1][0];
  const x = (t) => pad.l + (t - t0) / ((t1 - t0) || 1) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v - ylo) / span * (height - pad.t - pad.b);
  const root = frame(width, height, pad);
  yTicks(root, ylo, yhi, y, width, pad, fmt);
  if (band) {
    root.append(svg("rect", { class: "band", x: pad.l, width: width - pad.l - pad.r, y: y(band[1]), height: y(band[0]) - y(band[1]) }));
    for (const edge of band) root.append(svg("line", { class: "band-edge", x1: pad.l, x2: width - pad.r, y1: y(edge), y2: y(edge) }));
  }
  for (let h = 0; h <= 24; h += 3) {
    const t = svg("text", { x: x(t0 + h * 3600), y: height - 6, "text-anchor": "middle" });
    t.textContent = String(h).padStart(2, "0") + ":00"; root.append(t);
  }
  const d = points.map((p, k) => `${k ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
  root.append(svg("path", { class: "line " + cls, d, "data-points": points.length }));
  container.append(root);
}

/* ---------------------------------------------------------------- pages */

async function nav(page) {
  const header = $("#nav");
  const links = [["fleet", "Fleet"], ["outages", "Outages"], ["commands", "Commands"]];
  header.append(el("span", { class: "brand", text: "smame" }));
  for (const [name, label] of links) {
    header.append(el("a", { href: `/console/${name}` + (params().get("date") ? `?date=${params().get("date")}` : ""), class: page === name ? "active" : "", text: label }));
  }
  const who = el("span", { class: "who", id: "who" });
  const logout = el("form", { method: "post", action: "/console/logout" }, el("button", { type: "submit", text: "Log out" }));
  header.append(who, logout);
  const me = await api("/v1/whoami");
  who.textContent = `${me.name || me.client_id} (${me.role})`;
  window.smameMe = me;
}

async function summary() {
  if (!window.smameSummary) window.smameSummary = await api("/v1/fleet/summary");
  return window.smameSummary;
}

async function dayInput() {
  const input = $("#day");
  const s = await summary();
  let day = params().get("date");
  if (!day) day = s.days.includes(s.today) ? s.today : (s.days[s.days.length - 1] || s.today);
  input.value = day;
  input.addEventListener("change", () => {
    const p = params(); p.set("date", input.value); location.search = p.toString();
  });
  return day;
}

async function fleetPage() {
  const day = await dayInput();
  const s = await summary();
  const draw = async () => {
    const report = await api(`/v1/fleet/collection?date=${day}`);
    const closed = report.slots.filter((x) => !x.open);
    $("#cards").replaceChildren(
      card("meters", s.meters.toLocaleString()),
      card("collection rate", pct(report.rate), report.rate !== null && report.rate < 0.997 ? "warn" : "", "collection-rate"),
      card("late values", report.late.toLocaleString(), report.late ? "warn" : "", "late"),
      card("missing values", report.missing.toLocaleString(), report.missing ? "bad" : "", "missing"),
      card("slots closed", `${closed.length} / 48`),
      card("live system", s.live ? "yes" : "no"));
    barChart($("#collection-chart"), report.slots.map((x) => ({
      label: hhmm(x.end), value: x.rate ?? 0,
      cls: x.open ? "open" : x.missing ? "missing" : x.late ? "late" : "ok" })),
      { max: 1, fmt: (v) => (100 * v).toFixed(0) + "%" });
    rows($("#slots"), report.slots.filter((x) => !x.open || x.received), (x) => [hhmm(x.end), x.expected, x.received, x.on_time, x.late, x.estimated, x.missing, pct(x.rate)]);
  };
  await draw();
  const meters = await api("/v1/meters?limit=200");
  rows($("#meters"), meters.items, (m) => [el("a", { href: `/console/meter?id=${m.meter_id}&date=${day}`, text: m.meter_id }), m.sp_id || "", m.kind, m.communicating ? "yes" : "no (opted out)"]);
  if (s.live) setInterval(() => draw().catch(() => {}), 5000);
}

async function outagesPage() {
  const day = await dayInput();
  const report = await api(`/v1/fleet/outages?date=${day}`);
  const customers = report.outages.reduce((a, o) => a + o.affected, 0);
  $("#outage-summary").replaceChildren(card("outages", report.outages.length, "", "outage-count"), card("customers affected", customers),
    card("Last Gasp alarms", report.outages.reduce((a, o) => a + o.last_gasp_alarms, 0)));
  const sorted = [...report.outages].sort((a, b) => (a.feeder_id - b.feeder_id) || (a.transformer_id - b.transformer_id));
  rows($("#outages"), sorted, (o) => [o.feeder_id, o.transformer_id, hhmm(o.start), o.restored ? hhmm(o.restored) : "ongoing",
    o.duration_s === null ? "–" : `${Math.round(o.duration_s / 60)} min`, o.customers, o.affected, o.last_gasp_alarms, o.silent,
    el("span", {}, ...o.meter_ids.slice(0, 8).flatMap((m, k) => [k ? ", " : "", el("a", { href: `/console/meter?id=${m}&date=${day}`, text: m })]))]);
}

async function meterPage() {
  const id = params().get("id");
  $("#meter-id").textContent = id;
  const day = await dayInput();
  const meter = await api(`/v1/meters/${id}`);
  const state = await api(`/v1/meters/${id}/state`);
  const sp = meter.service_point || {};
  $("#state").replaceChildren(card("service point", meter.sp_id || "–"), card("breaker", state.breaker, state.breaker === "closed" ? "" : "bad", "breaker"),
    card("switch", state.switch, state.switch === "closed" ? "" : "bad"), card("supply", state.supply, state.supply === "on" ? "" : "bad"),
    card("limit", state.limit_a ? `${state.limit_a} A` : "–"), card("transmits", `${state.soft_switch_minutes} min`),
    card("feeder / transformer", `${sp.feeder_id ?? "–"} / ${sp.transformer_id ?? "–"}`));
  const readings = async (query) => {
    try {
      const body = await api(`/v1/meters/${id}/readings?date=${day}&${query}`);
      const block = (body.MeterReadings[0].IntervalBlocks || [])[0];
      return block ? block.IntervalReadings : [];
    } catch (e) { return []; }
  };
  const t = (iso) => Date.parse(iso) / 1000;
  const start = Date.parse(`${day}T00:00:00+09:00`) / 1000;
  const thirty = await readings("period=30&quantity=import");
  const bySlot = new Map(thirty.map((r) => [Math.round((t(r.timeStamp) - start) / 1800), r]));
  const slots = [];
  for (let k = 1; k <= 48; k++) {
    const r = bySlot.get(k);
    const end = new Date((start + k * 1800 + 9 * 3600) * 1000).toISOString().slice(11, 16);
    slots.push({ label: end, value: r ? r.value * 0.01 * 2 : 0, cls: r ? "" : "open" });
  }
  barChart($("#curve-30"), thirty.length ? slots : [], { fmt: (v) => v.toFixed(2) });
  const five = await readings("period=5&quantity=import");
  lineChart($("#curve-5"), five.map((r) => [t(r.timeStamp), r.value * 0.01 * 12]), { lo: 0, start, end: start + 86400, fmt: (v) => v.toFixed(2) });
  const volts = await readings("period=5&quantity=voltage");
  lineChart($("#voltage"), volts.map((r) => [t(r.timeStamp), r.value / 10]), { band: [95, 107], cls: "voltage", start, end: start + 86400, lo: 90, hi: 112 });
  const drawReservations = async () => {
    const res = await api(`/v1/meters/${id}/reservations`);
    rows($("#reservations"), res.reservations.slice().reverse(), (r) => [el("a", { href: "/console/commands", text: r.correlation_id.slice(0, 8) }), r.reservation_id ?? "–",
      r.at ? new Date(r.at * 1000).toLocaleString("ja-JP", { timeZone: "Asia/Tokyo" }) : "–", r.amps, el("td", { class: "state", text: r.state })]);
  };
  await drawReservations();
  const drawEvents = async () => {
    const events = await api(`/v1/meters/${id}/events?date=${day}`);
    rows($("#events"), events.events, (e) => [e.time.slice(11, 19), e.name, e.category, e.value, e.source]);
  };
  await drawEvents();
  $("#ask-reservations").addEventListener("click", async () => {
    const c = await api("/v1/commands", { method: "POST", body: { kind: "list_reservations", meter_ids: [Number(id)] } });
    $("#meter-action").textContent = `list_reservations sent: ${c.correlation_id}`;
  });
  $("#read-now").addEventListener("click", async () => {
    const c = await api(`/v1/meters/${id}/instantaneous`, { method: "POST" });
    $("#meter-action").textContent = "reading…";
    const poll = async () => {
      const r = await api(c.href);
      if (!r.done) { setTimeout(poll, 500); return; }
      $("#meter-action").textContent = r.values ? `${r.values.power_w} W, ${r.values.voltage_v} V, ${r.values.reactive_var} var` : `failed: ${r.error}`;
    };
    poll();
  });
  if ((await summary()).live) {
    setInterval(() => drawReservations().then(drawEvents).catch(() => {}), 3000);
  }
}

function expandTargets(text, s) {
  const body = { meter_ids: [], feeder_ids: [], transformer_ids: [] };
  for (const part of text.split(/[\s,]+/).filter(Boolean)) {
    if (part === "all") return { all: true };
    let m;
    if ((m = part.match(/^feeder:(\d+)$/))) body.feeder_ids.push(Number(m[1]));
    else if ((m = part.match(/^transformer:(\d+)$/))) body.transformer_ids.push(Number(m[1]));
    else if ((m = part.match(/^(\d+)-(\d+)$/))) { for (let k = Number(m[1]); k <= Number(m[2]); k++) body.meter_ids.push(k); }
    else if (/^\d+$/.test(part)) body.meter_ids.push(Number(part));
    else throw new Error(`cannot read "${part}"`);
  }
  return body;
}

async function allMeters() {
  const out = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api(`/v1/meters?limit=1000&offset=${offset}`);
    out.push(...page.items.filter((m) => m.kind === "electric" && m.communicating).map((m) => m.meter_id));
    if (offset + 1000 >= page.total) return out;
  }
}

async function commandsPage() {
  const s = await summary();
  $("#threshold-note").textContent = `Commands reaching more than ${s.mass_command_meters} meters wait for a second operator's approval.`;
  const kind = $("#kind");
  const showFields = () => document.querySelectorAll("label[data-for]").forEach((label) => { label.hidden = !label.dataset.for.split(" ").includes(kind.value); });
  kind.addEventListener("change", showFields); showFields();
  // default reservation time: two hours ahead, or a minute of real time on a fast clock
  const ahead = Math.max(2 * 3600, 60 * (s.speed || 1)) * 1000;
  const at = Math.ceil((Date.parse(s.now) + ahead) / 60000) * 60000;
  $("#at").value = new Date(at + 9 * 3600 * 1000).toISOString().slice(0, 16);
  $("#command-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = $("#command-result");
    try {
      let targets = expandTargets($("#targets").value, s);
      if (targets.all) targets = { meter_ids: await allMeters() };
      const body = { kind: kind.value, ...targets };
      if (["set_limit", "reserve_limit"].includes(kind.value)) body.amps = Number($("#amps").value);
      if (kind.value === "reserve_limit") body.at = $("#at").value + ":00+09:00";
      if (kind.value === "cancel_reservation") body.reservation_id = Number($("#reservation_id").value);
      if (kind.value === "soft_switch") body.minutes = Number($("#minutes").value);
      const c = await api("/v1/commands", { method: "POST", body });
      result.textContent = `${c.kind} to ${c.meters} meters: ${c.status} — correlation id ${c.correlation_id}`;
      result.dataset.correlationId = c.correlation_id;
      result.className = "";
      await draw();
    } catch (e) { result.textContent = `refused: ${e.message}`; result.className = "error"; }
  });
  const decide = (id, verb) => async () => {
    try { await api(`/v1/commands/${id}/${verb}`, { method: "POST" }); }
    catch (e) { $("#command-result").textContent = `${verb} refused: ${e.message}`; $("#command-result").className = "error"; }
    await draw();
  };
  const draw = async () => {
    const list = await api("/v1/commands?limit=50");
    const body = $("tbody", $("#commands"));
    body.replaceChildren(...list.items.map((c) => {
      const pending = c.status === "pending_approval";
      const approval = pending
        ? el("td", {}, el("button", { class: "approve", "data-command": c.correlation_id, onclick: decide(c.correlation_id, "approve"), text: "Approve" }), " ",
             el("button", { class: "danger reject", onclick: decide(c.correlation_id, "reject"), text: "Reject" }))
        : el("td", { text: c.approval.required ? `${c.approval.decided_by || "–"}` : "not needed" });
      return el("tr", { "data-command": c.correlation_id },
        el("td", { text: new Date(c.submitted_at * 1000).toLocaleTimeString() }), el("td", { text: c.correlation_id.slice(0, 8) }),
        el("td", { text: c.kind }), el("td", { text: c.meters }), el("td", { text: c.submitted_by }),
        el("td", { class: `status status-${c.status}`, text: c.status }), el("td", { class: "confirmed", text: c.summary.confirmed }),
        el("td", { text: c.summary.failed }), approval);
    }));
  };
  await draw();
  setInterval(() => draw().catch(() => {}), 2000);
}

function loginPage() {
  const error = params().get("error");
  if (error) {
    const p = $("#login-error");
    p.hidden = false;
    p.textContent = { role: "Only distribution-operator clients may use the console.", rate: "Too many attempts; wait a little.", credentials: "Unknown client or wrong secret." }[error] || "Login refused.";
  }
}

const PAGES = { fleet: fleetPage, outages: outagesPage, meter: meterPage, commands: commandsPage };

document.addEventListener("DOMContentLoaded", async () => {
  const page = document.body.dataset.page;
  if (page === "login") { loginPage(); return; }
  try {
    await nav(page);
    await PAGES[page]();
    document.body.dataset.ready = "yes";
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) {
      $("main").prepend(el("p", { class: "error", text: `Could not load: ${e.message}` }));
    }
  }
});
