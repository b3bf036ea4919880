// What the pages know about the fleet: classes, how bad a state is, faults in words.
import { word } from "./i18n.js";

export const CLASSES = ["speaker", "camera", "access_point", "kiosk"];
export const STATE_RANK = { offline: 3, degraded: 2, unknown: 1, ok: 0 };
export const isBroken = (d) => d.state === "offline" || d.state === "degraded";

/** Worst first, then the one in that state longest. */
export function worstFirst(a, b) {
  return (STATE_RANK[b.state] - STATE_RANK[a.state]) || (new Date(a.since || 0) - new Date(b.since || 0));
}

/** The worst state among devices (a group is as bad as its worst member). */
export const worstState = (devices) => devices.reduce((w, d) => (STATE_RANK[d.state] > STATE_RANK[w] ? d.state : w),
  "ok");

/** Faults ({code, detail}) in words, with the figures behind them: "ổ lưu trữ sắp đầy (97%)". */
export const faultWords = (faults) => (faults || [])
  .map((f) => `${word("fault", f.code)}${f.detail ? ` (${f.detail})` : ""}`).join("; ");
