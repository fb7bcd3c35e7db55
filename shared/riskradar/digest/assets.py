"""The digest page's inline stylesheet and its one script (allowed by hash in the page's CSP).

The script only filters: it reads the per-cell counts embedded as JSON and, for the chosen business
and reporter role, hides the themes without reports there and redraws each one's counts,
sparkline and split bars. Everything is readable without it: the server renders the page for
"all businesses, all roles" and the filter bar stays hidden until the script shows it. The
script writes numbers and fixed strings only (textContent, SVG attributes): no report text goes
through it, and it never builds markup from strings.
"""

# One CSS rule per line reads better than rules broken at 110 columns.
# ruff: noqa: E501
from __future__ import annotations

from typing import Final

__all__ = ["SCRIPT", "SPARK_HEIGHT", "SPARK_WIDTH", "STYLE"]

#: The sparkline's viewBox; the script draws with the same numbers (see sparkPaths in SCRIPT).
SPARK_WIDTH: Final = 300
SPARK_HEIGHT: Final = 56

STYLE: Final = """
:root {
  --bg: #f5f6f8; --card: #fff; --ink: #1b2230; --muted: #5d6676; --faint: #8a93a3;
  --line: #e2e5ea; --line-strong: #cdd2da; --accent: #3b5bdb; --accent-soft: #e8edfd;
  --red: #b42318; --red-soft: #fdeceb; --amber: #8a4b0f; --amber-soft: #fdf1dc;
  --green: #1d6b3a; --green-soft: #e1f4e7; --grey-soft: #eceef2; --blue: #1e4fa8; --blue-soft: #e0e9fb;
  --radius: 10px;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif;
  font-variant-numeric: tabular-nums;
}
.wrap { max-width: 1120px; margin: 0 auto; padding: 0 20px; }
h1, h2, h3, h4 { line-height: 1.25; margin: 0; }
h1 { font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
h2 { font-size: 19px; font-weight: 650; display: flex; align-items: baseline; gap: 10px; }
h2 .count { font-size: 14px; font-weight: 500; color: var(--muted); }
h3 { font-size: 18px; font-weight: 620; }
h4 { font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); margin-bottom: 6px; }
p { margin: 0; }
.muted { color: var(--muted); }
.faint { color: var(--faint); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }

.top { background: var(--card); border-bottom: 1px solid var(--line); padding: 24px 0 20px; }
.eyebrow { font-size: 12px; font-weight: 600; letter-spacing: 0.08em; text-transform: uppercase; color: var(--accent); margin-bottom: 4px; }
.meta { color: var(--muted); margin-top: 6px; font-size: 14px; }
.stats { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 12px; margin: 18px 0 0; }
.stat { border: 1px solid var(--line); border-radius: var(--radius); padding: 10px 14px; background: #fbfbfc; }
.stat dt { font-size: 12px; color: var(--muted); }
.stat dd { margin: 2px 0 0; font-size: 22px; font-weight: 650; }
.stat dd small { font-size: 13px; font-weight: 500; color: var(--muted); margin-left: 4px; }

.filters { position: sticky; top: 0; z-index: 5; background: rgba(245, 246, 248, 0.94); border-bottom: 1px solid var(--line); backdrop-filter: blur(6px); }
.filters .wrap { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 18px; padding-top: 10px; padding-bottom: 10px; font-size: 14px; }
.filters label { display: flex; align-items: center; gap: 8px; color: var(--muted); }
.filters select { font: inherit; color: var(--ink); padding: 5px 28px 5px 10px; border: 1px solid var(--line-strong); border-radius: 8px; background: var(--card); }
.filter-note { color: var(--muted); }

main { padding-bottom: 48px; }
section.group { margin-top: 30px; }
.lede { color: var(--muted); margin: 4px 0 14px; font-size: 14px; max-width: 760px; }
.caveat { margin-top: 20px; padding: 10px 14px; border-radius: var(--radius); background: var(--amber-soft); color: var(--amber); font-size: 14px; }
.empty { padding: 18px; border: 1px dashed var(--line-strong); border-radius: var(--radius); color: var(--muted); background: var(--card); }

.badge { display: inline-block; font-size: 11.5px; font-weight: 650; letter-spacing: 0.04em; text-transform: uppercase; padding: 2px 8px; border-radius: 999px; background: var(--grey-soft); color: var(--muted); white-space: nowrap; }
.badge-emerging { background: var(--red); color: #fff; }
.badge-fraud { background: var(--red-soft); color: var(--red); }
.badge-abuse { background: var(--amber-soft); color: var(--amber); }
.badge-benign { background: var(--green-soft); color: var(--green); }
.badge-needs_review { background: var(--grey-soft); color: #3d4452; }
.badge-new { background: var(--blue-soft); color: var(--blue); }
.badge-merged { background: var(--grey-soft); color: var(--muted); }
.badge-active { background: var(--green-soft); color: var(--green); }
.badge-scheduled { background: var(--blue-soft); color: var(--blue); }
.badge-ended { background: var(--grey-soft); color: var(--muted); }
.badge-ok { background: var(--accent-soft); color: var(--accent); }

.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); margin-bottom: 16px; box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); overflow: hidden; }
.card.is-emerging { border-left: 4px solid var(--red); }
.card-head { padding: 16px 20px 12px; display: grid; grid-template-columns: 1fr auto; gap: 6px 16px; }
.card-head .badges { display: flex; flex-wrap: wrap; gap: 6px; grid-column: 1; }
.card-head .rank { grid-column: 2; grid-row: 1 / span 2; text-align: right; color: var(--faint); font-size: 13px; }
.card-head .rank strong { display: block; font-size: 20px; color: var(--muted); font-weight: 600; }
.card-head h3 { grid-column: 1; overflow-wrap: anywhere; }
.keywords { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 6px; }
.kw { font-size: 13px; color: #394150; background: var(--grey-soft); border-radius: 6px; padding: 1px 8px; overflow-wrap: anywhere; }
.lineage { grid-column: 1 / -1; font-size: 13px; color: var(--muted); }
.card-body { display: grid; grid-template-columns: 1.35fr 0.75fr 1fr; border-top: 1px solid var(--line); }
.card-body > div { padding: 14px 20px; min-width: 0; }
.card-body > div + div { border-left: 1px solid var(--line); }
.figure { display: flex; align-items: baseline; gap: 6px; flex-wrap: wrap; }
.big { font-size: 24px; font-weight: 680; letter-spacing: -0.01em; }
.spark { display: block; width: 100%; height: 56px; margin: 8px 0 2px; overflow: visible; }
svg[data-spark] .area { fill: var(--accent-soft); }
svg[data-spark] .line { fill: none; stroke: var(--accent); stroke-width: 2; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
svg[data-spark] .partial { fill: none; stroke: var(--accent); stroke-width: 2; stroke-dasharray: 3 3; vector-effect: non-scaling-stroke; }
.card.is-emerging svg[data-spark] .area { fill: var(--red-soft); }
.card.is-emerging svg[data-spark] .line,
.card.is-emerging svg[data-spark] .partial { stroke: var(--red); }
.axis { display: flex; justify-content: space-between; font-size: 12px; color: var(--faint); }
.note { font-size: 13.5px; margin-top: 8px; }
.note strong { font-weight: 650; }
.up { color: var(--red); font-weight: 650; }
.split-row + .split-row { margin-top: 12px; }
.bar { display: block; width: 100%; height: 10px; border-radius: 5px; margin: 4px 0 5px; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 12px; font-size: 12.5px; color: var(--muted); list-style: none; padding: 0; margin: 0; }
.legend li { display: flex; align-items: center; gap: 5px; }
.legend svg { width: 9px; height: 9px; flex: none; }
.card-detail { display: grid; grid-template-columns: 1fr 1.3fr; border-top: 1px solid var(--line); }
.card-detail.single { grid-template-columns: 1fr; }
.card-detail > section { padding: 14px 20px; min-width: 0; }
.card-detail > section + section { border-left: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; padding: 4px 8px 4px 0; border-bottom: 1px solid var(--line); }
td { padding: 5px 8px 5px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; }
.example { margin: 0 0 8px; padding: 8px 12px; border-left: 3px solid var(--line-strong); background: #fafbfc; border-radius: 0 6px 6px 0; font-size: 14px; white-space: pre-wrap; overflow-wrap: anywhere; }
.example:last-child { margin-bottom: 0; }
.card-foot { border-top: 1px solid var(--line); padding: 12px 20px 14px; background: #fbfbfc; font-size: 14px; display: grid; gap: 8px; }
.verdict-note { color: var(--muted); overflow-wrap: anywhere; }
.interventions { list-style: none; margin: 0; padding: 0; display: grid; gap: 8px; }
.intervention .what { overflow-wrap: anywhere; }
.effect { margin-top: 3px; font-size: 13.5px; color: var(--muted); overflow-wrap: anywhere; }
.effect .figures { color: var(--faint); }
details summary { cursor: pointer; color: var(--muted); font-size: 13px; }
details ul { margin: 6px 0 0; padding-left: 0; list-style: none; font-size: 13px; }
details li { display: flex; gap: 10px; }
details li .pts { width: 44px; text-align: right; font-weight: 600; flex: none; }
.pos { color: var(--red); }
.neg { color: var(--green); }
.id-line { font-size: 12.5px; color: var(--faint); }

.table-wrap { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); overflow-x: auto; }
.table-wrap table { min-width: 640px; }
.table-wrap th, .table-wrap td { padding: 8px 12px; }
.table-wrap td .badge { margin-left: 6px; }
.mini { width: 96px; height: 22px; display: block; }
.mini .line, .mini .partial { stroke-width: 1.5; }
footer.page { margin-top: 36px; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); padding-top: 14px; }
footer.page p + p { margin-top: 6px; }
[hidden] { display: none !important; }

@media (max-width: 820px) {
  .stats { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .card-body, .card-detail { grid-template-columns: 1fr; }
  .card-body > div + div, .card-detail > section + section { border-left: 0; border-top: 1px solid var(--line); }
}
@media (max-width: 480px) {
  .wrap { padding: 0 12px; }
  .filters .wrap { gap: 6px 12px; padding-top: 8px; padding-bottom: 8px; }
  .filter-note { display: none; }
  .stats { grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 8px; margin-top: 14px; }
  .stat { padding: 8px 10px; }
  .stat dd { font-size: 18px; }
  .top { padding: 18px 0 16px; }
  h1 { font-size: 22px; }
  .card-head, .card-body > div, .card-detail > section, .card-foot { padding-left: 14px; padding-right: 14px; }
}
@media print {
  .filters { display: none; }
  .card { break-inside: avoid; }
}
"""

