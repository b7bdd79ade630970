"""Load test: simulated users replaying what a browser asks of `insight serve`, beside one user and the dev server.

    .venv/bin/python bench/bench_load.py [--users 50] [--duration 60] [--database-url URL]
                                         [--workers N] [--threads N] [--no-dev-baseline]

1. The store: ``--database-url`` (SpatiaLite file or PostGIS, already loaded), or by default a
   temporary SpatiaLite file with the shipped sample loaded by ``insight db upgrade`` and
   ``insight load-sample`` (as ``scripts/run.sh`` does; about a minute and a half).
2. ``insight serve`` as documented (gunicorn; workers and threads from the machine unless given).
3. Headless Chromium opens the map and one ward's area page once; every request the pages make to
   the server (the page, ``/_dash-layout``, ``/_dash-dependencies``, each ``/_dash-update-component``
   POST with its body) is recorded. Static files (scripts, styles) are left out: a returning
   browser has them cached.
4. Locust, used as a library, replays those journeys plus the JSON API (profile, shading, points in
   a bounding box, table) and a profile export. Each simulated user does one action at a time
   (a page with its callbacks fired back to back, as the browser does, or one API request), then
   thinks for 1 to 3 s.
5. Figures from the same run: one user (sequential, no think time) against the same gunicorn
   server; ``--users`` users against it; and the same load against ``insight serve --dev``
   (one process, werkzeug). Peak resident memory of each server process is sampled from
   /proc/<pid>/status during the loaded runs.

Locust and Playwright each run in a child process of this script (``--_load`` / ``--_record``):
locust patches the standard library with gevent on import, which Playwright's sync API does not
survive.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSIGHT = [str(Path(sys.executable).parent / "insight")]
STATIC = ("/_dash-component-suites/", "/assets/", "/_favicon", "/favicon")
WARD_LAYER = "wards_2022"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_json(url: str) -> dict:
    import urllib.request  # here, not at the top: the locust child must not import ssl before gevent patches it

    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.loads(answer.read())


def _env(database_url: str, home: str) -> dict[str, str]:
    return os.environ | {"INSIGHT_DATABASE_URL": database_url, "INSIGHT_HOME": home, "INSIGHT_TILE_URL": ""}


def _prepare_store(home: Path) -> str:
    url = f"sqlite:///{home / 'bench.sqlite'}"
    print(f"loading the sample into {url} …", flush=True)
    start = time.perf_counter()
    for command in (["db", "upgrade"], ["load-sample"]):
        subprocess.run(INSIGHT + command, env=_env(url, str(home)), check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    print(f"sample loaded in {time.perf_counter() - start:.0f} s", flush=True)
    return url


class Server:
    """``insight serve`` in a child process, with the peak RSS of its serving processes sampled."""

    def __init__(self, database_url: str, home: str, extra: list[str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(home) / f"server-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(INSIGHT + ["serve", "--port", str(self.port), *extra],
                                            env=_env(database_url, home), cwd=ROOT, stdout=subprocess.PIPE, stderr=log)
        self.peak: dict[int, int] = {}
        self.peak_smaps: dict[str, dict[int, int]] = {}
        self._sampling = False
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"insight serve {' '.join(extra)} stopped with status {self.process.returncode}:\n"
                                 + self.log.read_text(errors="replace")[-3000:])
            try:
                _get_json(self.url + "/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("insight serve did not answer within 3 minutes") from None
                time.sleep(0.5)
        assert self.process.stdout is not None
        print("  " + self.process.stdout.readline().decode().strip(), flush=True)

    def serving_pids(self) -> list[int]:
        """The worker processes under gunicorn, or the one process of the development server."""
        out = subprocess.run(["ps", "--ppid", str(self.process.pid), "-o", "pid="], capture_output=True, text=True)
        children = [int(p) for p in out.stdout.split()]
        return children or [self.process.pid]

    def _sample(self) -> None:
        while self._sampling:
            for pid in self.serving_pids():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
                self.peak[pid] = max(self.peak.get(pid, 0), rss * 1024)
                shared = _smaps(pid)
                for key, value in shared.items():
                    table = self.peak_smaps.setdefault(key, {})
                    table[pid] = max(table.get(pid, 0), value)
            time.sleep(0.5)

    def sample_memory(self) -> threading.Thread:
        """Start sampling; stop with :meth:`stop_sampling`."""
        self._sampling = True
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        return thread

    def stop_sampling(self, thread: threading.Thread) -> None:
        """Stop the sampler started by :meth:`sample_memory`."""
        self._sampling = False
        thread.join()

    def stop(self) -> None:
        """SIGTERM, as an operator's service manager would send."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _record(url: str, ward: str, out: str) -> None:
    """(child) The requests Chromium makes for the map and for one ward's area page."""
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    journeys = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        pages = (("map", "/", ".leaflet-overlay-pane path.leaflet-interactive"),
                 ("area", f"/area/{WARD_LAYER}/{ward}", "#trend-chart .main-svg"))
        for name, path, drawn in pages:
            steps: list[dict] = []
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def keep(request, steps=steps):
                if not request.url.startswith(url) or any(s in request.url for s in STATIC):
                    return
                body = request.post_data
                steps.append({"method": request.method, "path": request.url[len(url):], "body": body,
                              "page": request.is_navigation_request()})

            page.on("request", keep)
            page.goto(url + path)
            page.wait_for_selector(drawn, timeout=120_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1000)
            page.close()
            journeys[name] = steps
        browser.close()
    Path(out).write_text(json.dumps(journeys))


