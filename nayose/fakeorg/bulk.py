"""Bulk API 2.0 query jobs for the fake org (``/services/data/vXX.X/jobs/query``).

* ``POST jobs/query`` ``{"operation": "query" | "queryAll", "query": SOQL, "columnDelimiter",
  "lineEnding"}`` → the job (state ``UploadComplete``). The SOQL is validated and run at once (a
  snapshot); an invalid query is a 400 with the SOQL error.
* ``GET jobs/query/<id>`` → the job. It reports ``InProgress`` for the first
  `FakeOrg.bulk_polls_before_complete` polls (default 0), then ``JobComplete``.
* ``GET jobs/query/<id>/results?maxRecords=&locator=`` → CSV (header row + records, every value
  quoted, null as an empty field, parents flattened as ``Account.Name``) with ``Sforce-Locator``
  (``null`` on the last page) and ``Sforce-NumberOfRecords``.
* ``PATCH jobs/query/<id>`` ``{"state": "Aborted"}``, ``DELETE jobs/query/<id>`` (204),
  ``GET jobs/query`` (all jobs).
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import threading
from typing import TYPE_CHECKING, Any

from nayose.fakeorg.store import OrgError

if TYPE_CHECKING:  # pragma: no cover
    from nayose.fakeorg.server import FakeOrg, Request, Response

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


class BulkError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class BulkQueryJobs:
    def __init__(self, org: "FakeOrg"):
        self.org = org
        self.jobs: dict[str, dict[str, Any]] = {}
        self._rows: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
        self._polls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def handle(self, req: "Request", rest: list[str]) -> "Response":
        """rest: the path after ``jobs/query`` split on "/"."""
        from nayose.fakeorg.server import Response
        m = req.method
        if not rest:
            if m == "POST":
                return Response.json(200, self.create(req))
            if m == "GET":
                with self._lock:
                    jobs = [dict(j) for j in self.jobs.values()]
                return Response.json(200, {"done": True, "records": jobs, "nextRecordsUrl": None})
            raise BulkError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{m}' not allowed. Allowed are GET,POST")
        job_id = rest[0]
        if len(rest) == 1:
            if m == "GET":
                return Response.json(200, self.get(job_id))
            if m == "PATCH":
                return Response.json(200, self.set_state(job_id, req.json()))
            if m == "DELETE":
                self.delete(job_id)
                return Response(204, b"")
            raise BulkError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{m}' not allowed. Allowed are GET,PATCH,DELETE")
        if len(rest) == 2 and rest[1] == "results" and m == "GET":
            return self.results(job_id, req)
        raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")

    def create(self, req: "Request") -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise BulkError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        op = body.get("operation")
        if op not in ("query", "queryAll"):
            raise BulkError(400, "INVALIDJOB", f"Invalid operation for a query job: {op!r}")
        soql = body.get("query")
        if not soql:
            raise BulkError(400, "INVALIDJOB", "A query job needs a query")
        delim = body.get("columnDelimiter", "COMMA")
        ending = body.get("lineEnding", "LF")
        if delim not in DELIMITERS or ending not in LINE_ENDINGS:
            raise BulkError(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
        q, selected, rows, _ = self.org.evaluator.run(soql, include_deleted=op == "queryAll")
        if q.count or q.aggregate:
            raise BulkError(400, "INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0")
        flat = [self.org.evaluator.flat(q.sobject, r, selected) for r in rows]
        header = [s.path for s in selected]
        now = self.org.store.now()
        job_id = f"750{next(self._seq):012d}AAA"
        job = {
            "id": job_id, "operation": op, "object": q.sobject, "createdById": self.org.user_id,
            "createdDate": now, "systemModstamp": now, "state": "UploadComplete",
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.org.api_version),
            "lineEnding": ending, "columnDelimiter": delim,
        }
        with self._lock:
            self.jobs[job_id] = job
            self._rows[job_id] = (header, flat)
            self._polls[job_id] = self.org.bulk_polls_before_complete
        return dict(job)

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise BulkError(404, "NOT_FOUND", f"Job not found: {job_id}")
        return job

    def get(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(job_id)
            if job["state"] in ("UploadComplete", "InProgress"):
                if self._polls[job_id] > 0:
                    self._polls[job_id] -= 1
                    job["state"] = "InProgress"
                else:
                    self._complete(job_id)
            return dict(job)

    def _complete(self, job_id: str) -> None:
        job = self.jobs[job_id]
        job["state"] = "JobComplete"
        job["numberRecordsProcessed"] = len(self._rows[job_id][1])
        job["retries"] = 0
        job["totalProcessingTime"] = 1
        job["systemModstamp"] = self.org.store.now()

    def set_state(self, job_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise BulkError(400, "INVALIDJOB", "A query job can only be set to the state Aborted")
        with self._lock:
            job = self._job(job_id)
            if job["state"] in ("JobComplete", "Failed"):
                raise BulkError(400, "INVALIDJOB", f"Job {job_id} is already {job['state']}")
            job["state"] = "Aborted"
            job["systemModstamp"] = self.org.store.now()
            return dict(job)

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._job(job_id)
            del self.jobs[job_id]
            del self._rows[job_id]
            del self._polls[job_id]

    def results(self, job_id: str, req: "Request") -> "Response":
        from nayose.fakeorg.server import Response
        with self._lock:
            job = self._job(job_id)
            if job["state"] in ("UploadComplete", "InProgress") and self._polls[job_id] == 0:
                self._complete(job_id)
            if job["state"] != "JobComplete":
                raise BulkError(400, "INVALIDJOB", f"Job {job_id} is {job['state']}, results are not available")
            header, rows = self._rows[job_id]
            delim = DELIMITERS[job["columnDelimiter"]]
            ending = LINE_ENDINGS[job["lineEnding"]]
        locator = req.param("locator") or ""
        offset = 0
        if locator and locator != "null":
            try:
                offset = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
            except ValueError:
                raise BulkError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
        max_raw = req.param("maxRecords")
        try:
            max_records = int(max_raw) if max_raw else len(rows) or 1
        except ValueError:
            raise BulkError(400, "INVALID_PARAMETER", "maxRecords must be an integer") from None
        if max_records < 1:
            raise BulkError(400, "INVALID_PARAMETER", "maxRecords must be positive")
        page = rows[offset:offset + max_records]
        nxt = offset + len(page)
        next_locator = base64.b64encode(str(nxt).encode()).decode().rstrip("=") if nxt < len(rows) else "null"
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=delim, lineterminator=ending, quoting=csv.QUOTE_ALL)
        w.writerow(header)
        for r in page:
            w.writerow([_csv_value(r[h]) for h in header])
        return Response(200, buf.getvalue().encode("utf-8"), content_type="text/csv; charset=UTF-8",
                        headers={"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(page))})


def bulk_error_payload(e: BulkError | OrgError) -> list[dict[str, Any]]:
    return [{"errorCode": e.code, "message": e.message}]
