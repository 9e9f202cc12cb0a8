"""Clause vectors against one vector per prompt, for finding a label's clips by a phrase.

The engine embeds each clip's text as one vector per text space, so a look and a
content blend ("a porcelain doll turning its head, claymation" is mostly
claymation to MiniLM). This splits every prompt into clauses
(`feed.core.clauses.split_clauses`), embeds each clause, and compares four ways to
score a clip against a phrase, in each space:

- whole:  cosine with the whole prompt (what the engine does);
- clause: the best clause's cosine;
- max:    max(whole, best clause);
- mix:    the mean of whole and best clause.

Spaces: MiniLM (English), USE multilingual v3, and the engine's fusion (the
z-score over the catalog in each space, averaged; `feed.core.ranking.phrase_relevance`).
Queries, per label: its English description, its Japanese one (USE only, so
fused = USE for them) and its name. Catalogs: the labelled test catalogs A and B
(`feed.evaluation.data`), and the demo catalog (data/demo/clips.jsonl), whose
tags are its look and topic labels; it has no descriptions, so its queries are
the tag and, where the Japanese glossary (data/lexicon/ja.toml) has a term for
it, that term. Only prompts are embedded (the demo's tags are its labels).

Metrics, per (catalog, label, query), then averaged: ROC AUC of label
membership; precision at k = the label's clip count; and at z ≥ 1.0 (the
engine's exclusion cut; also 0.75 and 0.5) the share of label clips caught
(exclusion recall) and of other clips caught (false exclusions).

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/clause_vectors_bench.py`
(about a minute on 2 cores). Prints Markdown and writes bench/out/clause_vectors.md.
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.core.clauses import split_clauses
from feed.evaluation.data import load_labelled_catalog
from generation.renderer import STYLE_KEYWORDS

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo" / "clips.jsonl"
GLOSSARY = ROOT / "data" / "lexicon" / "ja.toml"
OUT = Path(__file__).parent / "out" / "clause_vectors.md"
METHODS = ("whole", "clause", "max", "mix")
SPACES = ("minilm", "use", "fused")
THRESHOLDS = (1.0, 0.75, 0.5)
CHUNK = 64
T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Label:
    name: str
    kind: str  # look | topic
    member: np.ndarray  # (N,) bool
    queries: dict[str, str]  # query kind (en, ja, name) -> text


@dataclass
class Catalog:
    name: str
    prompts: list[str]
    labels: list[Label]


def labelled(name: str) -> Catalog:
    cat = load_labelled_catalog(name)
    prompts = [r.prompt for r in cat.rows]
    labels = []
    for spec in cat.labels.values():
        member = np.array([spec.name in (r.look, r.topic) for r in cat.rows])
        queries = {"en": spec.en, "ja": spec.ja, "name": spec.name}
        labels.append(Label(spec.name, spec.kind, member, queries))
    return Catalog(name.upper(), prompts, labels)


def glossary_term(tag: str, terms: dict[str, str]) -> str | None:
    """The shortest Japanese term the glossary translates to exactly `tag`, else to a
    phrase containing it; None when there is none."""
    exact = [ja for ja, en in terms.items() if en.lower() == tag]
    within = [ja for ja, en in terms.items() if f" {tag} " in f" {en.lower()} "]
    found = exact or within
    return min(found, key=len) if found else None


def demo() -> Catalog:
    rows = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines() if line]
    with GLOSSARY.open("rb") as fh:
        terms = tomllib.load(fh)["terms"]
    tags = sorted({t for r in rows for t in r["tags"]})
    labels = []
    for tag in tags:
        member = np.array([tag in r["tags"] for r in rows])
        queries = {"name": tag}
        ja = glossary_term(tag, terms)
        if ja is not None:
            queries["ja"] = ja
        labels.append(Label(tag, "look" if tag in STYLE_KEYWORDS else "topic", member, queries))
    return Catalog("demo", [r["prompt"] for r in rows], labels)


def encode_all(name: str, encoder, texts: list[str]) -> dict[str, np.ndarray]:
    out = []
    for start in range(0, len(texts), CHUNK):
        out.append(encoder.encode_texts(texts[start : start + CHUNK]))
        done = min(start + CHUNK, len(texts))
        print(f"\r  {name}: {done}/{len(texts)} texts", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr, flush=True)
    vectors = np.concatenate(out) if out else np.empty((0, encoder.dim), np.float32)
    return dict(zip(texts, vectors, strict=True))


def zscore(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    return (x - x.mean()) / (std if std > 1e-9 else 1.0)


def auc(scores: np.ndarray, member: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties counted half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos, neg = int(member.sum()), int((~member).sum())
    return float((ranks[member].sum() - pos * (pos + 1) / 2) / (pos * neg))


def metrics(z: np.ndarray, member: np.ndarray) -> dict[str, float]:
    k = int(member.sum())
    top = np.argsort(-z, kind="mergesort")[:k]
    row = {"auc": auc(z, member), "p@k": float(member[top].mean())}
    for t in THRESHOLDS:
        row[f"r@{t}"] = float((z[member] >= t).mean())
        row[f"f@{t}"] = float((z[~member] >= t).mean())
    return row


def method_cosines(
    prompts: list[str], clauses: list[list[str]], vecs: dict[str, np.ndarray], q: np.ndarray
) -> dict[str, np.ndarray]:
    whole = np.stack([vecs[p] for p in prompts]) @ q
    flat = [c for cs in clauses for c in cs]
    starts = np.cumsum([0] + [len(cs) for cs in clauses[:-1]])
    best = np.maximum.reduceat(np.stack([vecs[c] for c in flat]) @ q, starts)
    return {
        "whole": whole,
        "clause": best,
        "max": np.maximum(whole, best),
        "mix": (whole + best) / 2,
    }


def evaluate(catalogs: list[Catalog], spaces: dict[str, dict[str, np.ndarray]]) -> list[dict]:
    """One record per (catalog, label, query kind, space, method) with its metrics."""
    records = []
    for cat in catalogs:
        clauses = [split_clauses(p) for p in cat.prompts]
        for label in cat.labels:
            for qkind, text in label.queries.items():
                per_space: dict[str, dict[str, np.ndarray]] = {}
                for space, vecs in spaces.items():
                    if space == "minilm" and qkind == "ja":
                        continue  # MiniLM reads English only
                    cos = method_cosines(cat.prompts, clauses, vecs, vecs[text])
                    per_space[space] = {m: zscore(c) for m, c in cos.items()}
                per_space["fused"] = {
                    m: np.mean([per_space[s][m] for s in spaces if s in per_space], axis=0)
                    for m in METHODS
                }
                for space, zs in per_space.items():
                    for method, z in zs.items():
                        base = {"catalog": cat.name, "label": label.name, "kind": label.kind}
                        base |= {"query": qkind, "text": text, "space": space, "method": method}
                        records.append(base | metrics(z, label.member))
    return records


def mean_of(records: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in records]))


def group(records: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        out[tuple(r[k] for k in keys)].append(r)
    return out


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def rec_fer(rs: list[dict], t: float) -> str:
    return f"{mean_of(rs, f'r@{t}'):.2f} / {mean_of(rs, f'f@{t}'):.3f}"


def headline(records: list[dict], catalogs: list[str]) -> str:
    fused = [r for r in records if r["space"] == "fused"]
    header = ["catalog", "method", "n", "AUC", "P@k"]
    header += [f"recall / false excl. z≥{t}" for t in THRESHOLDS]
    rows = []
    for cat in [*catalogs, "all"]:
        for method in METHODS:
            rs = [r for r in fused if r["method"] == method and cat in ("all", r["catalog"])]
            cells = [
                cat,
                method,
                str(len(rs)),
                f"{mean_of(rs, 'auc'):.3f}",
                f"{mean_of(rs, 'p@k'):.3f}",
            ]
            rows.append(cells + [rec_fer(rs, t) for t in THRESHOLDS])
    return table(header, rows)


def by_space(records: list[dict], catalogs: list[str]) -> str:
    header = ["catalog", "space", "method", "n", "AUC", "P@k", "recall / false excl. z≥1.0"]
    rows = []
    for cat in catalogs:
        for space in SPACES:
            for method in METHODS:
                rs = [
                    r
                    for r in records
                    if (r["catalog"], r["space"], r["method"]) == (cat, space, method)
                ]
                rows.append(
                    [cat, space, method, str(len(rs)), f"{mean_of(rs, 'auc'):.3f}"]
                    + [f"{mean_of(rs, 'p@k'):.3f}", rec_fer(rs, 1.0)]
                )
    return table(header, rows)


def by_query_kind(records: list[dict]) -> str:
    fused = [r for r in records if r["space"] == "fused"]
    header = ["query", "label kind", "method", "n", "AUC", "P@k", "recall / false excl. z≥1.0"]
    rows = []
    for qkind in ("en", "ja", "name"):
        for kind in ("look", "topic"):
            for method in METHODS:
                rs = [
                    r
                    for r in fused
                    if (r["query"], r["kind"], r["method"]) == (qkind, kind, method)
                ]
                rows.append(
                    [qkind, kind, method, str(len(rs)), f"{mean_of(rs, 'auc'):.3f}"]
                    + [f"{mean_of(rs, 'p@k'):.3f}", rec_fer(rs, 1.0)]
                )
    return table(header, rows)


def losers(records: list[dict], method: str, n: int = 12) -> str:
    """The (label, query) items, fused, where `method` falls furthest below whole in P@k."""
    fused = group([r for r in records if r["space"] == "fused"], "catalog", "label", "query")
    diffs = []
    for (cat, label, qkind), rs in fused.items():
        by = {r["method"]: r for r in rs}
        d_p, d_auc = by[method]["p@k"] - by["whole"]["p@k"], by[method]["auc"] - by["whole"]["auc"]
        diffs.append((d_p, d_auc, cat, label, qkind, by["whole"]["text"], by["whole"], by[method]))
    diffs.sort(key=lambda d: (d[0], d[1]))
    header = ["catalog", "label", "query", "text", "P@k whole → " + method, "AUC whole → " + method]
    rows = [
        [
            cat,
            label,
            qkind,
            text,
            f"{w['p@k']:.2f} → {m['p@k']:.2f}",
            f"{w['auc']:.3f} → {m['auc']:.3f}",
        ]
        for d_p, d_auc, cat, label, qkind, text, w, m in diffs[:n]
        if d_p < 0 or d_auc < 0
    ]
    wins = sum(d[0] > 0 for d in diffs)
    ties = sum(d[0] == 0 for d in diffs)
    summary = (
        f"P@k of {method} against whole over {len(diffs)} (catalog, label, query) items, fused: "
        f"{wins} better, {ties} equal, {len(diffs) - wins - ties} worse."
    )
    return summary + "\n\n" + table(header, rows)


def main() -> None:
    catalogs = [labelled("a"), labelled("b"), demo()]
    texts: dict[str, None] = {}
    for cat in catalogs:
        for prompt in cat.prompts:
            texts.setdefault(prompt)
            for clause in split_clauses(prompt):
                texts.setdefault(clause)
        for label in cat.labels:
            for text in label.queries.values():
                texts.setdefault(text)
    stats = []
    for cat in catalogs:
        n = [len(split_clauses(p)) for p in cat.prompts]
        stats.append(
            f"{cat.name}: {len(cat.prompts)} clips, {len(cat.labels)} labels, "
            f"{np.mean(n):.2f} clauses a prompt, {sum(x == 1 for x in n)} prompts unsplit"
        )
        say("catalog " + stats[-1])
    say("loading MiniLM and USE")
    minilm, use = SentenceEncoder.load(), MultilingualEncoder.load()
    say(f"encoding {len(texts)} distinct texts")
    spaces = {"minilm": encode_all("MiniLM", minilm, list(texts))}
    spaces["use"] = encode_all("USE", use, list(texts))
    say("scoring")
    records = evaluate(catalogs, spaces)
    names = [c.name for c in catalogs]
    demo_ja = {lab.name: lab.queries.get("ja", "—") for lab in catalogs[-1].labels}
    sections = [
        "# Clause vectors against one vector per prompt\n",
        "Generated by `bench/clause_vectors_bench.py`. Methods score a clip against a phrase by "
        "cosine with the whole prompt (`whole`, the engine today), with its best clause "
        "(`clause`), max(whole, best clause) (`max`) or their mean (`mix`). Every score is "
        "z-scored over its catalog per space; `fused` averages the spaces' z like "
        "`feed.core.ranking.phrase_relevance` (Japanese queries: USE only). Metrics are means "
        "over (label, query) items; recall / false excl. is the share of label / other "
        "clips at z ≥ the threshold (the engine excludes at z ≥ 1.0).\n",
        "Catalogs: " + "; ".join(stats) + ".\n",
        "## Fused, all queries\n",
        headline(records, names),
        "\n## Per space, all queries\n",
        by_space(records, names),
        "\n## Fused, by query and label kind (all catalogs)\n",
        by_query_kind(records),
    ]
    for method in ("clause", "max", "mix"):
        sections += [
            f"\n## Where `{method}` loses most to `whole` (fused)\n",
            losers(records, method),
        ]
    sections += [
        "\n## Demo catalog queries\n",
        "Name = the tag; Japanese = the glossary's term for it: "
        + ", ".join(f"{k} → {v}" for k, v in demo_ja.items())
        + ".\n",
    ]
    report = "\n".join(sections)
    print(report)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(report, encoding="utf-8")
    say(f"wrote {OUT}")


if __name__ == "__main__":
    main()