SCRIPT: Final = """
(function () {
  "use strict";
  var W = __WIDTH__, H = __HEIGHT__;
  var data = JSON.parse(document.getElementById("digest-data").textContent);
  var business = document.getElementById("filter-business");
  var role = document.getElementById("filter-role");
  var fmt = new Intl.NumberFormat("en-US");

  function series(cells, b, r) {
    var out = data.days.map(function () { return 0; });
    cells.forEach(function (cell) {
      if ((b === "" || cell[0] === b) && (r === "" || cell[1] === r)) {
        cell[2].forEach(function (value, day) { out[day] += value; });
      }
    });
    return out;
  }
  function total(values) { return values.reduce(function (a, b) { return a + b; }, 0); }
  function money(usd) {
    if (usd <= 0) { return "$0"; }
    if (usd < 0.5) { return "< $1"; }
    if (usd < 1000) { return "$" + fmt.format(Math.round(usd)); }
    var units = [[1e3, "k"], [1e6, "M"], [1e9, "B"]];
    for (var i = 0; i < units.length; i++) {
      var scaled = usd / units[i][0];
      var text = scaled < 99.95 ? scaled.toFixed(1) : fmt.format(Math.round(scaled));
      if (units[i][1] === "B" || Number(text.replace(/,/g, "")) < 1000) { return "$" + text + units[i][1]; }
    }
    return "$" + fmt.format(Math.round(usd));
  }
  // The same geometry as riskradar.digest.html_page._spark_paths.
  function sparkPaths(counts) {
    var n = counts.length, peak = Math.max.apply(null, counts.concat([1]));
    var pts = counts.map(function (c, i) {
      var x = n > 1 ? i * W / (n - 1) : W / 2;
      var y = H - 2 - (c / peak) * (H - 6);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    if (n === 0) { return ["", "", ""]; }
    var whole = n > 1 ? pts.slice(0, n - 1) : pts;
    var area = "M" + pts[0].split(",")[0] + "," + H + " L" + pts.join(" L") + " L" + pts[n - 1].split(",")[0] + "," + H + " Z";
    var line = "M" + whole.join(" L");
    var partial = n > 1 ? "M" + pts[n - 2] + " L" + pts[n - 1] : "";
    return [area, line, partial];
  }
  function drawSpark(svg, counts) {
    var paths = sparkPaths(counts);
    svg.querySelector(".area").setAttribute("d", paths[0]);
    svg.querySelector(".line").setAttribute("d", paths[1]);
    svg.querySelector(".partial").setAttribute("d", paths[2]);
  }
  function drawBar(container, parts) {
    var sum = total(parts.map(function (p) { return p[1]; }));
    container.querySelectorAll("[data-part]").forEach(function (item) {
      var key = item.getAttribute("data-part");
      var value = 0;
      parts.forEach(function (p) { if (p[0] === key) { value = p[1]; } });
      var share = sum ? value / sum : 0;
      var rect = container.querySelector('rect[data-part-rect="' + item.getAttribute("data-index") + '"]');
      item.hidden = value === 0;
      item.querySelector("[data-share]").textContent = Math.round(share * 100) + "%";
      if (rect) { rect.setAttribute("width", (share * 100).toFixed(2) + "%"); }
    });
    var x = 0;
    container.querySelectorAll("rect[data-part-rect]").forEach(function (rect) {
      rect.setAttribute("x", x.toFixed(2) + "%");
      x += parseFloat(rect.getAttribute("width"));
    });
  }
  function grouped(cells, b, r, index) {
    var sums = {};
    cells.forEach(function (cell) {
      if ((b === "" || cell[0] === b) && (r === "" || cell[1] === r)) {
        sums[cell[index]] = (sums[cell[index]] || 0) + total(cell[2]);
      }
    });
    return Object.keys(sums).map(function (key) { return [key, sums[key]]; });
  }
  function setText(root, selector, text) {
    var el = root.querySelector(selector);
    if (el) { el.textContent = text; }
  }
  function describe(b, r) {
    if (b === "" && r === "") { return ""; }
    var parts = [];
    if (b !== "") { parts.push(b); }
    if (r !== "") { parts.push("reported by " + r + "s"); }
    return parts.join(", ");
  }

  function apply() {
    var b = business.value, r = role.value, filtered = b !== "" || r !== "";
    var where = describe(b, r);
    document.querySelectorAll("[data-theme]").forEach(function (el) {
      var theme = data.themes[el.getAttribute("data-theme")];
      if (!theme) { return; }
      var daily = series(theme.cells, b, r), n = total(daily);
      el.hidden = filtered && n === 0;
      setText(el, "[data-count]", fmt.format(n));
      setText(el, "[data-count-unit]", n === 1 ? "report" : "reports");
      setText(el, "[data-where]", where ? "in " + where : "");
      setText(el, "[data-peak]", "peak " + fmt.format(Math.max.apply(null, daily.concat([0]))) + "/day");
      el.querySelectorAll("svg[data-spark]").forEach(function (svg) { drawSpark(svg, daily); });
      var usd = b === "" ? theme.money : (theme.money_by_business[b] || 0);
      setText(el, "[data-money]", money(usd));
      // Money is kept per business, not per reporter role: say so rather than imply it.
      var note = b === "" ? (r === "" ? theme.money_note : "all reporter roles") : "in " + b;
      setText(el, "[data-money-note]", r === "" || b === "" ? note : note + ", all reporter roles");
      el.querySelectorAll("[data-split]").forEach(function (bar) {
        var by = bar.getAttribute("data-split");
        drawBar(bar, grouped(theme.cells, b, r, by === "business" ? 0 : 1));
      });
    });
    document.querySelectorAll("[data-group]").forEach(function (group) {
      var items = group.querySelectorAll("[data-theme]"), visible = 0;
      items.forEach(function (el) { if (!el.hidden) { visible += 1; } });
      setText(group, "[data-group-count]", filtered ? visible + " of " + items.length : String(items.length));
      var none = group.querySelector("[data-none]");
      if (none) { none.hidden = !(filtered && items.length > 0 && visible === 0); }
    });
    var volume = total(series(data.volume, b, r)), pool = total(series(data.pool, b, r));
    setText(document, "[data-total-reports]", fmt.format(volume));
    setText(document, "[data-total-pool]", fmt.format(pool));
    setText(document, "[data-total-pool-share]", volume ? Math.round(100 * pool / volume) + "%" : "");
    var usd = data.money;
    if (b !== "") {
      usd = data.pool_money_by_business[b] || 0;
      Object.keys(data.themes).forEach(function (id) { usd += data.themes[id].money_by_business[b] || 0; });
    }
    setText(document, "[data-total-money]", money(usd));
    var moneyWhere = b === "" ? "" : "in " + b;
    if (r !== "") { moneyWhere = moneyWhere ? moneyWhere + ", all reporter roles" : "all reporter roles"; }
    setText(document, "[data-total-money-where]", moneyWhere);
    setText(document, "[data-total-where]", where ? "in " + where : "");
    document.querySelectorAll("[data-filter-note]").forEach(function (el) {
      el.textContent = !filtered ? "" : r === ""
        ? "Counts, charts and money show " + where + " only."
        : "Counts and charts show " + where + " only; money is not split by reporter role.";
    });
  }

  document.querySelector("[data-filters]").hidden = false;
  business.addEventListener("change", apply);
  role.addEventListener("change", apply);
  if (business.value !== "" || role.value !== "") { apply(); }
})();
""".replace("__WIDTH__", str(SPARK_WIDTH)).replace("__HEIGHT__", str(SPARK_HEIGHT))
