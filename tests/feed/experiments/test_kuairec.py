"""KuaiRec files (tiny ones written here, in the real format) as catalog and logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from feed.experiments.config import ConfigError, KuaiRecConfig, load_config
from feed.experiments.kuairec import kuairec_entries, kuairec_events
from feed.experiments.runner import run_experiment
from feed.storage.events import EVENT_SCHEMA

DAY = 1593878400.0  # 2020-07-05 00:00 UTC

MATRIX = """user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio
14,148,4381,6067,2020-07-05 05:27:48.378,20200705,1593926868.378,0.722
14,183,11635,6100,2020-07-05 05:28:00.057,20200705,1593926880.057,1.907
14,3649,22422,10867,2020-07-05 05:29:09.479,20200705,1593926949.479,2.063
14,5262,4479,7908,2020-07-05 05:30:43.285,20200705,1593927043.285,0.566
14,8234,4602,11000,2020-07-05 05:35:43.206,20200705,,0.418
19,148,9000,6067,2020-07-06 10:00:00.000,20200706,1594029600.0,1.483
19,183,500,6100,2020-07-06 10:00:10.000,20200706,1594029610.0,0.082
19,3649,30000,10867,2020-07-06 10:01:00.000,20200706,1594029660.0,2.761
"""
CATEGORIES = """video_id,feat
148,[8]
183,"[27, 9]"
3649,[9]
5262,[6]
8234,[28]
"""
CAPTION_HEADER = (
    "video_id,manual_cover_text,caption,topic_tag,first_level_category_id,"
    "first_level_category_name,second_level_category_id,second_level_category_name,"
    "third_level_category_id,third_level_category_name\n"
)
CAPTIONS = (
    CAPTION_HEADER
    + """148,UNKNOWN,a cat chasing a laser pointer,[猫咪],9,宠物,-124,UNKNOWN,-124,UNKNOWN
