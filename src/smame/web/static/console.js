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
const params = () => new URLSearchParams(location.search);

/* ---------------------------------------------------------------- language
   English and Japanese; the browser's language decides (navigator.language, as its
   Accept-Language does) unless the operator chose one with the switch. */

const JA = {
  "Fleet": "フリート", "Outages": "停電", "Commands": "コマンド", "Log out": "ログアウト",
  "Fleet overview": "フリート概要", "Day": "日付", "Slots": "コマ", "Meters": "計器",
  "Collection rate per 30-minute slot": "30分コマごとの収集率",
  "(S1: every meter, within 60 minutes)": "（S1: 全計器、60分以内）",
  "on time": "定刻", "late": "遅延", "not collected": "未収集", "awaited": "収集中",
  "not yet closed": "未終了",
  "slot end": "コマ終了", "expected": "対象", "received": "受信", "estimated": "推定",
  "rate": "収集率", "meter": "計器", "service point": "供給地点", "kind": "種別",
  "communicating": "通信", "5-minute values": "5分値",
  "meters": "計器数", "collection rate": "収集率", "on time (S1)": "定刻（S1）",
  "late values": "遅延値", "values not collected": "未収集値", "slots settled": "確定コマ",
  "live system": "稼働中", "yes": "はい", "no": "いいえ", "no (opted out)": "いいえ（停止）",
  "real-time": "リアルタイム", "historical": "翌日取得", "electric": "電力", "gas": "ガス",
  "water": "水道", "no data": "データなし",
  "feeder": "配電線", "transformer": "柱上変圧器", "start": "開始", "restored": "復電",
  "customers": "需要家",
  "ongoing": "継続中",
  "(located from the meters' data, S8)": "（計器データから特定、S8）", "Timeline": "タイムライン",
  "On the topology": "系統上の位置", "(every transformer of each feeder an incident reached)": "（停電が及んだ配電線の全変圧器）",
  "Incidents": "停電事象", "level": "区分", "where": "場所", "end": "終了", "minutes": "分",
  "customer-minutes": "需要家・分", "located by": "検知の根拠", "restoration by": "復電の根拠",
  "Feeders with interruptions": "停電のあった配電線", "premise": "需要家", "open": "継続中",
  "momentary": "瞬時", "no incidents": "停電なし", "sustained incidents": "持続停電",
  "customers served": "需要家数", "SAIDI (minutes per customer)": "SAIDI（需要家あたり分）",
  "SAIFI (interruptions per customer)": "SAIFI（需要家あたり回数）",
  "CAIDI (minutes per interruption)": "CAIDI（停電1回あたり分）",
  "MAIFI (momentary per customer)": "MAIFI（需要家あたり瞬時停電）",
  "Last Gasp": "ラストガスプ", "meter log": "計器ログ", "reads without energy": "無電力の検針値",
  "restore notice": "復電通知", "reads with energy": "電力量のある検針値",
  "on-demand read": "オンデマンド検針", "presumed": "推定",
  "IEEE 1366 over every customer served: SAIDI and SAIFI count sustained interruptions (over 5 minutes), MAIFI momentary ones.":
    "IEEE 1366、全需要家が対象：SAIDI と SAIFI は持続停電（5分超）、MAIFI は瞬時停電を数えます。",
  "Meter": "計器", "30-minute load": "30分電力", "(mean kW per slot)": "（コマ平均 kW）",
  "5-minute load": "5分電力", "(mean kW)": "（平均 kW）", "Voltage": "電圧",
  "(5-minute mean against 101 ± 6 V)": "（5分平均、101 ± 6 V）",
  "Ampere reservations": "アンペア予約", "Ask the meter for its reservations": "計器に予約を問い合わせ",
  "Read instantaneous values": "瞬時値を読む", "Events": "イベント", "command": "コマンド",
  "reservation": "予約", "at": "日時", "amps": "アンペア", "state": "状態", "time": "時刻",
  "event": "イベント", "category": "分類", "value": "値", "source": "出所",
  "breaker": "ブレーカ", "switch": "開閉器", "supply": "供給", "limit": "契約電流",
  "transmits": "送信間隔", "feeder / transformer": "配電線 / 変圧器",
  "Command": "コマンド", "Amps": "アンペア", "At (JST)": "日時（JST）",
  "Reservation id": "予約番号", "Minutes": "分", "Send": "送信",
  "Recent commands": "最近のコマンド", "sent (JST)": "送信（JST）",
  "correlation id": "相関ID", "by": "依頼者", "status": "状態", "confirmed": "確認",
  "failed": "失敗", "approval": "承認", "Approve": "承認", "Reject": "却下",
  "not needed": "不要", "ampere limit by reservation": "予約によるアンペア制限",
  "ampere limit now": "即時アンペア制限", "list reservations": "予約一覧",
  "cancel a reservation": "予約取消", "disconnect": "開放（送電停止）",
  "reconnect": "投入（送電再開）", "reset breaker": "ブレーカ復帰",
  "soft switch 15/30 minutes": "ソフトスイッチ 15/30分", "clock sync": "時刻同期",
  "awaiting approval": "承認待ち", "head-end schedule": "ヘッドエンド計画",
  "operator console": "オペレータコンソール", "Client id": "クライアントID",
  "Client secret": "クライアントシークレット", "Log in": "ログイン",
  "Distribution operator login with your API client credentials.": "一般送配電事業者のAPIクライアント資格情報でログインします。",
  "Only distribution-operator clients may use the console.": "コンソールは一般送配電事業者のクライアントのみ利用できます。",
  "Too many attempts; wait a little.": "試行回数が多すぎます。少し待ってください。",
  "Unknown client or wrong secret.": "クライアントが不明か、シークレットが違います。",
  "Login refused.": "ログインが拒否されました。", "Could not load": "読み込めませんでした",
  "refused": "拒否", "reading…": "読み取り中…", "sent": "送信済み",
  "Values not received within 60 minutes are not collected yet, not lost: the meters keep 45 days and gap fill reads them again.":
    "60分以内に届かなかった値は未収集であり、失われてはいません。計器は45日分を保持し、欠測補完で再取得します。",
  "Commands reaching more than {n} meters wait for a second operator's approval.":
    "{n}台を超える計器へのコマンドは、別のオペレータの承認を待ちます。",
  "pending_approval": "承認待ち", "succeeded": "成功", "running": "実行中", "queued": "待機",
  "partial": "一部失敗", "rejected": "却下", "expired": "期限切れ", "pending": "予約中",
  "executed": "実行済み", "cancelled": "取消",
};

