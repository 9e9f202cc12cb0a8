"""Offline ranking experiments: simulate users, replay logs time-correctly, score and report.

Does ranker B beat A, and does steering still work? An experiment (a TOML
file, see data/experiments/example.toml) names a catalog, where the logs come
from (the seeded simulator, a live event log, or KuaiRec) and the ranker
variants; `steerfeed experiment run` replays every variant over the logs and
writes metrics with bootstrap CIs and a Markdown report with plots.
"""