def _api_requests(url: str, ward: str) -> dict[str, str]:
    layers = _get_json(url + "/api/layers.json")["layers"]
    crime = sorted(la["name"] for la in layers if la["kind"] == "points" and la["name"].startswith("crime"))[-1]
    box = "-0.26,51.59,-0.20,51.62"
    return {
        "GET /api/profile (a ward)": f"/api/profile/{WARD_LAYER}/{ward}.json",
        "GET /api/shading (crime rate)": f"/api/shading/{WARD_LAYER}.json?metric=points_rate&layer={crime}",
        "GET /api/points (bbox)": f"/api/points/{crime}.geojson?bbox={box}",
        "GET /api/table (wards, csv)": f"/api/table/{WARD_LAYER}.csv?layer={crime}",
        "GET /api/export (profile, xlsx)": f"/api/export/{WARD_LAYER}/{ward}.xlsx",
    }


def _step_name(journey: str, step: dict) -> str:
    if step["method"] == "POST" and step["path"].startswith("/_dash-update-component"):
        output = json.loads(step["body"] or "{}").get("output", "?")
        return f"{journey}: callback {output.lstrip('.')[:48]}"
    if step.get("page"):
        return f"{journey}: {step['method']} page"
    return f"{journey}: {step['method']} {step['path'].split('?')[0]}"


def _load(url: str, plan_file: str, users: int, duration: float, think: bool, out: str) -> None:
    """(child) Run the plan with locust for ``duration`` seconds; write per-request figures as JSON."""
    import gevent
    from locust import HttpUser, between, constant, task
    from locust.env import Environment

    plan = json.loads(Path(plan_file).read_text())
    started: dict[str, int] = {}

    def start(name: str) -> str:
        started[name] = started.get(name, 0) + 1
        return name

    class Browsing(HttpUser):
        abstract = True
        host = url

        def _page(self, journey: str) -> None:
            for step in plan["journeys"][journey]:
                headers = {"Content-Type": "application/json"} if step["body"] else {}
                with self.client.request(step["method"], step["path"], data=step["body"], headers=headers,
                                         name=start(_step_name(journey, step)), catch_response=True) as answer:
                    if answer.status_code not in (200, 204):
                        answer.failure(f"status {answer.status_code}")

    class Visitor(Browsing):
        """A person using the app: a page with its callbacks, or one API request, then 1 to 3 s of thought."""

        wait_time = between(1, 3)

        @task(3)
        def map_page(self) -> None:
            self._page("map")

        @task(3)
        def area_page(self) -> None:
            self._page("area")

        @task(4)
        def api(self) -> None:
            name, path = random.choice(list(plan["api"].items()))
            self.client.get(path, name=start(name))

    class Alone(Browsing):
        """One user doing every action in turn, with no think time: the unloaded latency of each request."""

        wait_time = constant(0)

        @task
        def every_action(self) -> None:
            self._page("map")
            self._page("area")
            for name, path in plan["api"].items():
                self.client.get(path, name=start(name))

    env = Environment(user_classes=[Visitor if think else Alone])
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=max(users / 5, 1))
    gevent.spawn_later(duration, runner.quit)
    runner.greenlet.join()
    rows = {}
    for entry in [*env.stats.entries.values(), env.stats.total]:
        rows[entry.name] = {
            "n": entry.num_requests, "failures": entry.num_failures, "rps": entry.total_rps,
            "p50": entry.get_response_time_percentile(0.5), "p95": entry.get_response_time_percentile(0.95),
            "p99": entry.get_response_time_percentile(0.99),
            "open": (sum(started.values()) if entry is env.stats.total else started.get(entry.name, 0))
            - entry.num_requests,
        }
    for name, count in started.items():
        rows.setdefault(name, {"n": 0, "failures": 0, "rps": 0.0, "p50": None, "p95": None, "p99": None,
                               "open": count})
    Path(out).write_text(json.dumps(rows))


def _child(*args: str) -> None:
    subprocess.run([sys.executable, __file__, *args], check=True, cwd=ROOT)


