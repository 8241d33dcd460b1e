"""report.html: one self-contained page per run. No network, no CDN: the charts are SVG drawn by
matplotlib and written inline, the images are data URLs, the sample browser is a few lines of
plain JavaScript over a JSON block in the page. It opens from a laptop's disk or a CI artifact.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from llamav.evaluate.report.format import DIGITS, number, scale_code
from llamav.evaluate.results import RunResults
from llamav.records import Sample

THUMBNAIL = 384  # longest side of an embedded image, in pixels: a 1,000-sample report stays a few MB

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:6px 0 0;color:#c9d1d9;font-size:14px}
main{padding:20px 28px;max-width:1280px;margin:auto}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin-bottom:18px}
h2{font-size:17px;margin:0 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 200px;border:1px solid #d0d7de;border-radius:8px;padding:12px 14px}
.card .v{font-size:26px;font-weight:600}.card .l{font-size:13px;color:#57606a}.card .s{font-size:12px;color:#57606a}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.chart{flex:1 1 420px;max-width:600px}.chart svg{width:100%;height:auto}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{border-bottom:1px solid #eaeef2;padding:5px 8px;text-align:left}
th{background:#f6f8fa}
.filters{display:flex;gap:10px;flex-wrap:wrap;margin-bottom:10px}.filters input,.filters select{padding:5px 8px;font-size:13px}
#samples tbody tr{cursor:pointer}#samples tbody tr:hover{background:#f3f6fa}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.fail{color:#9a6700;font-weight:600}
#detail{display:none;position:fixed;top:0;right:0;bottom:0;width:min(720px,92vw);overflow:auto;background:#fff;border-left:2px solid #24292f;box-shadow:-6px 0 18px rgba(0,0,0,.18);padding:14px 20px;z-index:10}
#detail .close{float:right;font-size:20px;border:0;background:none;cursor:pointer}
#samples tbody tr.open{background:#ddf4ff}
#detail .cols{display:flex;gap:18px;flex-wrap:wrap}#detail .col{flex:1 1 320px;min-width:280px}
#detail img{max-width:100%;border:1px solid #d0d7de;border-radius:4px}
.stage{border-left:3px solid #0969da;padding:2px 10px;margin:8px 0;white-space:pre-wrap;font-size:13px}
.stage b{display:block;font-size:12px;color:#0969da;text-transform:uppercase}
ol{padding-left:20px;font-size:13px}.muted{color:#57606a;font-size:12px}
"""

