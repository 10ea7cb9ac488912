// The dashboard's stylesheet: system fonts, a grid that folds to one column on a phone.
export const STYLE = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;color:#111827;background:#f6f7f9}
h1{font-size:20px;margin:0}h2{font-size:15px;margin:0 0 .6rem}
main{max-width:1200px;margin:0 auto;padding:1rem}
.top{display:flex;justify-content:space-between;align-items:center;padding:.75rem 1rem;background:#111827;color:#fff}
.top h1{color:#fff}.top a{color:#cbd5e1}.link{background:none;border:0;color:#cbd5e1;cursor:pointer;font:inherit}
.muted{color:#6b7280}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}
.error{color:#b91c1c}
.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-end;background:#fff;padding:.75rem;border-radius:8px;border:1px solid #e5e7eb}
.filters label{display:flex;flex-direction:column;font-size:12px;color:#4b5563;gap:.2rem}
select,input{font:inherit;padding:.35rem .45rem;border:1px solid #d1d5db;border-radius:6px;background:#fff;min-width:8rem}
button,.button{font:inherit;padding:.4rem .9rem;border-radius:6px;border:1px solid #1d4ed8;background:#2563eb;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
.period{margin:.5rem 0 1rem}
.cards{display:grid;grid-template-columns:repeat(6,minmax(0,1fr));gap:.6rem;margin-bottom:1rem}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:.7rem .8rem}
.card .label{font-size:12px;color:#6b7280}.card .value{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.card.strong .value{color:#1d4ed8}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:.9rem;margin-bottom:1rem;min-width:0;overflow-x:auto}
.panel-head{display:flex;justify-content:space-between;align-items:center;margin-bottom:.5rem}.panel-head h2{margin:0}
.two{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #f0f1f3;vertical-align:top}
th{font-size:12px;color:#6b7280;font-weight:500;white-space:nowrap}
.num{text-align:right;white-space:nowrap}
.scroll{overflow-x:auto}.log td{white-space:nowrap}.log td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:9rem;max-width:16rem}
.log{font-size:13px}.log td{padding:.35rem .4rem}.log .sub{font-size:12px}.log .prices{font-size:11.5px;line-height:1.3}.log .cost{font-weight:600}.log .request{color:#4b5563}
.copy{font-size:11px;padding:0 .35rem;border-radius:4px;border:1px solid #d1d5db;background:#f9fafb;color:#374151}
.tag{display:inline-block;font-size:11px;padding:0 .3rem;margin:.1rem .2rem 0 0;border-radius:4px;background:#eef2ff;color:#3730a3}
.note{font-size:12px;margin:.4rem 0 0}
td.name{word-break:keep-all;overflow-wrap:break-word;min-width:9rem}.id{overflow-wrap:anywhere;min-width:8rem}td.text{min-width:10rem}.nowrap,td.date{white-space:nowrap}
.refused{display:inline-block;white-space:nowrap;margin-right:.5rem;font-size:12.5px}
.badge{font-size:11.5px;padding:.05rem .4rem;border-radius:999px}.badge.ok{background:#dcfce7;color:#166534}.badge.bad{background:#fee2e2;color:#991b1b}
.barcell{width:30%}#keys .barcell{width:12%;min-width:5rem}.price{white-space:normal;min-width:8rem}.bar{display:block;height:8px;border-radius:4px;background:#93c5fd}.barpct{font-size:.75rem;color:#6b7280}
.chart{margin:0}.chart svg{width:100%;height:220px}.chart .axis{stroke:#d1d5db}
.chart rect.cost{fill:#2563eb}.chart circle.tokens{fill:#f59e0b}.chart text{font-size:11px;fill:#6b7280}
figcaption{font-size:12px;color:#6b7280;margin-top:.3rem}.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 .25rem 0 .6rem}
.swatch.cost{background:#2563eb}.swatch.tokens{background:#f59e0b;border-radius:50%}
details{margin-top:.6rem}summary{cursor:pointer;color:#374151}
.login{max-width:360px;margin:12vh auto;background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:1.5rem}
.login form{display:flex;flex-direction:column;gap:.6rem;margin-top:1rem}.login input{width:100%}
@media (max-width:900px){.cards{grid-template-columns:repeat(2,minmax(0,1fr))}.two{grid-template-columns:1fr}.barcell{display:none}}
@media (max-width:600px){main{padding:.6rem}.panel{padding:.7rem}th,td{padding:.3rem .3rem}td.name{min-width:6rem}
/* table.stack on a phone: each row a block, each cell a line with its column's name before it */
table.stack thead{display:none}table.stack,table.stack tbody,table.stack tr{display:block;width:100%}table.stack tr{border-bottom:1px solid #e5e7eb;padding:.3rem 0}
table.stack td{display:flex;justify-content:space-between;gap:.8rem;border:0;padding:.15rem .2rem;text-align:right;min-width:0}
table.stack td::before{content:attr(data-label);color:#6b7280;font-size:12px;text-align:left;flex:none}}
`;

/** The usage log's copy buttons: the whole request id to the clipboard (the cell shows it shortened). */
export const COPY_SCRIPT = `document.addEventListener('click',function(e){var b=e.target.closest&&e.target.closest('button[data-copy]');if(!b||!navigator.clipboard)return;navigator.clipboard.writeText(b.getAttribute('data-copy')).then(function(){b.textContent='copied';setTimeout(function(){b.textContent='copy'},1200)})});`;
