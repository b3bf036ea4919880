// WardFleet operator console: plain JavaScript, no external assets, Vietnamese first.
// Data is only ever put on the page as text (never as HTML), so names and titles stay inert.
"use strict";

const T = {
  vi: {
    login: "Đăng nhập", user: "Tên đăng nhập", password: "Mật khẩu", logout: "Đăng xuất", overview: "Tổng quan", map: "Bản đồ",
    devices: "Thiết bị", pending: "Thiết bị chờ", broadcasts: "Phát thanh", alarms: "Cảnh báo", kpi: "Chỉ tiêu & báo cáo",
    users: "Người dùng", audit: "Nhật ký thao tác", state: "Trạng thái", since: "Từ", reason: "Lý do", village: "Thôn", site: "Điểm",
    cls: "Loại", all: "Tất cả", search: "Tìm", kpiName: "Chỉ tiêu", value: "Kết quả", target: "Mục tiêu", met: "Đạt", notMet: "Chưa đạt",
    noData: "Chưa có dữ liệu", where: "Nơi chưa đạt", activeAlarms: "Cảnh báo đang mở", none: "Không có", ack: "Xác nhận",
    acked: "Đã xác nhận", severity: "Mức", kind: "Loại", subject: "Đối tượng", detail: "Chi tiết", history: "Lịch sử trạng thái",
    uptime: "Độ sẵn sàng", commands: "Lệnh", volume: "Âm lượng", setVolume: "Đặt âm lượng", testTone: "Phát thử", reboot: "Khởi động lại",
    adopt: "Nhận vào", reject: "Từ chối", week: "Lịch tuần", newItem: "Lên lịch phát", title: "Tiêu đề", level: "Mức",
    normal: "Thông thường", priority: "Ưu tiên", emergency: "Khẩn cấp", source: "Nguồn", media: "Tệp âm thanh", tts: "Văn bản (đọc tự động)",
    stream: "Luồng tiếp sóng (URL)", minutes: "Thời lượng (phút)", day: "Ngày", time: "Giờ", repeat: "Lặp", once: "Một lần",
    daily: "Hằng ngày", weekdays: "Ngày làm việc", weekly: "Hằng tuần", villages: "Thôn nhận", communes: "Cả xã", save: "Lưu", approve: "Duyệt",
    cancel: "Hủy", status: "Tình trạng", pendingApproval: "chờ duyệt", approved: "đã duyệt", cancelled: "đã hủy",
    emergencyButton: "PHÁT KHẨN CẤP", confirmEmergency: "Phát ngay tới toàn bộ loa đã chọn, cắt mọi chương trình đang phát?",
    send: "Phát ngay", inbox: "Bản tin từ tỉnh", playback: "Nhật ký phát", date: "Ngày", reach: "Tỷ lệ phát", month: "Tháng",
    show: "Xem", download: "Tải về", addUser: "Thêm người dùng", role: "Vai trò", displayName: "Họ tên", created: "Đã lưu",
    at: "Lúc", action: "Thao tác", from: "Từ đâu", offlineNow: "mất kết nối", liveOn: "Đang cập nhật trực tiếp",
    scheduled: "Đã lên lịch", sent: "Đã gửi", noMap: "Chưa có tọa độ: xếp theo thôn", language: "Ngôn ngữ", voice: "Giọng đọc",
    northern: "Miền Bắc", central: "Miền Trung", southern: "Miền Nam", note: "Ghi chú", generate: "Lập báo cáo", ok: "hoạt động tốt",
    degraded: "suy giảm", offline: "mất kết nối", unknown: "chưa rõ", counts: "Số thiết bị", total: "Tổng",
    telemetry: "Số đo 24 giờ qua", claimCode: "Mã nhận tài khoản (một lần)", claimCodeNote: "Đưa mã cho người lắp đặt; mã chỉ hiện một lần, hết hạn", remove: "Gỡ thiết bị", edit: "Sửa", places: "Địa bàn & đăng ký", importPlaces: "Nhập tệp địa bàn (YAML)",
    withDevices: "Đăng ký cả thiết bị trong tệp", register: "Đăng ký thiết bị", model: "Model", upload: "Tải lên tệp âm thanh",
    dismiss: "Bỏ qua", keep: "Lập và lưu báo cáo", kept: "Báo cáo đã lưu", account: "Tài khoản", currentPassword: "Mật khẩu hiện tại",
    newPassword: "Mật khẩu mới", changePassword: "Đổi mật khẩu", settings: "Cấu hình", rules: "Quy tắc cảnh báo", targets: "Mục tiêu chỉ tiêu",
    duration: "Kéo dài (giây)", threshold: "Ngưỡng", enabled: "Bật", byVillage: "Theo thôn", played: "đã phát", quietHours: "Giờ yên tĩnh",
    communesLimit: "Giới hạn xã (mã, cách nhau dấu phẩy; trống: tất cả)", items: "Bản tin", received: "Nhận lúc",
    token: "Mã truy cập API", tokenLabel: "Dùng cho việc gì?",
  },
  en: {
    login: "Sign in", user: "User name", password: "Password", logout: "Sign out", overview: "Overview", map: "Map",
    devices: "Devices", pending: "Pending devices", broadcasts: "Broadcasts", alarms: "Alarms", kpi: "KPIs & reports",
    users: "Users", audit: "Audit log", state: "State", since: "Since", reason: "Reason", village: "Village", site: "Site",
    cls: "Class", all: "All", search: "Search", kpiName: "KPI", value: "Value", target: "Target", met: "Met", notMet: "Not met",
    noData: "No data", where: "Where it falls short", activeAlarms: "Open alarms", none: "None", ack: "Acknowledge",
    acked: "Acknowledged", severity: "Severity", kind: "Kind", subject: "Subject", detail: "Detail", history: "State history",
    uptime: "Availability", commands: "Commands", volume: "Volume", setVolume: "Set volume", testTone: "Test tone", reboot: "Reboot",
    adopt: "Adopt", reject: "Reject", week: "Week", newItem: "Schedule an item", title: "Title", level: "Level",
    normal: "Normal", priority: "Priority", emergency: "Emergency", source: "Source", media: "Audio file", tts: "Text (read aloud)",
    stream: "Relay stream (URL)", minutes: "Length (minutes)", day: "Day", time: "Time", repeat: "Repeat", once: "Once",
    daily: "Daily", weekdays: "Weekdays", weekly: "Weekly", villages: "Villages", communes: "Whole commune", save: "Save", approve: "Approve",
    cancel: "Cancel", status: "Status", pendingApproval: "pending approval", approved: "approved", cancelled: "cancelled",
    emergencyButton: "EMERGENCY BROADCAST", confirmEmergency: "Play now on every chosen speaker, cutting whatever plays?",
    send: "Send now", inbox: "Bulletins from the province", playback: "Playback log", date: "Date", reach: "Reach", month: "Month",
    show: "Show", download: "Download", addUser: "Add user", role: "Role", displayName: "Full name", created: "Saved",
    at: "At", action: "Action", from: "From", offlineNow: "offline", liveOn: "Live updates on",
    scheduled: "Scheduled", sent: "Sent", noMap: "No coordinates: grouped by village", language: "Language", voice: "Voice",
    northern: "Northern", central: "Central", southern: "Southern", note: "Note", generate: "Generate", ok: "ok",
    degraded: "degraded", offline: "offline", unknown: "unknown", counts: "Devices", total: "Total",
    telemetry: "Readings, last 24 hours", claimCode: "One-time claim code", claimCodeNote: "Give it to the installer; shown only once, expires", remove: "Remove device", edit: "Edit", places: "Places & registration", importPlaces: "Import a places file (YAML)",
    withDevices: "Also register the devices in the file", register: "Register a device", model: "Model", upload: "Upload an audio file",
    dismiss: "Dismiss", keep: "Make and keep the report", kept: "Kept reports", account: "Account", currentPassword: "Current password",
    newPassword: "New password", changePassword: "Change password", settings: "Settings", rules: "Alarm rules", targets: "KPI targets",
    duration: "Duration (s)", threshold: "Threshold", enabled: "On", byVillage: "By village", played: "played", quietHours: "Quiet hours",
    communesLimit: "Limit to communes (ids, comma-separated; empty: all)", items: "Items", received: "Received",
    token: "API token", tokenLabel: "What is it for?",
  },
};

