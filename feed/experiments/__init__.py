"""Offline ranking experiments: simulate users, replay logs time-correctly, score and report.

Does ranker B beat A, and does steering still work? An experiment (a TOML
file, see data/experiments/example.toml) names a catalog, where the logs come
from (the seeded simulator, whose users speak held-out steering instructions, a
live event log, or KuaiRec) and the ranker variants (engine settings,
popularity, random, ALS, BPR, item-kNN); `steerfeed experiment run` replays
every variant over the logs and writes metrics with bootstrap CIs, off-policy
estimates where the logging propensities are known, and a Markdown report with
plots.
"""