_SCRIPT = """
const DATA = JSON.parse(document.getElementById('sample-data').textContent);
const body = document.querySelector('#samples tbody');
const DIGITS = JSON.parse(document.getElementById('digits').textContent);
const num = (v, m) => (v === undefined || v === null) ? '-' : (Number.isInteger(v) ? String(v) : v.toFixed(DIGITS[m] ?? 4));
const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
function status(s) {
  if (s.failures.length && (!s.answer || s.answer.value === null)) return 'failed';
  if (!s.answer) return s.failures.length ? 'failed' : 'scored';
  return s.answer.value === 1 ? 'correct' : 'wrong';
}
function row(s, i) {
  const st = status(s);
  const cls = {correct: 'ok', wrong: 'bad', failed: 'fail'}[st] || '';
  const steps = Object.entries(s.steps_scores).map(([m, v]) => num(v, m)).join(' / ');
  return `<tr data-i="${i}"><td>${esc(s.id)}</td><td>${esc(s.category)}</td><td>${esc(s.question).slice(0, 90)}</td>` +
         `<td>${esc(s.predicted)}</td><td>${esc(s.reference_answer)}</td><td class="${cls}">${st}</td><td>${steps}</td></tr>`;
}
function render() {
  const q = document.getElementById('q').value.toLowerCase();
  const cat = document.getElementById('cat').value, st = document.getElementById('st').value;
  const rows = [];
  DATA.forEach((s, i) => {
    if (cat && s.category !== cat) return;
    if (st && status(s) !== st) return;
    if (q && !(s.id + ' ' + s.question + ' ' + s.predicted).toLowerCase().includes(q)) return;
    rows.push(row(s, i));
  });
  body.innerHTML = rows.join('');
  document.getElementById('shown').textContent = `${rows.length} of ${DATA.length} samples`;
}
function open_(i) {
  const s = DATA[i], d = document.getElementById('detail');
  const stages = Object.entries(s.stages).map(([k, v]) => `<div class="stage"><b>${esc(k)}</b>${esc(v)}</div>`).join('');
  const scores = Object.entries(s.scores).map(([m, v]) =>
    `<tr><td>${esc(m)}</td><td>${num(v.value, m)}</td><td>${esc(v.decided_by)}</td><td>${esc(v.error)}</td>` +
    `<td>${num(s.floor[m], m)}</td></tr>`).join('');
  d.innerHTML = `<button class="close" title="close (Esc)" aria-label="close">&times;</button>` +
    `<h2 id="detail-title">Sample ${esc(s.id)} <span class="muted">${esc(s.category)}</span></h2>` +
    `<div class="cols"><div class="col">${s.image ? `<img alt="sample image" src="${s.image}">` : ''}` +
    `<p><b>Question.</b> ${esc(s.question)}</p><p><b>Reference answer:</b> ${esc(s.reference_answer)}</p>` +
    `<b>Reference chain</b><ol>${s.reference_steps.map(x => `<li>${esc(x)}</li>`).join('')}</ol></div>` +
    `<div class="col"><b>Predicted chain</b>${stages || '<p class="muted">no prediction</p>'}` +
    `<b>Steps</b><ol>${s.pred_steps.map(x => `<li>${esc(x)}</li>`).join('')}</ol>` +
    `<p><b>Predicted answer:</b> ${esc(s.predicted)}</p>` +
    `<table><thead><tr><th>metric</th><th>score</th><th>decided by</th><th>error</th><th>floor</th></tr></thead><tbody>${scores}</tbody></table>` +
    (s.failures.length ? `<p class="fail">${s.failures.map(f => esc(f.stage + ': ' + f.reason)).join('<br>')}</p>` : '') +
    `</div></div>`;
  d.style.display = 'block';
  d.scrollTop = 0;
  body.querySelectorAll('tr.open').forEach(tr => tr.classList.remove('open'));
  const tr = body.querySelector(`tr[data-i="${i}"]`); if (tr) tr.classList.add('open');
  d.querySelector('.close').addEventListener('click', close_);
}
function close_() { document.getElementById('detail').style.display = 'none'; }
document.addEventListener('keydown', e => { if (e.key === 'Escape') close_(); });
body.addEventListener('click', e => { const tr = e.target.closest('tr'); if (tr) open_(+tr.dataset.i); });
['q', 'cat', 'st'].forEach(id => document.getElementById(id).addEventListener('input', render));
render();
"""


def _svg(figure) -> str:
    plt = _pyplot()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: the SVG sits inside HTML
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)  # the RDF block says only "matplotlib"


def _pyplot():
    # matplotlib (half a second to import) only when a chart is drawn, not on every command's start.
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # after choosing the backend: pyplot picks one on import

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 10})
    return plt


def _panels(results: RunResults) -> list[tuple[str, str]]:
    """(metric, scale code) of each per-category panel: the answer, then each chain metric."""
    panels = [("answer", "binary")] if "answer" in results.metrics else []
    return panels + [(m, scale_code(e.scale)) for m, e in results.chain_metrics.items()]


def category_bars(results: RunResults) -> str | None:
    """Final answer % per category (with 95% intervals), and each chain score beside its floor."""
    categories = sorted(results.per_category)
    panels = _panels(results)
    if not categories or not panels:
        return None
    plt = _pyplot()
    figure_, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 0.45 * len(categories) + 1.6),
                                 sharey=True, squeeze=False)
    for ax, (metric, scale) in zip(axes[0], panels):
        factor = 100 if scale == "binary" else 1
        values, lows, highs, floors = [], [], [], []
        for category in categories:
            row = results.per_category[category]
            found = row.answer if metric == "answer" else row.chain_metrics.get(metric)
            mean = None if found is None else found.mean
            ci = None if found is None else found.ci95
            values.append(0 if mean is None else mean * factor)
            # An interval holds its mean; max(0, ...) keeps a rounding error from drawing a negative bar.
            lows.append(0 if not ci or mean is None else max(0.0, (mean - ci[0]) * factor))
            highs.append(0 if not ci or mean is None else max(0.0, (ci[1] - mean) * factor))
            floors.append(getattr(found, "floor_mean", None))
        y = range(len(categories))
        ax.barh(y, values, xerr=[lows, highs], color="#0969da", alpha=0.85, capsize=3, label="response")
        if any(f is not None for f in floors):
            ax.scatter([f if f is not None else float("nan") for f in floors], list(y), marker="|", s=300,
                       color="#cf222e", label="floor (foreign chain)", zorder=3)
            ax.legend(loc="lower right", fontsize=8)
        ax.set_yticks(list(y), categories)
        ax.invert_yaxis()
        ax.set_xlim(*((0, 100) if scale == "binary" else (1, 10) if scale == "1-10" else (0, 1)))
        ax.set_title("final answer %" if metric == "answer" else f"{metric} ({results.chain_metrics[metric].scale})")
        ax.grid(axis="x", alpha=0.3)
    figure_.tight_layout()
    return _svg(figure_)