const LANG_KEY = "smame_lang";
function language() {
  const chosen = localStorage.getItem(LANG_KEY);
  if (chosen === "ja" || chosen === "en") return chosen;
  return (navigator.language || "en").toLowerCase().startsWith("ja") ? "ja" : "en";
}
const LANG = language();
const LOCALE = LANG === "ja" ? "ja-JP" : "en-GB";
/** The message in the console's language; {name} placeholders filled from ``vars``. */
function t(text, vars = {}) {
  const found = LANG === "ja" ? JA[text] : undefined;
  return (found ?? text).replace(/\{(\w+)\}/g, (_, k) => String(vars[k]));
}

/** Translate the page's static text: headings, labels, table heads, buttons, options. */
function translatePage() {
  document.documentElement.lang = LANG;
  if (LANG === "en") return;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const text = node.nodeValue.trim();
    if (text && JA[text]) node.nodeValue = node.nodeValue.replace(text, JA[text]);
  }
}

function languageSwitch() {
  const other = LANG === "ja" ? "en" : "ja";
  return el("button", { type: "button", class: "lang", id: "lang-switch", lang: other,
    text: other === "ja" ? "日本語" : "English",
    onclick: () => { localStorage.setItem(LANG_KEY, other); location.reload(); } });
}

/* ---------------------------------------------------------------- numbers and times */

