// The chosen language, its catalogue, and every way a value is put into words:
// dates as dd/MM/yyyy HH:mm in Asia/Ho_Chi_Minh, "hôm nay", Vietnamese numbers ("97,2 %").
import vi from "../i18n/vi.js";
import en from "../i18n/en.js";

const catalogues = { vi, en };
export const lang = { current: localStorage.getItem("wf-lang") === "en" ? "en" : "vi" };
const cat = () => catalogues[lang.current];
const ZONE = "Asia/Ho_Chi_Minh";

export function setLang(code) {
  lang.current = code === "en" ? "en" : "vi";
  localStorage.setItem("wf-lang", lang.current);
}

/** A console string, with {name} placeholders filled. */
export function t(key, vars = {}) {
  const s = cat().ui[key] ?? vi.ui[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ""));
}

/** A machine code in words. An unknown code (a newer server) is shown spaced out, never raw. */
export function word(group, code) {
  if (code === null || code === undefined || code === "") return "—";
  const g = cat()[group] || {};
  const w = g[code];
  if (Array.isArray(w)) return w[0];
  return w ?? String(code).replace(/[._]+/g, " ");
}

const weekdayLong = (jsDay) => cat().weekdays[jsDay];

// The parts of an instant in Asia/Ho_Chi_Minh, as numbers.
function parts(d) {
  const f = new Intl.DateTimeFormat("en-GB", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", weekday: "short", hourCycle: "h23" });
  const o = {};
  for (const p of f.formatToParts(d)) o[p.type] = p.value;
  const wd = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(o.weekday);
  return { y: o.year, m: o.month, d: o.day, hh: o.hour, mm: o.minute, wd };
}

/** YYYY-MM-DD of the local day an instant falls on. */
export function localDay(x) {
  const p = parts(new Date(x));
  return `${p.y}-${p.m}-${p.d}`;
}

function dayWord(d) {
  const day = localDay(d), now = Date.now();
  if (day === localDay(now)) return t("today");
  if (day === localDay(now - 86400000)) return t("yesterday");
  if (day === localDay(now + 86400000)) return t("tomorrow");
  return null;
}

/** dd/MM/yyyy HH:mm, or "hôm nay 09:30". */
export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  const p = parts(d), w = dayWord(d);
  return w ? `${w} ${p.hh}:${p.mm}` : `${p.d}/${p.m}/${p.y} ${p.hh}:${p.mm}`;
}

/** Weekday, dd/MM/yyyy (a YYYY-MM-DD day or an instant). */
export function fmtDay(x) {
  const d = typeof x === "string" && /^\d{4}-\d{2}-\d{2}$/.test(x) ? new Date(`${x}T12:00:00+07:00`) : new Date(x);
  const p = parts(d), w = dayWord(d);
  return `${weekdayLong(p.wd)} ${p.d}/${p.m}/${p.y}${w ? ` (${w})` : ""}`;
}

export const fmtClock = (iso) => { const p = parts(new Date(iso)); return `${p.hh}:${p.mm}`; };

/** A number as the language writes it: 1.234,5 in Vietnamese. */
export function fmtNumber(v, digits = 1) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return "—";
  return new Intl.NumberFormat(cat().locale, { maximumFractionDigits: digits }).format(Number(v));
}

/** A fraction as "97,2 %". */
export const fmtPct = (v) => (v === null || v === undefined ||
  !Number.isFinite(Number(v)) ? "—" : `${fmtNumber(v * 100, 1)} %`);

/** A length of time in words: "2 giờ 10 phút", "3 ngày 4 giờ", "45 giây". */
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("secondsN", { n: s });
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (d > 0) return [t("days", { n: d }), h % 24 ? t("hours", { n: h % 24 }) : ""].filter(Boolean).join(" ");
  if (h > 0) return [t("hours", { n: h }), m % 60 ? t("minutesN", { n: m % 60 }) : ""].filter(Boolean).join(" ");
  return t("minutesN", { n: m });
}

/** "đã 2 giờ 10 phút" since an instant. */
export const ago = (iso) => (iso ? t("ago", { d: fmtDuration((Date.now() - new Date(iso).getTime()) / 1000) }) : "—");

const scaled = (v, units, base) => {
  let i = 0, x = Math.abs(v);
  while (x >= base && i < units.length - 1) { x /= base; i++; }
  return `${fmtNumber(Math.sign(v) * x, x < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
};

/** A telemetry value with its unit, as people read it (GB, Mbit/s, on/off, a date). */
export function fmtValue(series, v) {
  const field = bare(series);
  const unit = (cat().field[field] || [])[1] ?? "";
  if (v === null || v === undefined) return "—";
  switch (unit) {
    case "bool": case "boolBad": return v ? t("on") : t("off");
    case "bytes": return scaled(v, ["B", "KB", "MB", "GB", "TB", "PB"], 1000);
    case "Bps": return scaled(v, ["B/s", "KB/s", "MB/s", "GB/s"], 1000);
    case "bps": return scaled(v, ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"], 1000);
    case "time": return fmtTime(new Date(Number(v)).toISOString());
    case "%": return `${fmtNumber(v, 1)} %`;
    case "": return fmtNumber(v, 2);
    default: return `${fmtNumber(v, 1)} ${unit}`;
  }
}

// Series are named "class.field" (camera.recording); the catalogue names the field.
const bare = (series) => String(series).split(".").pop();
export const fieldName = (series) => word("field", bare(series));
const unitOf = (series) => (cat().field[bare(series)] || [])[1];
/** False for numbers; "bad-when-on" for a flag that reports a fault (paper out), else true. */
export function fieldIsBool(series) {
  const unit = unitOf(series);
  return unit === "bool" ? true : unit === "boolBad" ? "bad-when-on" : false;
}
/** A reading that is a moment (the oldest footage), not a level. */
export const fieldIsMoment = (series) => unitOf(series) === "time";

/** Text the server wrote in both languages ("tiếng Việt / English") shown in the chosen one. */
export function oneLanguage(text) {
  if (!text) return "";
  const halves = String(text).split(" / ");
  if (halves.length !== 2) return text;
  return lang.current === "en" ? halves[1] : halves[0];
}
