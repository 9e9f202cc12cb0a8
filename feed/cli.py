"""The `steerfeed` command: subcommands build settings and call library functions."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from embeddings.encoders import EncoderUnavailable  # noqa: E402
from feed.core.consent import normalise_handle  # noqa: E402
from feed.core.manifest import ManifestError  # noqa: E402
from feed.core.steering import load_reader  # noqa: E402
from feed.core.types import User
from feed.services.clips import ClipStore  # noqa: E402
from feed.services.feed import FeedService  # noqa: E402
from feed.services.feed import describe as describe_steering  # noqa: E402
from feed.services.gaps import GapFiller, checked_prompt  # noqa: E402
from feed.services.pages import check_limit  # noqa: E402
from feed.settings import Settings  # noqa: E402
from feed.storage.catalog import CatalogError  # noqa: E402
from feed.storage.stores import StoreURLs, open_store  # noqa: E402

if TYPE_CHECKING:
    from feed.services.shards import EncoderSpec

log = logging.getLogger("steerfeed")

QUIET_LOGGERS = ("sentence_transformers", "transformers", "httpx", "root", "urllib3", "filelock")


class CliError(Exception):
    """An error to print as one line and exit 2."""


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        home=getattr(args, "home", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        database_url=getattr(args, "database_url", None),
        vectors_url=getattr(args, "vectors_url", None),
        cache_url=getattr(args, "cache_url", None),
    )


def _bar(total: int, desc: str, unit: str = "clip"):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None, file=sys.stderr)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest a JSONL manifest."""
    from feed.bootstrap import open_engine
    from feed.core.manifest import read_manifest

    settings = _settings(args)
    manifest = read_manifest(Path(args.manifest), settings.max_prompt_chars)
    precomputed = None
    if args.vectors:
        from feed.services.shards import read_vectors

        precomputed = read_vectors(Path(args.vectors), manifest.entries)
    engine = open_engine(settings)
    # Creators and cameos become reserved accounts as they are stored, even while a
    # server on the same home takes sign-ups.
    accounts = open_store("users", settings.store_urls.users)
    engine.accounts = accounts
    try:
        with _bar(len(manifest.entries), "ingest") as bar:
            report = engine.ingest(manifest.entries, progress=bar.update, precomputed=precomputed)
        total = engine.catalog.count()
    finally:
        engine.close()
        accounts.close()
    errors = sorted(manifest.errors + report.errors, key=lambda e: e.line)
    for error in errors:
        print(f"line {error.line}: skipped ({error.reason})", file=sys.stderr)
    print(
        f"ingested {len(report.added)} new, {len(report.updated)} updated,"
        f" {len(errors)} skipped; catalog has {total} clips"
    )
    return 1 if errors and not (report.added or report.updated) else 0


def encoder_spec(settings: Settings, torch_threads: int | None = None) -> EncoderSpec:
    """The encoders the settings name, as a spec any worker process can load."""
    from feed.services.shards import EncoderSpec

    return EncoderSpec(
        text_model=settings.text_model,
        multilingual=settings.multilingual,
        clip_model=settings.clip_model,
        clip_pretrained=settings.clip_pretrained,
        clip_config=str(settings.clip_config) if settings.clip_config else None,
        device=settings.device,
        frames_per_clip=settings.frames_per_clip,
        torch_threads=torch_threads,
    )


