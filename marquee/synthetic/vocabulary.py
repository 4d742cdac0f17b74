"""Fixed vocabularies and rhythms of the synthetic service: genres, countries, rows, devices.

Everything here is a constant; randomness lives in the modules that draw from these tables.
"""

from __future__ import annotations

import numpy as np

# Genre name -> share of catalogue titles whose primary genre it is.
GENRE_SHARES: dict[str, float] = {
    "Drama": 0.15,
    "Comedy": 0.13,
    "Thriller": 0.08,
    "Action": 0.08,
    "Documentary": 0.07,
    "Crime": 0.06,
    "Romance": 0.06,
    "Kids": 0.05,
    "Horror": 0.05,
    "Sci-Fi": 0.04,
    "Fantasy": 0.04,
    "Adventure": 0.04,
    "Family": 0.03,
    "Reality": 0.03,
    "Anime": 0.03,
    "Mystery": 0.03,
    "Stand-Up": 0.02,
    "Music": 0.02,
    "War": 0.02,
}
GENRES: tuple[str, ...] = tuple(GENRE_SHARES)
GENRE_INDEX: dict[str, int] = {g: i for i, g in enumerate(GENRES)}
N_GENRES = len(GENRES)

# Secondary genres that plausibly go with a primary one.
GENRE_COMPANIONS: dict[str, tuple[str, ...]] = {
    "Drama": ("Romance", "Crime", "War", "Family", "Music", "Mystery", "Comedy"),
    "Comedy": ("Romance", "Family", "Drama", "Stand-Up", "Action", "Adventure"),
    "Thriller": ("Crime", "Mystery", "Action", "Horror", "Drama", "Sci-Fi"),
    "Action": ("Adventure", "Thriller", "Sci-Fi", "Crime", "War", "Fantasy", "Comedy"),
    "Documentary": ("Crime", "Music", "War", "Reality", "Drama"),
    "Crime": ("Thriller", "Drama", "Mystery", "Action", "Documentary"),
    "Romance": ("Comedy", "Drama", "Music", "Fantasy"),
    "Kids": ("Family", "Comedy", "Adventure", "Fantasy", "Music", "Anime"),
    "Horror": ("Thriller", "Mystery", "Sci-Fi", "Comedy", "Fantasy"),
    "Sci-Fi": ("Action", "Adventure", "Thriller", "Fantasy", "Horror", "Drama"),
    "Fantasy": ("Adventure", "Action", "Family", "Romance", "Anime"),
    "Adventure": ("Action", "Fantasy", "Family", "Comedy", "Sci-Fi"),
    "Family": ("Kids", "Comedy", "Adventure", "Fantasy", "Drama"),
    "Reality": ("Comedy", "Romance", "Documentary", "Music"),
    "Anime": ("Action", "Fantasy", "Sci-Fi", "Comedy", "Drama", "Romance"),
    "Mystery": ("Thriller", "Crime", "Horror", "Drama"),
    "Stand-Up": ("Comedy",),
    "Music": ("Documentary", "Drama", "Romance", "Comedy"),
    "War": ("Drama", "Action", "Documentary"),
}

# Probability that a title with this primary genre is a series (else a movie).
SERIES_SHARE: dict[str, float] = {
    "Reality": 0.9,
    "Anime": 0.8,
    "Kids": 0.7,
    "Crime": 0.5,
    "Documentary": 0.45,
    "Drama": 0.45,
    "Mystery": 0.45,
    "Comedy": 0.4,
    "Stand-Up": 0.15,
}
DEFAULT_SERIES_SHARE = 0.25
# Series whose episodes are sitcom-length (22-30 min); the rest run 40-60 min.
SHORT_EPISODE_GENRES = frozenset({"Comedy", "Kids", "Anime", "Family", "Reality", "Stand-Up"})

KINDS: tuple[str, ...] = ("movie", "series")
MOVIE_RATINGS: tuple[str, ...] = ("G", "PG", "PG-13", "R", "NC-17")
SERIES_RATINGS: tuple[str, ...] = ("TV-Y", "TV-Y7", "TV-G", "TV-PG", "TV-14", "TV-MA")
MATURITY_RATINGS: tuple[str, ...] = MOVIE_RATINGS + SERIES_RATINGS
# Maturity-rating weights by audience: index into MOVIE_RATINGS / SERIES_RATINGS.
RATING_WEIGHTS = {
    "kids": ((0.55, 0.45, 0.0, 0.0, 0.0), (0.4, 0.35, 0.25, 0.0, 0.0, 0.0)),
    "family": ((0.2, 0.6, 0.2, 0.0, 0.0), (0.0, 0.1, 0.4, 0.5, 0.0, 0.0)),
    "adult": ((0.0, 0.05, 0.35, 0.55, 0.05), (0.0, 0.0, 0.0, 0.1, 0.35, 0.55)),
    "general": ((0.02, 0.13, 0.45, 0.38, 0.02), (0.0, 0.0, 0.05, 0.25, 0.45, 0.25)),
}
GENRE_AUDIENCE = {"Kids": "kids", "Family": "family", "Horror": "adult", "War": "adult"}

LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "de", "ja", "ko", "hi", "pt", "it", "tr")
LANGUAGE_SHARES = (0.58, 0.1, 0.05, 0.04, 0.05, 0.06, 0.05, 0.03, 0.02, 0.02)

