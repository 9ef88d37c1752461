"""A study's report: ``report.md``, a self-contained ``report.html`` (plots embedded) and PNG plots, from
``results.json`` alone — so a report can be rebuilt (``llmad study NAME --report-only``) without rerunning.

Every table gives mean ± std over seeds (or head initialisations) where there are several, and says how
many; the header records the command, config, data files with checksums, split protocol, package
versions and machine.
"""

from __future__ import annotations

import base64
import html
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from llmad.studies.grid import ABOUT

Table = tuple[str, list[str], list[list[str]]]


def _ms(values: list) -> str:
    v = np.array([x for x in values if x is not None], dtype=float)
    if not len(v):
        return "–"
    if len(v) == 1:
        return f"{v[0]:.3f}"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def _mean(values: list) -> float:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else float("nan")


def _std(values: list) -> float:
    v = [x for x in values if x is not None]
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def _ok(doc: dict) -> list[dict]:
    return [c for c in doc["cells"] if c["status"] == "ok"]


def _groups(cells: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for c in cells:
        out[tuple(c["params"].get(k) for k in keys)].append(c)
    return dict(out)


class Figures:
    def __init__(self, out: Path):
        self.out = out
        self.items: list[tuple[str, Path]] = []

    def new(self, ncols: int = 1, width: float = 6.0, height: float = 3.6):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
        return fig, axes[0]

    def save(self, fig, name: str, title: str) -> None:
        import matplotlib.pyplot as plt

        path = self.out / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        self.items.append((title, path))


# ------------------------------------------------------------------ per study
def _main_table(doc: dict, figs: Figures, box: bool) -> list[Table]:
    cells = _ok(doc)
    rows = []
    for (ds, det), g in _groups(cells, "dataset", "detector").items():
        r = [c["result"] for c in g]
        params = r[0].get("trainable_parameters")
        rows.append([ds, det, str(len(g)), _ms([x["precision"] for x in r]), _ms([x["recall"] for x in r]),
                     _ms([x["f1"] for x in r]), _ms([x["roc_auc"] for x in r]), _ms([x["pr_auc"] for x in r]),
                     _ms([x["oracle_f1"] for x in r]), f"{_mean([x['fit_seconds'] for x in r]):.1f}",
                     f"{params:,}" if params else "–", f"{int(_mean([x['n_train'] for x in r])):,}"])
    header = ["dataset", "detector", "seeds", "precision", "recall", "F1", "ROC-AUC", "PR-AUC",
              "oracle F1 (test-chosen threshold: not a result)", "fit s", "trainable params", "train records"]
    by_ds = _groups(cells, "dataset")
    if by_ds:
        fig, axes = figs.new(len(by_ds), width=max(4.0, 1.2 * len({c["params"]["detector"] for c in cells}) + 2))
        for ax, (ds, g) in zip(axes, by_ds.items()):
            dets = list(dict.fromkeys(c["params"]["detector"] for c in g))
            vals = [[c["result"]["f1"] for c in g if c["params"]["detector"] == d] for d in dets]
            if box:
                ax.boxplot(vals, tick_labels=dets)
                for i, v in enumerate(vals):
                    ax.scatter(np.full(len(v), i + 1), v, s=10, alpha=0.6)
            else:
                several = any(len(v) > 1 for v in vals)
                ax.bar(dets, [_mean(v) for v in vals], yerr=[_std(v) for v in vals] if several else None,
                       capsize=4)
            ax.set_title(ds[0] if isinstance(ds, tuple) else ds, fontsize=9)
            ax.set_ylabel("test F1")
            ax.set_ylim(0, 1.02)
            ax.tick_params(axis="x", rotation=30, labelsize=8)
        figs.save(fig, "f1_box" if box else "f1_bars", "Test F1 per detector" + (" over seeds" if box else ""))
    return [("Results (test part, threshold from validation)", header, rows)]


def _efficacy(doc, figs):
    return _main_table(doc, figs, box=False)


def _stability(doc, figs):
    tables = _main_table(doc, figs, box=True)
    cells = _ok(doc)
    by_ds = _groups(cells, "dataset")
    if by_ds:
        fig, axes = figs.new(len(by_ds))
        for ax, (ds, g) in zip(axes, by_ds.items()):
            dets = list(dict.fromkeys(c["params"]["detector"] for c in g))
            ax.boxplot([[c["result"]["roc_auc"] for c in g if c["params"]["detector"] == d] for d in dets],
                       tick_labels=dets)
            ax.set_title(ds[0], fontsize=9)
            ax.set_ylabel("test ROC-AUC")
            ax.tick_params(axis="x", rotation=30, labelsize=8)
        figs.save(fig, "roc_auc_box", "Test ROC-AUC per detector over seeds")
    return tables


def _sample_efficiency(doc, figs):
    cells = _ok(doc)
    rows = []
    for (ds, det, f), g in sorted(_groups(cells, "dataset", "detector", "fraction").items()):
        r = [c["result"] for c in g]
        rows.append([ds, det, f"{f:g}", f"{int(_mean([x['n_train'] for x in r])):,}", str(len(g)),
                     _ms([x["f1"] for x in r]), _ms([x["roc_auc"] for x in r]), _ms([x["pr_auc"] for x in r]),
                     f"{_mean([x['fit_seconds'] for x in r]):.1f}"])
    by_ds = _groups(cells, "dataset")
    if by_ds:
        fig, axes = figs.new(len(by_ds))
        for ax, (ds, g) in zip(axes, by_ds.items()):
            for det, gd in _groups(g, "detector").items():
                pts = sorted(_groups(gd, "fraction").items())
                x = [k[0] * 100 for k, _ in pts]
                m = np.array([_mean([c["result"]["f1"] for c in v]) for _, v in pts])
                s = np.array([_std([c["result"]["f1"] for c in v]) for _, v in pts])
                ax.plot(x, m, marker="o", label=det[0])
                ax.fill_between(x, m - s, m + s, alpha=0.15)
            ax.set_xscale("log")
            ax.set_xlabel("training records used (%)")
            ax.set_ylabel("test F1")
            ax.set_title(ds[0], fontsize=9)
            ax.legend(fontsize=8)
        figs.save(fig, "learning_curves", "Learning curves (mean ± std over seeds)")
    return [("Test F1 by share of the training records", ["dataset", "detector", "fraction", "train records",
                                                          "seeds", "F1", "ROC-AUC", "PR-AUC", "fit s"], rows)]


def _robustness(doc, figs):
    cells = _ok(doc)
    agg: dict[tuple, list] = defaultdict(list)
    for c in cells:
        for r in c["result"]["perturbed"]:
            agg[(c["params"]["dataset"], c["params"]["detector"], r["perturbation"], r["ratio"])].append(r)
    rows = [[ds, det, kind, f"{ratio:g}", str(len(v)), _ms([x["f1"] for x in v]), _ms([x["roc_auc"] for x in v])]
            for (ds, det, kind, ratio), v in sorted(agg.items())]
    dsets = list(dict.fromkeys(k[0] for k in agg))
    if dsets:
        fig, axes = figs.new(len(dsets))
        for ax, ds in zip(axes, dsets):
            for det in dict.fromkeys(k[1] for k in agg if k[0] == ds):
                for kind in dict.fromkeys(k[2] for k in agg if k[0] == ds):
                    pts = sorted((k[3], v) for k, v in agg.items() if k[:3] == (ds, det, kind))
                    ax.plot([p[0] for p in pts], [_mean([x["f1"] for x in p[1]]) for p in pts], marker="o",
                            label=f"{det} / {kind}")
            ax.set_xlabel("perturbation ratio")
            ax.set_ylabel("test F1")
            ax.set_title(ds, fontsize=9)
            ax.legend(fontsize=7)
        figs.save(fig, "f1_vs_ratio", "Test F1 under unstable logs")
    return [("Test F1 under perturbation (ratio 0 = the clean test part)",
             ["dataset", "detector", "perturbation", "ratio", "seeds", "F1", "ROC-AUC"], rows)]


def _cross(doc, figs):
    cells = _ok(doc)
    tables = []
    for (det,), g in _groups(cells, "detector").items():
        sources = list(dict.fromkeys(c["params"]["dataset"] for c in g))
        targets = list(dict.fromkeys(t for c in g for t in c["params"]["test_on"]))
        mat = np.full((len(sources), len(targets)), np.nan)
        rows = []
        for i, a in enumerate(sources):
            row = [a]
            for j, b in enumerate(targets):
                vals = [c["result"]["tests"].get(b, {}).get("f1") for c in g if c["params"]["dataset"] == a]
                mat[i, j] = _mean(vals)
                row.append(_ms(vals))
            rows.append(row)
        tables.append((f"{det}: test F1, trained on the row, tested on the column", ["trained on"] + targets, rows))
        fig, axes = figs.new(1, width=1.0 + 0.9 * len(targets), height=1.0 + 0.7 * len(sources))
        ax = axes[0]
        im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(targets)), [t.split("/")[-1] for t in targets], rotation=40, fontsize=8)
        ax.set_yticks(range(len(sources)), [s.split("/")[-1] for s in sources], fontsize=8)
        for i in range(len(sources)):
            for j in range(len(targets)):
                if np.isfinite(mat[i, j]):
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if mat[i, j] < 0.6 else "black")
        ax.set_xlabel("tested on")
        ax.set_ylabel("trained on")
        fig.colorbar(im, ax=ax, fraction=0.046)
        figs.save(fig, f"cross_{_slug(det)}", f"Cross-dataset F1: {det}")
    return tables


