"""How many CPU threads torch gets: the CPUs this process may use that are idle, unless told.

torch's default (one thread per core) oversubscribes a busy machine: beside six busy processes
on two cores, a 30-query search took 497 s on two threads and 50 s on one, while on the quiet
machine both took 12 s (``experiments/bench_threads.py``). So the command line picks
``--threads``, else ``$NETEMBED_THREADS``, else the CPUs this process may run on minus the load
already on them (at least one), and sets it before torch is imported (``OMP_NUM_THREADS``), so
that worker processes inherit it. numpy-only modules never import this.

A search's own torch work (the netembed controller: its online surrogate and policy) runs on
``SEARCH_THREADS`` (one) whatever the count here (``fixed``): how floating-point sums are split
over threads changes their last bits, and a search's choices amplify those into other cells, so
at two threads a seed asked other cells than at one from about query 30 on. Its networks are
small, so one thread costs little (README, Speed); the count here is for the rest (an
evaluator that trains networks, the predictors, the encoder over the whole space).

>>> choose(requested=3)
3
"""

from __future__ import annotations

import contextlib
import os

from netembed.errors import NetembedError

__all__ = ["ENV", "PER_CPU", "SEARCH_THREADS", "check", "choose", "configure", "fixed"]

ENV = "NETEMBED_THREADS"
#: The most threads per usable CPU a count may ask for: more only queue for the same CPUs, and a
#: huge one overflows torch's int (and libgomp refuses it as "Invalid value").
PER_CPU = 4
#: Threads a search's own torch work runs on, so that a seed decides the search on any machine.
SEARCH_THREADS = 1


class ThreadsError(NetembedError, ValueError):
    """A thread count that cannot be used."""


def check(value, source: str | None = None) -> int:
    """``value`` (an int or its text) as a thread count: an integer from 1 to ``PER_CPU`` per usable CPU, else a
    ``ThreadsError`` naming ``source`` (None: the message starts at "must be", for argparse, which
    names the option itself). The one rule for ``--threads``, ``$NETEMBED_THREADS`` and every
    ``--jobs``."""
    cpus = usable_cpus()
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or not 1 <= number <= PER_CPU * cpus or isinstance(value, bool):
        raise ThreadsError(
            (f"{source} " if source else "") + f"must be an integer in [1, {PER_CPU * cpus}] "
            f"(at most {PER_CPU} per CPU this process may use, {cpus}), got {value!r}"
        )
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
        return check(requested, "--threads")
    if os.environ.get(ENV):
        return check(os.environ[ENV], f"${ENV}")
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


@contextlib.contextmanager
def fixed(count: int | None = None):
    """torch on ``count`` threads (None: ``SEARCH_THREADS``, read at each entry) inside, its count
    before restored after; a decorator too. Nests; changes nothing when torch already runs on it."""
    import torch

    count = SEARCH_THREADS if count is None else count
    before = torch.get_num_threads()
    if before != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
