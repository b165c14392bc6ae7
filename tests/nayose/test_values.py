"""map_values: per-value work on two processes gives exactly what one loop gives."""

import os

import pytest

import nayose.values as values
from nayose.normalize import _split_company, romaji_key
from nayose.values import map_values

COMPANIES = ["株式会社サンプル商事", "(株)ABC", "有限会社 山田工務店", "Next Associates K.K.", "合同会社ミライ", "㈱東京物産"]
NAMES = ["佐藤", "鈴木", "髙橋", "ワタナベ", "いとう", "Yamamoto", "中村"]


@pytest.fixture
def small_min(monkeypatch):
    monkeypatch.setattr(values, "PARALLEL_MIN", 10)
    monkeypatch.delenv("NAYOSE_SERIAL", raising=False)


def test_results_equal_a_serial_loop_in_order(small_min):
    companies = [f"{c}{i}" for i in range(40) for c in COMPANIES]
    assert map_values(_split_company, companies) == [_split_company(c) for c in companies]
    names = NAMES * 30
    assert map_values(romaji_key, names) == [romaji_key(n) for n in names]


def test_a_child_that_fails_is_replaced_by_computing_its_half_here(small_min):
    parent = os.getpid()

    def only_here(v):
        if os.getpid() != parent:
            raise RuntimeError("the child fails")
        return v * 2

    assert map_values(only_here, list(range(100))) == [v * 2 for v in range(100)]


def test_an_error_is_raised_as_a_serial_loop_raises_it_and_no_child_is_left(small_min, monkeypatch):
    forked = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(values.os, "fork", fork)

    def bad(v):
        if v in (12, 73):  # one in each half: the first half's is raised, as a serial loop would
            raise ValueError(f"bad value {v}")
        return v

    with pytest.raises(ValueError, match="bad value 12"):
        map_values(bad, list(range(100)))
    with pytest.raises(ValueError, match="bad value 73"):
        map_values(bad, list(range(13, 100)))
    assert len(forked) == 2
    for pid in forked:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped


def test_small_inputs_and_serial_mode_run_in_this_process(monkeypatch):
    monkeypatch.setattr(values, "PARALLEL_MIN", 10)
    monkeypatch.setenv("NAYOSE_SERIAL", "1")
    pids = map_values(lambda _v: os.getpid(), list(range(50)))
    assert set(pids) == {os.getpid()}
    monkeypatch.delenv("NAYOSE_SERIAL")
    assert set(map_values(lambda _v: os.getpid(), list(range(5)))) == {os.getpid()}
    assert len(set(map_values(lambda _v: os.getpid(), list(range(50))))) == 2


def _company_parts(companies):
    return [_split_company(c) for c in companies]


def test_forked_work_gives_what_computing_it_here_gives(monkeypatch):
    monkeypatch.delenv("NAYOSE_SERIAL", raising=False)
    companies = [f"{c}{i}" for i in range(20) for c in COMPANIES]
    job = values.Forked(_company_parts, companies)
    assert job.pid is not None and job.pid != os.getpid()
    pid = job.pid
    assert job.result() == _company_parts(companies)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped
    # in the child: its own process
    assert values.Forked(os.getpid).result() != os.getpid()
    monkeypatch.setenv("NAYOSE_SERIAL", "1")
    assert values.Forked(os.getpid).result() == os.getpid()


def test_a_forked_job_that_fails_is_computed_here_and_its_error_raised_here(monkeypatch):
    monkeypatch.delenv("NAYOSE_SERIAL", raising=False)
    parent = os.getpid()

    def only_here(x):
        if os.getpid() != parent:
            raise RuntimeError("the child fails")
        return x + 1

    assert values.Forked(only_here, 1).result() == 2

    def bad(x):
        raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 7"):
        values.Forked(bad, 7).result()


def test_leaving_without_the_result_kills_the_child(monkeypatch):
    monkeypatch.delenv("NAYOSE_SERIAL", raising=False)
    import time

    with values.Forked(time.sleep, 60) as job:
        pid = job.pid
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # killed and reaped at once, not after a minute
    job.cancel()  # twice: nothing more to do


def _held_lock_at_fork():
    """A lock another thread holds while the caller forks, released right after."""
    import threading

    lock, held, release = threading.Lock(), threading.Event(), threading.Event()

    def hold():
        with lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    return lock, release, holder


def test_a_child_stuck_on_a_lock_held_at_fork_is_replaced_by_computing_here(monkeypatch):
    """A child forked while another thread held a lock it needs waits forever (an import in
    progress, a library's loading lock): the parent notices it uses no CPU, kills it and computes
    the work itself, instead of waiting with it."""
    import time

    monkeypatch.delenv("NAYOSE_SERIAL", raising=False)
    monkeypatch.setattr(values, "PARALLEL_MIN", 10)
    lock, release, holder = _held_lock_at_fork()

    def needs_lock(x):
        with lock:
            return x * 2

    job = values.Forked(needs_lock, 21)  # its copy of the lock stays held: it never gets it
    pid = job.pid
    mapped_start = time.monotonic()
    release.set()
    holder.join()
    assert job.result() == 42
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # killed and reaped
    assert time.monotonic() - mapped_start < 5

    lock, release, holder = _held_lock_at_fork()
    release_later = __import__("threading").Timer(0.2, release.set)
    release_later.start()  # the parent's half waits for the lock a moment; the child's never gets it
    assert map_values(needs_lock, list(range(40))) == [v * 2 for v in range(40)]
    holder.join()
