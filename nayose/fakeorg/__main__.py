"""Run the fake org in the foreground (for `make demo-org`):

    python -m nayose.fakeorg --port 8443 --state org.json [--ca-dir DIR] [--seed-csv sample.csv]

Loads the state from FILE.json when it exists (else starts empty and, with --seed-csv, loads the
Data Loader CSV's rows: an `Id` column, the object from its prefix or an `Object` column); saves
it every --save-every seconds when it changed and on SIGTERM / SIGINT. Prints one JSON line with
instance_url, ca_path, access_token, pardot_base_url and business_unit_id to stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sys
import threading
from pathlib import Path

from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore


def _read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "cp932"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SystemExit(f"{path}: neither UTF-8 nor CP932")
    return list(csv.DictReader(text.splitlines()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nayose.fakeorg", description="a local fake Salesforce org over HTTPS")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8443)
    ap.add_argument("--state", required=True, help="JSON file the org is loaded from and saved to")
    ap.add_argument("--ca-dir", help="where to write the CA certificate (default: a temporary folder)")
    ap.add_argument("--seed-csv", action="append", default=[], help="records to load into a new org")
    ap.add_argument("--page-size", type=int, default=2000)
    ap.add_argument("--save-every", type=float, default=10.0, help="seconds between saves of a changed state")
    args = ap.parse_args(argv)

    state = Path(args.state)
    seeded = 0
    if state.exists():
        store = OrgStore.load(state)
    else:
        store = OrgStore()
        for f in args.seed_csv:
            seeded += store.load_records(_read_csv(Path(f)))
        store.save(state)

    stop = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    org = FakeOrg(store, host=args.host, port=args.port, page_size=args.page_size, ca_dir=args.ca_dir)
    org.start()
    print(json.dumps({"instance_url": org.instance_url, "ca_path": org.ca_path, "access_token": org.access_token,
                      "pardot_base_url": org.pardot_base_url, "business_unit_id": org.business_unit_id,
                      "username": org.username, "state": str(state), "seeded": seeded}), flush=True)

    def fingerprint() -> tuple:
        with store.lock:
            return (store._clock, store.api_used)
    last = fingerprint()
    try:
        while not stop.wait(args.save_every):
            now = fingerprint()
            if now != last:
                store.save(state)
                last = now
    finally:
        org.stop()
        store.save(state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