def _bias(doc, figs):
    cells = _ok(doc)
    rows = []
    groups = _groups(cells, "dataset", "detector")
    if groups:
        fig, axes = figs.new(len(groups))
    for ax_i, ((ds, det), g) in enumerate(groups.items()):
        probes = g[0]["result"]["probes"]
        data, labels = [], []
        for j, probe in enumerate(probes):
            b = [c["result"]["before"][j] for c in g]
            a = [c["result"]["after"][j] for c in g]
            rows.append([ds, det, repr(probe), str(len(g)), _ms(b), _ms(a)])
            data += [b, a]
            labels += [f"{probe or '∅'}\nbefore", f"{probe or '∅'}\nafter"]
        ax = axes[ax_i]
        ax.boxplot(data, tick_labels=labels)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_ylabel("P(anomalous) of a content-free input")
        ax.set_title(f"{det} on {ds}", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    if groups:
        figs.save(fig, "bias_box", "Pre-trained bias: content-free inputs before and after fine-tuning")
    f1 = [[ds, det, str(len(g)), _ms([c["result"]["f1"] for c in g]), _ms([c["result"]["roc_auc"] for c in g])]
          for (ds, det), g in groups.items()]
    return [("P(anomalous) of content-free inputs over head initialisations (0.5 = no bias)",
             ["dataset", "detector", "probe", "inits", "fresh head", "after fine-tuning"], rows),
            ("The fine-tuned models on the test part", ["dataset", "detector", "inits", "F1", "ROC-AUC"], f1)]


def _forgetting(doc, figs):
    rows = []
    for (a, b, det), g in _groups(_ok(doc), "dataset", "then", "detector").items():
        r = [c["result"] for c in g]
        rows.append([f"{a} → {b}", det, str(len(g)), _ms([x["a_before"]["f1"] for x in r]),
                     _ms([x["b"]["f1"] for x in r]), _ms([x["a_after"]["f1"] for x in r]),
                     _ms([x["forgetting_f1"] for x in r])])
    return [("Fine-tune on A, then on B from A's weights; F1 on A's test part before and after",
             ["A → B", "detector", "seeds", "F1 on A (after A)", "F1 on B (after B)", "F1 on A (after B)",
              "forgetting (F1 lost on A)"], rows)]


def _transfer(doc, figs):
    rows = []
    groups = _groups(_ok(doc), "dataset", "to", "detector")
    for (a, b, det), g in groups.items():
        r = [c["result"] for c in g]
        rows.append([f"{a} → {b}", det, "as is", "0", _ms([x["as_is"]["f1"] for x in r]), "–"])
        for i, f in enumerate(r[0]["retuned"]):
            rows.append([f"{a} → {b}", det, f"{f['fraction']:g}", f"{f['n_train']:,}",
                         _ms([x["retuned"][i]["tuned"]["f1"] for x in r]),
                         _ms([x["retuned"][i]["scratch"]["f1"] for x in r])])
    if groups:
        fig, axes = figs.new(len(groups))
        for ax, ((a, b, det), g) in zip(axes, groups.items()):
            fr = [f["fraction"] * 100 for f in g[0]["result"]["retuned"]]
            for which in ("tuned", "scratch"):
                ax.plot(fr, [_mean([c["result"]["retuned"][i][which]["f1"] for c in g]) for i in range(len(fr))],
                        marker="o", label="from A" if which == "tuned" else "from scratch")
            ax.axhline(_mean([c["result"]["as_is"]["f1"] for c in g]), color="grey", ls="--", label="A as is")
            ax.set_xscale("log")
            ax.set_xlabel(f"training records of {b} used (%)")
            ax.set_ylabel(f"F1 on {b}")
            ax.set_title(f"{det}: {a} → {b}", fontsize=9)
            ax.legend(fontsize=8)
        figs.save(fig, "transfer", "Transfer: re-tuned from A vs trained from scratch")
    return [("Transfer: F1 on B", ["A → B", "detector", "fraction of B", "B train records", "from A's weights",
                                   "from scratch"], rows)]


def _online(doc, figs):
    tables = []
    groups = _groups(_ok(doc), "dataset", "detector")
    if groups:
        fig, axes = figs.new(2, height=3.6)
    for (ds, det), g in groups.items():
        r = [c["result"] for c in g]
        steps = r[0]["steps"]
        unit = r[0]["unit"]
        names = r[0]["order"]
        rows = [[str(k) + (f" (+{names[k - 1]})" if names else ""),
                 _ms([x["curve"][i]["f1"] for x in r]), _ms([x["curve"][i]["recall"] for x in r]),
                 _ms([x["curve"][i]["roc_auc"] for x in r]),
                 f"{_mean([x['first_right']['anomalous'][str(k)] for x in r]):.1f}",
                 f"{_mean([x['settled']['anomalous'][str(k)] for x in r]):.1f}"] for i, k in enumerate(steps)]
        rows.append(["never", "", "", "", f"{_mean([x['first_right']['anomalous']['never'] for x in r]):.1f}",
                     f"{_mean([x['settled']['anomalous']['never'] for x in r]):.1f}"])
        tables.append((f"{det} on {ds}: prefixes of {unit} ({r[0]['n_anomalous']} anomalous of {r[0]['n']} test "
                       f"records; counts are means over {len(g)} seed(s))",
                       [f"{unit} known", "F1", "recall", "ROC-AUC", "anomalies first right here",
                        "anomalies right from here on"], rows))
        axes[0].plot(steps, [_mean([x["curve"][i]["f1"] for x in r]) for i in range(len(steps))], marker="o",
                     label=f"{det} / {ds.split('/')[-1]}")
        axes[1].bar([str(k) for k in steps] + ["never"],
                    [_mean([x["settled"]["anomalous"][str(k)] for x in r]) for k in steps]
                    + [_mean([x["settled"]["anomalous"]["never"] for x in r])], alpha=0.6,
                    label=f"{det} / {ds.split('/')[-1]}")
    if groups:
        axes[0].set_xlabel(f"{unit} known")
        axes[0].set_ylabel("test F1")
        axes[0].legend(fontsize=8)
        axes[1].set_xlabel(f"prefix ({unit}) from which an anomaly stays flagged")
        axes[1].set_ylabel("anomalous test records")
        axes[1].legend(fontsize=8)
        figs.save(fig, "online", "Early detection: F1 by prefix, and from which prefix each anomaly stays caught "
                                 "(the table also gives the first prefix at which it is right)")
    return tables


def _icl(doc, figs):
    rows = []
    for (ds, det, prompt, demos, cal), g in _groups(_ok(doc), "dataset", "detector", "prompt", "demos",
                                                    "calibrate").items():
        r = [c["result"] for c in g]
        n = _mean([x["n"] for x in r])
        rows.append([ds, det, prompt, demos, "yes" if cal else "no", str(len(g)), _ms([x["f1"] for x in r]),
                     _ms([x["roc_auc"] for x in r]), _ms([x["pr_auc"] for x in r]),
                     f"{_mean([x['score_seconds'] for x in r]) / max(n, 1):.3f}"])
    return [("In-context detection (test sample)", ["dataset", "detector", "prompt", "demonstrations",
                                                     "calibrated", "seeds", "F1", "ROC-AUC", "PR-AUC",
                                                     "s / test query"], rows)]


BUILDERS = {"efficacy": _efficacy, "stability": _stability, "sample-efficiency": _sample_efficiency,
            "robustness": _robustness, "cross-dataset": _cross, "bias": _bias, "forgetting": _forgetting,
            "transfer": _transfer, "online": _online, "icl": _icl}


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)


