"""Crash and fault soak with an oracle: every hook GitLab would send arrives, once, in order.

    python bench/soak.py [--cycles 50] [--scenario NAME ...] [--store sqlite|postgresql|both]
                         [--seed 1] [--no-readd] [--pg-admin-url URL]

Each (scenario, store) runs in a world of its own: a simulated GitLab (``gitlab-bridge sim
serve``, small dataset) in its own process, a recording receiver here, a fresh SQLite file or
PostgreSQL database, and the bridge as real processes. Every cycle applies one batch of
mutations in which each subject changes at most once, and waits until a complete poll has seen
it; the oracle logs the hooks each mutation must produce. At the end a clean ``sync`` runs and
delivery drains, then the receiver's record is compared with the oracle (docs/soak.md).

Scenarios: kill-run, kill-sync (SIGKILL at random moments), faults (5 % 5xx, resets, truncated
bodies, 429 bursts with and without Retry-After, the token revoked and restored), paging
(mutations while polls walk 5-row pages), receiver-down (half of the cycles), two-daemons
(PostgreSQL only: the poller killed every cycle), readd (add, remove, add, remove, add at
another level). Prints a table; exits 1 if lost, spurious, dup-other-key or order is not 0.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

from _support import simulator

from bridge.testing.scenarios import POSTGRES_ONLY, SCENARIOS, Row, run
from bridge.testing.soak import PG_ADMIN_URL

COLUMNS = ("scenario", "store", "cycles", "mutations", "expected", "delivered", "lost",
           "spurious", "dup-same-key", "dup-other-key", "order", "seconds")  # fmt: skip


@contextlib.contextmanager
def sim() -> Iterator[tuple[str, str]]:
    """A simulator process with the small dataset: (url, admin token)."""
    with simulator("small") as running:
        yield running.url, running.token


def cells(row: Row) -> list[str]:
    """One table row."""
    t = row.tally
    return [row.scenario, row.store, *map(str, (
        row.cycles, row.mutations, t.expected, t.delivered, t.lost, t.spurious, t.dup_same_key,
        t.dup_other_key, t.order_violations, row.seconds))]  # fmt: skip


def one(scenario: str, store: str, folder: Path, args: argparse.Namespace) -> list[str]:
    """Run one (scenario, store); its table row, or an error row (the others still run)."""
    try:
        row = run(
            [scenario],
            store=store,
            cycles=args.cycles,
            sim=sim,
            folder=folder,
            seed=args.seed,
            readd_in_mix=not args.no_readd,
            admin_url=args.pg_admin_url,
        )
    except Exception as exc:  # a scenario that breaks is reported, and the exit code says so
        traceback.print_exc()
        return [scenario, store, f"error: {exc}"]
    errors = ", ".join(f"{status or 'reset'}: {n}" for status, n in row.gitlab_errors)
    print(f"{scenario}/{store} GitLab answered {errors or 'no errors'}", file=sys.stderr)
    for label, hooks in (("lost", row.tally.lost_hooks), ("spurious", row.tally.spurious_hooks)):
        for hook in hooks[:10]:
            print(f"{scenario}/{store} {label}: {hook}", file=sys.stderr)
    return cells(row)


def clean(row: list[str]) -> bool:
    """Whether lost, spurious, dup-other-key and order are all 0."""
    if len(row) < len(COLUMNS):
        return False
    must_be_zero = ("lost", "spurious", "dup-other-key", "order")
    return all(row[COLUMNS.index(name)] == "0" for name in must_be_zero)


def main() -> int:
    """Run the chosen scenarios on the chosen stores; print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-readd", action="store_true", help="never add back a member or link removed before"
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    args = parser.parse_args()
    stores = ("sqlite", "postgresql") if args.store == "both" else (args.store,)
    table = [list(COLUMNS)]
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        for scenario in args.scenario or list(SCENARIOS):
            for store in stores:
                if scenario not in POSTGRES_ONLY or store == "postgresql":
                    table.append(one(scenario, store, Path(tmp) / f"{scenario}-{store}", args))
                    print("  ".join(table[-1]), file=sys.stderr, flush=True)
    full = [r for r in table if len(r) == len(COLUMNS)]
    widths = [max(len(r[i]) for r in full) for i in range(len(COLUMNS))]
    for r in table:
        if len(r) < len(COLUMNS):
            print("  ".join(r))
            continue
        cells_ = enumerate(zip(r, widths, strict=True))
        print("  ".join(c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in cells_))
    return 0 if all(clean(r) for r in table[1:]) else 1


if __name__ == "__main__":
    sys.exit(main())