const S = { lang: localStorage.getItem("wf-lang") || "vi", me: null, csrf: sessionStorage.getItem("wf-csrf") || "", events: null };
const t = (k) => (T[S.lang][k] ?? k);
const $ = (sel) => document.querySelector(sel);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  el.append(...nodes(children));
  return el;
}

// Children as nodes: nested lists flattened to any depth, absent ones (null, undefined, false)
// left out, so "can(x) ? part : null" and lists of [label, input] pairs never print as text.
function nodes(children) {
  return children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(S.lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "Asia/Ho_Chi_Minh", hour12: false });
}
const pct = (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%");

async function api(path, opts = {}) {
  const headers = { "Content-Type": "application/json" };
  if (opts.method && opts.method !== "GET") headers["X-CSRF-Token"] = S.csrf;
  const r = await fetch(path, { method: opts.method || "GET", headers, credentials: "same-origin",
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  if (r.status === 401 && !path.endsWith("/login")) { S.me = null; location.hash = "#/login"; throw new Error(t("login")); }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!r.ok) throw new Error((data && data.error) || r.status + "");
  return data;
}

async function upload(path, file) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": S.csrf },
    credentials: "same-origin", body: file });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || r.status + "");
  return data;
}

const can = (p) => !!(S.me && S.me.permissions.includes(p));

function toast(msg) {
  const d = h("div", {}, msg);
  $("#toast").append(d);
  setTimeout(() => d.remove(), 6000);
}

function stateCell(state, id) {
  return h("span", { class: `state state-${state}`, "data-state": state, "data-device-state": id || "" }, t(state));
}

function page(title, ...content) {
  const m = $("#main");
  m.replaceChildren(h("h1", {}, title), ...nodes(content));
}

// Draws the page again after a moment (so a success message can be read first), unless the person
// has moved on to another page meanwhile: that page must not be redrawn under their hands.
function redrawSoon(ms) {
  const at = location.hash;
  setTimeout(() => { if (location.hash === at) route(); }, ms);
}

function errorBox(e) { return h("div", { class: "error", role: "alert", "data-testid": "error" }, e.message || String(e)); }

// ---------- pages ----------

async function loginPage() {
  $("#nav").hidden = true;
  const err = h("div");
  const form = h("form", { class: "panel", id: "login-form", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("/api/v1/login", { method: "POST", body: { user: form.user.value, password: form.password.value } });
      S.csrf = r.csrf; sessionStorage.setItem("wf-csrf", r.csrf);
      await start();
      location.hash = "#/overview";
    } catch (e) { err.replaceChildren(errorBox(e)); }
  } },
    h("label", { for: "user" }, t("user")), h("input", { id: "user", name: "user", autocomplete: "username", required: true }),
    h("label", { for: "password" }, t("password")), h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    h("button", { class: "primary", type: "submit", id: "login-submit" }, t("login")), err);
  page(t("login"), form);
}

async function overviewPage() {
  const [kpi, health, alarms] = await Promise.all([api("/api/v1/kpi"), api("/api/v1/health"), api("/api/v1/alarms")]);
  const cards = h("div", { class: "cards" }, ["speaker", "camera", "access_point", "kiosk"].map((c) => {
    const s = health.by_class[c] || { total: 0, ok: 0, degraded: 0, offline: 0 };
    return h("div", { class: "card" }, h("span", {}, c), h("b", {}, s.total), `${t("ok")} ${s.ok} · ${t("degraded")} ${s.degraded} · ${t("offline")} ${s.offline}`);
  }));
  page(t("overview"), cards, h("h2", {}, t("kpi")), kpiTable(kpi.deployment), h("h2", {}, t("activeAlarms")), alarmTable(alarms));
}

function kpiTable(scope) {
  return h("div", { class: "table-wrap" }, h("table", { "data-testid": "kpi-table" },
    h("tr", {}, h("th", {}, t("kpiName")), h("th", {}, t("value")), h("th", {}, t("target")), h("th", {}, t("met")), h("th", {}, t("where"))),
    scope.kpis.map((k) => h("tr", {},
      h("td", {}, k.id), h("td", {}, pct(k.value)), h("td", {}, k.target ? (k.target.strict ? "> " : "≥ ") + pct(k.target.value) : "—"),
      h("td", { class: k.met === true ? "met" : k.met === false ? "miss" : "" }, k.met === true ? t("met") : k.met === false ? t("notMet") : t("noData")),
      h("td", { class: "muted" }, h("div", { class: "wide" }, (k.misses || []).slice(0, 5).map((m) => `${m.name}: ${m.reason}`).join("; ")))))));
}

function alarmTable(alarms, onAck) {
  if (!alarms.length) return h("p", { "data-testid": "no-alarms" }, t("none"));
  return h("div", { class: "table-wrap" }, h("table", { "data-testid": "alarm-table" },
    h("tr", {}, h("th", {}, "#"), h("th", {}, t("severity")), h("th", {}, t("kind")), h("th", {}, t("subject")), h("th", {}, t("since")),
      h("th", {}, t("detail")), h("th", {}, t("status"))),
    alarms.map((a) => h("tr", { "data-alarm": a.id },
      h("td", {}, a.id), h("td", {}, a.severity), h("td", {}, a.kind), h("td", {}, a.device_id || a.village_id || ""), h("td", {}, fmtTime(a.since)),
      h("td", {}, h("div", { class: "wide" }, a.detail + (a.members && a.members.length ? ` [${a.members.join(", ")}]` : ""))),
      h("td", {}, a.cleared_at ? fmtTime(a.cleared_at) : a.acked_by ? `${t("acked")}: ${a.acked_by}` :
        onAck ? h("button", { class: "plain", onclick: () => onAck(a) }, t("ack")) : a.severity)))));
}