def category_radar(results: RunResults) -> str | None:
    """Final answer % per category on a radar, like the paper's figure 1 (three categories or more)."""

    categories = sorted(c for c, row in results.per_category.items() if row.answer)
    if len(categories) < 3:
        return None
    plt = _pyplot()
    values = [(results.per_category[c].answer.mean or 0) * 100 for c in categories]
    angles = [2 * math.pi * i / len(categories) for i in range(len(categories))]
    figure_ = plt.figure(figsize=(5.2, 5.2))
    ax = figure_.add_subplot(projection="polar")
    ax.plot(angles + angles[:1], values + values[:1], color="#0969da", linewidth=2)
    ax.fill(angles + angles[:1], values + values[:1], color="#0969da", alpha=0.2)
    ax.set_xticks(angles, [c.replace(" & ", " &\n") for c in categories], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_title("final answer % by category", pad=18)
    return _svg(figure_)


def attribute_bars(results: RunResults) -> str | None:
    """The ten attributes of each chain metric: response beside floor."""
    metrics = [m for m, entry in results.per_attribute.items() if entry.response]
    if not metrics:
        return None
    plt = _pyplot()
    titles = results.attribute_titles()
    figure_, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        entry = results.per_attribute[metric]
        keys = [k for k in titles if k in entry.response]
        y = list(range(len(keys)))
        ax.barh([i - 0.2 for i in y], [entry.response.get(k, 0) for k in keys], height=0.4, color="#0969da",
                label="response")
        if entry.floor:
            ax.barh([i + 0.2 for i in y], [entry.floor.get(k, 0) for k in keys], height=0.4, color="#cf222e",
                    alpha=0.6, label="floor (foreign chain)")
        ax.set_yticks(y, [titles[k] for k in keys], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(*((1, 10) if scale_code(entry.scale) == "1-10" else (0, 1)))
        ax.set_title(f"{metric} per attribute ({entry.scale})")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    figure_.tight_layout()
    return _svg(figure_)


def image_data_url(sample: Sample) -> str | None:
    """A small JPEG of the sample's image as a data URL (None when it cannot be decoded)."""
    try:
        image = sample.pil_image()
    except Exception:  # noqa: BLE001  (an unreadable image is shown as missing, not fatal to the report)
        return None
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _browser_rows(lines: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> list[dict[str, Any]]:
    images = {s.id: s for s in samples}
    rows = []
    for line in lines:
        if "skipped" in line:
            continue
        prediction = line["prediction"] or {}
        rows.append({
            "id": line["sample_id"],
            "category": line["category"],
            "question": line["question"],
            "reference_answer": line["reference"]["final_answer"],
            "reference_steps": line["reference"]["steps"],
            "stages": prediction.get("stages", {}),
            "pred_steps": prediction.get("steps", []),
            "predicted": prediction.get("final_answer", ""),
            "answer": line["scores"].get("answer"),
            "scores": {m: {"value": s["value"], "decided_by": s["decided_by"], "error": s["error"]}
                       for m, s in line["scores"].items()},
            "steps_scores": {m: s["value"] for m, s in line["scores"].items() if m != "answer"},
            "floor": {m: f["value"] for m, f in line.get("floor", {}).items()},
            "failures": line["failures"],
            "image": image_data_url(images[line["sample_id"]]) if line["sample_id"] in images else None,
        })
    return rows


def script_json(value: Any) -> str:
    """JSON that can sit inside a <script> block whatever the text holds: every <, > and & is
    escaped, so no "</script>" or "<!--" in a question can end the block or change how the HTML
    parser reads it."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _cards(results: RunResults) -> str:
    cards = []
    if results.answer:
        a = results.answer
        sub = (f"95% CI {number(a.ci95[0], 'binary')}% to {number(a.ci95[1], 'binary')}%; over all {a.n} samples, "
               "failed = wrong") if a.ci95 else f"over all {a.n} samples"
        if a.undecided:
            sub += f"; {a.undecided} undecided (the reader declined; scored wrong)"
        cards.append(("Final answer", f"{number(a.mean, 'binary')}%", sub))
    for metric, entry in results.chain_metrics.items():
        floor = f"floor (foreign chain) {number(entry.floor.mean, entry.scale)}" if entry.floor else "no floor"
        cards.append((f"{metric} ({entry.scale})", number(entry.mean, entry.scale),
                      f"{floor}; {entry.scored} of {entry.n} scored"))
    cards.append(("Samples", str(results.n_total), f"{results.n_scored} scored, {results.n_failed} failed"))
    g = results.cost.generation
    cards.append(("Model calls", str(g.model_calls), f"{g.generated_tokens} tokens generated, {g.seconds:.1f} s"))
    return "".join(
        f'<div class="card"><div class="l">{html.escape(label)}</div><div class="v">{html.escape(value)}</div>'
        f'<div class="s">{html.escape(sub)}</div></div>'
        for label, value, sub in cards
    )


def _cost_table(results: RunResults) -> str:
    rows = []
    for name, entry in (("generation", results.cost.generation), ("judge", results.cost.judge)):
        if not entry:
            continue
        rows.append(f"<tr><td>{name}</td><td>{entry.model_calls}</td><td>{entry.prompt_tokens}</td>"
                    f"<td>{entry.generated_tokens}</td><td>{entry.seconds:.1f}</td></tr>")
    price = results.cost.price
    note = "" if price is None else f"<p>Price: {html.escape(json.dumps(price))}</p>"
    return ("<table><thead><tr><th>part</th><th>model calls</th><th>prompt tokens</th><th>generated tokens</th>"
            f"<th>seconds</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{note}")


def report_html(results: RunResults, lines: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> str:
    charts = [(title, svg) for title, svg in (
        ("Per category", category_bars(results)),
        ("Final answer by category", category_radar(results)),
        ("Per attribute", attribute_bars(results)),
    ) if svg]
    chart_html = "".join(f'<div class="chart" data-chart="{html.escape(t)}">{svg}</div>' for t, svg in charts)
    rows = _browser_rows(lines, samples)
    categories = sorted({r["category"] for r in rows})
    digits = {m: DIGITS[scale_code(e.scale)] for m, e in results.chain_metrics.items()}
    r = results
    title = f"{r.model} on {r.bench}"
    subtitle = (f"protocol {r.protocol}, strategy {r.strategy} ({r.beams} beams), seed {r.seed}, "
                f"llamav {r.llamav_version}, run {r.run_hash[:12]}")
    failures = "".join(
        f"<tr><td>{html.escape(f.sample_id)}</td><td>{html.escape(f.stage)}</td>"
        f"<td>{html.escape(f.reason[:300])}</td></tr>" for f in r.failures[:200]
    )
    failure_section = (f'<section id="failures"><h2>Failures ({r.n_failed})</h2><table><thead><tr><th>sample</th>'
                       f"<th>stage</th><th>reason</th></tr></thead><tbody>{failures}</tbody></table></section>"
                       if failures else "")
    options = "".join(f"<option>{html.escape(c)}</option>" for c in categories)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body><header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><main>
<section id="headline"><h2>Headline</h2><div class="cards">{_cards(r)}</div>
<p class="muted">Final answer accuracy is over every sample of the benchmark: a failed or missing prediction counts as
wrong. Each chain score is shown beside its floor: the same metric given another sample's reference chain of the
same category as the response.</p></section>
<section id="charts"><h2>Charts</h2><div class="charts">{chart_html}</div></section>
<section id="cost"><h2>Cost</h2>{_cost_table(r)}</section>
{failure_section}
<section id="browser"><h2>Samples</h2>
<div class="filters"><input id="q" type="search" placeholder="search id, question, answer">
<select id="cat"><option value="">all categories</option>{options}</select>
<select id="st"><option value="">any result</option><option>correct</option><option>wrong</option><option>failed</option></select>
<span id="shown" class="muted"></span></div>
<table id="samples"><thead><tr><th>id</th><th>category</th><th>question</th><th>predicted</th><th>reference</th>
<th>answer</th><th>steps</th></tr></thead><tbody></tbody></table>
</section>
</main>
<aside id="detail" role="dialog" aria-labelledby="detail-title"></aside>
<script type="application/json" id="sample-data">{script_json(rows)}</script>
<script type="application/json" id="digits">{script_json(digits)}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