# ------------------------------------------------------------------ writing
def _header(doc: dict) -> list[tuple[str, str]]:
    prov = doc["provenance"]
    counts = ", ".join(f"{v} {k}" for k, v in sorted(doc["counts"].items()))
    data = []
    for d in prov["data"]:
        if "error" in d:
            data.append(f"{d['dataset']}: {d['error']}")
            continue
        data.append(f"{d['dataset']}: " + "; ".join(f"{f['path']} ({_file_note(f)})" for f in d["files"]))
    v = prov["versions"]
    m = prov["machine"]
    return [("Study", f"{doc['study']}: {ABOUT[doc['study']]}"),
            ("Command", doc.get("command") or "(library call)"),
            ("Config", doc.get("config_file") or "the built-in defaults"),
            ("Cells", counts),
            ("Data", "\n".join(data)),
            ("Split", "; ".join(f"{k}: {s}" for k, s in prov["splits"].items())),
            ("Versions", ", ".join(f"{k} {x}" for k, x in v.items())),
            ("Machine", f"{m['platform']}, {m['cpus']} CPUs ({m['threads_used']} threads used), "
                        f"{m['memory_gib']} GiB" + (f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU"))]


def _file_note(f: dict) -> str:
    if f.get("missing"):
        return "missing"
    return f"{f['bytes']:,} bytes, sha256 {f['sha256'][:16]}…"


def _failures(doc: dict) -> list[list[str]]:
    return [[c["params"]["dataset"], c["params"]["detector"], str(c["params"]["seed"]), c["error"]["type"],
             c["error"]["message"]] for c in doc["cells"] if c["status"] == "failed"]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[str(x).replace("|", "\\|").replace("\n", " ") for x in r] for r in [header] + rows]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(lines)


def write_report(doc: dict, out: Path) -> dict:
    """Write report.md, report.html and the PNG plots into ``out``; returns their paths."""
    out = Path(out)
    figs = Figures(out)
    tables = BUILDERS[doc["study"]](doc, figs) if _ok(doc) else []
    failures = _failures(doc)
    head = _header(doc)
    md = [f"# llmad study: {doc['study']}", ""]
    md += [f"- **{k}**: " + v.replace("\n", "\n  - ") if "\n" in v else f"- **{k}**: {v}" for k, v in head]
    if doc.get("config_text"):
        md += ["", "<details><summary>config</summary>", "", "```toml", doc["config_text"].rstrip(), "```", "",
               "</details>"]
    if not tables:
        md += ["", "No cell has finished successfully yet."]
    for title, header, rows in tables:
        md += ["", f"## {title}", "", _md_table(header, rows)]
    for title, path in figs.items:
        md += ["", f"## {title}", "", f"![{title}]({path.name})"]
    if failures:
        md += ["", "## Failed cells", "", _md_table(["dataset", "detector", "seed", "error", "message"], failures),
               "", "Failed cells are kept in cells.jsonl with their traceback; rerun with --retry-failed."]
    (out / "report.md").write_text("\n".join(md) + "\n")

    h = ["<!doctype html><html><head><meta charset='utf-8'>",
         f"<title>llmad study: {html.escape(doc['study'])}</title><style>",
         "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}",
         "table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px;",
         "text-align:left}th{background:#f3f3f3}dt{font-weight:bold;margin-top:.4em}pre{background:#f7f7f7;",
         "padding:.6em;overflow:auto}img{max-width:100%}</style></head><body>",
         f"<h1>llmad study: {html.escape(doc['study'])}</h1><dl>"]
    for k, v in head:
        h.append(f"<dt>{html.escape(k)}</dt><dd>{'<br>'.join(html.escape(x) for x in v.splitlines())}</dd>")
    h.append("</dl>")
    if doc.get("config_text"):
        h.append(f"<details><summary>config</summary><pre>{html.escape(doc['config_text'])}</pre></details>")
    for title, header, rows in tables:
        h.append(f"<h2>{html.escape(title)}</h2><table><tr>" + "".join(f"<th>{html.escape(x)}</th>" for x in header)
                 + "</tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in r) + "</tr>"
                                     for r in rows) + "</table>")
    for title, path in figs.items:
        data = base64.b64encode(path.read_bytes()).decode()
        h.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>")
    if failures:
        h.append("<h2>Failed cells</h2><table><tr><th>dataset</th><th>detector</th><th>seed</th><th>error</th>"
                 "<th>message</th></tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in r)
                                                    + "</tr>" for r in failures) + "</table>")
    h.append("</body></html>")
    (out / "report.html").write_text("\n".join(h))
    return {"markdown": str(out / "report.md"), "html": str(out / "report.html"),
            "plots": [str(p) for _, p in figs.items]}


def rebuild(out: Path) -> dict:
    """Rewrite the report of a study folder from its results.json."""
    doc = json.loads((Path(out) / "results.json").read_text())
    return write_report(doc, Path(out))