async function devicesPage() {
  const list = await api("/api/v1/devices");
  const q = h("input", { placeholder: t("search"), "aria-label": t("search"), oninput: () => render() });
  const cls = h("select", { onchange: () => render(), "aria-label": t("cls") }, h("option", { value: "" }, t("all")),
    ["speaker", "camera", "access_point", "kiosk"].map((c) => h("option", { value: c }, c)));
  const st = h("select", { onchange: () => render(), "aria-label": t("state") }, h("option", { value: "" }, t("all")),
    ["ok", "degraded", "offline", "unknown"].map((c) => h("option", { value: c }, t(c))));
  const holder = h("div", { class: "table-wrap" });
  function render() {
    const text = q.value.toLowerCase();
    const rows = list.filter((d) => (!cls.value || d.device_class === cls.value) && (!st.value || d.state === st.value) &&
      (!text || [d.id, d.site_name, d.village_name].join(" ").toLowerCase().includes(text)));
    holder.replaceChildren(h("table", { "data-testid": "device-table" },
      h("tr", {}, h("th", {}, "ID"), h("th", {}, t("cls")), h("th", {}, t("village")), h("th", {}, t("site")), h("th", {}, t("state")),
        h("th", {}, t("since")), h("th", {}, t("reason"))),
      rows.map((d) => h("tr", { "data-device": d.id },
        h("td", {}, h("a", { href: `#/device/${encodeURIComponent(d.id)}` }, d.id)), h("td", {}, d.device_class), h("td", {}, d.village_name || ""),
        h("td", {}, d.site_name || d.site), h("td", {}, stateCell(d.state, d.id)), h("td", { "data-device-since": d.id }, fmtTime(d.since)),
        h("td", { class: "muted", "data-device-faults": d.id }, (d.faults || []).join("; "))))));
  }
  render();
  page(t("devices"), h("div", { class: "panel" }, q, cls, st), holder);
}

// The device page's own words (kept beside it so the shared tables above stay untouched).
const DT = {
  vi: { registered: "Đăng ký", reported: "Thiết bị báo", differs: "khác với đăng ký", notReported: "chưa báo (chưa nhận bản tin birth)",
    noCommands: "Thiết bị không nhận lệnh nào từ bảng điều khiển này", capsUnknown: "Chưa biết thiết bị làm được lệnh nào (chưa nhận bản tin birth)",
    incidents: "Sự cố thiết bị báo", tamper: "Bị can thiệp (mở vỏ, xoay hoặc che)", storage_full: "Ổ lưu trữ đầy", firmware: "Firmware" },
  en: { registered: "Registered", reported: "Reported by the device", differs: "differs from the registered one", notReported: "not reported yet (no birth heard)",
    noCommands: "The device accepts none of the commands offered here", capsUnknown: "Commands it accepts are unknown (no birth heard yet)",
    incidents: "Reported incidents", tamper: "Tampered with (opened, moved or covered)", storage_full: "Storage full", firmware: "Firmware" },
};
const dt = (k) => (DT[S.lang][k] ?? k);

// Registered model/firmware beside what the device's birth says, a mismatch flagged.
function identityPanel(d) {
  const r = d.reported;
  const cell = (rep, mismatch) => h("td", {}, rep ?? dt("notReported"),
    mismatch ? h("strong", { class: "miss", "data-testid": "identity-mismatch" }, ` ⚠ ${dt("differs")}`) : null);
  return h("table", { "data-testid": "device-identity" },
    h("tr", {}, h("th", {}, ""), h("th", {}, dt("registered")), h("th", {}, dt("reported"))),
    h("tr", {}, h("th", {}, t("model")), h("td", {}, d.model || "—"), cell(r ? r.model || "—" : null, r && r.model_mismatch)),
    h("tr", {}, h("th", {}, dt("firmware")), h("td", {}, d.firmware || "—"), cell(r ? r.firmware || "—" : null, r && r.firmware_mismatch)));
}

function incidentsPanel(list) {
  if (!list || !list.length) return null;
  return h("div", { class: "panel", "data-testid": "device-incidents" }, h("h2", {}, dt("incidents")),
    h("table", {}, list.map((i) => h("tr", {}, h("td", {}, fmtTime(i.received_at)), h("td", {}, dt(i.type)), h("td", { class: "muted" }, i.detail || "")))));
}

async function devicePage(id) {
  const d = await api(`/api/v1/devices/${encodeURIComponent(id)}`);
  // Only the commands the device declared in its birth are offered (the server refuses others too).
  const accepts = (c) => Array.isArray(d.commands) && d.commands.includes(c);
  const out = h("div");
  const cmd = async (body) => {
    try { const r = await api(`/api/v1/devices/${encodeURIComponent(id)}/commands`, { method: "POST", body }); out.replaceChildren(h("div", { class: "ok-msg" }, `${r.command}: ${r.result} ${r.detail}`)); }
    catch (e) { out.replaceChildren(errorBox(e)); }
  };
  const vol = h("input", { type: "number", min: 0, max: 100, value: 70, "aria-label": t("volume") });
  const canCmd = can("manage_devices");
  const charts = h("div", { class: "charts", "data-testid": "charts" });
  page(`${d.device.id} — ${d.device.site_name || ""}`,
    h("p", {}, stateCell(d.device.state, d.device.id), " ", t("since"), " ", fmtTime(d.device.since), " · ", (d.device.faults || []).join("; ")),
    h("p", {}, `${t("uptime")}: 24h ${pct(d.uptime24h ?? d.uptime_24h)} · 30d ${pct(d.uptime30d ?? d.uptime_30d)}`),
    uptimeChart(d.history),
    identityPanel(d),
    incidentsPanel(d.incidents),
    canCmd ? h("div", { class: "panel", "data-testid": "device-commands" }, h("h2", {}, t("commands")),
      d.commands === null || d.commands === undefined ? h("p", { class: "muted" }, dt("capsUnknown"))
        : !["set_volume", "test_tone", "reboot"].some(accepts) ? h("p", { class: "muted" }, dt("noCommands")) : null,
      accepts("set_volume") ? vol : null,
      accepts("set_volume") ? h("button", { class: "plain", onclick: () => cmd({ command: "set_volume", volume: Number(vol.value) }) }, t("setVolume")) : null,
      accepts("test_tone") ? h("button", { class: "plain", onclick: () => cmd({ command: "test_tone", seconds: 5 }) }, t("testTone")) : null,
      accepts("reboot") ? h("button", { class: "danger", onclick: () => confirm(t("reboot") + "?") && cmd({ command: "reboot" }) }, t("reboot")) : null, out) : null,
    h("h2", {}, t("telemetry")), charts,
    h("h2", {}, t("history")),
    h("div", { class: "table-wrap" }, h("table", {}, h("tr", {}, h("th", {}, t("state")), h("th", {}, t("since")), h("th", {}, "→"), h("th", {}, t("reason"))),
      d.history.map((s) => h("tr", {}, h("td", {}, stateCell(s.state)), h("td", {}, fmtTime(s.start)), h("td", {}, fmtTime(s.end)),
        h("td", { class: "muted" }, (s.faults || []).map((f) => f.code).join(", ")))))),
    canCmd ? h("p", {}, h("button", { class: "plain", "data-testid": "claim-code", onclick: async () => {
      try {
        const r = await api(`/api/v1/devices/${encodeURIComponent(id)}/claim-code`, { method: "POST", body: {} });
        out.replaceChildren(h("div", { class: "ok-msg" }, `${t("claimCode")}: `, h("code", { "data-testid": "claim-code-value" }, r.code),
          ` — ${t("claimCodeNote")} ${fmtTime(r.expires)}`));
      } catch (e) { out.replaceChildren(errorBox(e)); }
    } }, t("claimCode"))) : null,
    canCmd ? h("p", {}, h("button", { class: "danger", "data-testid": "remove-device", onclick: async () => {
      if (!confirm(`${t("remove")} ${id}?`)) return;
      try { await api(`/api/v1/devices/${encodeURIComponent(id)}`, { method: "DELETE" }); location.hash = "#/devices"; } catch (e) { out.replaceChildren(errorBox(e)); }
    } }, t("remove"))) : null);
  api(`/api/v1/devices/${encodeURIComponent(id)}/telemetry?hours=24`).then((series) => {
    charts.replaceChildren(...(series.length ? series.map(lineChart) : [h("p", { class: "muted" }, t("noData"))]));
  }).catch((e) => charts.replaceChildren(errorBox(e)));
}

