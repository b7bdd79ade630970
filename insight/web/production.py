"""The production server: the app under gunicorn, with worker processes and threads sized from the machine.

Sizing (:func:`worker_count`, :func:`thread_count`), unless ``--workers``/``--threads`` or
``INSIGHT_SERVE_WORKERS``/``INSIGHT_SERVE_THREADS`` say otherwise:

- workers = 2 x CPU cores + 1 (gunicorn's rule: one process computing on each core while another
  waits on the database), at most one per 512 MiB of half the machine's memory, at least 1.
  A 2-core machine with 24 GiB runs 5 workers; a 1 GiB machine runs 1.
- threads = 4 per worker (``gthread``): requests spend much of their time waiting on the database
  or on the socket, which a thread releases the interpreter lock for.

The Dash app is built once in the master process, which never opens the store: each worker opens
its own connections after the fork (the store is opened lazily on first use), warms its snapshot
before it takes requests, and closes its connections when it exits. gunicorn's own ``preload_app``
stays off, so a reload (SIGHUP) restarts workers without re-running anything in the master.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

from dash import Dash
from gunicorn.app.base import BaseApplication

from insight.web.context import context_of

THREADS = 4
WORKER_MEMORY_BYTES = 512 * 1024 * 1024
TIMEOUT_SECONDS = 60
MAX_REQUESTS = 2000
MAX_REQUESTS_JITTER = 400


def cpu_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def memory_bytes() -> int | None:
    """The machine's physical memory, or None where the system does not report it."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def worker_count(cores: int, memory: int | None) -> int:
    """2 x ``cores`` + 1 worker processes, at most one per 512 MiB of half of ``memory``, at least one."""
    workers = 2 * cores + 1
    if memory is not None:
        workers = min(workers, memory // 2 // WORKER_MEMORY_BYTES)
    return max(1, workers)


def thread_count() -> int:
    """Threads per worker process."""
    return THREADS


def _warm(worker: Any) -> None:
    """Open this worker's store and read its snapshot before it takes a request, then let SIGTERM in.

    SIGTERM is blocked from just before the fork until here (see :func:`_hold_sigterm_over_fork`): a stop
    sent while the worker was starting waits, pending, for the worker's own handler instead of reaching
    the handler it inherited from the master, which would lose it and leave the worker running.
    """
    try:
        context_of(worker.wsgi).warm()
        # Dash registers the component suites it may serve only when it first renders the page shell;
        # without this a worker that has not yet served a page answers a script request with a 500.
        worker.wsgi.test_client().get("/")
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _hold_sigterm_over_fork() -> None:
    """Block SIGTERM across each fork; the master unblocks it at once, a worker once it is ready."""
    os.register_at_fork(
        before=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}),
        after_in_parent=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM}),
    )


def _close(server: Any, worker: Any) -> None:
    """Close this worker's store connections as it exits; a clean exit then skips the interpreter's slow teardown.

    Tearing down a worker's imported libraries takes seconds on a busy machine, which would hold up a
    SIGTERM; once the store is closed nothing is left to tidy. Any other exit keeps its status and path.
    """
    context_of(worker.wsgi).close()
    leaving = sys.exc_info()[1]
    if worker.booted and isinstance(leaving, SystemExit) and leaving.code in (0, None):
        _leave()


def _exit_master(server: Any) -> None:
    """After a normal stop (SIGTERM, SIGINT), the master leaves at once: its workers are gone, it holds no store."""
    if isinstance(sys.exc_info()[1], StopIteration | KeyboardInterrupt):
        _leave()


def _leave() -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class ProductionServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running one Dash app, configured in code rather than from a file or the command line."""

    def __init__(self, app: Dash, options: dict[str, Any]) -> None:
        self.application = app.server
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply this server's options to gunicorn's settings."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """The WSGI application each worker serves (the Flask server under the Dash app)."""
        return self.application


def options(*, host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """The gunicorn settings for ``insight serve``."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "preload_app": False,
        "timeout": TIMEOUT_SECONDS,
        "graceful_timeout": 20,
        "keepalive": 5,
        "max_requests": MAX_REQUESTS,
        "max_requests_jitter": MAX_REQUESTS_JITTER,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "control_socket_disable": True,
        "proc_name": "insight",
        "post_worker_init": _warm,
        "worker_exit": _close,
        "on_exit": _exit_master,
    }


def serve_production(app: Dash, *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve ``app`` under gunicorn until SIGTERM or Ctrl+C; workers finish their requests, then close the store."""
    context_of(app.server).close()
    _hold_sigterm_over_fork()
    ProductionServer(app, options(host=host, port=port, workers=workers, threads=threads)).run()
