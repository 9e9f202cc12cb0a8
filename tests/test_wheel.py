"""The built wheel runs on its own: code, web page and shipped data all come from the package.

The slow tests build the wheel from a copy of the checkout, install it into a fresh venv
whose only link to this environment is a `.pth` line naming its site-packages (for the
dependencies; `.pth` files found there, such as an editable install's finder, are not
run), and drive the installed `steerfeed` from a folder outside the checkout.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import site
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from feed.core.intent_corpus import HANDWRITTEN_SETS

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
CODE_PACKAGES = ("embeddings", "generation", "feed")
HOST = "127.0.0.1"
PRINT_PURELIB = "import sysconfig; print(sysconfig.get_path('purelib'))"
# Left out of the copy the wheel is built from: neither code nor shipped data.
NOT_BUILT_FROM = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis", "bench", "docs", "tests",
)  # fmt: skip


def code_packages() -> set[str]:
    """Dotted names of every folder of Python code."""
    return {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in CODE_PACKAGES
        for init in (ROOT / top).rglob("__init__.py")
    }


def data_packages() -> set[str]:
    """Dotted names of the folders of data/ and the web page, as the wheel lays them out."""
    data = ROOT / "data"
    folders = [data, *(p for p in data.rglob("*") if p.is_dir())]
    return {"feed.http.static"} | {
        ".".join(("feed", *folder.relative_to(ROOT).parts)) for folder in folders
    }


def shipped_data_files() -> set[str]:
    """Wheel paths of the data files the runtime reads: all of data/ but what is excluded."""
    excluded = SETUPTOOLS["exclude-package-data"]["feed.data"]
    paths = [p.relative_to(ROOT / "data").as_posix() for p in (ROOT / "data").rglob("*")
             if p.is_file()]  # fmt: skip
    return {
        f"feed/data/{path}"
        for path in paths
        if not any(fnmatch.fnmatch(path, pattern) for pattern in excluded)
    }


def test_every_code_and_data_folder_is_a_listed_package():
    assert set(SETUPTOOLS["packages"]) == code_packages() | data_packages()
    assert SETUPTOOLS["package-dir"] == {"feed.data": "data"}


def test_a_shipped_experiment_is_found_by_name(tmp_path, monkeypatch):
    from feed.experiments.cli import experiment_path
    from feed.resources import DATA_DIR

    monkeypatch.chdir(tmp_path)
    assert experiment_path("example") == DATA_DIR / "experiments" / "example.toml"
    (tmp_path / "example").write_text("")
    assert experiment_path("example") == Path("example")  # a file of that name wins
    assert experiment_path("mine.toml") == Path("mine.toml")


@dataclass(frozen=True)
class Installed:
    """A venv holding only the wheel, and how to run its `steerfeed`."""

    wheel: Path
    venv: Path
    workdir: Path
    env: dict[str, str]

    def steerfeed(self, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess:
        """Run the installed console script from the work folder; fail loudly on error."""
        done = subprocess.run(
            [str(self.venv / "bin" / "steerfeed"), *args], cwd=self.workdir, env=self.env,
            capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        return done

    def python(self, code: str) -> str:
        """Run `code` with the venv's interpreter; its stdout."""
        done = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code], cwd=self.workdir, env=self.env,
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return done.stdout.strip()


def run(*args: str | Path) -> None:
    """Run a build step; its output only when it fails."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory, model_cache) -> Installed:
    """Build the wheel from a copy of the checkout and install it into a fresh venv."""
    tmp = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, tmp / "src", ignore=NOT_BUILT_FROM)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--no-index", "--wheel-dir", tmp / "dist", tmp / "src")  # fmt: skip
    (wheel,) = (tmp / "dist").glob("steerfeed-*.whl")

    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", PRINT_PURELIB],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # The dependencies, from this environment; appended after the venv's own site-packages.
    (Path(purelib) / "steerfeed-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
        "--no-deps", "--no-index", "--ignore-installed", wheel)  # fmt: skip

    workdir = tmp / "work"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "STEERFEED_", "VIRTUAL_ENV"))}  # fmt: skip
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        STEERFEED_MODEL_CACHE=str(model_cache),  # the reader the suite trained, not retrained
        STEERFEED_CLIP_PRETRAINED="off",  # text channels only: no CLIP weights to fetch
    )
    return Installed(wheel, venv, workdir, env)


@pytest.fixture(scope="module")
def demo_home(installed, reader) -> tuple[Path, str]:
    """A demo catalog of 20 clips built by the installed package; the home and its report."""
    # `reader`: trained into the shared model cache before the installed CLI looks there.
    home = installed.workdir / "home"
    done = installed.steerfeed("demo", "--no-serve", "--limit", "20", "--home", str(home))
    return home, done.stdout


@pytest.mark.slow
def test_the_wheel_carries_code_web_page_and_shipped_data(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    assert shipped_data_files() <= names
    assert "feed/data/steering/heldout.toml" in names
    # The reader learns from some hand-written sets, so they ship; the unseen check stays out.
    assert {f"feed/data/steering/{n}" for n in HANDWRITTEN_SETS} <= names
    for unseen in ("dev8", "dev22", "dev23"):
        assert f"feed/data/steering/{unseen}_instructions.toml" not in names
    assert {"feed/http/static/index.html", "feed/http/static/app.js"} <= names
    assert {f"{n.replace('.', '/')}/__init__.py" for n in code_packages()} <= names


@pytest.mark.slow
def test_the_installed_package_runs_from_the_venv_not_the_checkout(installed):
    where = installed.python(
        "import feed, feed.resources as r; print(feed.__file__); print(r.DATA_DIR)"
    ).splitlines()
    site_packages = installed.venv.resolve()
    assert Path(where[0]).resolve().is_relative_to(site_packages)
    assert Path(where[1]) == Path(where[0]).parent / "data"
    assert not Path(where[0]).resolve().is_relative_to(ROOT)
    assert "demo" in installed.steerfeed("--help").stdout


@pytest.mark.slow
def test_the_installed_demo_builds_clips_from_the_shipped_spec(demo_home):
    home, report = demo_home
    assert "demo catalog: 20 clips added, 0 skipped; 20 clips in" in report
    assert len(list((home / "media").rglob("*.mp4"))) == 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(installed: Installed, home: Path) -> Iterator[str]:
    """`steerfeed serve` from the wheel on a free local port, up until the block ends."""
    port = free_port()
    proc = subprocess.Popen(
        [str(installed.venv / "bin" / "steerfeed"), "serve", "--home", str(home),
         "--host", HOST, "--port", str(port)],
        cwd=installed.workdir, env=installed.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"server exited: {proc.stderr.read()[-4000:]}"
            assert time.monotonic() < deadline, "server did not come up"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2, trust_env=False).status_code == 200:
                    break
            time.sleep(0.1)  # between polls of the condition
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_the_installed_server_serves_the_web_page_and_a_feed(installed, demo_home):
    home, _ = demo_home
    with (
        serving(installed, home) as base,
        httpx.Client(base_url=base, timeout=60, trust_env=False) as client,
    ):
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert client.get("/static/app.js").status_code == 200
        assert client.get("/healthz").json()["clips"] == 20
        user = client.post("/v1/users", json={"handle": "wheelie"}).json()
        feed = client.get(
            "/v1/feed", params={"limit": 5}, headers={"Authorization": f"Bearer {user['token']}"}
        )
        assert feed.status_code == 200, feed.text
        assert len(feed.json()["items"]) == 5
