"""``insight serve`` as an operator runs it: gunicorn workers by default, the development server with ``--dev``.

Each test starts the real command as a subprocess on a SpatiaLite store with the borough and wards
loaded, waits for ``/healthz``, fetches pages, then stops it with SIGTERM.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from insight.layers import load_specs
from insight.sources.ingest import load_specs_into
from insight.web.production import worker_count
from tests.conftest import DATA_DIR, LAYERS_DIR, Store, open_store

GIB = 1024 ** 3


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A SpatiaLite file with the borough and its wards loaded."""
    store = open_store("spatialite", tmp_path_factory.mktemp("serve"))
    specs = [s for s in load_specs(LAYERS_DIR) if s.name in {"borough", "wards_2022"}]
    load_specs_into(store.engine, specs, DATA_DIR, echo=lambda _: None)
    store.engine.dispose()
    yield store
    store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=20) as answer:
        return answer.status, answer.read()


def _start(store: Store, *extra: str) -> tuple[subprocess.Popen, str]:
    """``insight serve`` on a free port, answering /healthz (or a failed test with its error output)."""
    port = _free_port()
    env = os.environ | {"INSIGHT_DATABASE_URL": store.settings.database_url, "INSIGHT_HOME": store.settings.home,
                        "INSIGHT_DATA_DIR": str(DATA_DIR), "INSIGHT_LAYERS_DIR": str(LAYERS_DIR),
                        "INSIGHT_TILE_URL": ""}
    env.pop("INSIGHT_SERVE_WORKERS", None)
    env.pop("INSIGHT_SERVE_THREADS", None)
    process = subprocess.Popen([sys.executable, "-m", "insight.cli.main", "serve", "--host", "127.0.0.1",
                                "--port", str(port), *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(process.stderr.read().decode() if process.stderr else "insight serve stopped")
        try:
            if _get(url + "/healthz")[0] == 200:
                return process, url
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, "insight serve did not answer within a minute"
            time.sleep(0.3)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()


def test_serve_runs_gunicorn_workers_and_stops_them_all_on_sigterm(store: Store) -> None:
    process, url = _start(store, "--workers", "2", "--threads", "2")
    try:
        workers = _children(process.pid)
        assert len(workers) == 2, workers
        status, body = _get(url + "/")
        assert status == 200 and b"Local Insight" in body
        status, body = _get(url + "/api/layers.json")
        assert status == 200 and b"wards_2022" in body
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not [pid for pid in workers if _alive(pid)]
        out = process.stdout.read().decode() if process.stdout else ""
        assert f"Local Insight on {url}/" in out and "2 workers x 2 threads" in out
    finally:
        _stop(process)


def test_every_worker_serves_the_page_scripts_before_it_has_served_a_page(store: Store) -> None:
    """A browser fetches a page's scripts at once, maybe from workers that have not yet rendered a page."""
    from concurrent.futures import ThreadPoolExecutor

    import dash_leaflet

    process, url = _start(store, "--workers", "3", "--threads", "4")
    version = dash_leaflet.__version__.replace(".", "_")
    script = f"{url}/_dash-component-suites/dash_leaflet/dash_leaflet.v{version}m1.js"

    def status(_: int) -> int:
        try:
            return _get(script)[0]
        except urllib.error.HTTPError as error:
            return error.code

    try:
        with ThreadPoolExecutor(max_workers=24) as pool:
            answers = list(pool.map(status, range(48)))
        assert answers == [200] * 48
    finally:
        _stop(process)


def test_serve_dev_runs_the_single_process_development_server(store: Store) -> None:
    process, url = _start(store, "--dev")
    try:
        assert _children(process.pid) == []
        status, body = _get(url + "/api/layers.json")
        assert status == 200 and b"borough" in body
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        _stop(process)


def test_a_bad_worker_count_is_refused_with_a_plain_message(store: Store) -> None:
    answer = subprocess.run([sys.executable, "-m", "insight.cli.main", "serve", "--workers", "0"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert answer.returncode == 2 and "expected a number above 0" in answer.stderr


@pytest.mark.parametrize(("cores", "memory", "expected"), [
    (2, 24 * GIB, 5),
    (1, None, 3),
    (8, 4 * GIB, 4),
    (2, 1 * GIB, 1),
    (4, 256 * 1024 ** 2, 1),
])
def test_worker_count_is_two_per_core_plus_one_within_half_the_memory(cores, memory, expected) -> None:
    assert worker_count(cores, memory) == expected


def test_worker_and_thread_settings_are_read_from_the_environment_and_checked() -> None:
    from insight.config import load_settings
    from insight.errors import ConfigError

    settings = load_settings(env={"INSIGHT_SERVE_WORKERS": "3", "INSIGHT_SERVE_THREADS": "8"})
    assert (settings.serve_workers, settings.serve_threads) == (3, 8)
    assert load_settings(env={}).serve_workers is None
    with pytest.raises(ConfigError, match="INSIGHT_SERVE_THREADS must be a whole number"):
        load_settings(env={"INSIGHT_SERVE_THREADS": "many"})
