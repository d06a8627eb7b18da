"""The bridge's HTTP server under load and under slowloris, this tree beside an earlier one.

    python bench/slowloris.py [--against 54642c1] [--slow 300] [--seconds 5]

A simulated GitLab (``small``) runs in its own process; ``gitlab-bridge sync`` then
``gitlab-bridge serve`` run once from this tree and once from ``--against`` (a git
revision checked out into a temporary worktree, run from there with ``PYTHONPATH`` on it; the
default is the last commit before issue 12's server). For each: requests per second and p50/p95
of 4 keep-alive clients; then ``--slow`` sockets that send a request head one header line per
second and never finish it; the server's threads and RSS; three real requests and the same
load while they trickle; then whether the server closed idle and slow sockets within 20 s.
Prints one JSON line per server and the ratios (this tree / the earlier one).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from _support import BRIDGE, Sim, arguments, simulator

ROOT = Path(__file__).resolve().parent.parent
GIT = shutil.which("git") or "git"
HEAD_LINE = b"GET /api/v4/projects/1/groups HTTP/1.1\r\nHost: bench\r\n"


@contextlib.contextmanager
def serving(sim: Sim, folder: Path, tree: Path | None) -> Iterator[tuple[str, int]]:
    """``gitlab-bridge serve`` from this tree, or from ``tree``, over a snapshot that tree's
    own ``sync`` wrote into ``folder`` (each version keeps its own schema); its URL and pid."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)  # and the working folder: ``-m`` puts it first on the path
    cwd = tree or ROOT
    folder.mkdir()
    config = folder / "bridge.yaml"
    config.write_text(
        f"gitlab: {{url: '{sim.url}', token: {sim.token}}}\n"
        f"state: {{url: 'sqlite:///{folder / 'bridge.db'}'}}\n"
        "server: {listen: '127.0.0.1:0', auth_cache_ttl: 10m, snapshot_refresh: 1h}\n"
    )
    sync = [*BRIDGE, "sync", "--no-deliver", "--config", str(config)]
    subprocess.run(sync, env=env, cwd=cwd, check=True, capture_output=True)
    command = [*BRIDGE, "serve", "--config", str(config)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd) as process:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        origin = subprocess.run(
            [sys.executable, "-c", "import bridge; print(bridge.__file__)"],
            env=env, cwd=cwd, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert origin.startswith(str(tree or ROOT)), origin  # the tree asked for, not another
        try:
            yield line[1].removesuffix("/api/v4/projects/:id/groups"), process.pid
        finally:
            process.terminate()
            process.communicate(timeout=30)


def load(url: str, token: str, seconds: float, clients: int = 4) -> dict[str, float]:
    """Requests per second, p50 and p95 (ms) and errors of ``clients`` keep-alive clients."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        mine: list[float] = []
        with requests.Session() as session:
            session.headers["PRIVATE-TOKEN"] = token
            while time.monotonic() < stop:
                started = time.perf_counter()
                try:
                    ok = session.get(url, timeout=10).status_code == 200
                except requests.RequestException:
                    ok = False
                if ok:
                    mine.append((time.perf_counter() - started) * 1000)
                else:
                    with lock:
                        errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(latencies) < 2:
        return {"per_second": 0.0, "p50_ms": 0.0, "p95_ms": 0.0, "errors": errors[0]}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "per_second": round(len(latencies) / seconds),
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "errors": errors[0],
    }


def process_status(pid: int) -> dict[str, int]:
    """Threads and RSS (MiB) of a process, from /proc."""
    text = Path(f"/proc/{pid}/status").read_text()
    threads = re.search(r"Threads:\s+(\d+)", text)
    rss = re.search(r"VmRSS:\s+(\d+)", text)
    return {
        "threads": int(threads.group(1)) if threads else -1,
        "rss_mib": int(rss.group(1)) // 1024 if rss else -1,
    }


def closed(sockets: list[socket.socket]) -> int:
    """How many of ``sockets`` the server has closed."""
    count = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            if sock.recv(1) == b"":
                count += 1
        except BlockingIOError:
            pass
        except OSError:
            count += 1
    return count


def measure(base: str, pid: int, token: str, slow: int, seconds: float) -> dict[str, object]:
    """One server's figures (see the module docstring)."""
    url = f"{base}/api/v4/projects/1/groups"
    host, port = base.removeprefix("http://").rsplit(":", 1)
    load(url, token, 1.0)  # warm the authorization cache
    figures: dict[str, object] = {"load": load(url, token, seconds)}
    sockets = []
    for _ in range(slow):
        with contextlib.suppress(OSError):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(HEAD_LINE)
            sockets.append(sock)
    stop = threading.Event()

    def trickle() -> None:  # one header line per socket every second: never idle, never done
        while not stop.wait(1.0):
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n")

    threading.Thread(target=trickle, daemon=True).start()
    time.sleep(1.5)
    figures["under_slowloris"] = {"sockets": len(sockets), **process_status(pid)}
    real = []
    for _ in range(3):
        started = time.perf_counter()
        try:
            status = requests.get(url, headers={"PRIVATE-TOKEN": token}, timeout=10).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__  # type: ignore[assignment]
        real.append({"status": status, "ms": round((time.perf_counter() - started) * 1000)})
    figures["real_requests_under_slowloris"] = real
    figures["load_under_slowloris"] = load(url, token, seconds)
    idle = []
    for _ in range(20):
        with contextlib.suppress(OSError):
            idle.append(socket.create_connection((host, int(port)), timeout=5))
    time.sleep(20.0)
    stop.set()
    figures["closed_after_20s"] = {
        "idle": f"{closed(idle)}/{len(idle)}",
        "slow": f"{closed(sockets)}/{len(sockets)}",
    }
    for sock in [*sockets, *idle]:
        sock.close()
    return figures


def main() -> int:
    """Sync a snapshot, then measure both servers."""
    parser = arguments(__doc__ or "", dataset="small")
    parser.add_argument("--against", default="54642c1", help="earlier git revision")
    parser.add_argument("--slow", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with simulator(args.dataset) as sim, tempfile.TemporaryDirectory() as tmp:
        earlier = Path(tmp) / "earlier"
        subprocess.run(
            [GIT, "-C", str(ROOT), "worktree", "add", "--detach", str(earlier), args.against],
            check=True,
            capture_output=True,
        )
        results = {}
        try:
            for name, tree in (("this", None), (args.against, earlier)):
                with serving(sim, Path(tmp) / f"state-{name}", tree) as (base, pid):
                    results[name] = measure(base, pid, sim.token, args.slow, args.seconds)
                print(json.dumps({"server": name, **results[name]}), flush=True)
        finally:
            subprocess.run(
                [GIT, "-C", str(ROOT), "worktree", "remove", "--force", str(earlier)],
                check=False,
                capture_output=True,
            )
    ours, theirs = results["this"], results[args.against]

    def ratio(section: str, key: str) -> float | None:
        a, b = ours[section], theirs[section]
        return round(a[key] / b[key], 2) if b[key] else None  # type: ignore[index]

    print(json.dumps({
        "ratios_this_over_earlier": {
            "per_second": ratio("load", "per_second"),
            "p95_ms": ratio("load", "p95_ms"),
            "per_second_under_slowloris": ratio("load_under_slowloris", "per_second"),
            "threads_under_slowloris": ratio("under_slowloris", "threads"),
            "rss_under_slowloris": ratio("under_slowloris", "rss_mib"),
        }
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
