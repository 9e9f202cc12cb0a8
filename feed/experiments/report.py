"""The experiment report: Markdown a person can read at a glance, with PNG plots.

The first screen answers the two questions an experiment is run for: does a
variant beat the baseline (paired bootstrap CI of the difference, and whether
the variants' own CIs overlap), and does steering still work under every
steerable variant. Tables per metric group and the method follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from feed.experiments.config import ExperimentConfig
from feed.experiments.metrics import BOOST_SHARE
from feed.experiments.summary import MetricInfo, Summary

GROUP_TITLES = {
    "accuracy": "Ranking accuracy (held-out positives)",
    "beyond": "Beyond accuracy",
    "steering": "Steering",
    "off-policy": "Off-policy estimates (IPS, SNIPS, DR from the logging propensities)",
    "latency": "Latency",
}
MARKS = {"better": " ▲", "worse": " ▼", "differs": " ◆", "unclear": ""}


@dataclass(frozen=True)
class RunInfo:
    """What an experiment ran on, and how big and long it was."""

    name: str
    description: str
    seed: int
    data: str
    catalog_clips: int
    users: int
    sessions: int
    steps: int
    events: int
    instructions: int
    variants: tuple[str, ...]
    baseline: str
    runtime_s: float
    words: str = ""
    off_policy: str = ""


def fmt(value: float | None) -> str:
    """A number for a table: three decimals below 10, one above; a dash for missing."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def fmt_ci(value: float | None, lo: float | None, hi: float | None) -> str:
    """`value [lo, hi]`, or just the value when there is no interval."""
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return fmt(value)
    return f"{fmt(value)} [{fmt(lo)}, {fmt(hi)}]"


def _signed(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:+.3f}"


@dataclass(frozen=True)
class Estimate:
    """A value and its interval (nan where missing)."""

    value: float
    lo: float
    hi: float

    @property
    def finite(self) -> bool:
        """Whether there is a value."""
        return bool(np.isfinite(self.value))

    def text(self) -> str:
        """`value [lo, hi]` for a table."""
        return fmt_ci(self.value, self.lo, self.hi)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


def _row(frame: pl.DataFrame, variant: str, metric: str) -> dict[str, object] | None:
    rows = frame.filter((pl.col("variant") == variant) & (pl.col("metric") == metric))
    return rows.row(0, named=True) if len(rows) else None


def estimate(
    frame: pl.DataFrame, variant: str, metric: str, value: str = "value"
) -> Estimate | None:
    """A variant's metric (or, with value="delta", its difference) from a summary table."""
    row = _row(frame, variant, metric)
    if row is None:
        return None
    return Estimate(_number(row[value]), _number(row["lo"]), _number(row["hi"]))


def _verdict(summary: Summary, variant: str, metric: str) -> str | None:
    row = _row(summary.deltas, variant, metric)
    return None if row is None else str(row["verdict"])


def overlap(a: Estimate, b: Estimate) -> bool:
    """Whether two confidence intervals overlap."""
    return not (a.hi < b.lo or b.hi < a.lo)


def _arrow(info: MetricInfo) -> str:
    return {True: " ↑", False: " ↓", None: ""}[info.higher_is_better]


def metric_table(summary: Summary, names: Sequence[str], variants: Sequence[str]) -> list[str]:
    """Markdown rows: one metric per row, one variant per column, marks against the baseline."""
    infos = {i.name: i for i in summary.info}
    head = [f"{v} (baseline)" if v == summary.baseline else v for v in variants]
    lines = ["| metric | " + " | ".join(head) + " |", "|---" * (len(variants) + 1) + "|"]
    for name in names:
        cells = []
        for v in variants:
            est = estimate(summary.metrics, v, name)
            if est is None:
                cells.append("–")
                continue
            cells.append(est.text() + MARKS.get(_verdict(summary, v, name) or "", ""))
        lines.append(f"| {name}{_arrow(infos[name])} | " + " | ".join(cells) + " |")
    return lines


