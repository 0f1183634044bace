"""The Ray backend: the same episode function as Ray tasks and exactly the local backend's results, on a
runtime of its own that listens on loopback only, or on a cluster whose address is checked first."""
from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bench.batch
from bench.batch import check_ray_address, comparable, plan_episodes, read_rows, run_bench, start_local_ray
from sim.errors import InputError
from tests.proctree import descendants

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "assets" / "stores" / "tiny_store.yaml")
PROBE = "bench.probe:load_cell_episode"

# The two tests that start a real Ray runtime take about 5-10 s each on two shared cores: not marked slow.


def test_ray_backend_on_a_real_local_runtime_matches_the_process_pool(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    # The runtime must be `start_local_ray`'s, the one whose sockets the loopback test below checks.
    started: list[int] = []
    monkeypatch.setattr(bench.batch, "start_local_ray", lambda n: (started.append(n), start_local_ray(n)))
    bad = tmp_path / "broken_store.yaml"
    bad.write_text(Path(TINY).read_text().replace("shelves: 2", "shelves: 0", 1))
    specs = plan_episodes([TINY, str(bad)], seeds=[0, 1, 2])

    local = run_bench(specs, tmp_path / "local", workers=2, backend="local", episode_fn=PROBE, progress=False)
    assert not ray.is_initialized()
    # run_bench starts the runtime itself (`start_local_ray(2)`: 2 CPUs, no dashboard), and shuts it down.
    remote = run_bench(specs, tmp_path / "ray", workers=2, backend="ray", episode_fn=PROBE, progress=False)
    assert not ray.is_initialized()
    assert started == [2]

    assert (local.ran, local.errors) == (remote.ran, remote.errors) == (6, 3)
    local_rows = {(r["scenario"], r["seed"]): r for r in read_rows(tmp_path / "local" / "results.jsonl")}
    ray_rows = {(r["scenario"], r["seed"]): r for r in read_rows(tmp_path / "ray" / "results.jsonl")}
    assert local_rows.keys() == ray_rows.keys()
    for key in local_rows:
        a, b = comparable(local_rows[key]), comparable(ray_rows[key])
        a.pop("traceback", None), b.pop("traceback", None)  # frames differ between a pool worker and a Ray worker
        assert a == b, key
    ok = [r for r in ray_rows.values() if r["status"] == "ok"]
    assert len({r["report"]["stream_sha256"] for r in ok}) == 3  # real, distinct episodes
    assert all(int(r["worker"].split(":")[1]) != os.getpid() for r in ok)  # ran in Ray worker processes
    assert (tmp_path / "ray" / "summary.md").exists()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc")
def test_bench_ray_runtime_listens_on_loopback_only():
    ray = pytest.importorskip("ray")

    def pid() -> int:
        return os.getpid()

    start_local_ray(1)
    try:
        worker_pid = ray.get(ray.remote(pid).remote())
        # This runtime's processes only: the driver (this process) and what it started (GCS, raylet, agents,
        # workers). Another Ray on the machine is someone else's and not this test's business.
        ours = {os.getpid(), *descendants(os.getpid())}
        listening = _listening_sockets(ours)
        check_ray_address(ray.get_runtime_context().gcs_address)  # a real GCS passes the address check
    finally:
        ray.shutdown()
    assert worker_pid in ours and worker_pid != os.getpid()  # the task ran in one of the processes looked at
    assert len({pid for pid, _, _ in listening}) >= 3, listening  # driver, GCS, raylet at least: not vacuous
    open_to_network = [(pid, host, port) for pid, host, port in listening if not _loopback(host)]
    assert not open_to_network, open_to_network


@pytest.mark.parametrize("address, says", [
    ("127.0.0.1:1", "cannot reach a Ray cluster at 127.0.0.1:1 (connection refused)"),
    ("nonsense", "expected HOST:PORT"),
    ("host:notaport", "expected HOST:PORT"),
])
def test_bad_ray_address_fails_at_once_in_one_line(tmp_path, address, says):
    out = tmp_path / "run"
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "run_sim.py", "bench", TINY, "--backend", "ray", "--ray-address", address,
                           "--episode-fn", PROBE, "--no-plots", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 30
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("--ray-address: ") and says in done.stderr, done.stderr
    assert not out.exists()  # nothing written for a bench that never started


@pytest.mark.parametrize("address", ["ray://", "http://127.0.0.1:6379", "127.0.0.1:0", "127.0.0.1:70000", ":6379"])
def test_malformed_ray_address_names_the_option_and_the_form(address):
    with pytest.raises(InputError, match=r"^--ray-address: expected HOST:PORT or ray://HOST\[:PORT\]"):
        check_ray_address(address)


def test_ray_address_where_something_else_listens_is_refused_at_once():
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts connections, says nothing: no gRPC server
        port = server.getsockname()[1]
        t0 = time.monotonic()
        for address in (f"127.0.0.1:{port}", f"ray://localhost:{port}"):
            with pytest.raises(InputError, match="not a Ray cluster"):
                check_ray_address(address, timeout_s=1.0)
        assert time.monotonic() - t0 < 10
    with pytest.raises(InputError, match="connection refused"):  # the same port, closed
        check_ray_address(f"127.0.0.1:{port}")


def _listening_sockets(pids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, host, port) of every listening TCP socket that one of `pids` holds (/proc/net/tcp{,6}, /proc/PID/fd)."""
    addresses = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                addresses[fields[9]] = _hex_address(fields[1])
    found = []
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:  # gone, or not ours to read
            continue
        for link in links:
            inode = link[len("socket:["):-1] if link.startswith("socket:[") else None
            if inode in addresses:
                found.append((pid, *addresses[inode]))
    return found


def _hex_address(text: str) -> tuple[str, int]:
    """'0100007F:1F90' -> ('127.0.0.1', 8080): the kernel's hex, 32-bit words in host (little-endian) order."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words), int(port, 16)


def _loopback(host: str) -> bool:
    ip = ipaddress.ip_address(host)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback  # gRPC listens on ::ffff:127.0.0.1
