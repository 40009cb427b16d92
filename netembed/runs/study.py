"""Many workers, one search: the run's queries live in a shared Optuna study.

Each worker runs its own method (seeded ``seed + 10,000 * worker``) and shares every label
through one study in an Optuna RDB storage (``postgresql+psycopg://...``, ``sqlite:///...``):

- a query is a trial. A worker claims a cell (a RUNNING trial naming the cell) before its
  evaluator runs, and completes the trial with the reward as its value and the cell and its
  measurement as user attributes, so every worker sees every label;
- deduplication by hash across workers: a cell another worker has labelled is answered from the
  study for free, one another worker is evaluating is waited for. Of two claims of the same
  cell the lower-numbered wins, so no cell is ever evaluated twice;
- the budget is global: a claim that finds ``budget.queries`` live claims (running or complete)
  before it is withdrawn, so the study never holds more queries than the budget; its worker
  waits while running claims fill the budget (one may fail and free its place) and stops once
  the budget's queries are complete;
- a killed worker's claim stops sending heartbeats and any worker fails it after ``grace``
  seconds, freeing its cell. Rerunning the worker (the same command) rejoins the study;
- every trial also carries its architecture as Optuna params (the space's ``trial_params``: in
  NAS-Bench-101 the 21 edge bits and 5 ops of ``Cell.to_flat``, in NAS-Bench-201 the 6 edges'
  ops), so Optuna's own tools (``study.trials_dataframe()``, ``optuna.visualization``,
  optuna-dashboard) show the search;
- a study netembed did not make (trials or user attributes but no netembed settings, or
  another direction) is refused before anything is written to it;
- a storage failure (connection lost, commit refused, SQLite locked) stops a worker with one
  line saying how to continue (``SharedStudy.connection``): every finished query is in the study;
- SIGTERM (``kill``, a scheduler) stops the workers one command started as Ctrl-C does
  (``WorkerProcesses``): each fails its running claim and exits, and the command exits after
  them, so its run folder stays locked until none is left.

Other workers' labels reach a method through ``Method.observe``: netembed learns from all of them;
the baselines ignore them (independent searches sharing the budget and the deduplication), so a
rejoining baseline worker re-asks its own earlier cells, is answered from the study for free and
so replays its path before going on.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Self

from netembed.search import (
    Budget,
    Evaluation,
    Measure,
    Method,
    SearchError,
    SearchResult,
    evaluation_from_record,
    run_loop,
)
from netembed.spaces.nb101.cell import Cell

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial, Trial

    from netembed.search import RewardFunction
    from netembed.search.evaluators import Evaluator, Measurement

__all__ = [
    "STORAGE_LOST",
    "SharedStudy",
    "StorageLostError",
    "WorkerProcesses",
    "interrupt_on_sigterm",
    "run_worker",
    "safe_url",
    "scrub",
    "worker_seed",
]

#: The study's user attribute holding the run's settings (every worker must share them).
SETTINGS_KEY = "netembed_settings"
#: A worker process's exit code when it lost the storage: its parent says so, once for all.
STORAGE_LOST = 3


class StorageLostError(SearchError):
    """The study's storage failed after the run reached it; every finished query is in it."""


