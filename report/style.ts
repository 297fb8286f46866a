/**
 * The report page's stylesheet, inlined into `index.html`.
 *
 * Inline because the page must open from a CI artifact or a mail attachment with nothing else
 * beside it: no web fonts, no external CSS. System fonts only; tables scroll sideways inside
 * their section rather than widening the page, so a long replay line never hides the verdicts.
 */
export const stylesheet = `
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --paper: #ffffff; --wash: #f8fafc;
  --pass: #15803d; --pass-bg: #dcfce7; --fail: #b91c1c; --fail-bg: #fee2e2; --skip: #4b5563; --skip-bg: #e5e7eb;
  --warn: #a16207; --warn-bg: #fef9c3; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--wash); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 26px; margin: 0 0 8px; display: flex; align-items: center; gap: 12px; }
h2 { font-size: 20px; margin: 36px 0 4px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 26px 0 8px; }
p.lead { max-width: 900px; margin: 4px 0 14px; }
.meta, .muted { color: var(--muted); }
.meta { font-size: 12.5px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; padding: 0; list-style: none; }
.card { background: var(--paper); border: 1px solid var(--line); border-left: 5px solid var(--pass); border-radius: 8px;
  padding: 10px 14px; min-width: 200px; }
.card.failed { border-left-color: var(--fail); }
.card b { display: block; font-size: 20px; }
.card span { color: var(--muted); font-size: 12.5px; }
.problems { background: var(--fail-bg); border: 1px solid #fecaca; border-radius: 8px; padding: 8px 14px 8px 30px; }
section.backend { background: var(--paper); border: 1px solid var(--line); border-radius: 10px; padding: 4px 20px 20px; margin: 24px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: var(--paper); font-size: 13px; }
caption { text-align: left; color: var(--muted); padding: 4px 0 8px; font-size: 12.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
thead th { background: #f1f5f9; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fbfdff; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; white-space: nowrap; }
span.id { background: #f1f5f9; border-radius: 4px; padding: 0 4px; margin-right: 2px; }
span.id.hit { background: var(--pass-bg); color: var(--pass); font-weight: 600; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; background: #f1f5f9; border-radius: 4px;
  padding: 1px 4px; word-break: break-all; }
.reason { color: var(--fail); font-size: 12.5px; margin-top: 2px; }
.pill { display: inline-block; border-radius: 999px; padding: 1px 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.pill.passed { background: var(--pass-bg); color: var(--pass); }
.pill.failed { background: var(--fail-bg); color: var(--fail); }
.pill.skipped { background: var(--skip-bg); color: var(--skip); }
.pill.warning { background: var(--warn-bg); color: var(--warn); }
h1 .pill { font-size: 15px; padding: 3px 14px; }
table.heatmap { width: auto; }
table.heatmap td { text-align: center; min-width: 118px; font-variant-numeric: tabular-nums; font-weight: 600; }
table.heatmap td small { font-weight: 400; opacity: 0.8; }
table.heatmap td.cold { color: #cbd5e1; background: var(--paper); }
table.heatmap tbody th { font-weight: 400; background: var(--paper); }
table.heatmap th.point { border-right: 1px solid var(--line); }
table.paths { width: auto; min-width: 480px; }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; font-size: 12px; margin: 8px 0; }
.legend .ramp { display: inline-block; width: 160px; height: 12px; border-radius: 3px; }
.swatch i { display: inline-block; width: 12px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
figure.timeline { margin: 0; overflow-x: auto; }
figure figcaption { color: var(--muted); font-size: 12.5px; margin-bottom: 6px; }
svg.lanes { width: 100%; height: auto; min-width: 760px; display: block; }
svg.lanes .band { fill: var(--paper); stroke: var(--line); }
svg.lanes g[data-track]:nth-of-type(odd) .band { fill: #f8fafc; }
svg.lanes .lane-label { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; fill: var(--ink); }
svg.lanes .grid { stroke: #e2e8f0; stroke-dasharray: 2 3; }
svg.lanes .tick { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: var(--muted); text-anchor: middle; }
svg.lanes .tick.unit { text-anchor: start; }
.gallery { display: flex; flex-wrap: wrap; gap: 16px; }
.gallery figure { margin: 0; background: var(--wash); border: 1px solid var(--line); border-radius: 8px; padding: 8px; }
.gallery img { display: block; width: 192px; height: auto; image-rendering: pixelated; }
.gallery figcaption { text-align: center; margin: 6px 0 0; }
footer { padding: 8px 24px 40px; }
`
