"""docs/ is the project's reference: every citation resolves, and its example receiver works.

The code cites docs/ instead of specifications outside the repository, so a renamed heading or a
moved file must fail here. The example receiver of docs/delivery.md is run against the bridge's
real deliveries: signatures, the token and Idempotency-Key de-duplication as documented.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import subprocess
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bridge.clock import utcnow
from bridge.config.settings import DeliverySettings, HooksSettings
from bridge.delivery.deliverer import Deliverer
from bridge.model.ledger import WAITING
from bridge.store import Store
from tests.store.factories import outbox_row

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"docs/([\w./-]+\.md)(?:#([\w-]+))?")
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to -."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    in_code, out = False, set()
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (found := re.match(r"#{1,6} (.+)", line)):
            out.add(_slug(found.group(1)))
    return out


def _tracked() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_every_docs_citation_resolves() -> None:
    """Each docs link (file and anchor) written in code, tests, docs or README names a real file and
    one of its headings."""
    broken = []
    for path in _tracked():
        if path.suffix not in (".py", ".md", ".yaml", ".service", ".timer", ".toml"):
            continue
        for file, anchor in LINK.findall(path.read_text(errors="replace")):
            target = DOCS / file
            if not target.is_file():
                broken.append(f"{path.relative_to(ROOT)}: docs/{file}")
            elif anchor and anchor not in _anchors(target):
                broken.append(f"{path.relative_to(ROOT)}: docs/{file}#{anchor}")
    assert broken == []


def test_nothing_cites_a_specification_outside_the_repository() -> None:
    """The shared specs were the starting contract; what the code relies on now lives in docs/."""
    outside = [
        str(path.relative_to(ROOT))
        for path in _tracked()
        if path.suffix in (".py", ".md", ".yaml", ".toml")
        and re.search(r"\b(HOOKS|GITLAB_API)\.md\b", path.read_text(errors="replace"))
    ]
    assert outside == []


# -- the example receiver of docs/delivery.md ---------------------------------------------------


@pytest.fixture(scope="module")
def example() -> ModuleType:
    """docs/examples/receiver.py, imported as a module (it has no side effects)."""
    spec = importlib.util.spec_from_file_location(
        "docs_receiver", DOCS / "examples" / "receiver.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def served(example: ModuleType) -> Iterator[Any]:
    """The example receiver with one signing secret and a token, on a free port."""
    server = example.make_server("127.0.0.1", 0, [SECRET], token="s3cret")
    server.verbose = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _hooks(url: str, secret: str, token: str) -> HooksSettings:
    return HooksSettings.model_validate(
        {"system": [{"name": "audit", "url": url, "token": token, "signing_secret": secret}]}
    )


def _deliver(store: Store, hooks: HooksSettings) -> None:
    worker = Deliverer(store.deliveries, hooks, DeliverySettings())
    try:
        worker.run_pass()
    finally:
        worker.sender.close()


def test_the_example_receiver_verifies_and_deduplicates_real_deliveries(
    served: Any, tmp_path: Path
) -> None:
    """Signed deliveries with the right token are taken once each; a redelivery of the same
    event (same Idempotency-Key) is acknowledged but not recorded again."""
    url = f"http://127.0.0.1:{served.server_address[1]}/hook"
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}") as store:
        with store.transaction() as tx:
            tx.enqueue([outbox_row(n, "audit", subject=f"user:{n}") for n in range(3)])
        _deliver(store, _hooks(url, SECRET, "s3cret"))
        assert {r.status for r in store.deliveries.listing()} == {"delivered"}
        keys = [e["headers"]["Idempotency-Key"] for e in served.events]
        assert sorted(keys) == sorted(r.idempotency_key for r in store.deliveries.listing())
        store.deliveries.redeliver([r.id for r in store.deliveries.listing()], utcnow())
        _deliver(store, _hooks(url, SECRET, "s3cret"))
        assert {r.status for r in store.deliveries.listing()} == {"delivered"}
        assert len(served.events) == 3


@pytest.mark.parametrize(
    ("secret", "token"),
    [(SECRET.replace("whsec_A", "whsec_B"), "s3cret"), (SECRET, "wrong")],
    ids=["wrong-secret", "wrong-token"],
)
def test_the_example_receiver_refuses_a_bad_signature_or_token(
    served: Any, tmp_path: Path, secret: str, token: str
) -> None:
    """A wrong signature or token gets 401, which the bridge retries; nothing is recorded."""
    url = f"http://127.0.0.1:{served.server_address[1]}/hook"
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}") as store:
        with store.transaction() as tx:
            tx.enqueue([outbox_row(0, "audit")])
        _deliver(store, _hooks(url, secret, token))
        (row,) = store.deliveries.listing()
        assert row.status in WAITING
        assert row.last_status_code == 401
    assert served.events == []
