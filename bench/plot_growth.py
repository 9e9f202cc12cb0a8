"""How cost grows with the catalog: a plot from `feed_bench.py` reports.

Reads one or more JSON reports written by `bench/feed_bench.py --out ...` (one or several
catalog sizes each) and draws, against catalog size: `feed_page` p50 and p99 for each
scenario, the first page after a new phrase (p99), the next page after an upload (p99),
and RSS after building (a served report: after serving, with the process's own part).

    python bench/plot_growth.py bench/out/feed-10k.json bench/out/feed-100k.json \\
        bench/out/feed-1m.json --out docs/cost-growth.png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from feed_bench import NEW_PHRASE_PAGE_GOAL_P99_MS, PAGE_GOAL_P99_MS, RSS_GOAL_MB  # noqa: E402


def sizes_of(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every catalog size measured in the reports, smallest first (the last report
    measuring a size wins). A `serve_bench.py` report counts as one size."""
    by_count = {}
    for report in reports:
        for size in report["sizes"] if "sizes" in report else [_served(report)]:
            by_count[size["build"]["count"]] = size
    return [by_count[c] for c in sorted(by_count)]


def _served(report: dict[str, Any]) -> dict[str, Any]:
    """A `serve_bench.py` report in the shape of one `feed_bench.py` size. Its pages are
    those whose phrases the engine had met before, where the report has them: each of its
    users steers to phrases of its own, so an instruction's first page is a new phrase's
    (plotted as such)."""
    names = {"boost + exclude": "boost (+ exclude)"}
    pages = report.get("pages_phrases_met", report["pages"])
    return {
        "build": {"count": report["open"]["clips"], "rss_mb": report["rss_mb_after"],
                  "max_rss_mb": report["peak_rss_mb"],
                  "own_mb": report.get("rss_parts_mb_after", {}).get("RssAnon")},
        "pages": [{"scenario": names.get(k, k), "latency": v} for k, v in pages.items()],
        "new_steer_page": {"after_steer": report["new_phrase_first_page"]},
        "upload_to_page": {"next_page": report["upload"]["next_page"]},
        "served": True,  # its RSS is after opening and serving, not after building
    }  # fmt: skip


def plot(sizes: Sequence[dict[str, Any]], out: Path) -> None:
    """Two panels: latencies (log scale) and RSS, against catalog size."""
    counts = [s["build"]["count"] for s in sizes]
    fig, (lat, mem) = plt.subplots(
        1, 2, figsize=(13, 4.4), gridspec_kw={"width_ratios": (1.6, 1), "wspace": 0.75}
    )
    scenarios = [p["scenario"] for p in sizes[0]["pages"]]
    for scenario in scenarios:
        pages = [next(p for p in s["pages"] if p["scenario"] == scenario) for s in sizes]
        (line,) = lat.plot(counts, [p["latency"]["p99_ms"] for p in pages], marker="o",
                           label=f"page, {scenario}: p99")  # fmt: skip
        lat.plot(counts, [p["latency"]["p50_ms"] for p in pages], marker=".", linestyle=":",
                 color=line.get_color(), label=f"page, {scenario}: p50")  # fmt: skip
    new_phrase = [s["new_steer_page"]["after_steer"]["p99_ms"] for s in sizes]
    lat.plot(counts, new_phrase, marker="s", label="first page after a new phrase: p99")
    uploads = [s.get("upload_to_page") for s in sizes]
    if all(uploads):
        lat.plot(counts, [u["next_page"]["p99_ms"] for u in uploads], marker="^",
                 label="next page after an upload: p99")  # fmt: skip
    lat.axhline(PAGE_GOAL_P99_MS, color="grey", linewidth=0.8, linestyle="--")
    lat.axhline(NEW_PHRASE_PAGE_GOAL_P99_MS, color="grey", linewidth=0.8, linestyle="-.")
    lat.set(xscale="log", yscale="log", xlabel="clips in the catalog", ylabel="ms",
            title="latency (goals: page p99 20 ms, new phrase p99 50 ms)")  # fmt: skip
    lat.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    served = [f"{s['build']['count']:,}" for s in sizes if s.get("served")]
    after = f" ({', '.join(served)}: after opening and serving)" if served else ""
    mem.plot(counts, [s["build"]["rss_mb"] for s in sizes], marker="o",
             label=f"RSS after building{after}")  # fmt: skip
    mem.plot(counts, [s["build"]["max_rss_mb"] for s in sizes], marker=".", linestyle=":",
             label="peak RSS while building")  # fmt: skip
    own = [(c, s["build"]["own_mb"]) for c, s in zip(counts, sizes, strict=True)
           if s["build"].get("own_mb") is not None]  # fmt: skip
    if own:  # the rest of a served RSS is pages of mapped files, which the system may drop
        mem.plot(*zip(*own, strict=True), marker="D", linestyle="none",
                 label="of which the process's own (RssAnon), served")  # fmt: skip
    mem.axhline(RSS_GOAL_MB, color="grey", linewidth=0.8, linestyle="--")
    mem.set_ylim(bottom=0)
    mem.set(xscale="log", xlabel="clips in the catalog", ylabel="MiB", title="memory (goal 3 GB)")
    mem.legend(fontsize=7, loc="upper left")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="feed_bench.py JSON reports")
    parser.add_argument("--out", type=Path, default=Path("docs/cost-growth.png"))
    args = parser.parse_args(argv)
    reports = []
    for path in args.reports:
        try:
            reports.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            parser.error(f"{path}: {exc}")
    sizes = sizes_of(reports)
    if not sizes:
        parser.error("the reports hold no catalog sizes")
    plot(sizes, args.out)
    counts = ", ".join(f"{s['build']['count']:,}" for s in sizes)
    print(f"wrote {args.out} ({counts} clips)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