def _run_load(server: Server, plan: str, users: int, duration: float, think: bool, tmp: Path, label: str) -> dict:
    out = tmp / f"{label}.json"
    print(f"  {label}: {users} user(s) for {duration:.0f} s …", flush=True)
    sampler = server.sample_memory()
    try:
        _child("--_load", server.url, plan, str(users), str(duration), "1" if think else "0", str(out))
    finally:
        server.stop_sampling(sampler)
    return json.loads(out.read_text())


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _table(runs: dict[str, dict]) -> None:
    labels = list(runs)
    names = sorted({n for rows in runs.values() for n in rows if n != "Aggregated"}) + ["Aggregated"]
    width = max(len(n) for n in names)
    head = "".join(f" | {label:^46}" for label in labels)
    sub = "".join(f" | {'n':>4} {'open':>4} {'p50':>6} {'p95':>6} {'p99':>6} {'req/s':>6} {'fail':>5}" for _ in labels)
    print(f"\n{'':<{width}}{head}\n{'request (ms)':<{width}}{sub}")
    print("-" * (width + len(sub)))
    for name in names:
        cells = []
        for label in labels:
            row = runs[label].get(name)
            if row is None:
                cells.append(f" | {'':>44}")
                continue
            cells.append(f" | {row['n']:>4} {row['open']:>4} {_ms(row['p50']):>6} {_ms(row['p95']):>6} "
                         f"{_ms(row['p99']):>6} {row['rps']:>6.1f} {row['failures']:>5}")
        print(f"{name:<{width}}{''.join(cells)}")


def _smaps(pid: int) -> dict[str, int]:
    """Proportional (Pss) and private (Private_Clean + Private_Dirty) memory of a process, in bytes."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    values = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in text.splitlines()[1:] if ":" in line}
    return {"pss": values.get("Pss", 0), "private": values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)}


def _memory(label: str, server: Server) -> None:
    peaks = sorted(server.peak.values(), reverse=True)
    mib = ", ".join(f"{p / 2**20:.0f}" for p in peaks)
    print(f"peak RSS per serving process, {label} (MiB): {mib or '-'}")
    for key, what in (("pss", "peak PSS (shared pages split between processes)"),
                      ("private", "peak private memory (what each extra worker costs)")):
        values = sorted(server.peak_smaps.get(key, {}).values(), reverse=True)
        print(f"{what}, {label} (MiB): {', '.join(f'{p / 2**20:.0f}' for p in values) or '-'}")


def main() -> None:
    """Run the load test and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load per run")
    parser.add_argument("--database-url", help="a loaded store (default: a temp SpatiaLite with the sample)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: as insight serve sizes them)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: as insight serve sizes them)")
    parser.add_argument("--dev-baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the same load against insight serve --dev")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp_name:
        tmp = Path(tmp_name)
        database_url = args.database_url or _prepare_store(tmp)
        sizing = [*(["--workers", str(args.workers)] if args.workers else []),
                  *(["--threads", str(args.threads)] if args.threads else [])]
        runs: dict[str, dict] = {}
        print("gunicorn (insight serve):", flush=True)
        server = Server(database_url, str(tmp), sizing)
        try:
            code = _first_ward(server.url)
            _child("--_record", server.url, code, str(tmp / "journeys.json"))
            plan = tmp / "plan.json"
            plan.write_text(json.dumps({"journeys": json.loads((tmp / "journeys.json").read_text()),
                                        "api": _api_requests(server.url, code)}))
            for journey, steps in json.loads((tmp / "journeys.json").read_text()).items():
                print(f"  recorded {journey}: {len(steps)} requests", flush=True)
            runs["one user"] = _run_load(server, str(plan), 1, max(15.0, args.duration / 3), False, tmp, "one user")
            server.peak.clear()
            runs[f"gunicorn, {args.users} users"] = _run_load(
                server, str(plan), args.users, args.duration, True, tmp, "gunicorn")
        finally:
            server.stop()
        _memory("gunicorn", server)
        if args.dev_baseline:
            print("development server (insight serve --dev):", flush=True)
            dev = Server(database_url, str(tmp), ["--dev"])
            try:
                runs[f"dev server, {args.users} users"] = _run_load(
                    dev, str(plan), args.users, args.duration, True, tmp, "dev server")
            finally:
                dev.stop()
            _memory("dev server", dev)
        _table(runs)
        print("\nn: requests completed within the run (failures included); open: requests still waiting when the "
              "run ended, which the percentiles leave out.\none user: every action in turn, no think time, on the same "
              "gunicorn server before the load.")


def _first_ward(url: str) -> str:
    features = _get_json(f"{url}/api/layers/{WARD_LAYER}.geojson")["features"]
    return str(sorted(f["properties"]["code"] for f in features)[0])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_record":
        _record(*sys.argv[2:5])
    elif len(sys.argv) > 1 and sys.argv[1] == "--_load":
        _load(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6] == "1", sys.argv[7])
    else:
        main()