183,cooking tips,how to fold dumplings fast,"[美食,饺子]",6,美食,708,家常菜,-124,UNKNOWN
3649,UNKNOWN,,[],8,体育,-124,UNKNOWN,-124,UNKNOWN
"""
)


def write_kuairec(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "small_matrix.csv").write_text(MATRIX)
    (folder / "item_categories.csv").write_text(CATEGORIES)
    (folder / "kuairec_caption_category.csv").write_text(CAPTIONS, encoding="utf-8")
    return folder


def test_videos_become_text_clips(tmp_path):
    entries = {e.id: e for e in kuairec_entries(write_kuairec(tmp_path / "kr"), KuaiRecConfig())}
    assert set(entries) == {"kr148", "kr183", "kr3649", "kr5262", "kr8234"}
    cat = entries["kr148"]
    assert cat.prompt == "a cat chasing a laser pointer" and cat.caption == ""
    assert cat.tags == ("宠物", "猫咪", "category 8")
    dumplings = entries["kr183"]
    assert dumplings.caption == "cooking tips"
    assert dumplings.tags == ("美食", "家常菜", "饺子", "category 27", "category 9")
    # No caption: the cover text, else the tags, name the clip.
    assert entries["kr3649"].prompt == "体育 category 9"
    assert entries["kr5262"].prompt == "category 6"
    assert all(e.video is None for e in entries.values())
    # One creation time for all: a day before the first interaction.
    assert {e.created_at for e in entries.values()} == {1593926868.378 - 86400}


def test_watch_ratio_becomes_events(tmp_path):
    frame = kuairec_events(write_kuairec(tmp_path / "kr"), KuaiRecConfig()).collect()
    assert frame.schema == pl.Schema(EVENT_SCHEMA)
    by = {(r["user_id"], r["clip_id"], r["type"]): r for r in frame.iter_rows(named=True)}
    assert ("kr14", "kr148", "impression") in by  # 0.722: between skip and view
    assert ("kr14", "kr183", "view") in by and ("kr14", "kr183", "like") not in by  # 1.907
    assert ("kr14", "kr3649", "view") in by and ("kr14", "kr3649", "like") in by  # 2.063
    assert ("kr19", "kr183", "skip") in by  # 0.082
    assert by[("kr14", "kr3649", "like")]["watch_ms"] == 22422
    assert by[("kr14", "kr3649", "like")]["ts"] == pytest.approx(1593926949.479)
    # The row without a timestamp takes its time from the `time` column.
    assert by[("kr14", "kr8234", "impression")]["ts"] == pytest.approx(1593927343.206)
    assert frame["session_id"].null_count() == len(frame)


KUAIREC_EXPERIMENT = """
name = "kuairec-tiny"
seed = 1
[catalog]
source = "kuairec"
path = "{folder}"
[logs]
source = "kuairec"
[replay]
page_size = 3
step_size = 2
ks = [3]
positives = ["like"]
window_s = 86400
[report]
bootstrap = 50
headline = ["recall@3"]
{off_policy}
[[variant]]
name = "popularity"
ranker = "popularity"
[[variant]]
name = "als"
ranker = "als"
model = {{ factors = 4, iterations = 5 }}
[[variant]]
name = "item-knn"
ranker = "item-knn"
[[variant]]
name = "engine"
"""


def test_kuairec_experiment_runs(tmp_path, text_encoder):
    folder = write_kuairec(tmp_path / "kr")
    exp = tmp_path / "kuairec.toml"
    exp.write_text(KUAIREC_EXPERIMENT.format(folder=folder, off_policy=""))
    result = run_experiment(load_config(exp), tmp_path / "out", text_encoder)
    assert result.info.users == 2 and result.info.instructions == 0
    metrics = pl.read_parquet(tmp_path / "out" / "metrics.parquet")
    assert set(metrics["variant"]) == {"popularity", "als", "item-knn", "engine"}
    assert "recall@3" in set(metrics["metric"])
    report = result.report.read_text()
    assert "No steering instructions" in report and "## Steering" not in report
    # KuaiRec has no logging propensities: the report says so instead of estimating.
    assert "KuaiRec records no logging propensities" in report
    assert not set(metrics["metric"]) & {"ips_like", "dr_like"}


def test_kuairec_refuses_a_demand_for_off_policy_estimates(tmp_path):
    exp = tmp_path / "kuairec.toml"
    exp.write_text(KUAIREC_EXPERIMENT.format(folder=tmp_path, off_policy="off_policy = true"))
    with pytest.raises(ConfigError, match="KuaiRec logs record no logging propensities"):
        load_config(exp)


def write_two_camps(folder: Path, users: int = 24, videos: int = 60, seed: int = 4) -> Path:
    """A fully observed KuaiRec-shaped matrix: even users love the first half of the
    videos (watch ratio >= 2) and skip the rest, odd users the other way round; each
    user watches ten videos a day, in random order, until they have seen them all."""
    rng = np.random.default_rng(seed)
    lines = ["user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio"]
    for user in range(users):
        order = rng.permutation(videos)
        for n, video in enumerate(order.tolist()):
            loved = (video < videos // 2) == (user % 2 == 0)
            ratio = float(rng.uniform(2.0, 3.0) if loved else rng.uniform(0.0, 0.15))
            ts = DAY + 86400 * (n // 10) + 3600 * (user % 12) + 40 * (n % 10)
            lines.append(f"{user},{video},{int(ratio * 8000)},8000,,,{ts},{ratio:.3f}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "small_matrix.csv").write_text("\n".join(lines) + "\n")
    return folder


CAMPS_EXPERIMENT = """
name = "camps"
seed = 2
[catalog]
source = "kuairec"
path = "{folder}"
[logs]
source = "kuairec"
[replay]
page_size = 5
step_size = 5
ks = [5]
window_s = 86400
[report]
bootstrap = 50
headline = ["recall@5"]
[[variant]]
name = "popularity"
ranker = "popularity"
[[variant]]
name = "als"
ranker = "als"
model = {{ factors = 4, iterations = 15, regularization = 0.1 }}
[[variant]]
name = "item-knn"
ranker = "item-knn"
"""


def test_collaborative_filtering_finds_the_camps_on_kuairec_shaped_logs(tmp_path, text_encoder):
    folder = write_two_camps(tmp_path / "kr")
    exp = tmp_path / "camps.toml"
    exp.write_text(CAMPS_EXPERIMENT.format(folder=folder))
    result = run_experiment(load_config(exp), tmp_path / "out", text_encoder)
    assert result.info.users == 24 and result.info.sessions == 24 * 6
    metrics = pl.read_parquet(tmp_path / "out" / "metrics.parquet")
    recall = {
        row["variant"]: row["value"]
        for row in metrics.filter(pl.col("metric") == "recall@5").iter_rows(named=True)
    }
    # Every video is loved by half the users: popularity cannot tell the camps apart,
    # while ALS and item-kNN, refit each day on the days before, learn them.
    assert recall["als"] > recall["popularity"] + 0.08
    assert recall["item-knn"] > recall["popularity"] + 0.08
