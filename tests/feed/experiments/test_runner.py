"""End to end on a tiny experiment: run (library and CLI), replay a recorded log, compare."""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl
import pytest

from feed.experiments.cli import (
    add_experiment_commands,
    cmd_experiment_compare,
    cmd_experiment_run,
)
from feed.experiments.config import load_config
from feed.experiments.runner import RunError, run_experiment

REPLAY_AND_VARIANTS = """
[replay]
page_size = 5
step_size = 5
ks = [5]
probe_pages = 2
follow_pages = 2

[report]
baseline = "popularity"
bootstrap = 100
{headline}

[[variant]]
name = "popularity"
ranker = "popularity"

[[variant]]
name = "als"
ranker = "als"
model = { factors = 8, iterations = 10 }

[[variant]]
name = "engine"

[[variant]]
name = "taste-heavy"
weights = { taste = 2.0, mmr_lambda = 0.9 }

[[variant]]
name = "no-explore"
sources = { explore = false }
"""

TINY = """
name = "tiny"
seed = 3

[catalog]
source = "demo"
limit = 90

[simulation]
users = 10
sessions_per_user = 2
pages_per_session = 3
page_size = 5
logging = "random"
averse_share = 1.0
shift_share = 1.0
instructions = "{corpus}"
""" + REPLAY_AND_VARIANTS.replace("{headline}", 'headline = ["ndcg@5", "adherence@5"]')

REPLAY_RECORDED = """
name = "recorded"
seed = 3

[catalog]
source = "home"
path = "{run}/home"

[logs]
source = "eventlog"
path = "{run}/logs/events"
steering = "{run}/logs/steering.parquet"
exposures = "{run}/logs/exposures.parquet"
""" + REPLAY_AND_VARIANTS.replace("{headline}", "")