def verdicts(summary: Summary, headline: Sequence[str], variants: Sequence[str]) -> list[str]:
    """One sentence per variant and headline metric: better, worse or unclear than the baseline."""
    out = []
    base = summary.baseline
    for name in headline:
        for v in variants:
            if v == base:
                continue
            est = estimate(summary.metrics, v, name)
            ref = estimate(summary.metrics, base, name)
            delta = estimate(summary.deltas, v, name, value="delta")
            judged = _verdict(summary, v, name)
            if est is None or ref is None or delta is None or judged is None:
                continue
            word = {
                "better": "beats",
                "worse": "is worse than",
                "differs": "differs from",
                "unclear": "is not clearly different from",
            }[judged]
            apart = "do not overlap" if not overlap(est, ref) else "overlap"
            out.append(
                f"- **{v}** {word} **{base}** on {name}: {est.text()} vs {ref.text()};"
                f" difference {_signed(delta.value)} [{_signed(delta.lo)}, {_signed(delta.hi)}]"
                f" (the two CIs {apart})."
            )
    return out


def steering_verdict(summary: Summary, metric: str, steerable: Sequence[str]) -> str:
    """Whether steering holds under every steerable variant, in one sentence."""
    found = [(v, e) for v in steerable if (e := estimate(summary.metrics, v, metric))]
    found = [(v, e) for v, e in found if e.finite]
    if not found:
        return "- No steering instructions were replayed, so steering was not measured."
    values = [e.value for _, e in found]
    lows = [e.lo for _, e in found]
    worst = min(found, key=lambda ve: ve[1].lo)[0]
    holds = min(lows) >= BOOST_SHARE
    state = "holds" if holds else "does not hold everywhere"
    return (
        f"- Steering {state} across the {len(found)} steerable variant(s): {metric}"
        f" {fmt(min(values))}–{fmt(max(values))}, lowest CI bound {fmt(min(lows))}"
        f" ({worst}); the bar is {BOOST_SHARE:.1f}."
    )


def write_report(
    out: Path,
    config: ExperimentConfig,
    info: RunInfo,
    summary: Summary,
    steps: pl.DataFrame,
    steering: pl.DataFrame,
) -> Path:
    """Write report.md and plots/*.png under `out`; returns the report's path."""
    variants = [v.name for v in config.variants]
    steerable = [v.name for v in config.variants if v.ranker == "engine"]
    measured = summary.metrics.filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
    present = set(measured["metric"].to_list())
    names_by_group: dict[str, list[str]] = {}
    for i in summary.info:
        if i.name in present:
            names_by_group.setdefault(i.group, []).append(i.name)
    headline = [m for m in config.report.headline if m in present]
    adherence = next((m for m in names_by_group.get("steering", []) if m.startswith("adh")), "")
    plots = write_plots(out / "plots", summary, names_by_group, headline, variants, steps)
    minutes, seconds = divmod(int(round(info.runtime_s)), 60)
    conf = f"{summary.confidence:.0%}"
    lines = [f"# Experiment `{info.name}`", ""]
    if info.description:
        lines += [f"> {info.description}", ""]
    lines += [
        f"- **Data:** {info.data}.",
        f"- **Catalog:** {info.catalog_clips} clips (text channel).",
        f"- **Replayed:** {info.users} users, {info.sessions} sessions, {info.steps} steps,"
        f" {info.instructions} steering instructions, {info.events} events.",
        f"- **Variants:** {', '.join(variants)}; baseline **{info.baseline}**.",
        *([f"- **Instructions:** {info.words}."] if info.words else []),
        *([f"- **Off-policy:** {info.off_policy}"] if info.off_policy else []),
        f"- **Intervals:** {conf} percentile bootstrap over users ({summary.n_boot} resamples,"
        f" seed {info.seed}); differences are paired (the same resampled users for every"
        " variant).",
        f"- **Runtime:** {minutes} min {seconds} s.",
        "",
        "## At a glance",
        "",
        *verdicts(summary, headline[:1] or names_by_group.get("accuracy", [])[:1], variants),
    ]
    if info.instructions == 0:
        lines.append("- No steering instructions in the logs, so steering was not measured.")
    elif adherence:
        lines.append(steering_verdict(summary, adherence, steerable))
    lines += [
        "",
        *metric_table(summary, headline, variants),
        "",
        f"▲ better / ▼ worse than the baseline: the paired {conf} CI of the difference excludes 0"
        " (↑ higher is better, ↓ lower is better); no mark: no clear difference.",
        "",
    ]
    if "headline" in plots:
        lines += [f"![headline metrics]({plots['headline']})", ""]
    for group, names in names_by_group.items():
        lines += [
            f"## {GROUP_TITLES.get(group, group)}",
            "",
            *metric_table(summary, names, variants),
            "",
        ]
        if group == "steering":
            lines += steering_breakdown(steering, variants, adherence)
            lines += wording_breakdown(steering, steerable, adherence)
        if group == "off-policy":
            lines += logging_reference(summary)
        if group == "latency":
            lines += latency_table(summary)
        if group in plots:
            lines += [f"![{group}]({plots[group]})", ""]
    lines += ["## Differences from the baseline", "", *delta_table(summary), ""]
    lines += method(config, summary)
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def steering_breakdown(
    steering: pl.DataFrame, variants: Sequence[str], adherence: str
) -> list[str]:
    """Per op and variant: how many instructions, adherence, share obeyed."""
    if steering.is_empty() or not adherence or adherence not in steering.columns:
        return []
    table = (
        steering.filter(pl.col("op") != "error")
        .group_by(["op", "variant"])
        .agg(
            pl.len().alias("n"),
            pl.col(adherence).mean(),
            pl.col("obeyed").mean(),
            pl.col("persistence").mean(),
        )
    )
    lines = [
        "By op (mean over instructions):",
        "",
        "| op | variant | instructions | " + adherence + " | obeyed | persistence |",
        "|---|---|---|---|---|---|",
    ]
    for op in ("boost", "only", "suppress", "exclude"):
        for v in variants:
            rows = table.filter((pl.col("op") == op) & (pl.col("variant") == v))
            if rows.is_empty():
                continue
            row = rows.row(0, named=True)
            lines.append(
                f"| {op} | {v} | {row['n']} | {fmt(row[adherence])} | {fmt(row['obeyed'])} |"
                f" {fmt(row['persistence'])} |"
            )
    errors = steering.filter(pl.col("op") == "error")
    if len(errors):
        lines += [
            "",
            f"{len(errors)} logged instruction(s) could not be parsed and count as not obeyed.",
        ]
    return [*lines, ""]