// One numeric telemetry field over time as an SVG line with its range and last value.
function lineChart(s) {
  const ns = "http://www.w3.org/2000/svg", W = 600, H = 120, P = 6;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("class", "chart"); svg.setAttribute("role", "img");
  svg.setAttribute("data-chart", s.field);
  const xs = s.points.map((p) => new Date(p.at).getTime()), ys = s.points.map((p) => p.value);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // A constant reading draws as a level line across the middle, not along the bottom edge.
  const X = (x) => P + ((x - x0) / ((x1 - x0) || 1)) * (W - 2 * P), Y = (y) => (y1 === y0 ? H / 2 : H - P - ((y - y0) / (y1 - y0)) * (H - 2 * P));
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", s.points.map((p, i) => `${X(xs[i]).toFixed(1)},${Y(ys[i]).toFixed(1)}`).join(" "));
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "#0b5cad"); line.setAttribute("stroke-width", "3");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  const title = document.createElementNS(ns, "title"); title.textContent = s.field;
  svg.append(title, line);
  // Few readings (a device just installed): dots, so even one shows.
  if (s.points.length <= 30) s.points.forEach((p, i) => {
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", X(xs[i]).toFixed(1)); c.setAttribute("cy", Y(ys[i]).toFixed(1)); c.setAttribute("r", 4); c.setAttribute("fill", "#0b5cad");
    svg.append(c);
  });
  const last = ys[ys.length - 1];
  return h("figure", { class: "chart-box" }, h("figcaption", {}, `${s.field}: ${+last.toFixed(2)} (min ${+y0.toFixed(2)}, max ${+y1.toFixed(2)})`), svg);
}

// A strip of the last 50 state intervals, coloured by state (SVG, no library).
function uptimeChart(history) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 600 40"); svg.setAttribute("class", "map"); svg.setAttribute("role", "img");
  if (!history.length) return svg;
  const end = Date.now(), start = Math.min(...history.map((s) => new Date(s.start).getTime()));
  const color = { ok: "#0a7a32", degraded: "#b26b00", offline: "#b00020", unknown: "#999" };
  for (const s of history) {
    const a = new Date(s.start).getTime(), b = s.end ? new Date(s.end).getTime() : end;
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("x", ((a - start) / (end - start || 1)) * 600); r.setAttribute("width", Math.max(1, ((b - a) / (end - start || 1)) * 600));
    r.setAttribute("y", 5); r.setAttribute("height", 30); r.setAttribute("fill", color[s.state] || "#999");
    svg.append(r);
  }
  return svg;
}

