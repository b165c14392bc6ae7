"""Fault injection for the fake org: make the network and the org misbehave on purpose.

A `FaultRule` matches requests by HTTP method and a regular expression searched in the URL path
(without the query string). It fires at most `times` times (None: without limit), each time a
matching request comes with chance `probability` (drawn from the `Faults` seeded RNG, so a run is
reproducible). Kinds:

* ``latency``  — sleep `seconds`, then carry on (other rules may still fire on the same request).
* ``status``   — answer `status` (429 / 500 / 503 …) with a Salesforce-, Pardot- or SOAP-shaped error
  body and, when `retry_after` is set, a ``Retry-After`` header.
* ``reset``    — close the TCP connection with an RST before any byte of the response.
* ``reset_mid``— send the status line, the headers (with the full Content-Length) and half of the
  body, then reset: the client has started reading a response that never completes (requests
  raises ChunkedEncodingError). A response without a body (204) is cut inside its status line
  instead (requests raises ConnectionError).
* ``timeout``  — hold the connection for `seconds` (set it above the client's timeout) and close it
  without a response ("before"), or send the real response only after the pause ("after").
* ``partial``  — no transport effect; consulted by the handlers of multi-record operations
  (REST ``composite/sobjects`` collections; SOAP merge / convertLead / undelete results): the
  records at `indices` (None: every record) fail with `error_code` / `message`.

`when` says whether a transport fault fires ``"before"`` the request is executed (nothing changed in
the org) or ``"after"`` it was executed but before the response is sent — the client then sees an
error although the change was applied ("outcome unknown").

Handlers of multi-record operations ask for a partial failure with::

    rule = org.faults.take("partial", "POST", "/services/data/v62.0/composite/sobjects")
    rule = org.faults.partial_failure("merge")      # SOAP operations: method "SOAP", path = op name
    if rule is not None and rule.fails(i): ...      # record i fails with rule.error_code

`injected` counts the faults that fired, by kind.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

KINDS = ("latency", "status", "reset", "reset_mid", "timeout", "partial")
TRANSPORT_KINDS = ("status", "reset", "reset_mid", "timeout")
WHEN = ("before", "after")


@dataclass
class FaultRule:
    kind: str
    method: str = "*"                 # "GET", "POST", … or "*"; "SOAP" for partial SOAP operations
    path: str = ".*"                  # regex searched in the path (or in the SOAP operation name)
    times: int | None = 1             # how many times it may still fire; None = without limit
    probability: float = 1.0
    when: str = "before"              # "before" | "after" the request is executed
    seconds: float = 0.0              # latency / timeout duration
    status: int = 503                 # status faults
    retry_after: int | None = None    # Retry-After header (seconds) on status faults
    body: bytes | None = None         # status faults: a body to send instead of the default one
    indices: tuple[int, ...] | None = (0,)   # partial: positions of the records that fail
    error_code: str = "UNABLE_TO_LOCK_ROW"   # partial: the statusCode of the failed records
    message: str = "unable to obtain exclusive access to this record"
    fired: int = 0
    _regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.when not in WHEN:
            raise ValueError(f"when must be 'before' or 'after', not {self.when!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None")
        if self.kind == "timeout" and self.seconds <= 0:
            raise ValueError("a timeout fault needs seconds > 0 (longer than the client's timeout)")
        if self.indices is not None:
            self.indices = tuple(int(i) for i in self.indices)
        self._regex = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        return self._regex.search(path) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.times <= 0

    def fails(self, index: int) -> bool:
        """For partial rules: does the record at this position of the request fail?"""
        return self.indices is None or index in self.indices


class Faults:
    """The fault rules of one fake org (thread-safe)."""

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.rules: list[FaultRule] = []
        self.injected: Counter[str] = Counter()

    # ---- defining rules ---------------------------------------------------------------------
    def add(self, kind: str, method: str = "*", path: str = ".*", *, times: int | None = 1,
            probability: float = 1.0, when: str = "before", seconds: float = 0.0, status: int = 503,
            retry_after: int | None = None, body: bytes | None = None,
            indices: Iterable[int] | None = (0,), error_code: str = "UNABLE_TO_LOCK_ROW",
            message: str = "unable to obtain exclusive access to this record") -> FaultRule:
        rule = FaultRule(kind=kind, method=method, path=path, times=times, probability=probability,
                         when=when, seconds=seconds, status=status, retry_after=retry_after, body=body,
                         indices=None if indices is None else tuple(indices), error_code=error_code,
                         message=message)
        with self._lock:
            self.rules.append(rule)
        return rule

    def latency(self, seconds: float, method: str = "*", path: str = ".*", **kw) -> FaultRule:
        return self.add("latency", method, path, seconds=seconds, **kw)

    def status(self, status: int, method: str = "*", path: str = ".*", *, retry_after: int | None = None,
               **kw) -> FaultRule:
        if status == 429 and retry_after is None:
            retry_after = 1
        return self.add("status", method, path, status=status, retry_after=retry_after, **kw)

    def reset(self, method: str = "*", path: str = ".*", **kw) -> FaultRule:
        return self.add("reset", method, path, **kw)

    def reset_mid_response(self, method: str = "*", path: str = ".*", **kw) -> FaultRule:
        return self.add("reset_mid", method, path, **kw)

    def timeout(self, seconds: float, method: str = "*", path: str = ".*", **kw) -> FaultRule:
        return self.add("timeout", method, path, seconds=seconds, **kw)

    def partial(self, method: str = "*", path: str = ".*", *, indices: Iterable[int] | None = (0,),
                error_code: str = "UNABLE_TO_LOCK_ROW",
                message: str = "unable to obtain exclusive access to this record", **kw) -> FaultRule:
        return self.add("partial", method, path, indices=indices, error_code=error_code, message=message, **kw)

    def clear(self) -> None:
        """Remove every rule (the `injected` counters stay)."""
        with self._lock:
            self.rules.clear()

    def pending(self) -> list[FaultRule]:
        """Rules that may still fire."""
        with self._lock:
            return [r for r in self.rules if not r.exhausted]

    # ---- firing -----------------------------------------------------------------------------
    def take(self, kind: str | Iterable[str], method: str, path: str, when: str | None = None) -> FaultRule | None:
        """The first rule of `kind` (a kind or several) matching this request that fires now, or None.
        Firing consumes one of its `times` and counts in `injected`."""
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        with self._lock:
            for rule in self.rules:
                if rule.kind not in kinds or rule.exhausted:
                    continue
                if when is not None and rule.kind != "latency" and rule.kind != "partial" and rule.when != when:
                    continue
                if not rule.matches(method, path):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                rule.fired += 1
                self.injected[rule.kind] += 1
                return rule
        return None

    def partial_failure(self, op: str) -> FaultRule | None:
        """For SOAP handlers: a partial-failure rule for operation `op` ("merge", "convertLead",
        "undelete" …), defined with ``faults.partial(method="SOAP", path="merge", indices=…)``."""
        return self.take("partial", "SOAP", op)
