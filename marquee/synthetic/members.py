"""Members (users): demographics, devices, activity level and a latent taste over genres.

Taste is a Dirichlet draw whose prior leans on demographics (young members like Anime and
Horror more, parents Kids and Family, Japan Anime, ...), so both behaviour and profile
features carry signal. Activity is lognormal (heavy-tailed): a few members watch a lot.
About 8% of members sign up during the window and are only active from the day after.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from marquee.synthetic import streams
from marquee.synthetic import vocabulary as V
from marquee.synthetic.catalogue import id_width
from marquee.synthetic.config import GenerationConfig

IN_WINDOW_SIGNUP_SHARE = 0.08
ACTIVITY_SIGMA = 1.0
# Dirichlet concentration per genre on average: < 1 gives tastes focused on a few genres.
TASTE_CONCENTRATION = 0.35


@dataclass(frozen=True)
class Members:
    ids: list[str]
    country: np.ndarray  # int8 index into V.COUNTRY_CODES
    utc_offset_s: np.ndarray  # int64
    language: np.ndarray  # int8 index into V.LANGUAGES
    age: np.ndarray  # int16
    gender: np.ndarray  # int8 index into V.GENDERS
    plan: np.ndarray  # int8 index into V.PLANS
    occupation: np.ndarray  # int8 index into V.OCCUPATIONS
    signup_date: list[dt.date]
    signup_day: np.ndarray  # int32: day index of signup relative to the window start
    taste: np.ndarray  # float32 (U, G), rows sum to 1
    taste_cdf: np.ndarray  # float32 (U, G), cumulative taste for inverse-CDF sampling
    activity: np.ndarray  # float64, mean about 1
    primary_device: np.ndarray  # int8 index into V.DEVICES
    click_bias: np.ndarray  # float32
    rating_bias: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.ids)


def make_members(config: GenerationConfig) -> Members:
    rng = streams.stream(config.seed, streams.MEMBERS)
    n = config.users
    gi = V.GENRE_INDEX

    country = rng.choice(len(V.COUNTRY_CODES), size=n, p=V.COUNTRY_SHARES).astype(np.int8)
    age = np.clip(np.round(18 + rng.gamma(3.0, 7.0, n)), 18, 85).astype(np.int16)
    gender = rng.choice(len(V.GENDERS), size=n, p=V.GENDER_SHARES).astype(np.int8)
    plan = rng.choice(len(V.PLANS), size=n, p=V.PLAN_SHARES).astype(np.int8)
    occupation = rng.integers(0, len(V.OCCUPATIONS), n).astype(np.int8)
    occupation[age >= 65] = V.OCCUPATIONS.index("retired")
    occupation[(age < 24) & (rng.random(n) < 0.7)] = V.OCCUPATIONS.index("student")
    has_kids = (age >= 28) & (age <= 50) & (rng.random(n) < 0.4)

    # Taste prior: genre shares, tilted by demographics.
    prior = np.tile(np.array(list(V.GENRE_SHARES.values())) ** 0.5, (n, 1))
    young, old = age < 26, age >= 50
    for name, factor in (("Anime", 2.5), ("Horror", 1.6), ("Comedy", 1.3), ("Documentary", 0.6)):
        prior[young, gi[name]] *= factor
    for name, factor in (("Documentary", 1.8), ("Drama", 1.4), ("Crime", 1.3), ("Anime", 0.3)):
        prior[old, gi[name]] *= factor
    prior[has_kids, gi["Kids"]] *= 3.0
    prior[has_kids, gi["Family"]] *= 2.0
    code = {c: i for i, c in enumerate(V.COUNTRY_CODES)}
    prior[country == code["JP"], gi["Anime"]] *= 3.0
    for name in ("Drama", "Romance"):
        prior[country == code["KR"], gi[name]] *= 1.6
    for name in ("Romance", "Music", "Drama"):
        prior[country == code["IN"], gi[name]] *= 1.5
    prior[gender == 0, gi["Romance"]] *= 1.4
    prior[gender == 1, gi["Action"]] *= 1.3
    prior /= prior.sum(axis=1, keepdims=True)
    taste = rng.gamma(prior * TASTE_CONCENTRATION * V.N_GENRES) + 1e-6
    taste = (taste / taste.sum(axis=1, keepdims=True)).astype(np.float32)
    taste_cdf = np.cumsum(taste, axis=1, dtype=np.float32)
    taste_cdf[:, -1] = 1.0

    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, n) * V.PLAN_ACTIVITY[plan]
    activity /= np.exp(ACTIVITY_SIGMA**2 / 2) * float(V.PLAN_ACTIVITY @ V.PLAN_SHARES)

    device_p = np.tile(V.DEVICE_SHARES, (n, 1))
    device_p[plan == 2, 0] *= 1.8  # premium: 4K on the TV
    device_p[young, 1] *= 1.8  # young: phones
    device_p /= device_p.sum(axis=1, keepdims=True)
    primary_device = (rng.random((n, 1)) > np.cumsum(device_p, axis=1)).sum(axis=1)
    primary_device = np.minimum(primary_device, len(V.DEVICES) - 1).astype(np.int8)

    # Signup: most members joined before the window (recent years more common); some join in it.
    in_window = rng.random(n) < IN_WINDOW_SIGNUP_SHARE
    signup_day = -np.minimum(rng.exponential(600.0, n).astype(np.int32) + 1, 3650)
    signup_day[in_window] = rng.integers(0, config.days, int(in_window.sum()))
    signup_date = [config.start_date + dt.timedelta(days=int(d)) for d in signup_day]

    width = id_width(n, 6)
    return Members(
        ids=[f"u{i:0{width}d}" for i in range(n)],
        country=country,
        utc_offset_s=V.COUNTRY_UTC_OFFSET_MINUTES[country] * 60,
        language=V.COUNTRY_LANGUAGE[country],
        age=age,
        gender=gender,
        plan=plan,
        occupation=occupation,
        signup_date=signup_date,
        signup_day=signup_day.astype(np.int32),
        taste=taste,
        taste_cdf=taste_cdf,
        activity=activity,
        primary_device=primary_device,
        click_bias=rng.normal(0.0, 0.3, n).astype(np.float32),
        rating_bias=rng.normal(0.0, 0.4, n).astype(np.float32),
    )