async function mapPage() {
  const [devices, places] = await Promise.all([api("/api/v1/devices"), api("/api/v1/places")]);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 800 500"); svg.setAttribute("class", "map"); svg.setAttribute("data-testid", "map");
  const located = devices.filter((d) => d.latitude != null);
  const color = { ok: "#0a7a32", degraded: "#b26b00", offline: "#b00020", unknown: "#888" };
  const lats = located.map((d) => d.latitude), lons = located.map((d) => d.longitude);
  const [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const villages = places.filter((p) => p.level === "village");
  const rest = devices.filter((d) => d.latitude == null);
  devices.forEach((d) => {
    let x, y;
    if (d.latitude != null) {
      x = 40 + ((d.longitude - lo0) / ((lo1 - lo0) || 1)) * 720; y = 460 - ((d.latitude - la0) / ((la1 - la0) || 1)) * 420;
    } else {
      const vi = Math.max(0, villages.findIndex((v) => v.id === d.village)), k = rest.filter((o) => o.village === d.village).indexOf(d);
      x = 60 + (vi % 4) * 190 + (k % 6) * 22; y = 60 + Math.floor(vi / 4) * 120 + Math.floor(k / 6) * 22;
    }
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", x); c.setAttribute("cy", y); c.setAttribute("r", 8); c.setAttribute("fill", color[d.state]);
    c.setAttribute("data-map-device", d.id);
    const title = document.createElementNS(ns, "title"); title.textContent = `${d.id} — ${t(d.state)} — ${d.site_name || ""}`;
    c.append(title); svg.append(c);
  });
  if (!located.length) villages.forEach((v, vi) => {
    const tx = document.createElementNS(ns, "text");
    tx.setAttribute("x", 50 + (vi % 4) * 190); tx.setAttribute("y", 40 + Math.floor(vi / 4) * 120); tx.textContent = v.name; svg.append(tx);
  });
  page(t("map"), located.length ? "" : h("p", { class: "muted" }, t("noMap")), svg);
}

async function pendingPage() {
  const [list, places] = await Promise.all([api("/api/v1/pending"), api("/api/v1/places")]);
  const sites = places.filter((p) => p.level === "site");
  const msg = h("div");
  const canAdopt = can("manage_devices");
  page(t("pending"), msg, list.length ? h("div", { class: "table-wrap" }, h("table", {},
    h("tr", {}, h("th", {}, "ID"), h("th", {}, t("cls")), h("th", {}, t("model")), h("th", {}, t("since")), canAdopt ? [h("th", {}, t("site")), h("th", {})] : null),
    list.map((p) => {
      const sel = h("select", {}, sites.map((s) => h("option", { value: s.id }, s.name)));
      return h("tr", {}, h("td", {}, p.device_id), h("td", {}, p.device_class || "?"), h("td", {}, p.model || ""), h("td", {}, fmtTime(p.first_seen)),
        canAdopt && h("td", {}, sel), canAdopt && h("td", {},
          h("button", { class: "primary", onclick: async () => { try { await api(`/api/v1/pending/${encodeURIComponent(p.device_id)}/adopt`, { method: "POST", body: { site: sel.value } }); route(); } catch (e) { msg.replaceChildren(errorBox(e)); } } }, t("adopt")),
          h("button", { class: "danger", onclick: async () => { try { await api(`/api/v1/pending/${encodeURIComponent(p.device_id)}/reject`, { method: "POST", body: {} }); route(); } catch (e) { msg.replaceChildren(errorBox(e)); } } }, t("reject"))));
    }))) : h("p", {}, t("none")));
}

// ISO weekday numbers (Monday = 1) as officers write them: T2 … T7, CN (Mon … Sun in English).
function weekdayNames(days) {
  const vi = ["", "T2", "T3", "T4", "T5", "T6", "T7", "CN"], en = ["", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  return [...(days || [])].sort().map((d) => (S.lang === "vi" ? vi : en)[d]).join(", ");
}

function localDay(date) {
  return new Date(date).toLocaleDateString("en-CA", { timeZone: "Asia/Ho_Chi_Minh" });
}

async function broadcastsPage() {
  const [slots, items, places, media, inbox] = await Promise.all([api("/api/v1/broadcasts/upcoming?days=7"), api("/api/v1/broadcasts"),
    api("/api/v1/places"), api("/api/v1/media"), api("/api/v1/inbox")]);
  const villages = places.filter((p) => p.level === "village"), communes = places.filter((p) => p.level === "commune");
  const today = new Date();
  const days = [...Array(7).keys()].map((i) => localDay(today.getTime() + i * 86400000));
  const week = h("div", { class: "week", "data-testid": "week" }, days.map((d) => h("div", { class: "day" }, h("h3", {}, d),
    slots.filter((s) => localDay(s.start) === d).map((s) => h("div", { class: `slot ${s.level} ${s.status === "pending_approval" ? "pending" : ""}`, "data-slot": s.item },
      new Date(s.start).toLocaleTimeString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit" }), " ", s.title,
      s.status === "pending_approval" ? ` (${t("pendingApproval")})` : "")))));
  const msg = h("div", { "data-testid": "schedule-result" });
  const form = h("form", { class: "panel", id: "schedule-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = form.elements, body = { title: f.title.value, level: f.level.value, minutes: Number(f.minutes.value) || undefined,
      day: f.day.value, time: f.time.value, repeat: f.repeat.value };
    if (f.source.value === "media") body.media = f.media.value; else if (f.source.value === "tts") { body.tts = f.text.value; body.voice = f.voice.value; } else body.stream = f.stream.value;
    const vs = [...form.querySelectorAll("input[name=village]:checked")].map((x) => x.value);
    if (vs.length) body.villages = vs; else body.communes = communes.map((c) => c.id);
    try { const r = await api("/api/v1/broadcasts", { method: "POST", body }); msg.replaceChildren(h("div", { class: "ok-msg" }, `${t("scheduled")}: ${r.item.title} (${t(r.status === "approved" ? "approved" : "pendingApproval")})`)); redrawSoon(800); }
    catch (e) { msg.replaceChildren(errorBox(e)); }
  } },
    h("h2", {}, t("newItem")),
    h("label", { for: "title" }, t("title")), h("input", { id: "title", name: "title", required: true }),
    h("label", { for: "level" }, t("level")), h("select", { id: "level", name: "level" }, ["normal", "priority"].map((l) => h("option", { value: l }, t(l)))),
    h("label", { for: "source" }, t("source")), h("select", { id: "source", name: "source" },
      h("option", { value: "tts" }, t("tts")), h("option", { value: "media" }, t("media")), h("option", { value: "stream" }, t("stream"))),
    h("label", { for: "text" }, t("tts")), h("textarea", { id: "text", name: "text" }),
    h("label", { for: "voice" }, t("voice")), h("select", { id: "voice", name: "voice" }, ["northern", "central", "southern"].map((v) => h("option", { value: v }, t(v)))),
    h("label", { for: "media" }, t("media")), h("select", { id: "media", name: "media" }, media.map((m) => h("option", { value: m.sha256 }, `${m.title} (${Math.round(m.duration)} s)`))),
    h("label", { for: "stream" }, t("stream")), h("input", { id: "stream", name: "stream", type: "url" }),
    h("label", { for: "minutes" }, t("minutes")), h("input", { id: "minutes", name: "minutes", type: "number", min: 1, step: "any" }),
    h("label", { for: "day" }, t("day")), h("input", { id: "day", name: "day", type: "date", required: true, value: days[0] }),
    h("label", { for: "time" }, t("time")), h("input", { id: "time", name: "time", type: "time", required: true }),
    h("label", { for: "repeat" }, t("repeat")), h("select", { id: "repeat", name: "repeat" }, ["once", "daily", "weekdays"].map((r) => h("option", { value: r }, t(r)))),
    h("label", {}, t("villages")), villages.map((v) => h("label", { class: "muted" }, h("input", { type: "checkbox", name: "village", value: v.id, style: "width:auto" }), " ", v.name)),
    h("button", { class: "primary", type: "submit", id: "schedule-submit" }, t("save")), msg);
  const emergencyMsg = h("div");
  const emergency = h("div", { class: "panel" },
    h("button", { class: "danger", id: "emergency-button", onclick: () => { dialog.hidden = false; } }, t("emergencyButton")),
    h("div", { id: "emergency-dialog", hidden: true },
      h("label", { for: "em-title" }, t("title")), h("input", { id: "em-title" }),
      h("label", { for: "em-text" }, t("tts")), h("textarea", { id: "em-text" }),
      h("p", { class: "error" }, t("confirmEmergency")),
      h("button", { class: "danger", id: "emergency-confirm", onclick: async () => {
        try { const r = await api("/api/v1/emergency", { method: "POST", body: { title: $("#em-title").value, tts: $("#em-text").value, communes: communes.map((c) => c.id) } });
          emergencyMsg.replaceChildren(h("div", { class: "ok-msg", "data-testid": "emergency-sent" }, `${t("sent")}: ${r.item.title}`)); }
        catch (e) { emergencyMsg.replaceChildren(errorBox(e)); }
      } }, t("send")),
      h("button", { class: "plain", onclick: () => { dialog.hidden = true; } }, t("cancel"))), emergencyMsg);
  const dialog = emergency.querySelector("#emergency-dialog");
  const act = (fn) => async () => { try { await fn(); route(); } catch (e) { msg.replaceChildren(errorBox(e)); } };
  const editor = h("div", { "data-testid": "item-editor" });
  const editItem = (b) => {
    const r = b.item.recurrence || {};
    const rule = Object.keys(r.rule || { once: {} })[0];
    const f = h("form", { class: "panel", id: "edit-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const e = f.elements, body = { title: e.title.value };
      // Only what was changed is sent: the server keeps the rest of the timing (a new day keeps the
      // time and how the item repeats, weekly days included).
      if (e.day.value && e.day.value !== (r.first_day || "")) body.day = e.day.value;
      if (e.time.value && e.time.value !== (r.start_time || "").slice(0, 5)) body.time = e.time.value;
      if (e.repeat.value !== rule) body.repeat = e.repeat.value;
      if (e.volume.value !== "") body.volume = Number(e.volume.value);
      try { const done = await api(`/api/v1/broadcasts/${encodeURIComponent(b.item.id)}`, { method: "PATCH", body });
        editor.replaceChildren(h("div", { class: "ok-msg" }, `${t("created")}: ${done.item.title} (${t(done.status === "approved" ? "approved" : "pendingApproval")})`)); redrawSoon(800); }
      catch (err) { editor.replaceChildren(f, errorBox(err)); }
    } }, h("h2", {}, `${t("edit")}: ${b.item.title}`),
      h("label", { for: "edit-title" }, t("title")), h("input", { id: "edit-title", name: "title", value: b.item.title, required: true }),
      h("label", { for: "edit-day" }, t("day")), h("input", { id: "edit-day", name: "day", type: "date", value: r.first_day || "" }),
      h("label", { for: "edit-time" }, t("time")), h("input", { id: "edit-time", name: "time", type: "time", value: (r.start_time || "").slice(0, 5) }),
      h("label", { for: "edit-repeat" }, t("repeat")), h("select", { id: "edit-repeat", name: "repeat" },
        ["once", "daily", "weekdays", ...(rule === "weekly" ? ["weekly"] : [])].map((x) => h("option", { value: x, selected: x === rule },
          x === "weekly" ? `${t("weekly")}: ${weekdayNames(r.rule.weekly._0)}` : t(x)))),
      h("label", { for: "edit-volume" }, t("volume")), h("input", { id: "edit-volume", name: "volume", type: "number", min: 0, max: 100, value: b.item.volume ?? "" }),
      h("button", { class: "primary", type: "submit", id: "edit-submit" }, t("save")),
      h("button", { class: "plain", type: "button", onclick: () => editor.replaceChildren() }, t("cancel")));
    editor.replaceChildren(f);
    f.scrollIntoView();
  };
  const list = h("div", { class: "table-wrap" }, h("table", { "data-testid": "item-table" }, h("tr", {}, h("th", {}, t("title")), h("th", {}, t("level")), h("th", {}, t("status")), h("th", {})),
    items.map((b) => h("tr", { "data-item": b.item.id }, h("td", {}, b.item.title), h("td", {}, t(b.item.level)),
      h("td", {}, t(b.status === "pending_approval" ? "pendingApproval" : b.status)),
      h("td", {}, b.status === "pending_approval" && can("approve") ? h("button", { class: "primary", "data-approve": b.item.id,
          onclick: act(() => api(`/api/v1/broadcasts/${b.item.id}/approve`, { method: "POST", body: {} })) }, t("approve")) : null,
        b.status !== "cancelled" && b.item.level !== "emergency" && can("schedule") ? h("button", { class: "plain", "data-edit": b.item.id, onclick: () => editItem(b) }, t("edit")) : null,
        b.status !== "cancelled" && can("schedule") ? h("button", { class: "plain", onclick: async () => { if (!confirm(t("cancel") + "?")) return; await act(() => api(`/api/v1/broadcasts/${b.item.id}/cancel`, { method: "POST", body: {} }))(); } }, t("cancel")) : null)))));
  const villageName = Object.fromEntries(places.map((p) => [p.id, p.name]));
  const logDate = h("input", { type: "date", value: days[0], "aria-label": t("date") });
  const logOut = h("div", { class: "table-wrap", "data-testid": "playback-log" });
  const showLog = async () => {
    try {
      const r = await api(`/api/v1/playback?date=${logDate.value}`);
      logOut.replaceChildren(r.items.length ? h("table", {}, h("tr", {}, h("th", {}, t("title")), h("th", {}, t("level")), h("th", {}, t("reach")), h("th", {}, t("byVillage"))),
        r.items.map((x) => h("tr", { "data-reach": x.item }, h("td", {}, x.title), h("td", {}, t(x.level)),
          h("td", {}, `${x.reach.played}/${x.reach.targeted} ${t("played")} (${pct(x.reach.targeted ? x.reach.played / x.reach.targeted : null)})`),
          h("td", { class: "muted" }, Object.entries(x.by_village || {}).map(([v, rc]) => `${villageName[v] || v}: ${rc.played}/${rc.targeted}`).join(" · "))))) : h("p", {}, t("none")));
    } catch (e) { logOut.replaceChildren(errorBox(e)); }
  };
  const inboxTable = inbox.length ? h("div", { class: "table-wrap" }, h("table", { "data-testid": "inbox" },
    h("tr", {}, h("th", {}, "#"), h("th", {}, t("received")), h("th", {}, t("title")), h("th", {}, t("level")), h("th", {}, t("day")), h("th", {}, t("time")), h("th", {})),
    inbox.map((b) => {
      const day = h("input", { type: "date", value: days[0], "aria-label": t("day") }), time = h("input", { type: "time", "aria-label": t("time") });
      return h("tr", {}, h("td", {}, b.id), h("td", {}, fmtTime(b.received_at)), h("td", {}, b.title), h("td", {}, t(b.level)), h("td", {}, day), h("td", {}, time),
        h("td", {}, can("schedule") ? [
          h("button", { class: "primary", onclick: act(() => api(`/api/v1/inbox/${b.id}/schedule`, { method: "POST", body: { day: day.value, time: time.value } })) }, t("newItem")),
          h("button", { class: "plain", onclick: act(() => api(`/api/v1/inbox/${b.id}/dismiss`, { method: "POST", body: {} })) }, t("dismiss"))] : b.status));
    }))) : h("p", {}, t("none"));
  const fileInput = h("input", { type: "file", accept: ".wav,.mp3,.ogg,audio/*", "aria-label": t("upload") });
  const uploadBox = h("div", { class: "panel" }, h("h2", {}, t("upload")), fileInput, h("button", { class: "plain", onclick: async () => {
    const f = fileInput.files[0]; if (!f) return;
    try { const m = await upload(`/api/v1/media?file_name=${encodeURIComponent(f.name)}&title=${encodeURIComponent(f.name.replace(/\.[^.]+$/, ""))}`, f);
      msg.replaceChildren(h("div", { class: "ok-msg" }, `${t("created")}: ${m.title} (${Math.round(m.duration)} s)`)); redrawSoon(800); }
    catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, t("save")));
  page(t("broadcasts"), h("h2", {}, t("week")), week, can("send_emergency") ? emergency : null, can("schedule") ? form : null,
    can("schedule") ? uploadBox : null, h("h2", {}, t("items")), list, editor,
    h("h2", {}, t("inbox")), inboxTable,
    h("h2", {}, t("playback")), logDate, h("button", { class: "plain", onclick: showLog }, t("show")), logOut);
  showLog();
}

async function alarmsPage() {
  const status = new URLSearchParams(location.hash.split("?")[1] || "").get("status") || "open";
  const list = await api(`/api/v1/alarms?status=${status}`);
  page(t("alarms"), h("p", {}, ["open", "all", "cleared"].map((s) => h("a", { href: `#/alarms?status=${s}`, style: "margin-right:1rem" }, s))),
    alarmTable(list, can("acknowledge_alarms") ? async (a) => { const note = prompt(t("note")) || undefined; await api(`/api/v1/alarms/${a.id}/ack`, { method: "POST", body: { note } }); route(); } : null));
}

async function kpiPage() {
  const month = h("input", { type: "month", value: new Date(Date.now() - 20 * 86400000).toISOString().slice(0, 7), "aria-label": t("month") });
  const out = h("div"), keptOut = h("div", { class: "table-wrap", "data-testid": "kept-reports" });
  // The figures always belong to the month in the box: a new month clears the old figures and asks
  // again, and only the answer to the latest question is drawn (an earlier, slower one is dropped).
  let asked = 0;
  const show = async () => {
    const m = month.value, n = ++asked;
    out.replaceChildren(h("p", { class: "muted" }, `${t("month")} ${m} …`));
    try {
      const r = await api(`/api/v1/kpi?month=${encodeURIComponent(m)}`);
      if (n === asked) out.replaceChildren(h("h2", { "data-kpi-month": m }, `${t("month")} ${m}`), kpiTable(r.deployment));
    } catch (e) { if (n === asked) out.replaceChildren(errorBox(e)); }
  };
  month.addEventListener("change", show);
  const open = (url) => window.open(url, "_blank");
  const links = h("p", {}, ["html", "csv", "json"].map((f) => h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); open(`/api/v1/reports/${month.value}?format=${f}&lang=${S.lang}`); }, style: "margin-right:1rem" }, `${t("download")} ${f.toUpperCase()}`)));
  const showKept = async () => {
    const kept = await api("/api/v1/reports");
    keptOut.replaceChildren(kept.length ? h("table", {}, h("tr", {}, h("th", {}, t("month")), h("th", {}, "scope"), h("th", {}, "format"), h("th", {}, t("language")), h("th", {}, t("at")), h("th", {}, t("user"))),
      kept.map((r) => h("tr", {}, h("td", {}, r.month), h("td", {}, r.scope), h("td", {}, h("a", { href: `/api/v1/reports/${r.month}/kept?format=${r.format}&lang=${r.lang}&scope=${encodeURIComponent(r.scope)}`, target: "_blank" }, r.format.toUpperCase())),
        h("td", {}, r.lang), h("td", {}, fmtTime(r.generated_at)), h("td", {}, r.generated_by)))) : h("p", {}, t("none")));
  };
  const keepButton = can("generate_reports") ? h("button", { class: "plain", onclick: async () => {
    try { await api(`/api/v1/reports/${month.value}/keep`, { method: "POST", body: {} }); await showKept(); } catch (e) { out.replaceChildren(errorBox(e)); }
  } }, t("keep")) : null;
  page(t("kpi"), h("div", { class: "panel" }, month, h("button", { class: "primary", onclick: show }, t("show")), keepButton, links), out, h("h2", {}, t("kept")), keptOut);
  show(); showKept();
}

