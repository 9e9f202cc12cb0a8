"""`steerfeed experiment run|compare`: subcommands that build config and call the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from feed.experiments.config import load_config
from feed.resources import DATA_DIR


def _stages() -> tuple[Any, list[Any]]:
    """A stage callback that opens one tqdm bar (on stderr) per stage, and the bars."""
    from tqdm import tqdm

    bars: list[Any] = []

    def on_stage(name: str, total: int) -> Any:
        if bars:
            bars[-1].close()
        bar = tqdm(total=total, desc=name, unit="step", disable=None, file=sys.stderr)
        bars.append(bar)
        return bar.update

    return on_stage, bars


def experiment_path(given: str) -> Path:
    """The experiment file `given`, or the shipped one of that bare name (`example`)."""
    path = Path(given)
    shipped = DATA_DIR / "experiments" / f"{given}.toml"
    if not path.exists() and path.name == given and not path.suffix and shipped.is_file():
        return shipped
    return path


def cmd_experiment_run(args: argparse.Namespace) -> int:
    """Run an experiment file and write metrics, CIs and a report under --out."""
    from embeddings.encoders import SentenceEncoder
    from feed.core.steering import load_reader
    from feed.experiments.runner import run_experiment
    from feed.settings import Settings

    path = experiment_path(args.experiment)
    config = load_config(path)
    settings = Settings.from_env(home=getattr(args, "home", None))
    encoder = SentenceEncoder.load(settings.text_model, device=settings.device)
    on_stage, bars = _stages()
    try:
        result = run_experiment(
            config,
            Path(args.out),
            encoder,
            config_text=path.read_text(encoding="utf-8"),
            stages=on_stage,
            reader=load_reader(settings.models_dir),
        )
    finally:
        for bar in bars:
            bar.close()
    info = result.info
    print(
        f"experiment {info.name}: {info.users} users, {info.steps} steps,"
        f" {len(info.variants)} variants in {info.runtime_s:.0f} s"
    )
    headline = [m for m in config.report.headline if m in set(result.summary.metrics["metric"])]
    for row in result.summary.metrics.filter(
        result.summary.metrics["metric"].is_in(headline)
    ).iter_rows(named=True):
        print(
            f"  {row['variant']:<24} {row['metric']:<16} {row['value']:.3f}"
            f" [{row['lo']:.3f}, {row['hi']:.3f}]"
        )
    print(f"report: {result.report}")
    return 0


def cmd_experiment_compare(args: argparse.Namespace) -> int:
    """Print (and optionally write) the metric differences between two runs."""
    from feed.experiments.compare import compare_runs, comparison_frame, format_comparison

    try:
        comparison = compare_runs(Path(args.run_a), Path(args.run_b))
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from exc
    text = format_comparison(comparison)
    print(text, end="")
    if args.out:
        out = Path(args.out)
        if out.suffix == ".csv":
            comparison_frame(comparison).write_csv(out)
        else:
            out.write_text(text, encoding="utf-8")
    return 0


def add_experiment_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    """Register `experiment run EXP.toml --out DIR` and `experiment compare DIR_A DIR_B`."""
    parser = sub.add_parser("experiment", parents=[common], help="offline ranking experiments")
    commands = parser.add_subparsers(dest="experiment_command", required=True)
    p = commands.add_parser(
        "run", parents=[common], help="simulate or load logs, replay variants, write a report"
    )
    p.add_argument(
        "experiment", metavar="EXP.toml", help="experiment file, or a shipped one by name: example"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="new folder for the results")
    p.set_defaults(func=cmd_experiment_run)
    p = commands.add_parser("compare", parents=[common], help="compare the metrics of two runs")
    p.add_argument("run_a", metavar="DIR_A", help="results folder of the first run")
    p.add_argument("run_b", metavar="DIR_B", help="results folder of the second run")
    p.add_argument("--out", metavar="FILE", help="also write the comparison (.md, or .csv)")
    p.set_defaults(func=cmd_experiment_compare)