class SharedStudy:
    """One search's shared query log: an Optuna study in an RDB storage.

    ``settings`` are the run's (method, reward, evaluator, ...): the first worker writes them and
    every later one must bring the same, except the budget, which a rejoining run may raise.
    ``joining``: the run has reached the storage already (a worker its parent started), so failing
    to open it is losing it, with the same message as losing it later. ``space``: the search
    space of its architectures (``netembed.spaces``; None: NAS-Bench-101).
    """

    def __init__(
        self,
        storage: str,
        name: str,
        settings: dict,
        heartbeat: int = 5,
        grace: int = 30,
        joining: bool = False,
        space=None,
    ):
        import optuna

        from netembed import spaces

        self.space = spaces.get(space)

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # the storage's one warning ("falling back to a slower query") repeats a failed query's SQL
        # before netembed's one line on the failure
        logging.getLogger("optuna.storages._rdb.storage").setLevel(logging.ERROR)
        self.url, self.name, self.grace = storage, name, grace
        engine_kwargs = self._engine_kwargs()
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.storage = optuna.storages.RDBStorage(
                    storage, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat, grace_period=grace
                )
            self.study = optuna.create_study(
                storage=self.storage, study_name=name, direction="maximize", load_if_exists=True
            )
        except ImportError as exc:
            raise SearchError(
                f"storage {self.safe_url} needs a database driver that is not installed ({exc}); "
                "for PostgreSQL: pip install 'psycopg[binary]' and a postgresql+psycopg:// URL"
            ) from None
        except (*_storage_errors(), ValueError) as exc:
            if joining and isinstance(exc, _storage_errors()):  # the parent had it open: lost, not refused
                raise self.lost(_reason(exc, storage)) from None
            raise SearchError(f"cannot open storage {self.safe_url}: {_reason(exc, storage)}") from None
        self._labelled: dict[int, Evaluation] = {}  # complete trials never change: parse each once
        with self.connection():
            self._check_settings({k: v for k, v in settings.items() if k != "budget"})

    @property
    def safe_url(self) -> str:
        """The storage URL without its password, for messages."""
        return safe_url(self.url)

    def _engine_kwargs(self) -> dict:
        """SQLAlchemy's settings for the storage: SQLite waits up to 60 s for another process's
        lock (unless the URL sets ``?timeout=``); a server's connections are checked before use."""
        import sqlalchemy

        try:
            url = sqlalchemy.engine.make_url(self.url)
        except ValueError as exc:  # SQLAlchemy reads the port with int()
            got = scrub(str(exc).rpartition(": ")[2], self.url)
            raise SearchError(f"cannot open storage {self.safe_url}: its port must be a number, got {got}") from None
        except sqlalchemy.exc.ArgumentError:
            return {}  # not a URL: Optuna says so, in the constructor's error
        if "@" in (url.host or ""):  # the driver would try to resolve a host holding the password's rest
            raise SearchError(
                f"cannot open storage {self.safe_url}: its password holds an '@', which the database library "
                "reads as the start of the host; write '@' in a password as %40"
            )
        if url.get_backend_name() != "sqlite":
            return {"pool_pre_ping": True}
        return {} if "timeout" in url.query else {"connect_args": {"timeout": 60}}

    def _check_settings(self, settings: dict) -> None:
        if SETTINGS_KEY not in self.study.user_attrs and self._new():
            self.study.set_user_attr(SETTINGS_KEY, settings)
        saved = self.study.user_attrs[SETTINGS_KEY]  # read back: two first workers may race to write
        if saved != settings:
            diff = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
            raise SearchError(
                f"study {self.name!r} in {self.safe_url} was started with other settings "
                f"({', '.join(diff)}: {[saved.get(k) for k in diff]} there, "
                f"{[settings.get(k) for k in diff]} now); use another --study"
            )

    def _new(self) -> bool:
        """Whether a study without settings is new (a first worker may be between creating it and
        writing them), not written by another tool; that one is refused before anything is written
        to it. Its trials, user attributes or direction tell them apart."""
        from optuna.study import StudyDirection

        trials = len(self._trials())
        attrs = sorted(self.study.user_attrs)  # read after the trials: netembed writes settings before any trial
        if SETTINGS_KEY in attrs:
            return False  # another worker wrote them meanwhile
        found = []
        if trials:
            found.append(f"{trials} trial(s)")
        if attrs:
            found.append(f"user attribute(s) {', '.join(attrs[:3])}{', ...' if len(attrs) > 3 else ''}")
        if self.study.directions != [StudyDirection.MAXIMIZE]:
            found.append(f"direction(s) {', '.join(d.name.lower() for d in self.study.directions)}")
        if found:
            raise SearchError(
                f"study {self.name!r} in {self.safe_url} was not made by netembed: it has {' and '.join(found)} "
                f"but no {SETTINGS_KEY}; it was left as it is: use another --study"
            )
        return True

    # -- reading ------------------------------------------------------------------------------

    def _trials(self, *states):
        return self.study.get_trials(deepcopy=False, states=states or None)

    def labels(self) -> dict[str, Evaluation]:
        """Every labelled cell by hash (query = its claim's trial number + 1)."""
        from optuna.trial import TrialState

        for t in self._trials(TrialState.COMPLETE):
            if t.number not in self._labelled:
                self._labelled[t.number] = _evaluation(t, self.space)
        return {e.cell.hash: e for e in self._labelled.values()}

    def _counts(self) -> tuple[int, int]:
        """Complete and running claims, from one read of the study."""
        from optuna.trial import TrialState

        states = [t.state for t in self._trials(TrialState.RUNNING, TrialState.COMPLETE)]
        complete = states.count(TrialState.COMPLETE)
        return complete, len(states) - complete

    def live(self) -> int:
        """Claims that count against the budget: running or complete."""
        return sum(self._counts())

    def spent(self, limit: int, poll: float = 0.5) -> bool:
        """Whether a budget of ``limit`` queries is spent for good: ``limit`` complete, or running
        claims filling the rest. While running claims fill it, waits: one may yet fail or be
        withdrawn (a worker died, an evaluator raised, a second claim of a cell) and free its place."""
        while True:
            complete, running = self._counts()
            if complete >= limit or complete + running < limit:
                return complete >= limit
            self._fail_stale()
            time.sleep(poll)

    def result(self, method: str, seed: int) -> SearchResult:
        """The whole study as one run: its queries in the order they were answered, numbered from 1."""
        from optuna.trial import TrialState

        self.labels()  # parse the trials not seen yet
        done = sorted(self._trials(TrialState.COMPLETE), key=lambda t: (t.datetime_complete, t.number))
        return SearchResult(method, seed, [replace(self._labelled[t.number], query=i) for i, t in enumerate(done, 1)])

    # -- claiming -----------------------------------------------------------------------------

    def release(self, worker: int) -> int:
        """Fail claims an earlier process of ``worker`` left running (it was killed); their cells are
        free again. Returns how many."""
        from optuna.trial import TrialState

        stale = [t for t in self._trials(TrialState.RUNNING) if t.user_attrs.get("claim", {}).get("worker") == worker]
        for t in stale:
            self._fail_number(t.number)
        return len(stale)

    def claim(self, cell: Cell, worker: int, limit: int | None):
        """Claim ``cell`` for evaluation. Returns the Optuna trial to complete, or the trial number
        of an earlier claim of the same cell (wait for it), or None when the budget is spent."""
        import optuna
        from optuna.trial import TrialState

        # a trial made as Study.ask makes one, holding the cell as params from the start (one
        # write: the params never change); Study.ask would leave a sampler to choose them
        params, distributions = self.space.trial_params(cell)
        template = optuna.trial.create_trial(state=TrialState.RUNNING, params=params, distributions=distributions)
        trial = optuna.Trial(self.study, self.storage.create_new_trial(self.study._study_id, template))
        self.storage.record_heartbeat(trial._trial_id)  # from now on a dead worker's claim goes stale
        trial.set_user_attr("claim", {"hash": cell.hash, "worker": worker})
        while True:
            earlier = [t for t in self._trials(TrialState.RUNNING, TrialState.COMPLETE) if t.number < trial.number]
            # a claim names its cell a moment after it is numbered; wait for that, so that the
            # later of two claims of one cell always sees the earlier
            unnamed = [t for t in earlier if "claim" not in t.user_attrs and t.state == TrialState.RUNNING]
            if not unnamed:
                break
            self._fail_stale(unnamed)
            time.sleep(0.05)
        if limit is not None and len(earlier) >= limit:
            self.fail(trial, "budget spent")
            return None
        holder = next((t for t in earlier if t.user_attrs["claim"]["hash"] == cell.hash), None)
        if holder is not None:
            self.fail(trial, f"cell claimed by trial {holder.number}")
            return holder.number
        return trial

    def wait(self, number: int, poll: float = 0.5) -> Evaluation | None:
        """The label of claim ``number`` once it is complete, or None if it failed (its worker died)."""
        from optuna.trial import TrialState

        while True:
            self._fail_stale()
            trial = self.study.get_trials(deepcopy=False)[number]
            if trial.state == TrialState.COMPLETE:
                return _evaluation(trial, self.space)
            if trial.state != TrialState.RUNNING:
                return None
            time.sleep(poll)

    def complete(self, trial: Trial, cell: Cell, measured: Measurement, reward: float) -> Evaluation:
        import optuna

        evaluation = Evaluation.of(cell, measured, reward, trial.number + 1)
        form = self.space.to_json(cell)  # its hash is the claim's
        for key, value in ({k: form[k] for k in self.space.json_keys} | evaluation.record()).items():
            trial.set_user_attr(key, value)
        try:
            self.study.tell(trial, reward)
        except optuna.exceptions.UpdateFinishedTrialError:
            raise SearchError(
                f"claim {trial.number} ({cell.hash}) was failed by another process while this one "
                f"evaluated it: its heartbeat stopped for over {self.grace} s, or another process "
                "runs with the same --worker index"
            ) from None
        return evaluation

    @contextmanager
    def connection(self):
        """Storage errors (a database stopped or restarted, a network gone, a commit refused, an
        SQLite file locked past its timeout) as one SearchError saying what to do."""
        try:
            yield
        except _storage_errors() as exc:
            raise self.lost(_reason(exc, self.url)) from None

    def lost(self, reason: str) -> StorageLostError:
        """The one message of a storage lost mid-run, however it was lost, with the way to continue."""
        return StorageLostError(
            f"lost the study's storage {self.safe_url} ({reason}); every finished query is in it: "
            "rerun the same command to continue"
        )

    @contextmanager
    def heartbeat(self, trial: Trial):
        """Keep ``trial``'s claim alive while the block runs (the evaluator may take hours)."""
        stop = threading.Event()

        def beat():
            while not stop.wait(self.storage.heartbeat_interval):
                try:
                    self.storage.record_heartbeat(trial._trial_id)
                except _storage_errors():
                    return  # the worker's next use of the storage says it is lost, and what to do

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def fail(self, trial: Trial, why: str) -> None:
        """Give a claim up (budget spent, cell held elsewhere, evaluator raised): its cell is free again."""
        from optuna.trial import TrialState

        trial.set_user_attr("withdrawn", why)
        self.study.tell(trial, state=TrialState.FAIL)

    def _fail_number(self, number: int) -> None:
        import optuna
        from optuna.trial import TrialState

        try:
            self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker failed it first

    def _fail_stale(self, unnamed=()) -> None:
        """Fail claims whose worker stopped sending heartbeats, and claims that never named their
        cell (their worker died within the moment between numbering and naming)."""
        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        now = time.time()
        for t in unnamed:
            if now - t.datetime_start.timestamp() > self.grace:
                self._fail_number(t.number)