def wording_breakdown(steering: pl.DataFrame, variants: Sequence[str], adherence: str) -> list[str]:
    """Adherence and inversions per language and per kind of wording, for every steerable
    variant: `adherence (inverted/instructions)` in each cell."""
    if steering.is_empty() or not adherence or adherence not in steering.columns:
        return []
    judged = steering.filter((pl.col("op") != "error") & pl.col("variant").is_in(list(variants)))
    if judged.is_empty() or judged["lang"].null_count() == len(judged):
        return []
    lines: list[str] = []
    for column, title in (("lang", "language"), ("kind", "kind of wording")):
        table = judged.group_by([column, "variant"]).agg(
            pl.len().alias("n"), pl.col(adherence).mean(), pl.col("inverted").sum()
        )
        lines += [
            f"By {title} ({adherence}, and inverted / instructions):",
            "",
            f"| {column} | " + " | ".join(variants) + " |",
            "|---" * (len(variants) + 1) + "|",
        ]
        for value in sorted({str(v) for v in table[column].to_list()}):
            cells = []
            for v in variants:
                rows = table.filter((pl.col(column).cast(pl.String) == value)
                                    & (pl.col("variant") == v))  # fmt: skip
                if rows.is_empty():
                    cells.append("–")
                    continue
                row = rows.row(0, named=True)
                cells.append(f"{fmt(row[adherence])} ({int(row['inverted'] or 0)}/{row['n']})")
            lines.append(f"| {value} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def logging_reference(summary: Summary) -> list[str]:
    """The logging policy's own rates: what the random policy achieved, for scale."""
    if summary.reference.is_empty():
        return []
    conf = f"{summary.confidence:.0%}"
    parts = [
        f"{row['metric'].removeprefix('logged_')} {fmt_ci(row['value'], row['lo'], row['hi'])}"
        for row in summary.reference.iter_rows(named=True)
    ]
    return [
        f"The logging policy's own rates per shown clip ({conf} CI): {'; '.join(parts)}."
        " A variant that ranked like it would be estimated at these values.",
        "",
    ]


def latency_table(summary: Summary) -> list[str]:
    """Per-variant latency percentiles (wall clock on the machine that ran the experiment)."""
    lines = [
        "| variant | requests | mean ms | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary.latency.iter_rows(named=True):
        lines.append(
            f"| {row['variant']} | {row['requests']} | {fmt(row['mean_ms'])} |"
            f" {fmt(row['p50_ms'])} | {fmt(row['p95_ms'])} | {fmt(row['max_ms'])} |"
        )
    return [*lines, ""]


def delta_table(summary: Summary) -> list[str]:
    """Every variant's paired difference from the baseline, metric by metric."""
    lines = ["| variant | metric | difference | CI | verdict |", "|---|---|---|---|---|"]
    for row in summary.deltas.iter_rows(named=True):
        lines.append(
            f"| {row['variant']} | {row['metric']} | {_signed(row['delta'])} |"
            f" [{_signed(row['lo'])}, {_signed(row['hi'])}] | {row['verdict']} |"
        )
    return lines


def method(config: ExperimentConfig, summary: Summary) -> list[str]:
    """How the numbers were made, and what each metric means."""
    r = config.replay
    lines = [
        "## Method",
        "",
        f"- Each logged session is cut into steps of {r.step_size} clips (in the order they were"
        f" first met). At each step every variant ranks a page of {r.page_size} clips, having"
        " been fed only the events and instructions logged before the step began (from every"
        " user, so popularity is time-correct too).",
        f"- Held-out positives of a step: clips with a {' or '.join(r.positives)} event from the"
        " step's start to the end of the session, less clips the user had met before.",
        f"- Steering: at each logged instruction, {r.probe_pages} page(s) of a fresh session are"
        " ranked just before and just after it. Boosts are judged on the first page"
        f" (obeyed: at least {BOOST_SHARE:.0%} of it matches), removals on all probe pages"
        ' ("no": nothing matches; "less": the share falls by at least 70%). A target is'
        " the catalog tag the log names, else the clips whose text is about the phrase."
        f" Persistence and steps to obey read the next {r.follow_pages} replayed page(s).",
        "- Collateral compares the non-target items of the probe pages before and after, by"
        " cosine to the user's positives logged so far (0: the rest of the feed stayed as"
        " relevant).",
        "- Inverted: the target's share moved the wrong way (up after 'less'/'no', down after"
        " 'more'). When the log says what the user meant (the simulator does), steering is"
        " judged by that, never by the parser's reading.",
        "- Popularity, random and collaborative-filtering baselines cannot be steered: their"
        " steering numbers are the base rate.",
        f"- ALS, BPR and item-kNN (implicit) are refit every {r.window_s:g} s of log time on"
        " the events logged before the window began; within a window ALS and item-kNN also"
        " read the user's own events so far, and a user unknown to the model gets popularity.",
        "- Coverage and creator Gini pool every user's pages; resampling users draws fewer"
        " distinct users, so their intervals lean low (coverage) or high (Gini) of the point.",
    ]
    if config.logs.source == "simulate":
        lines.append(
            f"- The simulated sessions were served by the '{config.simulation.logging}' policy;"
            " positives can only be clips it showed, which favours variants that rank like it"
            " (a uniformly random policy favours none)."
        )
    if not summary.reference.is_empty():
        lines.append(
            "- Off-policy: each logged page of the uniformly random policy, whose propensity"
            " p (page size over the clips it could draw from) is in the exposure log, is"
            " matched to the page a variant ranked for the replayed step it opens. With"
            " w = 1[variant shows the clip] / p, IPS = sum(w r) / clips the variants show,"
            " SNIPS = sum(w r) / sum(w), DR adds a reward model's prediction for every shown"
            " clip and corrects it by sum(w (r - prediction)); the model is a clip's mean"
            " reward over the other users, shrunk to their overall mean. A clip's reward is"
            " taken to be the same wherever it sits on a page. Support is the share of the"
            " variant's clips the policy could have shown; outside it IPS counts 0."
        )
    lines += ["", "Metrics:", ""]
    lines += [f"- `{i.name}`: {i.description}." for i in summary.info]
    return lines


# -- plots -------------------------------------------------------------------------------


def write_plots(
    folder: Path,
    summary: Summary,
    names_by_group: dict[str, list[str]],
    headline: Sequence[str],
    variants: Sequence[str],
    steps: pl.DataFrame,
) -> dict[str, str]:
    """Forest plots (value and CI per variant) per metric group and for the headline, and a
    latency box plot; returns plot paths relative to the report, by name."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    groups = {"headline": list(headline)} | {
        g: n for g, n in names_by_group.items() if g != "latency"
    }
    for name, metrics in groups.items():
        if metrics:
            _forest(
                summary,
                metrics,
                variants,
                folder / f"{name}.png",
                GROUP_TITLES.get(name, "Headline metrics"),
            )
            made[name] = f"plots/{name}.png"
    if "latency_ms" in steps.columns and len(steps):
        _latency(steps, variants, folder / "latency.png")
        made["latency"] = "plots/latency.png"
    return made


def _forest(
    summary: Summary, metrics: Sequence[str], variants: Sequence[str], path: Path, title: str
) -> None:
    import matplotlib.pyplot as plt

    cols = min(4, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.4 * cols, 0.45 * len(variants) * rows + 1.6),
        squeeze=False,
        sharey=True,
    )
    tab10 = plt.get_cmap("tab10")
    # tab10's grey (7) would read as the baseline's.
    palette = [tab10(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]
    for i, metric in enumerate(metrics):
        ax = axes[i // cols][i % cols]
        base = estimate(summary.metrics, summary.baseline, metric)
        # One call per kind of mark, not one errorbar per variant: with a dozen variants
        # and thirty metrics, per-point artists made the plots the slowest part of a run.
        ys, values, lows, highs, marks = [], [], [], [], []
        for y, v in enumerate(variants):
            est = estimate(summary.metrics, v, metric)
            if est is None or not est.finite:
                continue
            ys.append(y)
            values.append(est.value)
            marks.append("0.45" if v == summary.baseline else palette[y % len(palette)])
            # Coverage and Gini are not means: their point estimate may sit outside the
            # percentile interval, so the bars are clipped at the point.
            lows.append(min(est.lo, est.value) if np.isfinite(est.lo) else est.value)
            highs.append(max(est.hi, est.value) if np.isfinite(est.hi) else est.value)
        if ys:
            ax.hlines(ys, lows, highs, colors=marks, linewidth=1.2)
            ax.scatter(lows + highs, ys + ys, c=marks + marks, marker="|", s=40)
            ax.scatter(values, ys, c=marks, marker="o", s=28, zorder=3)
        if base is not None and base.finite:
            ax.axvline(base.value, color="0.6", linestyle="--", linewidth=0.8)
        ax.set_title(metric, fontsize=10)
        ax.set_yticks(range(len(variants)), list(variants))
        ax.set_ylim(-0.6, len(variants) - 0.4)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    for j in range(len(metrics), rows * cols):
        axes[j // cols][j % cols].axis("off")
    conf = f"{summary.confidence:.0%}"
    fig.suptitle(f"{title} ({conf} bootstrap CI over users; dashed: baseline)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _latency(steps: pl.DataFrame, variants: Sequence[str], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(variants) + 1.5))
    for y, v in enumerate(variants):
        ms = steps.filter(pl.col("variant") == v)["latency_ms"].drop_nulls().to_numpy()
        if len(ms) == 0:
            continue
        p5, p25, p50, p75, p95 = np.percentile(ms, [5, 25, 50, 75, 95])
        ax.hlines(y, p5, p95, color="0.5", linewidth=1)
        ax.hlines(y, p25, p75, color="tab:blue", linewidth=6)
        ax.plot(p50, y, "|", color="black", markersize=14)
    ax.set_yticks(range(len(variants)), list(variants))
    ax.set_ylim(-0.6, len(variants) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("ms per page")
    ax.set_title("Latency per request (line: p5-p95, bar: p25-p75, tick: median)", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
