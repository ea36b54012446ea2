"""``--processes N``: N server processes on one port, supervised: connections spread over them, SIGHUP and
SIGTERM reach all of them, and one dying takes the unit down so the service manager restarts it."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from precisionpain.service.client import RecommendationClient
from tests.contract.conftest import invoke
from tests.contract.serverproc import ServerProcess, running, wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _messages(server: ServerProcess, message: str) -> list[dict[str, Any]]:
    return [r for r in server.log_records() if r.get("message") == message]


def _start_two(server: ServerProcess) -> set[int]:
    pids = set(server.wait_log("supervising")["pids"])
    assert len(pids) == 2 and os.getpid() not in pids
    wait_until(lambda: {r["pid"] for r in _messages(server, "model loaded")} == pids)
    return pids


def test_processes_share_the_port_and_the_signals(tmp_path: Path, small_package_dir: Path, patient_examples) -> None:  # type: ignore[no-untyped-def]
    args = ["--model-path", str(small_package_dir), "--processes", "2", "--alias-check-interval-s", "0"]
    with running(tmp_path / "run", args) as server:
        pids = _start_two(server)
        profile = patient_examples["hla_b_1502_carrier"]
        for i in range(16):  # each client its own connection; the kernel spreads connections over the listeners
            with RecommendationClient(server.target, timeout_s=30) as client:
                answer = client.recommend(profile, request_id=f"mp-{i}")
                assert [o.option_id for o in answer.excluded] == ["carbamazepine"]
        wait_until(lambda: all(server.access(f"mp-{i}") is not None for i in range(16)))
        assert {server.access(f"mp-{i}")["pid"] for i in range(16)} == pids  # type: ignore[index]

        server.send(signal.SIGHUP)
        wait_until(lambda: {r["pid"] for r in _messages(server, "reload requested (SIGHUP)")} == pids)
        assert server.stop() == 0
    assert {r["pid"] for r in _messages(server, "stopped")} == pids
    assert _messages(server, "stopped every server process")[0]["status"] == 0
    assert not any(_alive(pid) for pid in pids)


@pytest.mark.parametrize("processes", [1, 2])
def test_no_connection_reaches_a_process_still_loading(tmp_path: Path, small_package_dir: Path, patient_examples, processes: int) -> None:  # type: ignore[no-untyped-def]
    """Each process loads the model before it listens (one process as well as several): from the first accepted
    connection on, every fresh connection (whichever process the kernel gives it to) is answered by a loaded
    model."""
    args = ["--model-path", str(small_package_dir), "--processes", str(processes), "--alias-check-interval-s", "0"]
    with running(tmp_path / "run", args, wait_listening=False) as server:
        server.wait_log("listening")  # the first process is up; another may still be loading
        profile = patient_examples["hla_b_1502_carrier"]
        for i in range(24):
            with RecommendationClient(server.target, timeout_s=30) as client:
                assert client.health() == "SERVING"
                assert client.recommend(profile, request_id=f"early-{i}").options
        loaded = {r["pid"]: r["ts"] for r in _messages(server, "model loaded")}
        listening = {r["pid"]: r["ts"] for r in _messages(server, "listening")}
        assert listening and all(pid in loaded and loaded[pid] <= ts for pid, ts in listening.items())


def test_one_process_dying_stops_the_unit(tmp_path: Path, small_package_dir: Path) -> None:
    args = ["--model-path", str(small_package_dir), "--processes", "2", "--alias-check-interval-s", "0"]
    with running(tmp_path / "run", args) as server:
        pids = sorted(_start_two(server))
        os.kill(pids[0], signal.SIGKILL)
        assert server.proc.wait(timeout=60) == 1
        ended = _messages(server, "a server process ended; stopping the others")
        assert ended and ended[0]["pid"] == pids[0]
        wait_until(lambda: not _alive(pids[1]))


def test_a_port_in_use_is_refused_before_starting(cli: Any, small_package_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(cli, "serve", "--model-path", str(small_package_dir), "--port", str(port), "--processes", "2")
    assert result.exit_code == 2 and "port" in result.output and "in use" in result.output


@pytest.mark.parametrize("bad", ["0", "65"])
def test_processes_out_of_range(cli: Any, small_package_dir: Path, bad: str) -> None:
    result = invoke(cli, "serve", "--model-path", str(small_package_dir), "--processes", bad)
    assert result.exit_code == 2 and "processes" in result.output
