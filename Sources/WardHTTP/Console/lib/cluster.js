// Controller nodes (several `wardfleet run --node-id` on one PostgreSQL, GET /api/v1/nodes): a warning
// naming the person's communes that no live node looks after, and the nodes with their state, communes
// and broker links. Nothing at all when no node ever ran (a single controller runs the database).
import { h, api, can, ask, toast, attempt, redraw, S } from "./core.js";
import { t, fmtDuration, fmtTime } from "./i18n.js";
import { table } from "./ui.js";

// Node ids, broker names and addresses are what people configured: data, not the console's words.
const raw = (text) => h("span", { "data-raw": true }, text);
const secs = (s) => fmtDuration(Math.max(1, Number(s) || 0));
const stateOf = (n) => (!n.alive ? "down" : n.draining ? "draining" : "up");
const STATE = { up: ["nodeUp", "state-ok"], draining: ["nodeDraining", "state-degraded"],
  down: ["nodeDown", "state-offline"] };

function warning(view) {
  if (!view.unowned.length) return null;
  return h("div", { class: "banner-warning", role: "status", "data-testid": "unowned-warning" },
    h("strong", {}, "⚠ ", t("unownedTitle", { n: view.unowned.length })),
    h("ul", { class: "compact" }, view.unowned.map((c) => h("li", { "data-unowned": c.id },
      h("strong", {}, c.name), c.since ? ` — ${t("unownedSince", { at: fmtTime(c.since) })}` : null,
      c.last_node ? [` (${t("lastNode")}: `, raw(c.last_node), ")"] : null))),
    h("p", {}, t("unownedNote")));
}

function lastBeat(view, n) {
  if (n.alive) return t("beatAgo", { d: secs(n.heartbeat_age_s) });
  const at = new Date(Date.parse(view.generated_at) - n.heartbeat_age_s * 1000).toISOString();
  return `${fmtTime(at)} (${t("beatAgo", { d: secs(n.heartbeat_age_s) })})`;
}

// An admin without a commune limit may have a live node hand its communes over, or take them again.
const mayDrain = (n) => n.alive && can("configure") && !(S.me && S.me.communes);

function drainButton(n, msg) {
  if (!mayDrain(n)) return "";
  const undo = n.draining;
  return h("button", { class: "plain", type: "button", "data-drain": n.id, onclick: () => attempt(msg, async () => {
    if (!undo && !ask(t("confirmDrain", { node: n.id }))) return;
    await api(`/api/v1/nodes/${encodeURIComponent(n.id)}/${undo ? "undrain" : "drain"}`, { method: "POST", body: {} });
    toast(t(undo ? "undrained" : "drained", { node: n.id }));
    redraw();
  }) }, t(undo ? "undrain" : "drain"));
}

function nodesTable(view, msg) {
  const list = (items, empty) => (items.length ? h("ul", { class: "plain-list" }, items) : h("div", {}, empty));
  const columns = [
    { label: t("node"), cell: (n) => h("div", {}, h("strong", {}, raw(n.id)), n.leader ? ` · ${t("leader")}` : null,
      n.api_url ? h("div", { class: "muted" }, raw(n.api_url)) : null) },
    { label: t("state"), cell: (n) => h("span", { class: `state ${STATE[stateOf(n)][1]}`, "data-node-state": stateOf(n) },
      t(STATE[stateOf(n)][0])), class: "nowrap" },
    { label: t("lastBeat"), cell: (n) => lastBeat(view, n) },
    { label: t("nodeCommunes"), cell: (n) => list(n.communes.map((c) => h("li", {}, c.name, h("span", { class: "muted" },
      ` — ${t("leaseAge", { d: secs(c.lease_age_s), held: secs(c.held_for_s) })}`))), t("none")) },
    { label: t("brokerLinks"), cell: (n) => list(n.brokers.map((b) => h("li", {}, raw(b.name), " ",
      h("span", { class: "muted" }, raw(b.address)), " — ",
      h("span", { class: `state ${b.connected ? "state-ok" : "state-offline"}` },
        t(b.connected ? "brokerUp" : "brokerDown")),
      ` · ${t("brokerCommunes", { n: b.communes })}`)), t("none")) },
  ];
  if (view.nodes.some(mayDrain)) columns.push({ label: "", cell: (n) => drainButton(n, msg) });
  return table(columns, view.nodes, { testid: "nodes-table", rowAttrs: (n) => ({ "data-node": n.id }) });
}

// What a redraw would change: states, owners and links (ages alone do not redraw the page under a thumb).
const signature = (v) => JSON.stringify([v.unowned.map((c) => c.id), v.nodes.map((n) => [n.id, n.alive, n.draining,
  n.leader, n.communes.map((c) => c.id), n.brokers.map((b) => [b.name, b.connected, b.communes])])]);

/**
 * The cluster's part of a page: { warning, nodes } elements that follow the cluster every 10 s while
 * on screen (`nodes` only when asked for), or null when the database has no controller nodes.
 */
export async function cluster({ nodes = true } = {}) {
  let view;
  try { view = await api("/api/v1/nodes"); } catch { return null; }  // a server without nodes: nothing to add
  if (!view || !view.nodes || !view.nodes.length) return null;
  const top = h("div", { "data-testid": "cluster-warning" });
  const bottom = nodes ? h("section", { "data-testid": "cluster-nodes" }) : null;
  const msg = h("div", { role: "status" });
  const draw = (v) => {
    top.replaceChildren(...[warning(v)].filter(Boolean));
    if (bottom) bottom.replaceChildren(h("h2", {}, t("nodes")), msg, nodesTable(v, msg));
  };
  draw(view);
  let last = signature(view);
  const poll = () => setTimeout(async () => {
    if (!top.isConnected) return;
    try {
      const v = await api("/api/v1/nodes");
      if (top.isConnected && signature(v) !== last) { last = signature(v); draw(v); }
    } catch { /* shown again at the next poll or page */ }
    poll();
  }, 10000);
  poll();
  return { warning: top, nodes: bottom };
}