async function placesPage() {
  const places = await api("/api/v1/places");
  const msg = h("div");
  const byParent = {};
  places.forEach((p) => { (byParent[p.parent_id || ""] ||= []).push(p); });
  const tree = (parent, depth) => (byParent[parent] || []).flatMap((p) => [h("li", { style: `margin-left:${depth}rem` }, `${p.name} — ${p.id}` + (p.site_kind ? ` [${p.site_kind}]` : "")), ...tree(p.id, depth + 1)]);
  const imp = h("form", { class: "panel", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await fetch(`/api/v1/places/import?format=yaml${imp.elements.devices.checked ? "&with_devices=true" : ""}`, { method: "POST",
        headers: { "Content-Type": "application/yaml", "X-CSRF-Token": S.csrf }, credentials: "same-origin", body: imp.elements.file.value });
      const d = await r.json(); if (!r.ok) throw new Error(d.error);
      msg.replaceChildren(h("div", { class: "ok-msg" }, `${t("created")}: ${d.places_new} + ${d.places_updated} / ${d.devices_new} + ${d.devices_updated}`)); redrawSoon(1200);
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, h("h2", {}, t("importPlaces")), h("textarea", { name: "file", rows: 8, required: true, "aria-label": t("importPlaces") }),
    h("label", { class: "muted" }, h("input", { type: "checkbox", name: "devices", style: "width:auto" }), " ", t("withDevices")),
    h("button", { class: "primary", type: "submit" }, t("save")));
  const sites = places.filter((p) => p.level === "site");
  const reg = h("form", { class: "panel", id: "register-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = reg.elements;
    try { await api("/api/v1/devices", { method: "POST", body: { id: f.id.value, device_class: f.cls.value, site: f.site.value, model: f.model.value || undefined } });
      location.hash = `#/device/${encodeURIComponent(f.id.value)}`; }
    catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, h("h2", {}, t("register")),
    h("label", { for: "reg-id" }, "ID"), h("input", { id: "reg-id", name: "id", required: true, pattern: "[A-Za-z0-9._-]+" }),
    h("label", { for: "reg-cls" }, t("cls")), h("select", { id: "reg-cls", name: "cls" }, ["speaker", "camera", "access_point", "kiosk"].map((c) => h("option", { value: c }, c))),
    h("label", { for: "reg-site" }, t("site")), h("select", { id: "reg-site", name: "site" }, sites.map((p) => h("option", { value: p.id }, p.name))),
    h("label", { for: "reg-model" }, t("model")), h("input", { id: "reg-model", name: "model" }),
    h("button", { class: "primary", type: "submit" }, t("register")));
  page(t("places"), msg, can("manage_devices") ? [reg, imp] : null, h("ul", { "data-testid": "place-tree" }, tree("", 0)));
}

async function usersPage() {
  const list = await api("/api/v1/users");
  const msg = h("div");
  const form = h("form", { class: "panel", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const communes = f.communes.value.split(",").map((x) => x.trim()).filter(Boolean);
    try { await api("/api/v1/users", { method: "POST", body: { name: f.name.value, role: f.role.value, display_name: f.display.value || undefined, password: f.pw.value,
      communes: communes.length ? communes : undefined } }); route(); }
    catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, h("h2", {}, t("addUser")), h("label", {}, t("user")), h("input", { name: "name", required: true }),
    h("label", {}, t("displayName")), h("input", { name: "display" }),
    h("label", {}, t("role")), h("select", { name: "role" }, ["viewer", "operator", "technician", "approver", "admin"].map((r) => h("option", { value: r }, r))),
    h("label", {}, t("communesLimit")), h("input", { name: "communes" }),
    h("label", {}, t("password")), h("input", { name: "pw", type: "password", minlength: 10, required: true }),
    h("button", { class: "primary", type: "submit" }, t("save")));
  const change = (name, body) => async () => { try { await api(`/api/v1/users/${encodeURIComponent(name)}`, { method: "PATCH", body }); toast(`${name}: ${t("created")}`); route(); } catch (e) { msg.replaceChildren(errorBox(e)); } };
  page(t("users"), msg, h("div", { class: "table-wrap" }, h("table", {}, h("tr", {}, h("th", {}, t("user")), h("th", {}, t("displayName")), h("th", {}, t("role")), h("th", {}, t("password"))),
    list.map((u) => {
      const role = h("select", { "aria-label": t("role"), onchange: () => change(u.name, { role: role.value })() },
        ["viewer", "operator", "technician", "approver", "admin"].map((r) => h("option", { value: r, selected: r === u.role }, r)));
      return h("tr", {}, h("td", {}, u.name), h("td", {}, u.display_name || ""), h("td", {}, role),
        h("td", {}, h("button", { class: "plain", onclick: () => { const pw = prompt(`${t("newPassword")} (${u.name})`); if (pw) change(u.name, { password: pw })(); } }, t("changePassword")),
          h("button", { class: "plain", onclick: async () => {
            const label = prompt(t("tokenLabel")); if (!label) return;
            try { const r = await api(`/api/v1/users/${encodeURIComponent(u.name)}/tokens`, { method: "POST", body: { label } });
              msg.replaceChildren(h("div", { class: "ok-msg" }, `${u.name}: `, h("code", { "data-testid": "new-token" }, r.token), ` — ${r.note}`)); }
            catch (e) { msg.replaceChildren(errorBox(e)); }
          } }, t("token"))));
    }))), form);
}

async function accountPage() {
  const msg = h("div");
  const f = h("form", { class: "panel", onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api("/api/v1/me/password", { method: "POST", body: { current: f.elements.current.value, new: f.elements.next.value } });
      S.me = null; location.hash = "#/login"; route(); }
    catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, h("h2", {}, t("changePassword")),
    h("label", { for: "cur-pw" }, t("currentPassword")), h("input", { id: "cur-pw", name: "current", type: "password", autocomplete: "current-password", required: true }),
    h("label", { for: "new-pw" }, t("newPassword")), h("input", { id: "new-pw", name: "next", type: "password", autocomplete: "new-password", minlength: 10, required: true }),
    h("button", { class: "primary", type: "submit" }, t("save")), msg);
  page(t("account"), h("p", {}, `${S.me.display_name} — ${S.me.user} (${S.me.role})`), f);
}

async function settingsPage() {
  const [rules, targets] = await Promise.all([api("/api/v1/alarms/rules"), api("/api/v1/kpi/targets")]);
  const msg = h("div");
  const save = (body) => async () => { try { await api("/api/v1/alarms/rules", { method: "PUT", body }); toast(t("created")); } catch (e) { msg.replaceChildren(errorBox(e)); } };
  const ruleRows = rules.map((r) => {
    const dur = h("input", { type: "number", min: 0, value: r.duration, style: "width:6rem", "aria-label": t("duration") });
    const on = h("input", { type: "checkbox", checked: r.enabled, style: "width:auto", "aria-label": t("enabled") });
    const sev = h("select", { "aria-label": t("severity") }, ["major", "minor", "warning"].map((x) => h("option", { value: x, selected: x === r.severity }, x)));
    return h("tr", {}, h("td", {}, r.kind), h("td", {}, r.device_class), h("td", {}, sev), h("td", {}, r.threshold ?? "—"), h("td", {}, dur), h("td", {}, on),
      h("td", {}, h("button", { class: "plain", onclick: () => save({ kind: r.kind, device_class: r.device_class, severity: sev.value, duration: Number(dur.value), enabled: on.checked })() }, t("save"))));
  });
  const tgt = h("form", { class: "panel", onsubmit: async (ev) => {
    ev.preventDefault();
    const body = {};
    tgt.querySelectorAll("input").forEach((i) => { if (i.value !== "") body[i.name] = Number(i.value); });
    try { await api("/api/v1/kpi/targets", { method: "PUT", body }); toast(t("created")); } catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, h("h2", {}, t("targets")),
    Object.entries(targets).sort().map(([k, v]) => [h("label", {}, k), h("input", { name: k, type: "number", step: "0.01", min: 0, max: 1, value: v, "aria-label": k })]),
    h("button", { class: "primary", type: "submit" }, t("save")));
  page(t("settings"), msg, h("h2", {}, t("rules")), h("div", { class: "table-wrap" }, h("table", {},
    h("tr", {}, h("th", {}, t("kind")), h("th", {}, t("cls")), h("th", {}, t("severity")), h("th", {}, t("threshold")), h("th", {}, t("duration")), h("th", {}, t("enabled")), h("th", {})),
    ruleRows)), tgt);
}

async function auditPage() {
  const list = await api("/api/v1/audit");
  page(t("audit"), h("div", { class: "table-wrap" }, h("table", {}, h("tr", {}, h("th", {}, t("at")), h("th", {}, t("user")), h("th", {}, t("action")), h("th", {}, t("subject")), h("th", {}, t("detail")), h("th", {}, t("from"))),
    list.map((a) => h("tr", {}, h("td", {}, fmtTime(a.at)), h("td", {}, a.user), h("td", {}, a.action), h("td", {}, a.target || ""), h("td", {}, a.detail || ""), h("td", {}, a.address || ""))))));
}

// ---------- shell ----------

const PAGES = [
  ["overview", "view", overviewPage], ["map", "view", mapPage], ["devices", "view", devicesPage], ["pending", "view", pendingPage],
  ["broadcasts", "view", broadcastsPage], ["alarms", "view", alarmsPage], ["kpi", "view", kpiPage], ["places", "view", placesPage],
  ["settings", "configure", settingsPage], ["users", "manage_users", usersPage], ["audit", "view_audit", auditPage], ["account", "view", accountPage],
];

function nav() {
  const n = $("#nav");
  const current = location.hash.slice(2).split(/[/?]/)[0];
  n.replaceChildren(...PAGES.filter(([, p]) => S.me.permissions.includes(p)).map(([id]) =>
    h("a", { href: `#/${id}`, class: current === id ? "active" : "", "data-nav": id }, t(id))));
  n.hidden = window.innerWidth <= 700 && !n.dataset.open;
}

// Navigations started and the newest one drawn (see route).
const routes = { started: 0, drawn: 0 };

async function route() {
  document.documentElement.lang = S.lang;
  $("#lang").textContent = S.lang === "vi" ? "EN" : "VI";
  $("#logout").textContent = t("logout");
  if (!S.me) return loginPage();
  nav();
  const [name, arg] = location.hash.slice(2).split("?")[0].split("/");
  const found = PAGES.find(([id]) => id === name);
  const mine = ++routes.started;
  try {
    if (name === "device" && arg) await devicePage(decodeURIComponent(arg));
    else await (found ? found[2] : overviewPage)();
  } catch (e) { if (mine === routes.started) page(t(name || "overview"), errorBox(e)); }
  // A slow page whose data came after the person had moved on, and after the newer page was
  // drawn, has just drawn over it: draw the page they are on again.
  if (mine === routes.started) routes.drawn = mine;
  else if (routes.drawn === routes.started) route();
}


function live() {
  if (S.events) S.events.close();
  const es = new EventSource("/api/v1/events");
  S.events = es;
  es.addEventListener("ready", () => { $("#live").classList.add("on"); $("#live").title = t("liveOn"); });
  es.addEventListener("device", (ev) => {
    const d = JSON.parse(ev.data);
    document.querySelectorAll(`[data-device-state="${CSS.escape(d.id)}"]`).forEach((el) => el.replaceWith(stateCell(d.state, d.id)));
    document.querySelectorAll(`[data-device-since="${CSS.escape(d.id)}"]`).forEach((el) => { el.textContent = fmtTime(d.since); });
    document.querySelectorAll(`[data-device-faults="${CSS.escape(d.id)}"]`).forEach((el) => { el.textContent = d.faults.join("; "); });
    document.querySelectorAll(`[data-map-device="${CSS.escape(d.id)}"]`).forEach((el) => el.setAttribute("fill", { ok: "#0a7a32", degraded: "#b26b00", offline: "#b00020" }[d.state] || "#888"));
    if (d.state === "offline") toast(`${d.id}: ${t("offlineNow")}`);
  });
  es.addEventListener("alarm", (ev) => { const a = JSON.parse(ev.data); toast(`${t("alarms")}: ${a.kind} ${a.device_id || a.village_id || ""} — ${a.cleared_at ? "✓" : a.severity}`); });
  es.addEventListener("playback", () => { if (location.hash.startsWith("#/broadcasts")) { /* the log refreshes on demand */ } });
  es.onerror = () => $("#live").classList.remove("on");
}

async function start() {
  try {
    const me = await api("/api/v1/me");
    S.me = { ...me, permissions: me.permissions.split(",") };
    $("#who").textContent = `${me.display_name} (${me.role})`;
    $("#logout").hidden = false;
    live();
  } catch { S.me = null; }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  $("#lang").addEventListener("click", () => { S.lang = S.lang === "vi" ? "en" : "vi"; localStorage.setItem("wf-lang", S.lang); route(); });
  $("#logout").addEventListener("click", async () => {
    if (S.events) S.events.close();
    try { await api("/api/v1/logout", { method: "POST", body: {} }); } catch {}
    S.me = null; S.csrf = ""; sessionStorage.removeItem("wf-csrf");
    $("#logout").hidden = true; $("#who").textContent = ""; $("#live").classList.remove("on");
    location.hash = "#/login"; route();
  });
  // Crossing the phone width (a tablet turned, a window resized) shows or hides the menu as a fresh page would.
  window.matchMedia("(max-width: 700px)").addEventListener("change", () => { if (S.me) nav(); });
  $("#menu-toggle").addEventListener("click", () => { const n = $("#nav"); n.dataset.open = n.dataset.open ? "" : "1"; n.hidden = !n.dataset.open; });
  await start();
  route();
});
