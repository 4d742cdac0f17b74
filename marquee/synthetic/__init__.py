"""Synthetic, Netflix-like demo data: ``marquee generate``.

    from marquee.synthetic import generate, GenerationConfig, GenerationSummary
    summary = generate(home, GenerationConfig(users=6000, titles=2000, days=60, seed=42))

Writes into ``$MARQUEE_HOME/landing/``: ``titles/titles.jsonl``, ``users/users.csv`` and one
gzipped JSON Lines file of events per UTC day, ``events/events-YYYY-MM-DD.jsonl.gz``; the
latent truth (member tastes, title genre vectors, quality, popularity, release instants)
goes to ``$MARQUEE_HOME/synthetic/ground_truth/`` (never under landing/). Same config, same
bytes: every draw comes from numpy PCG64 streams keyed by the seed (see `streams`), gzip
headers carry no time or name. Rerunning a different config overwrites files of the same
name; event files of days outside the new window are left alone.

What a model can learn (see `behaviour`): plays, completion and ratings rise with the match
between a member's taste (Dirichlet over 19 genres, tilted by age, country, gender) and a
title's genres, with title quality and popularity (lognormal long tail) and language; rows
and positions matter; "Because you watched" follows the last play; new releases (5% of the
titles, released inside the window at UTC midnight) get a decaying buzz. Sessions follow a
local-time evening peak and busier Friday-Sunday; ~8% of members sign up inside the window.

Volume: events ~= 1.1 x users x days (0.099 sessions per member-day x ~12 events per
session: ~9.4 impressions, ~1.2 plays of 2 events, a few ratings/thumbs/list adds, less the
in-window signups); titles only shape the catalogue. Measured (seed 42): the defaults
(users=6000, titles=2000, days=60, end_date=2026-06-30) give 399,631 events (307k
impressions, 40.5k plays, 5.8k ratings) in ~3 s CPU, 180 MB peak RSS; users=100_000,
titles=10_000, days=90 gives 10,215,655 events in ~40 s CPU (gzip runs on a second thread),
400 MB peak RSS, 174 MB of .jsonl.gz. Generation streams one UTC day at a time, so memory
grows with users x titles, not with days.
"""

from marquee.synthetic.config import GenerationConfig, GenerationSummary
from marquee.synthetic.generate import generate

__all__ = ["GenerationConfig", "GenerationSummary", "generate"]