def cmd_embed(args: argparse.Namespace) -> int:
    """Embed a manifest into vector shards, here or on a Dask cluster."""
    from contextlib import AbstractContextManager, nullcontext

    from feed.core.manifest import read_manifest
    from feed.services.shards import ShardRunner, dask_runner, embed_manifest, run_here

    settings = _settings(args)
    manifest = read_manifest(Path(args.manifest), settings.max_prompt_chars)
    if args.dask and args.local_cluster:
        raise CliError("give --dask or --local-cluster, not both")
    if args.shard_size <= 0:
        raise CliError("--shard-size must be positive")
    # One intra-op thread per single-threaded worker: the workers are the parallelism.
    spec = encoder_spec(settings, torch_threads=1 if args.local_cluster else None)
    runner: AbstractContextManager[ShardRunner] = nullcontext(run_here)
    if args.dask or args.local_cluster:
        import distributed  # noqa: F401  (sets its loggers' levels on import; quieted below)

        logging.getLogger("distributed").setLevel(logging.WARNING)
        runner = dask_runner(args.dask, args.local_cluster)
    shards = -(-len(manifest.entries) // args.shard_size)
    started = time.perf_counter()
    with runner as run, _bar(shards, "embed", unit="shard") as bar:
        report = embed_manifest(
            manifest.entries, Path(args.out), spec, shard_size=args.shard_size,
            run=run, progress=bar.update,
        )  # fmt: skip
    elapsed = time.perf_counter() - started
    for error in manifest.errors:
        print(f"line {error.line}: skipped ({error.reason})", file=sys.stderr)
    for message in report.media_errors:
        print(f"no visual vector for {message}", file=sys.stderr)
    print(
        f"embedded {report.written} shards ({report.clips} clips), {report.skipped} already"
        f" done, in {elapsed:.1f} s; {len(manifest.errors)} lines skipped"
    )
    return 1 if manifest.errors and not manifest.entries else 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild indexes from the catalog."""
    from feed.bootstrap import open_engine
    from feed.services.snapshot_files import resave_snapshot

    engine = open_engine(_settings(args))
    try:
        with _bar(engine.catalog.count() if args.reembed else 0, "re-embed") as bar:
            counts = engine.reindex(reembed=args.reembed, progress=bar.update)
        print("reindexed " + ", ".join(f"{c}: {n} vectors" for c, n in counts.items()))
        # The saved snapshot may read its codes from the old indexes: saved again over the
        # new ones, so the next server opens one that fits them.
        if resave_snapshot(engine):
            print("saved snapshot rebuilt over the new indexes")
    finally:
        engine.close()
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Print the nearest clips to a query."""
    from feed.bootstrap import open_engine

    if args.limit < 1:
        raise CliError("limit must be at least 1")
    engine = open_engine(_settings(args))
    try:
        hits = engine.search(args.query, args.limit)
    finally:
        engine.catalog.close()
    if args.json:
        items = [
            {"clip_id": h.clip.id, "prompt": h.clip.prompt, "creator": h.clip.creator,
             "score": round(h.score, 4), "channels": h.channel_scores}
            for h in hits
        ]  # fmt: skip
        print(json.dumps({"items": items}, ensure_ascii=False, indent=2))
    else:
        for h in hits:
            print(f"{h.score:7.3f}  {h.clip.id:<14} @{h.clip.creator:<12} {h.clip.prompt}")
    return 0


def _serve(settings: Settings, engine: ClipStore | None = None) -> int:
    from feed.bootstrap import use_one_thread_per_request
    from feed.http.app import create_app
    from feed.http.serving import freeze_long_lived, serve_app

    use_one_thread_per_request()
    app = create_app(settings, engine)
    freeze_long_lived(app)
    print(
        f"steerfeed serving {settings.home} at http://{settings.host}:{settings.port}", flush=True
    )
    serve_app(app, settings.host, settings.port)
    return 0


def _serve_workers(settings: Settings, workers: int) -> int:
    """Serve from `workers` processes on one port; each opens the stores on its own."""
    from feed.http.serving import serve_workers

    urls = settings.store_urls
    if settings.cache_url is None:
        log.warning("rate limits are per process with the in-memory cache: %d workers allow"
                    " %d times each budget; set STEERFEED_CACHE_URL=redis://... to share them",
                    workers, workers)  # fmt: skip
    # Schemas are created or migrated here, once, before the workers race to open them.
    stores = (("catalog", urls.catalog), ("users", urls.users), ("jobs", settings.jobs_store_url))
    for kind, url in stores:
        open_store(kind, url).close()
    # The workers build their settings from the environment: what the command line
    # chose goes there too.
    os.environ["STEERFEED_HOME"] = str(settings.home.absolute())
    for key in ("catalog_url", "state_url", "jobs_url", "vectors_url", "cache_url"):
        if getattr(settings, key):
            os.environ[f"STEERFEED_{key.upper()}"] = getattr(settings, key)
    os.environ["STEERFEED_RUN_JOBS"] = "on" if settings.run_jobs_in_background else "off"
    print(f"steerfeed serving {settings.home} at http://{settings.host}:{settings.port}"
          f" from {workers} worker processes", flush=True)  # fmt: skip
    serve_workers(settings.host, settings.port, workers)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the HTTP API."""
    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    settings = _settings(args)
    if args.no_jobs:
        settings = replace(settings, run_jobs_in_background=False)
    if args.workers > 1:
        return _serve_workers(settings, args.workers)
    return _serve(settings)


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo catalog if absent, then serve it."""
    from feed.bootstrap import open_engine
    from feed.services.demo import build_demo, record_demo_consent
    from generation.renderer import ProceduralRenderer

    settings = _settings(args)
    engine = open_engine(settings)
    bars: list[Any] = []

    def on_stage(name: str, total: int) -> None:
        if bars:
            bars[-1].close()
        bars.append(_bar(total, name))

    try:
        report = build_demo(
            engine,
            ProceduralRenderer(),
            now=time.time(),
            limit=args.limit,
            progress=lambda n: bars[-1].update(n),
            on_stage=on_stage,
        )
        total = engine.catalog.count()
        from feed.bootstrap import open_service

        service = open_service(settings, engine)
        try:
            consents = record_demo_consent(service, time.time())
        finally:
            service.close()
    except BaseException:
        engine.close()
        raise
    finally:
        for bar in bars:
            bar.close()
    print(
        f"demo catalog: {len(report.added)} clips added, {len(report.errors)} skipped;"
        f" {total} clips in {settings.home}; {consents} cameo policies recorded"
    )
    if args.no_serve:
        engine.close()
        return 0
    engine.save()
    return _serve(settings, engine)  # the same engine: models load (and warn) once


@contextmanager
def _feed_service(settings: Settings) -> Iterator[tuple[ClipStore, FeedService]]:
    """The engine and feed service over a home, closed (indexes not re-saved) on exit."""
    from feed.bootstrap import open_engine, open_service

    engine = open_engine(settings)
    service = open_service(settings, engine)
    try:
        yield engine, service
    finally:
        service.close()
        engine.catalog.close()


@contextmanager
def _gap_filler(settings: Settings) -> Iterator[tuple[ClipStore, FeedService, GapFiller]]:
    """`_feed_service` plus the gap filler; its job table is closed on exit too."""
    from feed.bootstrap import open_gap_filler

    with _feed_service(settings) as (engine, service):
        filler = open_gap_filler(settings, service)
        try:
            yield engine, service, filler
        finally:
            filler.jobs.close()


def _user(service: FeedService, handle: str, check: Callable[[], object] | None = None) -> User:
    """The user of `handle`, made when new, once `check` (the command's own checks of its
    input) has passed: a command that fails on bad input makes no user."""
    user = service.users.user_by_handle(normalise_handle(handle))
    if user is None:
        if check is not None:
            check()
        user, _ = service.accounts.create_user(handle, time.time())
        print(f"created user @{user.handle}", file=sys.stderr)
    return user


def _fails(message: str) -> Callable[[], object]:
    def fail() -> object:
        raise CliError(message)

    return fail


def cmd_feed(args: argparse.Namespace) -> int:
    """Print a page of a user's feed with reasons."""
    with _feed_service(_settings(args)) as (_, service):
        check_limit(args.limit)
        new_user_check = (
            _fails(f"@{args.user} is new: there is no feed to continue") if args.cursor else None
        )
        page = service.pages.feed_page(
            _user(service, args.user, new_user_check), args.limit, args.cursor, time.time()
        )
    for r in page.steering:
        print(f"steering: {r.id}  {describe_steering(r)}")
    for item in page.items:
        print(f"{item.score:7.3f}  {item.clip.id:<14} @{item.clip.creator:<12} {item.clip.prompt}")
        print(f"{'':9}why: {'; '.join(item.reasons)}")
    print(f"next: --cursor {page.next_cursor}")
    return 0


def cmd_steer(args: argparse.Namespace) -> int:
    """Steer a user's feed in plain words (or list / retract steering)."""
    with _feed_service(_settings(args)) as (_, service):
        text = " ".join(args.text) if args.text else None
        check: Callable[[], object] | None = None
        if args.retract:
            check = _fails(f"no steering {args.retract!r}")  # a new user has none
        elif text is not None:
            check = partial(service.steering.read, text)
        user = _user(service, args.user, check)
        now = time.time()
        if args.retract:
            service.steering.retract(user, args.retract, now)
            print(f"retracted {args.retract}")
        elif text is not None:
            for r in service.steering.steer(user, text, now, scope=args.scope):
                print(f"applied: {r.id}  {describe_steering(r)}  ({r.op} '{r.phrase}' x{r.weight})")
        for r in service.steering.active_steering(user, now):
            print(f"active:  {r.id}  {describe_steering(r)}")
    return 0


def cmd_eval_steering(args: argparse.Namespace) -> int:
    """Score the steering suite on the home's catalog (throw-away users)."""
    if args.heldout or args.instructions:
        return _eval_heldout(args)
    import itertools
    import tempfile

    from feed.bootstrap import open_engine
    from feed.evaluation.pages import evaluate_case, format_report, load_suite
    from feed.services.feed import FeedService

    settings = _settings(args)
    suite = load_suite(Path(args.suite)) if args.suite else load_suite()
    empty = CliError(
        f"{settings.home} has no clips to score the steering suite on: build the demo"
        f" catalog there first (`steerfeed demo --home {settings.home}`), or use --heldout"
        " for the labelled test catalogs"
    )
    if settings.catalog_url is None and not (settings.home / "catalog.sqlite").exists():
        raise empty  # before opening an engine, which would make the home
    engine = open_engine(settings)
    if not engine.catalog.count():
        engine.close()
        raise empty
    counter = itertools.count()
    with tempfile.TemporaryDirectory(prefix="steerfeed-eval-") as tmp:
        scratch = StoreURLs.embedded(Path(tmp))
        service = FeedService(engine, open_store("users", scratch.users),
                              open_store("events", scratch.events),
                              load_reader(settings.models_dir))  # fmt: skip
        now = time.time()
        results = []
        try:
            with _bar(len(suite), "evaluate") as bar:
                for case in suite:
                    results.append(
                        evaluate_case(service, case, now, lambda: f"eval{next(counter)}")
                    )
                    bar.update(1)
        finally:
            service.close()
            engine.catalog.close()
    report = format_report(results)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n")
    return 0


def _eval_heldout(args: argparse.Namespace) -> int:
    """Held-out instructions on the labelled test catalogs: understanding and page effects."""
    import tempfile

    from embeddings.encoders import SentenceEncoder
    from feed.bootstrap import load_multilingual_encoder
    from feed.evaluation.data import HELDOUT_PATH, load_heldout, load_labelled_catalog
    from feed.evaluation.pages import evaluate_heldout, exclusion_sweep, open_labelled_service
    from feed.evaluation.understanding import summarise

    settings = _settings(args)
    cases = load_heldout(Path(args.instructions) if args.instructions else HELDOUT_PATH)
    reader = load_reader(settings.models_dir)
    text = SentenceEncoder.load(settings.text_model, device=settings.device)
    multi = load_multilingual_encoder(settings)
    now = time.time()
    lines = []
    with tempfile.TemporaryDirectory(prefix="steerfeed-heldout-") as tmp:
        services, labels = {}, {}
        for name in ("a", "b"):
            home = Path(tmp) / name
            engine = ClipStore(home, text, None, multi_encoder=multi)
            services[name], labels[name] = open_labelled_service(
                load_labelled_catalog(name), home, engine, reader, now
            )
        with _bar(len(cases), "evaluate") as bar:
            results = evaluate_heldout(reader, cases, services, labels, now, bar.update)
        lines.append("lang   cases  op_acc  concept_acc  inversions  asked  refused  page_ok")
        for lang in ("all", "en", "ja", "mixed"):
            sub = [r for r in results if lang == "all" or r.score.case.lang == lang]
            s = summarise([r.score for r in sub])
            paged = [r for r in sub if r.page_ok is not None]
            lines.append(
                f"{lang:6} {s.cases:5}  {s.op_accuracy:6.3f}  {s.concept_accuracy:11.3f}"
                f"  {s.inversions:10}  {s.asked:5}  {s.refused:7}"
                f"  {sum(bool(r.page_ok) for r in paged)}/{len(paged)}"
            )
        for op in ("boost", "only", "suppress", "exclude"):
            paged = [r for r in results if r.page_ok is not None and r.score.case.ops[0].op == op]
            lines.append(f"page {op:8} met {sum(bool(r.page_ok) for r in paged)}/{len(paged)}")
        if args.sweep_users:
            for name, service in services.items():
                by_target: dict[str, list[str]] = {}
                for c in cases:
                    if c.catalog == name and c.target and c.ops[0].op == "exclude":
                        by_target.setdefault(c.target, []).append(c.text)
                for target, texts in sorted(by_target.items()):
                    sweep = exclusion_sweep(service, name, target, texts, labels[name],
                                        args.sweep_users, now)  # fmt: skip
                    lines.append(
                        f"exclude {name}/{target:11} users {sweep.users}  leaks {sweep.leaks}"
                        f"  false exclusion {sweep.false_exclusion:.3f}"
                        f"  asked or refused {sweep.unapplied}"
                    )
        if args.misses:
            for r in results:
                if not r.score.ops_right or r.score.inversions or r.page_ok is False:
                    lines.append(f"  {r.score.case.id:9} {r.score.reading.kind:7}"
                                 f" {r.score.reading.ops}  {r.score.case.text}")  # fmt: skip
        for service in services.values():
            service.close()
            service.clips.catalog.close()
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n")
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    """List what users steer towards that the catalog lacks."""
    with _gap_filler(_settings(args)) as (_, _, filler):
        gaps = filler.gaps(time.time())
    if not gaps:
        print("no gaps: every active request finds enough unseen clips")
    for g in gaps:
        print(f"{g.id}  priority {g.priority:5.2f}  '{g.phrase}'  waiting {len(g.waiting_users)}"
              f"  supply {g.supply}  best match {g.best_match} (z {g.best_z:.2f})")  # fmt: skip
    return 0


def cmd_fill_gaps(args: argparse.Namespace) -> int:
    """Queue jobs for the top gaps and run them now."""
    with _gap_filler(_settings(args)) as (engine, _, filler):
        now = time.time()
        queued = 0
        for gap in filler.gaps(now)[: args.max]:
            result = filler.fill_gap(gap.id, args.per_gap, now)
            queued += len(result.jobs)
            print(f"{gap.id} '{gap.phrase}': queued {len(result.jobs)} jobs")
        with _bar(queued, "generate") as bar:
            done = []
            while True:
                ran = filler.run(max_jobs=1)
                if not ran:
                    break
                done.extend(ran)
                bar.update(1)
        engine.save()
    for job in done:
        print(f"{job.id}  {job.status:<10} {job.clip_id or job.error or ''}  {job.prompt}")
    return 0 if all(j.status != "failed" for j in done) else 1


def cmd_generate(args: argparse.Namespace) -> int:
    """Generate a clip for a user's prompt now."""
    with _gap_filler(_settings(args)) as (engine, service, filler):
        prompt = " ".join(args.prompt)
        user = _user(service, args.user, partial(checked_prompt, prompt))
        job = filler.request(user, prompt, time.time())
        print(f"queued {job.id}: {job.prompt}")
        done = filler.run(max_jobs=args.run)
        engine.save()
    for j in done:
        print(f"{j.id}  {j.status:<10} {j.clip_id or j.error or ''}")
    return 0 if all(j.status != "failed" for j in done) else 1


def _common_options(*, defaults: bool) -> argparse.ArgumentParser:
    """The options every command takes, before its name or after it. The copy the
    subcommands share sets no defaults (`defaults=False`): a subcommand's default would
    overwrite a value given before its name (`steerfeed --home X search ...`)."""
    unset: dict[str, Any] = {} if defaults else {"default": argparse.SUPPRESS}
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="state folder (default ./var or $STEERFEED_HOME)", **unset)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging", **unset)
    common.add_argument(
        "--database-url",
        help="catalog, users and jobs in one database, e.g."
        " postgresql://host/steerfeed ($STEERFEED_DATABASE_URL)",
        **unset,
    )
    common.add_argument(
        "--vectors-url",
        help="vector indexes ($STEERFEED_VECTORS_URL; default faiss://<home>/index)",
        **unset,
    )
    common.add_argument(
        "--cache-url",
        help="rate limits and shared engagement, e.g."
        " redis://host:6379/0 ($STEERFEED_CACHE_URL; default memory://)",
        **unset,
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="steerfeed", description=__doc__, parents=[_common_options(defaults=True)]
    )
    common = _common_options(defaults=False)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", parents=[common], help="ingest a JSONL manifest of clips")
    p.add_argument("manifest", help="one JSON object per line (id, prompt, creator, video, ...)")
    p.add_argument(
        "--vectors",
        metavar="DIR",
        help="use the vectors `steerfeed embed` wrote here instead of encoding",
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "embed",
        parents=[common],
        help="embed a manifest into Parquet vector shards (here or on Dask)",
    )
    p.add_argument("--manifest", required=True, help="the JSONL manifest `ingest` reads")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of shard files")
    p.add_argument("--shard-size", type=int, default=1000, help="clips per shard")
    p.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786")
    p.add_argument(
        "--local-cluster",
        type=int,
        metavar="K",
        help="run K worker processes on 127.0.0.1 for this command",
    )
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("reindex", parents=[common], help="rebuild vector indexes from the catalog")
    p.add_argument("--reembed", action="store_true", help="re-encode every clip first")
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("search", parents=[common], help="find clips by text")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print JSON like GET /v1/search")
    p.set_defaults(func=cmd_search)

    serve_opts = argparse.ArgumentParser(add_help=False)
    serve_opts.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve_opts.add_argument("--port", type=int, help="port (default 8000)")

    p = sub.add_parser("serve", parents=[common, serve_opts], help="serve the HTTP API")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes on the one port (default 1); generation jobs run in"
                        " one of them")  # fmt: skip
    p.add_argument("--no-jobs", action="store_true",
                   help="run no generation jobs here (another server runs them)")  # fmt: skip
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("feed", parents=[common], help="print a page of a user's feed")
    p.add_argument("--user", required=True, help="handle (created if new)")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--cursor", help="next_cursor from the previous page")
    p.set_defaults(func=cmd_feed)

    p = sub.add_parser("steer", parents=[common], help="steer a user's feed in plain words")
    p.add_argument("--user", required=True, help="handle (created if new)")
    p.add_argument("text", nargs="*", help='e.g. "more anime style" or 「ホラーは見たくない」')
    p.add_argument("--scope", choices=["persistent", "session"], default="persistent")
    p.add_argument("--retract", metavar="ID", help="retract one steering op")
    p.set_defaults(func=cmd_steer)

    from feed.experiments.cli import add_experiment_commands

    add_experiment_commands(sub, common)

    p = sub.add_parser("gaps", parents=[common], help="list content gaps by demand x shortfall")
    p.set_defaults(func=cmd_gaps)

    p = sub.add_parser("fill-gaps", parents=[common], help="generate clips for the top gaps now")
    p.add_argument("--max", type=int, default=3, help="how many gaps to fill")
    p.add_argument("--per-gap", type=int, default=2, help="clips per gap")
    p.set_defaults(func=cmd_fill_gaps)

    p = sub.add_parser("generate", parents=[common], help="generate a clip for a user's prompt")
    p.add_argument("prompt", nargs="+")
    p.add_argument("--user", required=True, help="requester handle (created if new)")
    p.add_argument("--run", type=int, default=1, help="run up to N queued jobs now")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("eval-steering", parents=[common], help="score the steering suite")
    p.add_argument("--suite", help="suite TOML (default data/steering/dev.toml)")
    p.add_argument("--heldout", action="store_true",
                   help="read the held-out instructions and measure them on the labelled"
                        " test catalogs A and B instead")  # fmt: skip
    p.add_argument("--instructions", help="another instruction set in the held-out format")
    p.add_argument(
        "--sweep-users",
        type=int,
        default=0,
        help="with --heldout: users per excluded label in an exclusion sweep",
    )
    p.add_argument("--misses", action="store_true", help="with --heldout: list every miss")
    p.add_argument("--out", help="also write the report to this file")
    p.set_defaults(func=cmd_eval_steering)

    p = sub.add_parser(
        "demo", parents=[common, serve_opts], help="build the demo catalog if absent, then serve"
    )
    p.add_argument("--no-serve", action="store_true", help="build and exit")
    p.add_argument("--limit", type=int, help="build only the first N clips of the spec")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `steerfeed` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except (CliError, CatalogError, ManifestError, EncoderUnavailable, ValueError) as exc:
        print(f"steerfeed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("steerfeed: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
