"""The analyst's review in the real UI: `dagster dev` on 127.0.0.1, headless Chromium (Debian's, via
Playwright; no browser download), the plan asset page, an approve_partial through the GraphQL
launchRun the Launchpad uses, the sensor launching apply_plan, and the dry-run journal holding
exactly the approved groups. Screenshots go to $NAYOSE_SCREENSHOTS (docs/ to refresh the
README's: NAYOSE_SCREENSHOTS=docs make test), else to the test's temporary folder."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
DOCS_ENV = "NAYOSE_SCREENSHOTS"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="/usr/bin/chromium is not installed (.ci/run installs it with apt-get)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UI:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"

    def gql(self, query: str, variables: dict | None = None) -> dict:
        r = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
        r.raise_for_status()
        body = r.json()
        assert "errors" not in body, body
        return body["data"]

    def location(self) -> tuple[str, str]:
        data = self.gql("{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }")
        node = data["repositoriesOrError"]["nodes"][0]
        return node["location"]["name"], node["name"]

    def launch(self, job: str, run_config: dict) -> str:
        loc, repo = self.location()
        data = self.gql(
            """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
                 __typename ... on LaunchRunSuccess { run { runId } }
                 ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } } } }""",
            {"p": {"selector": {"repositoryLocationName": loc, "repositoryName": repo, "jobName": job},
                   "runConfigData": run_config, "mode": "default"}},
        )["launchRun"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def wait_run(self, run_id: str, timeout: float = 120) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.gql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})
            status = st["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status
            time.sleep(1)
        raise AssertionError(f"run {run_id} did not finish in {timeout} s")

    def failure(self, run_id: str) -> str:
        data = self.gql(
            """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
                 __typename ... on ExecutionStepFailureEvent { stepKey error { message } }
                 ... on RunFailureEvent { message } } } } }""",
            {"id": run_id},
        )
        events = data["logsForRun"].get("events", [])
        return "\n".join(
            (e.get("stepKey") or "") + ": " + ((e.get("error") or {}).get("message") or e.get("message") or "")
            for e in events if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")
        )

    def runs_of(self, job: str) -> list[dict]:
        data = self.gql(
            """query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { runId status tags { key value } } } } }""",
            {"f": {"pipelineName": job}},
        )
        return data["runsOrError"]["results"]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    home, work = tmp / "dagster_home", tmp / "work"
    home.mkdir()
    work.mkdir()
    shutil.copy(ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "NAYOSE_SENSOR_INTERVAL": "3", "PYTHONPATH": str(ROOT)}
    env.pop("NAYOSE_APPLY_EXECUTE", None)
    dagster = Path(sys.executable).with_name("dagster")
    log = open(tmp / "dagster.log", "wb")
    proc = subprocess.Popen(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-m", "pipelines.definitions"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    client = UI(port)
    try:
        end = time.monotonic() + 90
        while True:
            try:
                client.location()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > end:
                    raise AssertionError("dagster dev did not come up:\n" + (tmp / "dagster.log").read_text()[-3000:])
                time.sleep(1)
        client.gql("mutation { setNuxSeen }")
        client.work = work
        yield client
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(5)  # (dagster dev takes longer to stop; its instance is a temporary folder)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def test_review_in_the_browser_then_apply(ui):
    from playwright.sync_api import sync_playwright

    run_id = ui.launch("nayose_job", {"ops": {"raw_records": {"config": {"source": "sample", "sample_records": 2000, "sample_seed": 7}}}})
    assert ui.wait_run(run_id) == "SUCCESS", ui.failure(run_id)
    doc = json.loads((ui.work / "out" / "merge_plan.json").read_text(encoding="utf-8"))
    plan_id = doc["plan_id"]
    with_steps = [c["cluster_id"] for c in doc["clusters"] if c["steps"]]
    known = with_steps[0]

    shots = Path(os.environ[DOCS_ENV]) if os.environ.get(DOCS_ENV) else ui.work / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(f"{ui.url}/assets/merge_plan", wait_until="domcontentloaded")
        page.get_by_text("review/summary").first.wait_for(timeout=60_000)
        page.get_by_text(f"Plan {plan_id}").first.wait_for(timeout=30_000)
        search = page.get_by_placeholder("Filter metadata keys")
        search.fill("review/")
        page.get_by_text("review/groups_to_review").first.wait_for(timeout=30_000)
        page.get_by_text("review/summary").first.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "review_plan.png"))
        # The group index (a markdown table) lists the known group by its cluster id.
        search.fill("review/group_index")
        page.get_by_text("[Show Markdown]").first.click()  # long markdown opens in a dialog
        page.get_by_text(known).first.wait_for(timeout=30_000)
        page.get_by_text(known).first.scroll_into_view_if_needed()
        page.wait_for_timeout(1_000)  # (the dialog fades in: the screenshot after it has)
        page.screenshot(path=str(shots / "review_group_index.png"))
        assert (shots / "review_plan.png").stat().st_size > 10_000
        browser.close()

    approved = with_steps[:3]
    review_id = ui.launch("review_plan", {"ops": {"record_decision": {"config": {
        "plan_id": plan_id, "decision": "approve_partial", "include_clusters": approved,
        "exclude_clusters": [], "reviewer": "analyst@example.com", "note": "browser test"}}}})
    assert ui.wait_run(review_id) == "SUCCESS", ui.failure(review_id)

    end = time.monotonic() + 90
    applied = []
    while time.monotonic() < end and not applied:
        applied = ui.runs_of("apply_plan")
        time.sleep(2)
    assert len(applied) == 1, "the sensor did not launch apply_plan"
    tags = {t["key"]: t["value"] for t in applied[0]["tags"]}
    assert tags["nayose/plan_id"] == plan_id and tags["dagster/sensor_name"] == "apply_approved_plans"
    assert ui.wait_run(applied[0]["runId"]) == "SUCCESS", ui.failure(applied[0]["runId"])
    con = duckdb.connect(str(ui.work / "data" / "apply_journal.duckdb"), read_only=True)
    rows = con.execute("SELECT DISTINCT cluster_id, status FROM apply_journal WHERE plan_id = ?", [plan_id]).fetchall()
    con.close()
    assert {r[0] for r in rows} == set(approved)
    assert {r[1] for r in rows} == {"dry_run"}
    # A second sensor tick does not apply the decision again.
    time.sleep(5)
    assert len(ui.runs_of("apply_plan")) == 1
