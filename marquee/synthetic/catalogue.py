"""The title catalogue: multi-genre movies and series with a long-tail popularity.

Latent per title (kept for ground truth): a genre vector (multi-hot, normalised to sum 1), a
quality score and a base popularity (lognormal, so a few titles take most of the views). About
5% of titles are released *during* the event window, at UTC midnight of their release day;
nothing happens to a title before that instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from marquee.synthetic import streams
from marquee.synthetic import vocabulary as V
from marquee.synthetic.config import GenerationConfig

NEW_RELEASE_SHARE = 0.05
# Days over which a release's buzz decays (e-folding), and how big the buzz is.
NOVELTY_DAYS = 10.0
NOVELTY_BOOST = 4.0


@dataclass(frozen=True)
class Catalogue:
    ids: list[str]
    names: list[str]
    kind: np.ndarray  # int8 index into V.KINDS
    genre_sets: list[list[str]]  # ordered, primary genre first
    genre_vec: np.ndarray  # float32 (T, G), rows sum to 1
    primary_genre: np.ndarray  # int16
    release_year: np.ndarray  # int16
    release_ts: np.ndarray  # int64 unix seconds
    released_in_window: np.ndarray  # bool
    runtime_minutes: np.ndarray  # int16 (episode length for series)
    episodes: np.ndarray  # int16 (1 for movies)
    maturity: list[str]
    language: np.ndarray  # int8 index into V.LANGUAGES
    quality: np.ndarray  # float32, standard normal
    popularity: np.ndarray  # float64, base weight (mean about 1)

    def __len__(self) -> int:
        return len(self.ids)

    def weight_on(self, day_start: int) -> np.ndarray:
        """Exposure weight of every title at ``day_start`` (unix s): popularity x buzz, 0 if unreleased."""
        age_days = (day_start - self.release_ts) / 86_400.0
        buzz = 1.0 + NOVELTY_BOOST * np.exp(-np.clip(age_days, 0.0, None) / NOVELTY_DAYS)
        return np.where(age_days >= 0, self.popularity * buzz, 0.0)


def id_width(n: int, minimum: int) -> int:
    return max(minimum, len(str(max(n - 1, 0))))


def make_catalogue(config: GenerationConfig) -> Catalogue:
    rng = streams.stream(config.seed, streams.CATALOGUE)
    n = config.titles
    g = V.N_GENRES

    shares = np.array(list(V.GENRE_SHARES.values()))
    primary = rng.choice(g, size=n, p=shares / shares.sum())
    n_genres = rng.choice([1, 2, 3], size=n, p=[0.35, 0.45, 0.2])
    genre_sets: list[list[str]] = []
    genre_vec = np.zeros((n, g), dtype=np.float32)
    picks = rng.random((n, 2))
    for t in range(n):
        first = V.GENRES[primary[t]]
        names = [first]
        companions = list(V.GENRE_COMPANIONS[first])
        for k in range(n_genres[t] - 1):
            if not companions:
                break
            name = companions.pop(int(picks[t, k] * len(companions)))
            names.append(name)
        genre_sets.append(names)
        genre_vec[t, [V.GENRE_INDEX[x] for x in names]] = 1.0
    genre_vec /= genre_vec.sum(axis=1, keepdims=True)

    series_p = np.array([V.SERIES_SHARE.get(x, V.DEFAULT_SERIES_SHARE) for x in V.GENRES])
    kind = (rng.random(n) < series_p[primary]).astype(np.int8)
    is_series = kind == 1

    # Release dates: most titles are older than the window (recent years more common, series
    # more recent than movies); a few are released inside it, at UTC midnight.
    start = config.start_date
    age_years = np.floor(rng.exponential(np.where(is_series, 4.0, 8.0))).astype(np.int64)
    year = np.maximum(start.year - age_years, 1940)
    jan1 = np.array([_epoch(dt.date(int(y), 1, 1)) for y in range(1940, start.year + 2)])
    year_start = jan1[year - 1940]
    year_end = np.minimum(jan1[year - 1940 + 1], config.start_epoch - 86_400)
    span_days = np.maximum((year_end - year_start) // 86_400, 1)
    release_ts = year_start + (rng.random(n) * span_days).astype(np.int64) * 86_400

    released_in_window = np.zeros(n, dtype=bool)
    n_new = int(round(NEW_RELEASE_SHARE * n)) if config.days >= 2 else 0
    if n_new:
        new = rng.choice(n, size=n_new, replace=False)
        day = rng.integers(1, config.days, size=n_new)
        release_ts[new] = config.start_epoch + day * 86_400
        released_in_window[new] = True
    release_year = np.array(
        [dt.datetime.fromtimestamp(int(s), dt.UTC).year for s in release_ts], dtype=np.int16
    )

    # Runtimes: movies 80-180 min, episodes 22-30 (sitcom-like genres) or 40-60 min.
    short = np.isin(primary, [V.GENRE_INDEX[x] for x in V.SHORT_EPISODE_GENRES])
    movie_minutes = np.clip(np.round(rng.normal(108, 20, n)), 80, 180)
    kids = np.isin(primary, [V.GENRE_INDEX["Kids"], V.GENRE_INDEX["Family"]])
    movie_minutes = np.where(kids, np.clip(movie_minutes - 15, 80, 120), movie_minutes)
    episode_minutes = np.where(short, rng.integers(22, 31, n), rng.integers(40, 61, n))
    runtime = np.where(is_series, episode_minutes, movie_minutes).astype(np.int16)
    episodes = np.where(is_series, rng.integers(6, 25, n), 1).astype(np.int16)

    audience = [V.GENRE_AUDIENCE.get(V.GENRES[p], "general") for p in primary]
    rating_u = rng.random(n)
    maturity = []
    for t in range(n):
        movie_w, series_w = V.RATING_WEIGHTS[audience[t]]
        weights, labels = (
            (series_w, V.SERIES_RATINGS) if is_series[t] else (movie_w, V.MOVIE_RATINGS)
        )
        maturity.append(
            labels[int(np.searchsorted(np.cumsum(weights), rating_u[t] * sum(weights)))]
        )

    lang_p = np.array(V.LANGUAGE_SHARES) / sum(V.LANGUAGE_SHARES)
    language = rng.choice(len(V.LANGUAGES), size=n, p=lang_p).astype(np.int8)
    language[primary == V.GENRE_INDEX["Anime"]] = V.LANGUAGES.index("ja")

    quality = rng.normal(0.0, 1.0, n).astype(np.float32)
    quality[released_in_window] += 0.3
    recency = np.clip(start.year - release_year.astype(np.float64), 0, 40)
    log_pop = 1.2 * rng.normal(0.0, 1.0, n) + 0.5 * quality - 0.04 * recency
    log_pop[released_in_window] += 0.8
    popularity = np.exp(log_pop)
    popularity /= popularity.mean()

    words = rng.integers(0, 1 << 30, size=(n, 4))
    names = [_title_name(row) for row in words]
    width = id_width(n, 5)
    return Catalogue(
        ids=[f"t{i:0{width}d}" for i in range(n)],
        names=names,
        kind=kind,
        genre_sets=genre_sets,
        genre_vec=genre_vec,
        primary_genre=primary.astype(np.int16),
        release_year=release_year,
        release_ts=release_ts.astype(np.int64),
        released_in_window=released_in_window,
        runtime_minutes=runtime,
        episodes=episodes,
        maturity=maturity,
        language=language,
        quality=quality,
        popularity=popularity,
    )


def _epoch(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * 86_400


def _title_name(r: np.ndarray) -> str:
    adj = V.TITLE_ADJECTIVES[r[0] % len(V.TITLE_ADJECTIVES)]
    noun = V.TITLE_NOUNS[r[1] % len(V.TITLE_NOUNS)]
    other = V.TITLE_NOUNS[r[2] % len(V.TITLE_NOUNS)]
    pattern = r[3] % 10
    if pattern < 3:
        name = f"The {adj} {noun}"
    elif pattern < 5:
        name = f"{adj} {noun}"
    elif pattern < 7:
        name = f"{noun} of the {other}" if other != noun else f"The {noun}"
    elif pattern < 8:
        name = f"Into the {noun}"
    else:
        name = f"The {noun}"
    if (r[3] >> 8) % 12 == 0:
        name += (" 2", " II", ": Reckoning", ": Origins")[(r[3] >> 12) % 4]
    return name