const number = (x, digits = 0) => x === null || x === undefined || Number.isNaN(x) ? "–"
  : Number(x).toLocaleString(LOCALE, { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (x) => x === null || x === undefined ? "–" : number(100 * x, 2) + "%";
/** A moment (POSIX s) as JST, 24-hour: the meters' and the settlement's time. */
function jst(seconds, withDate = true) {
  if (seconds === null || seconds === undefined) return "–";
  const iso = new Date((seconds + 9 * 3600) * 1000).toISOString();
  return (withDate ? iso.slice(0, 10) + " " : "") + iso.slice(11, 19);
}

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
  if (!items.length) { container.append(el("div", { class: "empty", text: t("no data") })); return; }
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

/** The collection chart: per slot a stacked bar of on-time, late, awaited and not
    collected shares of the meters expected; slots not yet closed drawn as outlines. */
function collectionChart(container, slots, height = 220) {
  container.replaceChildren();
  if (!slots.length) { container.append(el("div", { class: "empty", text: t("no data") })); return; }
  const width = 960, pad = { l: 48, r: 8, t: 10, b: 22 };
  const root = frame(width, height, pad);
  const y = (v) => height - pad.b - v * (height - pad.t - pad.b);
  yTicks(root, 0, 1, y, width, pad, (v) => (100 * v).toFixed(0) + "%");
  const step = (width - pad.l - pad.r) / slots.length;
  slots.forEach((slot, k) => {
    const x = pad.l + k * step + 1, w = Math.max(1, step - 2);
    const g = svg("g", { class: "slot", "data-slot": slot.slot });
    const tip = svg("title");
    tip.textContent = `${hhmm(slot.end)}: ${t("on time")} ${slot.on_time}, ${t("late")} ${slot.late}, ` +
      `${t("awaited")} ${slot.awaited}, ${t("not collected")} ${slot.missing} / ${slot.expected}`;
    g.append(tip);
    if (slot.open || !slot.expected) {
      g.append(svg("rect", { class: "bar open", x, width: w, y: y(1), height: y(0) - y(1) }));
    } else {
      let base = 0;
      for (const [part, cls] of [["on_time", "ok"], ["late", "late"], ["awaited", "awaited"], ["missing", "missing"]]) {
        const share = slot[part] / slot.expected;
        if (share <= 0) continue;
        g.append(svg("rect", { class: `bar ${cls}`, x, width: w, y: y(base + share),
          height: y(base) - y(base + share), "data-value": slot[part] }));
        base += share;
      }
    }
    root.append(g);
    if (k % Math.ceil(slots.length / 12) === 0) {
      const label = svg("text", { x: x + step / 2, y: height - 6, "text-anchor": "middle" });
      label.textContent = hhmm(slot.end); root.append(label);
    }
  });
  container.append(root);
}

/** Lines: points = [[t (s), value]], band = [lo, hi] drawn behind */
function lineChart(container, points, { lo = null, hi = null, band = null, cls = "", fmt = (v) => v.toFixed(1), start, end, height = 200 } = {}) {
  container.replaceChildren();
  if (!points.length) { container.append(el("div", { class: "empty", text: t("no data") })); return; }
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
    header.append(el("a", { href: `/console/${name}` + (params().get("date") ? `?date=${params().get("date")}` : ""), class: page === name ? "active" : "", text: t(label) }));
  }
  const who = el("span", { class: "who", id: "who" });
  const logout = el("form", { method: "post", action: "/console/logout" }, el("button", { type: "submit", text: t("Log out") }));
  header.append(who, languageSwitch(), logout);
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
    const settled = report.slots.filter((x) => x.settled);
    const uncollected = report.missing;
    $("#cards").replaceChildren(
      card(t("meters"), number(s.meters)),
      card(t("on time (S1)"), pct(report.on_time_rate), report.on_time_rate !== null && report.on_time_rate < 0.997 ? "warn" : "", "on-time-rate"),
      card(t("collection rate"), pct(report.rate), report.rate !== null && report.rate < 0.997 ? "warn" : "", "collection-rate"),
      card(t("late values"), number(report.late), report.late ? "warn" : "", "late"),
      card(t("values not collected"), number(uncollected), uncollected ? "bad" : "", "missing"),
      card(t("awaited"), number(report.awaited), "", "awaited"),
      card(t("slots settled"), `${settled.length} / 48`, "", "settled"),
      card(t("live system"), s.live ? `${t("yes")} (${number(s.speed)}×)` : t("no")));
    collectionChart($("#collection-chart"), report.slots);
    rows($("#slots"), report.slots.filter((x) => !x.open || x.received), (x) => [hhmm(x.end), x.expected, x.received, x.on_time, x.late, x.awaited, x.missing, x.estimated, pct(x.rate)]);
  };
  await draw();
  const five = new Map([...s.five_minute_meters.historical.map((m) => [m, "historical"]), ...s.five_minute_meters.realtime.map((m) => [m, "real-time"])]);
  const meters = await api("/v1/meters?limit=1000");
  const listed = [...meters.items].sort((a, b) => (five.has(b.meter_id) - five.has(a.meter_id)) || (a.meter_id - b.meter_id)).slice(0, 200);
  rows($("#meters"), listed, (m) => [el("a", { href: `/console/meter?id=${m.meter_id}&date=${day}`, text: m.meter_id }), m.sp_id || "", t(m.kind),
    m.communicating ? t("yes") : t("no (opted out)"), five.has(m.meter_id) ? el("span", { class: "five", text: t(five.get(m.meter_id)) }) : "–"]);
  if (s.live) setInterval(() => draw().catch(() => {}), 5000);
}

