"""Store URLs: the embedded defaults name files under the home, wherever it is given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from feed.settings import Settings
from feed.storage.stores import StoreURLError, StoreURLs, local_path, open_limits, open_store

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("home", ["var", "/srv/feed"])
def test_embedded_files_live_under_the_home_relative_or_not(home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    urls = StoreURLs.embedded(Path(home))
    under = Path(home).absolute()
    assert local_path(urls.catalog) == under / "catalog.sqlite"
    assert local_path(urls.users) == under / "state.sqlite"
    assert local_path(urls.vectors) == under / "index"
    assert local_path(urls.events) == under / "events"
    assert urls.limits == "memory://"


def test_jobs_default_to_the_sqlite_file_and_follow_their_setting(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"STEERFEED_HOME": "var"})
    assert local_path(settings.jobs_store_url) == tmp_path / "var" / "jobs.sqlite"
    url = "postgresql://feed@db.internal/feed"
    assert Settings.from_env({"STEERFEED_JOBS_URL": url}).jobs_store_url == url
    store = open_store("jobs", settings.jobs_store_url)
    assert store.get("job_missing") is None and (tmp_path / "var" / "jobs.sqlite").exists()
    store.close()


def test_one_database_url_holds_catalog_users_and_jobs_unless_one_is_set_apart():
    db, other = "postgresql://feed@db.internal/feed", "postgresql://feed@jobs.internal/jobs"
    settings = Settings.from_env({"STEERFEED_DATABASE_URL": db, "STEERFEED_JOBS_URL": other})
    urls = settings.store_urls
    assert (urls.catalog, urls.users, settings.jobs_store_url) == (db, db, other)
    assert urls.vectors.startswith("faiss://") and urls.limits == "memory://"
    # the command line's --database-url wins over the environment
    flagged = Settings.from_env({"STEERFEED_CATALOG_URL": other}, database_url=db).store_urls
    assert flagged.catalog == flagged.users == db


def test_unknown_schemes_are_refused_with_the_known_ones():
    with pytest.raises(StoreURLError, match="postgres, postgresql, sqlite"):
        open_store("jobs", "mysql://db/jobs")
    with pytest.raises(StoreURLError, match="memory, redis"):
        open_limits("memcached://cache", {})


def test_the_embedded_default_needs_no_server_client():
    code = (
        "import sys\n"
        "import feed.cli, feed.http.app, feed.bootstrap, feed.storage.stores\n"
        "print(sorted(m for m in ('psycopg', 'redis', 'pymilvus', 'milvus_lite')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("url", "uri", "token", "db_name", "prefix", "index"),
    [
        ("milvus:///srv/feed/vectors.db", "/srv/feed/vectors.db", "", "", "steerfeed", "FLAT"),
        ("milvus://db.internal:19530", "http://db.internal:19530", "", "", "steerfeed", "FLAT"),
        ("milvus+https://ann:s%40id@db.internal:443/feed?prefix=replica_2&index=hnsw",
         "https://db.internal:443", "ann:s@id", "feed", "replica_2", "HNSW"),
        ("milvus://[::1]:19530/", "http://[::1]:19530", "", "", "steerfeed", "FLAT"),
    ],
)  # fmt: skip
def test_milvus_urls_name_a_lite_file_or_a_server(url, uri, token, db_name, prefix, index):
    from feed.storage.milvus import parse_url

    target = parse_url(url)
    assert (target.uri, target.token, target.db_name) == (uri, token, db_name)
    assert (target.prefix, target.index) == (prefix, index)
    assert (target.lite_file is not None) == url.endswith(".db")


def test_a_relative_milvus_lite_file_is_under_the_working_folder(monkeypatch, tmp_path):
    from feed.storage.milvus import parse_url

    monkeypatch.chdir(tmp_path)
    assert parse_url("milvus://var/vectors.db").lite_file == tmp_path / "var" / "vectors.db"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("milvus:///srv/feed/vectors", "neither a milvus-lite file"),
        ("milvus://db.internal", "neither a milvus-lite file"),
        ("milvus://db.internal:port", "bad port"),
        ("milvus+https:///srv/vectors.db", "a milvus-lite file is milvus:///"),
        ("milvus://db.internal:19530/a/b", "not a Milvus database name"),
        ("milvus://db.internal:19530?prefix=9lives", "prefix '9lives'"),
        ("milvus://db.internal:19530?index=IVF_PQ", "FLAT or HNSW"),
        ("milvus://db.internal:19530?colour=red", "unknown option 'colour'"),
        ("milvus://ann:secret@db.internal", "ann:\\*\\*\\*@"),
    ],
)
def test_a_bad_milvus_url_is_refused_before_connecting(url, says):
    with pytest.raises(StoreURLError, match=says) as refused:
        open_store("vectors", url)
    assert "secret" not in str(refused.value)
