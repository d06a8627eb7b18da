"""Dataset sizes and the vocabulary generated names are drawn from (docs/simulator.md#datasets)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_EPOCH = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
_DAY_MS = 86_400_000
_FIRST = _words(
    "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil"
    " trent victor walter xena yusuf zoe ahmed bianca chen dmitri elena fatima goran hana ines"
    " jonas kenji lena marco nadia oscar priya quinn rosa sven tariq uma vera wei ximena yara"
)
_LAST = _words(
    "smith jones garcia miller davis lopez wilson anderson thomas taylor moore martin lee walker"
    " hall young king wright scott green baker adams nelson hill campbell mitchell roberts carter"
    " phillips evans turner torres parker collins edwards stewart morris murphy cook rogers morgan"
    " cooper peterson bailey reed kelly howard kim nguyen patel novak"
)
_USERNAMES = ("{f}.{l}", "{i}{l}", "{f}_{l}", "{f}-{l}", "{f}{l}", "{F}{L}")
_ORGS = _words("acme globex initech umbrella hooli stark wayne tyrell cyberdyne soylent wonka")
_TEAMS = _words("platform infra backend frontend mobile data ml security sre qa docs tools api web")
_NOUNS = _words("api service portal gateway worker scheduler dashboard cli sdk proxy cache")
_ADJS = _words("core legacy shiny rapid quiet bold lunar solar swift amber silver north")
_TOPICS = _words("python go ruby rust kubernetes terraform docker ansible react vue ci monitoring")
# Ordinary users are mostly active; the specials below guarantee every state at least once.
_STATE_WEIGHTS = (90, 3, 1, 2, 2, 2)
_LEVEL_WEIGHTS = {5: 3, 10: 20, 15: 5, 20: 25, 30: 30, 40: 12, 50: 5}
_FIXED_USERS = {
    "root": ("root", "Administrator", "admin@example.com"),
    "ghost": ("ghost", "Ghost User", "ghost@example.com"),
    "support_bot": ("support-bot", "GitLab Support Bot", "support@example.com"),
}
_USER_TYPES = {"ghost": "ghost", "support_bot": "support_bot", "bot": "project_bot"}
_NO_MEMBERSHIPS = ("ghost", "support_bot", "bot")  # bots join only their own project
_EXPIRY_CYCLE = "pslslplsls"  # past / soon (within 7 days) / later, so a few rows cover all


@dataclass(frozen=True, slots=True)
class Size:
    """Record counts of one dataset size; ``memberships`` counts direct member rows."""

    users: int
    groups: int
    projects: int
    memberships: int
    big_sources: int  # sources given 101..400 members, so member lists page past per_page=100
    huge_groups: int  # top-level groups given ``huge_members`` members each
    huge_members: int


SIZES: dict[str, Size] = {
    # 50 users cannot fill a source of 100; small's big source takes every eligible user (> 20,
    # GitLab's default per_page) instead.
    "small": Size(50, 10, 30, 200, 1, 0, 0),
    "medium": Size(10_200, 2_000, 20_000, 200_000, 40, 2, 1_500),
    "large": Size(50_500, 10_000, 100_000, 1_000_000, 200, 5, 3_000),
}