/* ---------------------------------------------------------------- outages
   The incidents /v1/grid/outages locates (premise, transformer, feeder) with the day's
   IEEE 1366 indices: cards, a timeline, the feeders they reached, and the table. */

const LEVEL_RANK = { premise: 1, transformer: 2, feeder: 3 };
const EVIDENCE = { last_gasp: "Last Gasp", meter_log: "meter log", dead_reads: "reads without energy",
  restore_notice: "restore notice", live_reads: "reads with energy", on_demand_read: "on-demand read",
  presumed: "presumed", open: "open" };
const seconds = (iso) => Date.parse(iso) / 1000;

function evidenceText(counts) {
  return Object.entries(counts).sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${t(EVIDENCE[kind] || kind)} ${n}`).join(", ");
}

function incidentPlace(i) {
  if (i.level === "feeder") return `${t("feeder")} ${i.feeder_id}`;
  if (i.level === "transformer") return `${t("transformer")} ${i.transformer_id} (${t("feeder")} ${i.feeder_id})`;
  const on = i.transformer_id === null ? "" : ` (${t("transformer")} ${i.transformer_id}, ${t("feeder")} ${i.feeder_id})`;
  return `${t("meter")} ${i.element}${on}`;
}

/** One bar per incident from its start to its end (to the day's end while open). */
function outageTimeline(container, incidents, start, end) {
  container.replaceChildren();
  if (!incidents.length) { container.append(el("div", { class: "empty", text: t("no incidents") })); return; }
  const width = 960, row = 20, pad = { l: 170, r: 8, t: 6, b: 22 };
  const height = pad.t + pad.b + row * incidents.length;
  const root = frame(width, height, pad);
  const x = (s) => pad.l + (Math.min(Math.max(s, start), end) - start) / (end - start) * (width - pad.l - pad.r);
  for (let h = 0; h <= 24; h += 3) {
    const at = x(start + h * 3600);
    root.append(svg("line", { class: "grid", x1: at, x2: at, y1: pad.t, y2: height - pad.b }));
    const label = svg("text", { x: at, y: height - 6, "text-anchor": h === 24 ? "end" : "middle" });
    label.textContent = String(h).padStart(2, "0") + ":00"; root.append(label);
  }
  incidents.forEach((i, k) => {
    const y = pad.t + k * row;
    const name = svg("text", { x: pad.l - 6, y: y + row / 2 + 3, "text-anchor": "end" });
    name.textContent = `${t(i.level)} ${i.element}`; root.append(name);
    const from = x(seconds(i.start)), to = x(i.end ? seconds(i.end) : end);
    const bar = svg("rect", { class: `incident ${i.level}${i.end ? "" : " open"}${i.momentary ? " momentary" : ""}`,
      x: from, y: y + 3, width: Math.max(2, to - from), height: row - 6, "data-level": i.level, "data-element": i.element });
    const tip = svg("title");
    tip.textContent = `${incidentPlace(i)}: ${hhmm(i.start)}–${i.end ? hhmm(i.end) : t("open")}, ${i.customers} ${t("customers")}`;
    bar.append(tip); root.append(bar);
  });
  container.append(root);
}

/** Every transformer of each feeder an incident reached, marked by the widest incident on it. */
function outageTopology(container, feeders, incidents) {
  container.replaceChildren();
  const ids = Object.keys(feeders);
  if (!ids.length) { container.append(el("div", { class: "empty", text: t("no incidents") })); return; }
  const level = new Map();
  const mark = (transformer, lvl) => { if ((LEVEL_RANK[lvl] || 0) > (LEVEL_RANK[level.get(transformer)] || 0)) level.set(transformer, lvl); };
  for (const i of incidents) {
    const reached = i.level === "feeder" ? feeders[String(i.feeder_id)] || [] : i.transformers;
    for (const transformer of reached) mark(transformer, i.level);
  }
  for (const feeder of ids) {
    const boxes = feeders[feeder].map((transformer) => {
      const lvl = level.get(transformer);
      return el("span", { class: `tx ${lvl || "supplied"}`, "data-transformer": transformer, "data-level": lvl || "supplied",
        title: `${t("transformer")} ${transformer}${lvl ? ": " + t(lvl) : ""}` }, String(transformer));
    });
    container.append(el("div", { class: "feeder-row", "data-feeder": feeder },
      el("span", { class: "feeder-name", text: `${t("feeder")} ${feeder}` }), ...boxes));
  }
}

async function outagesPage() {
  const day = await dayInput();
  const report = await api(`/v1/grid/outages?date=${day}`);
  const area = report.reliability.area;
  const sustained = report.incidents.filter((i) => !i.momentary);
  $("#outage-summary").replaceChildren(
    card(t("SAIDI (minutes per customer)"), number(area.saidi, 2), area.saidi ? "warn" : "", "saidi"),
    card(t("SAIFI (interruptions per customer)"), number(area.saifi, 4), "", "saifi"),
    card(t("CAIDI (minutes per interruption)"), number(area.caidi, 1), "", "caidi"),
    card(t("MAIFI (momentary per customer)"), number(area.maifi, 4), "", "maifi"),
    card(t("sustained incidents"), sustained.length, "", "outage-count"),
    card(t("customers served"), number(area.customers), "", "customers-served"));
  const start = seconds(report.start), end = seconds(report.end);
  outageTimeline($("#outage-timeline"), report.incidents, start, end);
  outageTopology($("#outage-topology"), report.topology.feeders, report.incidents);
  rows($("#incidents"), report.incidents, (i) => [
    el("td", { class: `level ${i.level}`, "data-level": i.level, text: t(i.level) + (i.momentary ? ` (${t("momentary")})` : "") }),
    el("td", { class: "where", text: incidentPlace(i) }),
    el("td", { class: "start", text: hhmm(i.start) }),
    el("td", { class: "end", text: i.end ? hhmm(i.end) : t("open") }),
    i.minutes === null ? "–" : number(i.minutes, 0),
    el("td", { class: "customers", text: i.customers }),
    el("td", { class: "customer-minutes", text: number(i.customer_minutes, 0) }),
    el("td", { class: "located", text: evidenceText(i.evidence) }),
    el("td", { class: "restored", text: evidenceText(i.restored_by) }),
    el("span", {}, ...i.meter_ids.slice(0, 8).flatMap((m, k) => [k ? ", " : "", el("a", { href: `/console/meter?id=${m}&date=${day}`, text: m })]),
      i.meter_ids.length > 8 ? ` … (${i.meter_ids.length})` : "")]);
  const feeders = Object.entries(report.reliability.feeders).sort(([a], [b]) => Number(a) - Number(b));
  rows($("#feeder-indices"), feeders, ([f, r]) => [f, number(r.customers), number(r.saidi, 2), number(r.saifi, 4), number(r.caidi, 1), number(r.maifi, 4)]);
}

async function meterPage() {
  const id = params().get("id");
  $("#meter-id").textContent = id;
  const day = await dayInput();
  const meter = await api(`/v1/meters/${id}`);
  const state = await api(`/v1/meters/${id}/state`);
  const sp = meter.service_point || {};
  $("#state").replaceChildren(card(t("service point"), meter.sp_id || "–"), card(t("breaker"), state.breaker, state.breaker === "closed" ? "" : "bad", "breaker"),
    card(t("switch"), state.switch, state.switch === "closed" ? "" : "bad"), card(t("supply"), state.supply, state.supply === "on" ? "" : "bad"),
    card(t("limit"), state.limit_a ? `${state.limit_a} A` : "–"), card(t("transmits"), `${state.soft_switch_minutes} min`),
    card(t("feeder / transformer"), `${sp.feeder_id ?? "–"} / ${sp.transformer_id ?? "–"}`));
  const readings = async (query) => {
    try {
      const body = await api(`/v1/meters/${id}/readings?date=${day}&${query}`);
      const block = (body.MeterReadings[0].IntervalBlocks || [])[0];
      return block ? block.IntervalReadings : [];
    } catch (e) { return []; }
  };
  const ts = (iso) => Date.parse(iso) / 1000;
  const start = Date.parse(`${day}T00:00:00+09:00`) / 1000;
  const thirty = await readings("period=30&quantity=import");
  const bySlot = new Map(thirty.map((r) => [Math.round((ts(r.timeStamp) - start) / 1800), r]));
  const slots = [];
  for (let k = 1; k <= 48; k++) {
    const r = bySlot.get(k);
    const end = new Date((start + k * 1800 + 9 * 3600) * 1000).toISOString().slice(11, 16);
    slots.push({ label: end, value: r ? r.value * 0.01 * 2 : 0, cls: r ? "" : "open" });
  }
  barChart($("#curve-30"), thirty.length ? slots : [], { fmt: (v) => v.toFixed(2) });
  const five = await readings("period=5&quantity=import");
  lineChart($("#curve-5"), five.map((r) => [ts(r.timeStamp), r.value * 0.01 * 12]), { lo: 0, start, end: start + 86400, fmt: (v) => v.toFixed(2) });
  const volts = await readings("period=5&quantity=voltage");
  lineChart($("#voltage"), volts.map((r) => [ts(r.timeStamp), r.value / 10]), { band: [95, 107], cls: "voltage", start, end: start + 86400, lo: 90, hi: 112 });
  const drawReservations = async () => {
    const res = await api(`/v1/meters/${id}/reservations`);
    rows($("#reservations"), res.reservations.slice().reverse(), (r) => [el("a", { href: "/console/commands", text: r.correlation_id.slice(0, 8) }), r.reservation_id ?? "–",
      r.at ? jst(r.at).slice(0, 16) : "–", r.amps, el("td", { class: "state", "data-state": r.state, text: r.state })]);
  };
  await drawReservations();
  const drawEvents = async () => {
    const events = await api(`/v1/meters/${id}/events?date=${day}`);
    rows($("#events"), events.events, (e) => [e.time.slice(11, 19), e.name, e.category, e.value, e.source]);
  };
  await drawEvents();
  $("#ask-reservations").addEventListener("click", async () => {
    const c = await api("/v1/commands", { method: "POST", body: { kind: "list_reservations", meter_ids: [Number(id)] } });
    $("#meter-action").textContent = `list_reservations ${t("sent")}: ${c.correlation_id}`;
  });
  $("#read-now").addEventListener("click", async () => {
    const c = await api(`/v1/meters/${id}/instantaneous`, { method: "POST" });
    $("#meter-action").textContent = t("reading…");
    const poll = async () => {
      const r = await api(c.href);
      if (!r.done) { setTimeout(poll, 500); return; }
      $("#meter-action").textContent = r.values ? `${number(r.values.power_w)} W, ${number(r.values.voltage_v, 1)} V, ${number(r.values.reactive_var)} var` : `${t("failed")}: ${r.error}`;
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
  $("#threshold-note").textContent = t("Commands reaching more than {n} meters wait for a second operator's approval.", { n: s.mass_command_meters });
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
    } catch (e) { result.textContent = `${t("refused")}: ${e.message}`; result.className = "error"; }
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
        ? el("td", {}, el("button", { class: "approve", "data-command": c.correlation_id, onclick: decide(c.correlation_id, "approve"), text: t("Approve") }), " ",
             el("button", { class: "danger reject", onclick: decide(c.correlation_id, "reject"), text: t("Reject") }))
        : el("td", { text: c.approval.required ? `${c.approval.decided_by_name || "–"}` : t("not needed") });
      return el("tr", { "data-command": c.correlation_id },
        el("td", { class: "sent", text: c.sent_at ? jst(c.sent_at) : t("awaiting approval") }), el("td", { text: c.correlation_id.slice(0, 8) }),
        el("td", { text: c.kind }), el("td", { text: c.meters }), el("td", { class: "by", title: c.submitted_by, text: t(c.submitted_by_name || c.submitted_by) }),
        el("td", { class: `status status-${c.status}`, "data-status": c.status, text: t(c.status) }), el("td", { class: "confirmed", text: c.summary.confirmed }),
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
    p.textContent = t({ role: "Only distribution-operator clients may use the console.", rate: "Too many attempts; wait a little.", credentials: "Unknown client or wrong secret." }[error] || "Login refused.");
  }
  $("main").prepend(languageSwitch());
}

const PAGES = { fleet: fleetPage, outages: outagesPage, meter: meterPage, commands: commandsPage };

document.addEventListener("DOMContentLoaded", async () => {
  const page = document.body.dataset.page;
  translatePage();
  if (page === "login") { loginPage(); return; }
  try {
    await nav(page);
    await PAGES[page]();
    document.body.dataset.ready = "yes";
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) {
      $("main").prepend(el("p", { class: "error", text: `${t("Could not load")}: ${e.message}` }));
    }
  }
});