# Country -> (share of members, UTC offset in minutes (summer time), main language).
COUNTRIES: dict[str, tuple[float, int, str]] = {
    "US": (0.30, -300, "en"),
    "BR": (0.08, -180, "pt"),
    "GB": (0.07, 60, "en"),
    "IN": (0.07, 330, "hi"),
    "DE": (0.06, 120, "de"),
    "FR": (0.05, 120, "fr"),
    "MX": (0.05, -360, "es"),
    "JP": (0.04, 540, "ja"),
    "CA": (0.04, -300, "en"),
    "ES": (0.04, 120, "es"),
    "IT": (0.03, 120, "it"),
    "KR": (0.03, 540, "ko"),
    "AU": (0.03, 600, "en"),
    "NL": (0.02, 120, "en"),
    "TR": (0.02, 180, "tr"),
    "AR": (0.02, -180, "es"),
    "PL": (0.02, 120, "en"),
    "SE": (0.01, 120, "en"),
    "PH": (0.01, 480, "en"),
    "ZA": (0.01, 120, "en"),
}
COUNTRY_CODES: tuple[str, ...] = tuple(COUNTRIES)
COUNTRY_SHARES = np.array([v[0] for v in COUNTRIES.values()])
COUNTRY_SHARES = COUNTRY_SHARES / COUNTRY_SHARES.sum()
COUNTRY_UTC_OFFSET_MINUTES = np.array([v[1] for v in COUNTRIES.values()], dtype=np.int64)
COUNTRY_LANGUAGE = np.array([LANGUAGES.index(v[2]) for v in COUNTRIES.values()], dtype=np.int8)
# The latest local midnight, in hours after UTC midnight: bounds how far a local day spills.
MAX_OFFSET_HOURS = 14

DEVICES: tuple[str, ...] = ("tv", "mobile", "web", "tablet")
DEVICE_SHARES = np.array([0.5, 0.28, 0.14, 0.08])

PLANS: tuple[str, ...] = ("standard_with_ads", "standard", "premium")
PLAN_SHARES = np.array([0.3, 0.45, 0.25])
PLAN_ACTIVITY = np.array([0.85, 1.0, 1.25])
GENDERS: tuple[str, ...] = ("F", "M", "X")
GENDER_SHARES = np.array([0.49, 0.49, 0.02])
OCCUPATIONS: tuple[str, ...] = (
    "student",
    "engineer",
    "teacher",
    "healthcare",
    "sales",
    "artist",
    "manager",
    "retired",
    "homemaker",
    "other",
)

# Home-page rows. Genre rows are named after their genre and coded 4 + genre index.
ROW_TOP_PICKS, ROW_TRENDING, ROW_BECAUSE, ROW_NEW = 0, 1, 2, 3
SPECIAL_ROWS: tuple[str, ...] = ("Top Picks", "Trending Now", "Because you watched", "New Releases")
ROW_NAMES: tuple[str, ...] = SPECIAL_ROWS + GENRES
ROW_GENRE = 4  # row kind "a genre row" (the code of a genre row is 4 + genre index)
# Relative weight of each row kind on a home page (Top Picks, Trending, Because, New, genre).
ROW_KIND_WEIGHTS = np.array([0.26, 0.2, 0.14, 0.1, 0.3])

# Local-time session starts by hour of day: a lunchtime bump and a strong evening peak.
HOURLY_PROFILE = np.array(
    [1.2, 0.7, 0.4, 0.25, 0.2, 0.25, 0.5, 0.9, 1.0, 1.0, 1.1, 1.3]
    + [1.6, 1.5, 1.4, 1.5, 1.8, 2.3, 3.0, 4.2, 5.2, 5.4, 4.3, 2.6]
)
HOURLY_PROFILE = HOURLY_PROFILE / HOURLY_PROFILE.sum()
# Sessions by local weekday (Monday first): Friday to Sunday are busier. Mean 1.
WEEKLY_PROFILE = np.array([0.86, 0.84, 0.88, 0.93, 1.12, 1.26, 1.21])
WEEKLY_PROFILE = WEEKLY_PROFILE / WEEKLY_PROFILE.mean()


# Words for made-up title names.
def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


TITLE_ADJECTIVES = _words(
    """Silent Broken Hidden Last Crimson Golden Lost Endless Wild Frozen Burning Hollow Dark
    Bright Secret Little Midnight Savage Quiet Velvet Electric Iron Paper Glass Distant Final
    Restless Sacred Twisted Royal Wicked Lonely Brave Neon Shattered Scarlet Forgotten Deep
    Northern Perfect"""
)
TITLE_NOUNS = _words(
    """Harbor Protocol Kingdom River Empire Garden Signal Witness Dynasty Island Frontier
    Shadow Heart Code Game Storm Legacy Circle Horizon Crown Hunter Mirror Voyage Letter Tide
    Summer Winter City Station Orchard Academy Cartel Detective Machine Ocean Mountain Bridge
    Promise Family Dream Ghost Planet Network Echo Labyrinth Season Stranger Heist Order Wolf
    Diary Road Manor Chronicle Comet Tournament Kitchen Wedding Verdict"""
)