def _without_latency(run: Path) -> pl.DataFrame:
    metrics = pl.read_parquet(run / "metrics.parquet")
    return metrics.filter(pl.col("metric") != "latency_ms").sort(["variant", "metric"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, text_encoder, corpus_writer) -> tuple[Path, Path]:
    """The tiny experiment run twice: by the library, then by the CLI function."""
    folder = tmp_path_factory.mktemp("runs")
    exp = folder / "tiny.toml"
    text = TINY.replace("{corpus}", str(corpus_writer(folder / "heldout.toml")))
    exp.write_text(text)
    first = run_experiment(load_config(exp), folder / "a", text_encoder, config_text=text)
    assert first.out == folder / "a"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("embeddings.encoders.SentenceEncoder.load", lambda *a, **k: text_encoder)
        code = cmd_experiment_run(argparse.Namespace(experiment=str(exp), out=str(folder / "b")))
    assert code == 0
    return folder / "a", folder / "b"


def test_a_run_writes_tables_report_and_plots(runs):
    run, _ = runs
    for name in ("metrics.parquet", "metrics.csv", "deltas.parquet", "deltas.csv", "latency.csv",
                 "steps.parquet", "steering.parquet", "report.md", "run.json", "experiment.toml",
                 "logs/steering.parquet", "logs/users.parquet", "logs/exposures.parquet",
                 "logging_policy.csv"):  # fmt: skip
        assert (run / name).is_file(), name
    assert list((run / "logs" / "events").glob("date=*/part-*.parquet"))
    metrics = pl.read_parquet(run / "metrics.parquet")
    assert set(metrics["variant"]) == {"popularity", "als", "engine", "taste-heavy", "no-explore"}
    ndcg = metrics.filter(pl.col("metric") == "ndcg@5")
    assert (ndcg["lo"] <= ndcg["value"]).all() and (ndcg["value"] <= ndcg["hi"]).all()
    assert pl.read_csv(run / "metrics.csv").shape == metrics.shape
    steering = pl.read_parquet(run / "steering.parquet")
    assert len(steering) > 0 and set(steering["op"]) >= {"boost", "exclude"}
    assert steering["lang"].null_count() == 0 and steering["kind"].null_count() == 0
    report = (run / "report.md").read_text()
    assert "## At a glance" in report and "Steering" in report
    assert "held-out cases fit the catalog's tags" in report
    assert "By language" in report and "| ja |" in report and "By kind of wording" in report
    assert "## Off-policy estimates" in report and "The logging policy's own rates" in report
    for line in report.splitlines():
        if line.startswith("!["):
            assert (run / line.split("(")[1].rstrip(")")).is_file()
    assert len(list((run / "plots").glob("*.png"))) >= 4
    assert not list(run.glob(".work-*"))  # throw-away user stores are gone


def test_steering_holds_on_the_engine(runs):
    run, _ = runs
    metrics = pl.read_parquet(run / "metrics.parquet")
    adherence = metrics.filter(pl.col("metric") == "adherence@5")
    engine = adherence.filter(pl.col("variant") == "engine")["value"][0]
    popularity = adherence.filter(pl.col("variant") == "popularity")["value"][0]
    assert engine > 0.8 and engine > popularity


def test_off_policy_estimates_sit_beside_replay_metrics(runs):
    run, _ = runs
    metrics = pl.read_parquet(run / "metrics.parquet")
    for name in ("ips_like", "snips_like", "dr_like", "ips_view", "dr_view", "support"):
        rows = metrics.filter(pl.col("metric") == name)
        assert len(rows) == 5, name
        finite = rows.filter(pl.col("lo").is_not_nan())
        assert (finite["lo"] <= finite["hi"]).all()
    deltas = pl.read_parquet(run / "deltas.parquet")
    assert len(deltas.filter(pl.col("metric") == "dr_like")) == 4  # paired against popularity
    logged = pl.read_csv(run / "logging_policy.csv")
    assert set(logged["metric"]) == {"logged_like", "logged_view"}
    view = logged.filter(pl.col("metric") == "logged_view")["value"][0]
    assert 0 < logged.filter(pl.col("metric") == "logged_like")["value"][0] < view < 1


def test_same_seed_same_numbers(runs):
    a, b = runs
    assert _without_latency(a).equals(_without_latency(b))


def test_a_recorded_log_replays_like_the_simulated_one(runs, tmp_path, text_encoder):
    a, _ = runs
    exp = tmp_path / "recorded.toml"
    exp.write_text(REPLAY_RECORDED.replace("{run}", str(a)))
    result = run_experiment(load_config(exp), tmp_path / "out", text_encoder)
    assert result.info.instructions > 0
    assert _without_latency(a).equals(_without_latency(tmp_path / "out"))


def test_a_demand_for_estimates_without_propensities_is_refused(runs, tmp_path, text_encoder):
    a, _ = runs
    text = REPLAY_RECORDED.replace("{run}", str(a)).replace(
        f'exposures = "{a}/logs/exposures.parquet"\n', ""
    )
    exp = tmp_path / "recorded.toml"
    exp.write_text(text.replace("bootstrap = 100", "bootstrap = 100\noff_policy = true"))
    with pytest.raises(RunError, match="report.off_policy: .* records no logging propensities"):
        run_experiment(load_config(exp), tmp_path / "out", text_encoder)


def test_compare_prints_and_writes_differences(runs, tmp_path, capsys):
    a, b = runs
    out = tmp_path / "compare.md"
    assert cmd_experiment_compare(argparse.Namespace(run_a=str(a), run_b=str(b), out=str(out))) == 0
    printed = capsys.readouterr().out
    assert printed == out.read_text()
    assert "| engine | ndcg@5 |" in printed and "+0.000" in printed
    csv = tmp_path / "compare.csv"
    cmd_experiment_compare(argparse.Namespace(run_a=str(a), run_b=str(b), out=str(csv)))
    frame = pl.read_csv(csv).filter(pl.col("metric") != "latency_ms")
    assert (frame["diff"].drop_nulls().abs() < 1e-12).all()


def test_compare_refuses_a_folder_without_results(runs, tmp_path):
    a, _ = runs
    with pytest.raises(ValueError, match="no experiment results"):
        cmd_experiment_compare(argparse.Namespace(run_a=str(a), run_b=str(tmp_path), out=None))


def test_a_used_output_folder_is_refused(runs, text_encoder):
    a, _ = runs
    with pytest.raises(RunError, match="not empty"):
        run_experiment(load_config(a / "experiment.toml"), a, text_encoder)


def test_commands_register_on_a_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home")
    parser = argparse.ArgumentParser(parents=[common])
    add_experiment_commands(parser.add_subparsers(dest="command", required=True), common)
    args = parser.parse_args(["experiment", "run", "exp.toml", "--out", "results"])
    assert args.func is cmd_experiment_run and args.out == "results"
    args = parser.parse_args(["experiment", "compare", "a", "b"])
    assert args.func is cmd_experiment_compare and (args.run_a, args.run_b) == ("a", "b")
    with pytest.raises(SystemExit):
        parser.parse_args(["experiment", "run", "exp.toml"])  # --out is required
