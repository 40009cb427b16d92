"""How many CPU threads torch gets: the CPUs this process may use that are idle, unless told.

torch's default (one thread per core) oversubscribes a busy machine: beside six busy processes
on two cores, a 30-query search took 497 s on two threads and 50 s on one, while on the quiet
machine both took 12 s (``experiments/bench_threads.py``). So the command line picks
``--threads``, else ``$NETEMBED_THREADS``, else the CPUs this process may run on minus the load
already on them (at least one), and sets it before torch is imported (``OMP_NUM_THREADS``), so
that worker processes inherit it. numpy-only modules never import this.

>>> choose(requested=3)
3
"""

from __future__ import annotations

import os

from netembed.errors import NetembedError

__all__ = ["ENV", "choose", "configure"]

ENV = "NETEMBED_THREADS"


class ThreadsError(NetembedError, ValueError):
    """A thread count that cannot be used."""


def _count(value, source: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ThreadsError(f"{source} must be a positive integer, got {value!r}") from None
    if number < 1 or str(number) != str(value).strip():
        raise ThreadsError(f"{source} must be a positive integer, got {value!r}")
    return number


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity, e.g. a container's share), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def choose(requested: int | None = None) -> int:
    """``requested``, else ``$NETEMBED_THREADS``, else the usable CPUs not already busy (the
    1-minute load average), at least 1."""
    if requested is not None:
        return _count(requested, "--threads")
    if os.environ.get(ENV):
        return _count(os.environ[ENV], f"${ENV}")
    cpus = usable_cpus()
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cpus, round(cpus - busy)))


def configure(requested: int | None = None) -> int:
    """Choose the thread count and make it this process's and its children's: torch reads
    ``OMP_NUM_THREADS`` when it is imported (and is told directly when it already is)."""
    import sys

    threads = choose(requested)
    os.environ["OMP_NUM_THREADS"] = os.environ[ENV] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return threads
