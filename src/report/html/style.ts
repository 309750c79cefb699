/** The HTML report's stylesheet: plain, printable, readable in a screenshot. */
export const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fff; }
header { padding: 12px 20px; background: #f3f5f8; border-bottom: 1px solid #d8dde5; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 0 0 6px; border-bottom: 1px solid #d8dde5; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dt { color: #667; }
dd { margin: 0; }
nav { padding: 6px 20px; border-bottom: 1px solid #eee; }
nav a { margin-right: 16px; color: #1f5fa8; text-decoration: none; }
main { padding: 0 20px; }
section { padding: 14px 0 18px; }
footer { padding: 10px 20px; color: #889; font-size: 12px; }
.note { color: #556; margin: 2px 0 8px; }
.warn { color: #a31; font-weight: 600; margin: 6px 0 0; }
table { border-collapse: collapse; margin: 4px 0 10px; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e4e7ec; text-align: left; white-space: nowrap; }
td { max-width: 420px; overflow: hidden; text-overflow: ellipsis; }
th { background: #f3f5f8; cursor: pointer; user-select: none; }
th[data-sorted="up"]::after { content: " \\25B2"; font-size: 10px; }
th[data-sorted="down"]::after { content: " \\25BC"; font-size: 10px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: bottom; color: #889; text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 6px 18px; }
figure { margin: 0; }
figcaption { font-size: 12px; color: #445; }
svg.bars text { font-size: 10px; fill: #445; }
svg.bars text.v { fill: #222; }
#icicle text { font: 11px monospace; fill: #111; pointer-events: none; }
#icicle g[data-taker] text { font-weight: bold; }
.pick label { margin: 0 14px 0 4px; }
.marks span { display: inline-block; margin-right: 14px; border-left: 3px solid; padding-left: 5px; font-size: 12px; }
.chart { margin-bottom: 6px; }
.tip { display: none; position: sticky; bottom: 8px; background: #fffbe6; border: 1px solid #e0c060; padding: 4px 8px; font-size: 12px; max-width: 900px; }
`;
