"""How members behave on one local day, simulated for all members at once with numpy.

A member opens sessions (Poisson, scaled by their activity, the weekday and nothing before
signup) starting at local hours drawn from an evening-peaked profile. Each session shows
1-3 home-page rows of 3-8 titles (impressions with row and position). Row kinds draw titles
differently: "Top Picks" from the member's taste, "Because you watched" from the genre of
their last play, a genre row from one genre, "Trending Now" from current popularity with a
release buzz, "New Releases" from titles out for under 60 days. Within a genre, titles are
drawn by popularity, which gives the catalogue its long tail.

A member plays an impression with probability sigmoid(logit), where the logit rises with
taste affinity z = log(G * taste . genres + 0.05), title quality, popularity, language match
and a personal click bias, and falls with position. Plays run back to back after browsing;
completion ~ Beta around sigmoid(affinity + quality), series may be binged for a few
episodes. After a play a few members rate (0.5-5 in halves, driven by affinity, quality,
completion and a personal bias) or thumb; some impressions get added to the list.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from marquee.synthetic import streams
from marquee.synthetic import vocabulary as V
from marquee.synthetic.catalogue import Catalogue
from marquee.synthetic.config import GenerationConfig
from marquee.synthetic.events import (
    ADD_TO_LIST,
    IMPRESSION,
    PLAY_START,
    PLAY_STOP,
    RATING,
    THUMBS_DOWN,
    THUMBS_UP,
    EventBatch,
)
from marquee.synthetic.members import Members

# Mean sessions per member-day (before activity, weekday and signup factors). With about
# 9.4 impressions, 1.2 plays (2 events each) and a few ratings/thumbs/list adds per
# session, that is ~1.1 events per member-day: events ~= 1.1 x users x days.
SESSION_RATE = 0.099
NEW_RELEASE_DAYS = 60
MAX_PLAYS_PER_SESSION = 2
AFFINITY_FLOOR = 0.05

# Play logit: intercept and weights.
PLAY_BIAS = -2.6
PLAY_AFFINITY = 0.9
PLAY_QUALITY = 0.45
PLAY_POPULARITY = 0.2
PLAY_LANGUAGE = 0.6
PLAY_ENGLISH = 0.3
PLAY_POSITION = 0.12


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def group_rank(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within runs of equal values of a non-decreasing ``group`` array."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n) - first


def affinity(
    members: Members, catalogue: Catalogue, user: np.ndarray, title: np.ndarray
) -> np.ndarray:
    """Taste affinity z (0 for a member with uniform taste; about -3 to +2.5)."""
    match = np.einsum("ij,ij->i", members.taste[user], catalogue.genre_vec[title])
    return np.log(V.N_GENRES * match + AFFINITY_FLOOR)


class Behaviour:
    """Simulates local days in order; keeps each member's last play for "Because you watched"."""

    def __init__(self, config: GenerationConfig, catalogue: Catalogue, members: Members):
        self.config = config
        self.catalogue = catalogue
        self.members = members
        self.last_played = np.full(len(members), -1, dtype=np.int32)
        self._in_genre = (catalogue.genre_vec > 0).T.copy()  # (G, T)
        self._log_pop = np.log(catalogue.popularity)

    def simulate_day(self, local_day: int) -> EventBatch:
        """Events of sessions that start on ``local_day`` (0 = window start) in members' local time."""
        cfg, cat, mem = self.config, self.catalogue, self.members
        rng = streams.stream(cfg.seed, streams.DAY, local_day + 1)
        n_users, n_titles, n_genres = len(mem), len(cat), V.N_GENRES
        date = cfg.start_date + dt.timedelta(days=local_day)
        day_epoch = cfg.start_epoch + local_day * 86_400

        # --- sessions
        rate = SESSION_RATE * V.WEEKLY_PROFILE[date.weekday()]
        lam = rate * mem.activity * (mem.signup_day < local_day)
        n_sessions = rng.poisson(lam)
        s_user = np.repeat(np.arange(n_users, dtype=np.int32), n_sessions)
        n_s = len(s_user)
        if n_s == 0:
            return EventBatch.empty()
        hour = rng.choice(24, size=n_s, p=V.HOURLY_PROFILE)
        s_start = day_epoch - mem.utc_offset_s[s_user] + hour * 3600 + rng.integers(0, 3600, n_s)
        s_device = np.where(
            rng.random(n_s) < 0.75,
            mem.primary_device[s_user],
            rng.choice(len(V.DEVICES), size=n_s, p=V.DEVICE_SHARES),
        ).astype(np.int8)

        # --- what can be shown: titles released by the UTC midnight before this local day
        # (so no event of this day can precede a release), weighted by popularity x buzz.
        avail_epoch = day_epoch - 86_400
        weight = cat.weight_on(avail_epoch)
        fresh = (cat.release_ts <= avail_epoch) & (
            cat.release_ts > avail_epoch - NEW_RELEASE_DAYS * 86_400
        )
        pools = np.vstack([self._in_genre * weight, weight, weight * fresh])  # (G + 2, T)
        pool_total = pools.sum(axis=1)
        cum = np.cumsum(pools.ravel())

        # --- rows: kinds drawn without replacement per session (exponential race)
        row_w = V.ROW_KIND_WEIGHTS.astype(np.float64).copy()
        if pool_total[n_genres + 1] <= 0:
            row_w[V.ROW_NEW] = 0.0
        with np.errstate(divide="ignore"):
            keys = rng.exponential(size=(n_s, len(row_w))) / row_w
        keys[self.last_played[s_user] < 0, V.ROW_BECAUSE] = np.inf
        kind_order = np.argsort(keys, axis=1, kind="stable")
        n_rows = 1 + rng.binomial(2, 0.35, n_s)
        r_sess = np.repeat(np.arange(n_s), n_rows)
        r_idx = group_rank(r_sess)
        r_kind = kind_order[r_sess, r_idx]
        r_user = s_user[r_sess]
        n_r = len(r_sess)
        r_genre = np.where(
            rng.random(n_r) < 0.25,
            rng.integers(0, n_genres, n_r),
            _draw_genre(mem.taste_cdf[r_user], rng.random(n_r)),
        )
        last = self.last_played[r_user]
        last_genre = cat.primary_genre[np.maximum(last, 0)]
        r_code = np.where(r_kind == V.ROW_GENRE, V.ROW_GENRE + r_genre, r_kind).astype(np.int16)

        # --- impressions
        n_pos = 3 + rng.binomial(5, 0.5, n_r)
        i_row = np.repeat(np.arange(n_r), n_pos)
        i_user = r_user[i_row]
        i_kind = r_kind[i_row]
        n_i = len(i_row)
        taste_genre = _draw_genre(mem.taste_cdf[i_user], rng.random(n_i))
        pool = np.select(
            [
                i_kind == V.ROW_GENRE,
                i_kind == V.ROW_TRENDING,
                i_kind == V.ROW_NEW,
                i_kind == V.ROW_BECAUSE,
            ],
            [r_genre[i_row], n_genres, n_genres + 1, last_genre[i_row]],
            default=taste_genre,
        )
        pool = np.where(pool_total[pool] > 0, pool, n_genres)
        lo = pool * n_titles
        hi = lo + n_titles - 1
        before = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
        target = before + rng.random(n_i) * (cum[hi] - before)
        title = np.clip(np.searchsorted(cum, target, side="right"), lo, hi) - lo

        # one title at most once per row; positions renumbered after dropping repeats
        _, first = np.unique(i_row.astype(np.int64) * n_titles + title, return_index=True)
        keep = np.zeros(n_i, dtype=bool)
        keep[first] = True
        i_row, i_user, title = i_row[keep], i_user[keep], title[keep].astype(np.int32)
        position = group_rank(i_row)
        i_sess = r_sess[i_row]
        i_ts = s_start[i_sess] + 5 + r_idx[i_row] * 20 + position * 2
        i_device = s_device[i_sess]
        i_code = r_code[i_row]
        n_i = len(i_row)

        # --- plays
        z = affinity(mem, cat, i_user, title)
        same_lang = mem.language[i_user] == cat.language[title]
        english = cat.language[title] == 0
        logit = (
            PLAY_BIAS
            + PLAY_AFFINITY * z
            + PLAY_QUALITY * cat.quality[title]
            + PLAY_POPULARITY * self._log_pop[title]
            + PLAY_LANGUAGE * same_lang
            + PLAY_ENGLISH * (english & ~same_lang)
            - PLAY_POSITION * position
            + mem.click_bias[i_user]
        )
        played = np.flatnonzero(rng.random(n_i) < sigmoid(logit))
        played = played[group_rank(i_sess[played]) < MAX_PLAYS_PER_SESSION]
        p_user, p_title, p_sess, p_z = i_user[played], title[played], i_sess[played], z[played]
        n_p = len(played)

        mu = sigmoid(0.3 + 0.8 * p_z + 0.5 * cat.quality[p_title] + 0.3 * same_lang[played])
        frac = rng.beta(mu * 4 + 0.05, (1 - mu) * 4 + 0.05)
        runtime_s = cat.runtime_minutes[p_title].astype(np.int64) * 60
        series = cat.kind[p_title] == 1
        extra_episodes = np.minimum(rng.poisson(2.0 * mu**2), cat.episodes[p_title] - 1)
        watch = np.where(series, extra_episodes + frac, frac) * runtime_s
        watch = np.clip(np.round(watch), 1, 86_000).astype(np.int64)

        # back to back after browsing: start = browse end + previous plays of the session
        browse_end = s_start[p_sess] + 5 + n_rows[p_sess] * 20 + 10
        step = watch + 15
        done = np.cumsum(step) - step
        rank = group_rank(p_sess)
        done = done - done[np.arange(n_p) - rank]
        start = browse_end + done + rng.integers(0, 10, n_p)
        stop = start + watch

        # --- feedback after the play
        latent = (
            2.45
            + 0.5 * p_z
            + 0.55 * cat.quality[p_title]
            + 1.2 * (frac - 0.5)
            + mem.rating_bias[p_user]
            + rng.normal(0.0, 0.6, n_p)
        )
        rated = rng.random(n_p) < 0.05 + 0.12 * frac
        rating2 = np.clip(np.round(latent * 2), 1, 10)
        up = (rng.random(n_p) < 0.12 * sigmoid(p_z)) & (frac > 0.7)
        down = (rng.random(n_p) < 0.35 * sigmoid(-p_z)) & (frac < 0.35)
        fb_delay = rng.integers(5, 90, n_p)

        listed = rng.random(n_i) < 0.03 * sigmoid(z + cat.quality[title] - 1.5)
        listed[played] = False

        # remember each member's latest play for tomorrow's "Because you watched"
        if n_p:
            order = np.lexsort((start, p_user))
            latest = np.r_[p_user[order][1:] != p_user[order][:-1], True]
            self.last_played[p_user[order][latest]] = p_title[order][latest]

        p_dev, p_row, p_pos = i_device[played], i_code[played], position[played]
        return EventBatch.concat(
            [
                EventBatch.build(
                    IMPRESSION, i_user, title, i_ts, i_device, row=i_code, position=position
                ),
                EventBatch.build(
                    ADD_TO_LIST,
                    i_user[listed],
                    title[listed],
                    i_ts[listed] + 1,
                    i_device[listed],
                    row=i_code[listed],
                    position=position[listed],
                ),
                EventBatch.build(
                    PLAY_START, p_user, p_title, start, p_dev, row=p_row, position=p_pos
                ),
                EventBatch.build(PLAY_STOP, p_user, p_title, stop, p_dev, watch=watch),
                EventBatch.build(
                    RATING,
                    p_user[rated],
                    p_title[rated],
                    stop[rated] + fb_delay[rated],
                    p_dev[rated],
                    rating2=rating2[rated],
                ),
                EventBatch.build(
                    THUMBS_UP, p_user[up], p_title[up], stop[up] + fb_delay[up] // 2 + 1, p_dev[up]
                ),
                EventBatch.build(
                    THUMBS_DOWN,
                    p_user[down],
                    p_title[down],
                    stop[down] + fb_delay[down] // 2 + 1,
                    p_dev[down],
                ),
            ]
        )


def _draw_genre(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of one genre per row of ``cdf`` (rows of cumulative taste)."""
    return np.minimum((cdf < u[:, None]).sum(axis=1), V.N_GENRES - 1)