def _evaluation(trial: FrozenTrial, space) -> Evaluation:
    source = f"trial {trial.number} of the study"
    needed = ("claim", *space.json_keys, "accuracy", "seconds", "params")
    missing = [key for key in needed if key not in trial.user_attrs]
    try:
        if missing:
            raise KeyError(missing[0])
        claimed = trial.user_attrs["claim"]["hash"]
        attrs = trial.user_attrs
        return evaluation_from_record(attrs, trial.value, trial.number + 1, claimed, source, "its claim", space)
    except KeyError as exc:  # a trial another tool added to the study
        raise SearchError(
            f"{source} is no netembed query (it lacks user attribute {exc}); use another --study"
        ) from None


def _storage_errors() -> tuple[type[Exception], ...]:
    """What a storage raises when it fails: SQLAlchemy's errors, and Optuna's wrapping of them."""
    import optuna
    import sqlalchemy

    return sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError


def _reason(exc: Exception, url: str) -> str:
    """A storage error's first line, without the password: that of the error that started it (Optuna
    blames "invalid data" for every failed commit, and a connection lost mid-query surfaces as
    SQLAlchemy's "rollback first" on the next one)."""
    while isinstance(earlier := exc.__cause__ or exc.__context__, _storage_errors()):
        exc = earlier
    return scrub((str(exc).splitlines() or [type(exc).__name__])[0], url)


class _WorkerStore:
    """The study as one worker's ``netembed.search.Store``: a new cell is claimed, then evaluated
    here or answered by the worker that holds it."""

    def __init__(self, shared: SharedStudy, worker: int, queries: int | None):
        self.shared, self.worker, self.queries = shared, worker, queries

    def news(self) -> dict[str, Evaluation]:
        return self.shared.labels()

    def spent(self, queries: int | None) -> bool:
        return queries is not None and self.shared.spent(queries)

    def label(self, cell: Cell, measure: Measure) -> tuple[Evaluation, bool] | None:
        shared = self.shared
        while True:
            if self.spent(self.queries):
                return None
            claim = shared.claim(cell, self.worker, self.queries)
            if claim is None:  # the budget looked full; spent() waits to see whether it is
                continue
            if isinstance(claim, int):  # another worker holds it
                evaluation = shared.wait(claim)
                if evaluation is not None:
                    return evaluation, False
                continue  # that worker died: claim it again
            try:
                with shared.heartbeat(claim):
                    measured, value = measure(cell)
            except BaseException as exc:  # the cell is free again for any worker
                shared.fail(claim, f"{type(exc).__name__}: {exc}"[:200])
                raise
            return shared.complete(claim, cell, measured, value), True


def run_worker(
    method: Method,
    evaluator: Evaluator,
    reward: RewardFunction,
    budget: Budget,
    shared: SharedStudy,
    worker: int = 0,
    progress: bool = False,
) -> SearchResult:
    """One worker's search against the shared study (``netembed.search.run_loop``), until the
    study holds ``budget.queries`` queries or this worker has run ``budget.seconds``. Returns
    this worker's own queries (the whole run is ``shared.result(...)``)."""
    from tqdm.auto import tqdm

    store = _WorkerStore(shared, worker, budget.queries)
    with shared.connection():
        released = shared.release(worker)
        if released and progress:
            tqdm.write(f"worker {worker}: freed {released} claim(s) a killed process of this worker left running")
        result = run_loop(method, evaluator, reward, budget, store, f"{method.name} worker {worker}", progress)
    result.seed = worker
    return result


#: Query keys whose values are secrets, as the driver reads the key (percent-decoded, any case):
#: password, sslpassword, passwd, pwd, and anything else named like a secret.
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "cred")
#: SQLAlchemy's grammar of a URL (``sqlalchemy.engine.url._parse_url``), to find the text a
#: secret was written as (``make_url`` gives it decoded).
_URL = re.compile(
    r"(?P<name>[\w+]+)://(?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?"
    r"(?P<host>\[[^/?]+\]|[^/:?]+)?(?::(?P<port>[^/?]*))?(?:/(?P<database>[^?]*))?(?:\?(?P<query>.*))?"
)


def _secret_key(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


@cache
def _read_url(url: str) -> tuple[str, tuple[str, ...]]:
    """What of a storage URL may be shown, and every form of every secret in it (longest first).

    Read as the database library reads it (``sqlalchemy.engine.make_url``: a password ends at
    the first ``@``, query keys and values are percent-decoded, ``+`` is a space), so what is
    shown is what the library parsed, less the secrets: the password, every query value whose
    key names a secret (``password``, ``sslpassword``, ``pass%77ord``, ...), and the text before
    an ``@`` in the host (the rest of a password that held a raw ``@``). Each secret is scrubbed
    as written, percent-decoded and percent-encoded, and so is each of its parts.
    """
    secrets, raw = [], _URL.match(url)
    if raw is not None:
        secrets += _written_secrets(raw)
    parsed = _parse_url(url)
    if parsed is not None:
        shown = _show(parsed)
        secrets += _parsed_secrets(parsed)
    elif raw is not None:  # a port that is no number: shown as written, less the secrets
        shown = _show_written(raw)
    else:  # no URL at all
        shown, hidden = _show_no_url(url)
        secrets += hidden
    return shown, _secret_forms(secrets)


def _written_secrets(raw: re.Match) -> list[str]:
    """The secrets of a URL as its text writes them (``_URL``'s match)."""
    from urllib.parse import unquote_plus

    secrets = []
    password, host = raw["password"], raw["host"] or ""
    if password is not None:
        secrets.append(password)
    if "@" in host:  # a password with a raw '@': the library reads its rest as the host
        rest = host.rpartition("@")[0]
        secrets += [rest, f"{password}@{rest}"]
    for pair in (raw["query"] or "").split("&"):
        key, _, value = pair.partition("=")
        if _secret_key(unquote_plus(key)):
            secrets.append(value)
    return secrets


def _parse_url(url: str):
    """``sqlalchemy.engine.make_url(url)``, None where it refuses it."""
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):  # no URL, or SQLAlchemy's int() of the port
        return None


def _parsed_secrets(parsed) -> list[str]:
    """The secrets of a URL as the library reads them (decoded)."""
    secrets = [parsed.password or ""]
    for key, values in parsed.query.items():
        if _secret_key(key):
            secrets += [values] if isinstance(values, str) else list(values)
    return secrets


def _show_written(raw: re.Match) -> str:
    """A URL the library refuses (``_URL``'s match), shown as written less the secrets."""
    user = raw["username"]
    credentials = "" if user is None else f"{user}:***@" if raw["password"] is not None else f"{user}@"
    port = "" if raw["port"] is None else f":{raw['port']}"
    database = "" if raw["database"] is None else f"/{raw['database']}"
    host = (raw["host"] or "").rpartition("@")[2]
    return f"{raw['name']}://{credentials}{host}{port}{database}" + ("?..." if raw["query"] else "")


def _show_no_url(text: str) -> tuple[str, list[str]]:
    """Of a string that is no URL: what may be shown (its text after the last '@', up to a query
    or a space) and its secrets."""
    before, at, after = text.rpartition("@")
    secrets = [before, before.partition(":")[2]]
    kept = re.split(r"[?\s]", after, maxsplit=1)
    secrets += kept[1:] + [v for k, v in re.findall(r"([^\s?&;=]+)=([^\s&;]*)", text) if _secret_key(k)]
    return ("***@" if at else "") + kept[0] + (" ..." if len(kept) > 1 else ""), secrets


def _secret_forms(secrets: list[str]) -> tuple[str, ...]:
    """Every form of every secret (as written, percent-decoded, percent-encoded, and each part of
    it), longest first."""
    from urllib.parse import quote, quote_plus, unquote, unquote_plus

    forms = set()
    for secret in filter(None, secrets):
        for text in {secret, unquote(secret), unquote_plus(secret)}:
            forms |= {text, quote(text, safe=""), quote(text), quote_plus(text)}
            forms |= {part for part in re.split(r"[\s;&@,:/]+", text) if len(part) >= 4}
    return tuple(sorted(forms, key=len, reverse=True))


def _show(url) -> str:
    """A parsed URL without its secrets."""
    text = f"{url.drivername}://"
    if url.username is not None:
        text += url.username + (":***" if url.password is not None else "") + "@"
    if url.host:
        host = url.host.rpartition("@")[2]
        text += f"[{host}]" if ":" in host else host
    if url.port is not None:
        text += f":{url.port}"
    if url.database is not None:
        text += f"/{url.database}"
    pairs = [
        f"{key}={'***' if _secret_key(key) else value}"
        for key, values in url.query.items()
        for value in ([values] if isinstance(values, str) else values)
    ]
    return text + (f"?{'&'.join(pairs)}" if pairs else "")


def safe_url(url: str) -> str:
    """A storage URL without its secrets, whatever its form, for messages: what the database
    library reads from it (``sqlalchemy.engine.make_url``) less the password and every query
    value whose key names a secret; of a string that is no URL, its text after the last ``@``.

    >>> safe_url("postgresql+psycopg://alice:p@ss@db.example/netembed?sslmode=require&pass%77ord=x")
    'postgresql+psycopg://alice:***@db.example/netembed?sslmode=require&password=***'
    """
    return _read_url(url)[0]


def scrub(text: str, url: str | None) -> str:
    """``text`` (any message: a database driver's too) with ``url`` shown as ``safe_url`` and
    every form of every secret in ``url`` (as written, percent-decoded, percent-encoded, and
    each part of it) replaced by ``***``; as it is without a ``url``."""
    if not url:
        return text
    shown, forms = _read_url(url)
    kept = "|".join(re.escape(t) for t in sorted({url, shown} - {""}, key=len, reverse=True))
    parts = re.split(f"({kept})", text) if kept else [text]
    for k in range(0, len(parts), 2):  # between the URLs: the URL shown safely is left as it is
        for form in forms:
            parts[k] = parts[k].replace(form, "***")
    return "".join(shown if k % 2 else part for k, part in enumerate(parts))


def worker_seed(seed: int, worker: int) -> int:
    """The seed of worker ``worker``'s method: worker 0 searches exactly as a one-process run, and
    runs with seeds less than 10,000 apart share no worker seed."""
    return seed + 10_000 * worker


#: Seconds the workers of a command stopped by SIGTERM get to fail their claims and exit before
#: they are killed (a claim left running is freed when the worker reruns, or after the grace).
STOP_SECONDS = 30.0


def interrupt_on_sigterm() -> None:
    """SIGTERM in this process (a worker) acts as Ctrl-C: a KeyboardInterrupt, which fails the
    worker's running claim (the cell is free again at once); later ones are ignored while it does."""
    import signal

    def interrupt(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


class WorkerProcesses:
    """The worker processes one command starts (``multiprocessing`` processes, not started yet).

    Inside ``with`` (in the main thread), SIGTERM to this process stops them as Ctrl-C would (it
    is passed on to each, where ``interrupt_on_sigterm`` turns it into a KeyboardInterrupt) and
    raises KeyboardInterrupt here; ``terminated`` says it came. Without this a stopped command left
    its workers running, orphaned, beside the rerun its freed folder lock let in. ``join``
    waits for them, after SIGTERM at most ``STOP_SECONDS`` before killing the rest; call it
    inside ``with``, so that a second SIGTERM does not end this process before them."""

    def __init__(self, processes, stop_seconds: float = STOP_SECONDS):
        self.processes, self.stop_seconds = list(processes), stop_seconds
        self.terminated, self._stopped_at = False, 0.0
        self._joining = False
        self._previous = None

    def __enter__(self) -> Self:
        import signal

        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _started(self) -> list:
        return [p for p in self.processes if p.pid is not None]

    def _on_sigterm(self, signum, frame) -> None:
        if self.terminated:
            return
        self.terminated, self._stopped_at = True, time.monotonic()
        for process in self._started():
            if process.exitcode is None:
                process.terminate()  # SIGTERM: the worker stops as on Ctrl-C
        if not self._joining:
            raise KeyboardInterrupt

    def start(self) -> None:
        for process in self.processes:
            process.start()

    def alive(self) -> bool:
        return any(p.is_alive() for p in self._started())

    def join(self) -> None:
        """Wait until every started worker has exited (after SIGTERM: killed after ``stop_seconds``)."""
        self._joining = True
        for process in self._started():
            while process.exitcode is None:
                if not self.terminated:
                    process.join(0.5)  # short waits: a SIGTERM now stops the workers at once
                    continue
                left = self._stopped_at + self.stop_seconds - time.monotonic()
                if left > 0:
                    process.join(left)
                else:
                    process.kill()
                    process.join()
