#!/usr/bin/env python3
"""ActionStore beside DuckDB and chDB (ClickHouse's engine, in process) on the same actions.

Reads the report that `actionbench --json FILE` wrote (it names the NDJSON file the store loaded
and holds each query's median and canonical answer), loads that same NDJSON into
  - DuckDB: read_ndjson with an explicit schema into a table of a persistent database file;
  - chDB:   a MergeTree table partitioned by day (LZ4, ClickHouse's default codec), in a session
            with its own data path;
runs the query suite of Benchmarks/actionbench/QuerySuite.swift written in SQL, checks that all three
engines' answers are equal (numbers within a relative 1e-9), and prints one table.

Usage: run.sh --actionbench-json bench-out/actionbench-1000000.json [--repeats 10] [--work DIR] [--out FILE]
"""

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time

import chdb
import duckdb
from chdb import session as chdb_session

# Columns as both peers store them: the fixed fields, request.* and the metadata paths flattened.
# Both peers are told the schema up front (ActionStore infers it), which can only help them.
DUCKDB_COLUMNS = {
    "action_name": "VARCHAR",
    "user_id": "VARCHAR",
    "anonymous_id": "VARCHAR",
    "company_id": "VARCHAR",
    "session_token": "VARCHAR",
    "transaction_id": "VARCHAR",
    "subscription_id": "VARCHAR",
    "request": "STRUCT(time VARCHAR, uri VARCHAR, ip_address VARCHAR, user_agent_string VARCHAR, verb VARCHAR)",
    "metadata": "STRUCT(provider VARCHAR, plan VARCHAR, button_label VARCHAR, page STRUCT(path VARCHAR),"
    " referrer VARCHAR, amount DOUBLE, quantity BIGINT, is_trial BOOLEAN, tags VARCHAR[],"
    " experiment STRUCT(name VARCHAR, variant VARCHAR))",
}

FLAT_SELECT = """
  action_name, user_id, anonymous_id, company_id, session_token, transaction_id, subscription_id,
  {time} AS time, request.uri AS request_uri, request.ip_address AS request_ip_address,
  request.user_agent_string AS request_user_agent_string, request.verb AS request_verb,
  metadata.provider AS provider, metadata.plan AS plan, metadata.button_label AS button_label,
  metadata.page.path AS page_path, metadata.referrer AS referrer, metadata.amount AS amount,
  metadata.quantity AS quantity, metadata.is_trial AS is_trial, {tags} AS tags,
  metadata.experiment.name AS experiment_name, metadata.experiment.variant AS experiment_variant
"""

CH_STRUCTURE = (
    "action_name String, user_id Nullable(String), anonymous_id Nullable(String), company_id Nullable(String),"
    " session_token Nullable(String), transaction_id Nullable(String), subscription_id Nullable(String),"
    " request Tuple(time String, uri Nullable(String), ip_address Nullable(String),"
    " user_agent_string Nullable(String), verb Nullable(String)),"
    " metadata Tuple(provider Nullable(String), plan Nullable(String), button_label Nullable(String),"
    " page Tuple(path Nullable(String)), referrer Nullable(String), amount Nullable(Float64),"
    " quantity Nullable(Int64), is_trial Nullable(Bool), tags Array(String),"
    " experiment Tuple(name Nullable(String), variant Nullable(String)))"
)

CH_TABLE = """
CREATE TABLE actions (
  action_name LowCardinality(String), user_id Nullable(String), anonymous_id Nullable(String),
  company_id Nullable(String), session_token Nullable(String), transaction_id Nullable(String),
  subscription_id Nullable(String), time DateTime64(6, 'UTC'), request_uri LowCardinality(Nullable(String)),
  request_ip_address Nullable(String), request_user_agent_string LowCardinality(Nullable(String)),
  request_verb LowCardinality(Nullable(String)), provider LowCardinality(Nullable(String)),
  plan LowCardinality(Nullable(String)), button_label LowCardinality(Nullable(String)),
  page_path Nullable(String), referrer Nullable(String), amount Nullable(Float64), quantity Nullable(Int64),
  is_trial Nullable(Bool), tags Array(String), experiment_name LowCardinality(Nullable(String)),
  experiment_variant LowCardinality(Nullable(String))
) ENGINE = MergeTree PARTITION BY toDate(time) ORDER BY (action_name, time)
"""

DAY_D = "strftime(date_trunc('day', time), '%Y-%m-%dT%H:%M:%SZ')"
WEEK_D = "strftime(date_trunc('week', time), '%Y-%m-%dT%H:%M:%SZ')"
DAY_C = "formatDateTime(toStartOfDay(time), '%Y-%m-%dT%H:%i:%SZ')"
WEEK_C = "formatDateTime(toDateTime(toMonday(time), 'UTC'), '%Y-%m-%dT%H:%i:%SZ')"


def ch_rank(q, col):
    """Exact nearest-rank percentile, as ActionStore and DuckDB's quantile_disc define it.

    ClickHouse's quantileExact* take floor(q*n) (0-based), which differs when q*n is integral."""
    return f"arrayElement(arraySort(groupArray({col})), toUInt64(ceil({q} * count({col}))))"


# name -> (DuckDB SQL, chDB SQL). Column order = ActionStore's: group keys, then metrics.
QUERIES = {
    "signins_by_day_provider": (
        f"SELECT {DAY_D} AS d, provider, count(*) FROM actions WHERE action_name = 'Signed In'"
        " GROUP BY d, provider ORDER BY d, provider NULLS LAST",
        f"SELECT {DAY_C} AS d, provider, count() FROM actions WHERE action_name = 'Signed In'"
        " GROUP BY d, provider ORDER BY d, provider NULLS LAST",
    ),
    "weekly_unique_users": (
        f"SELECT {WEEK_D} AS w, count(*), count(DISTINCT user_id) FROM actions GROUP BY w ORDER BY w",
        f"SELECT {WEEK_C} AS w, count(), count(DISTINCT user_id) FROM actions GROUP BY w ORDER BY w",
    ),
    "amount_by_plan": (
        "SELECT plan, count(*), sum(amount), avg(amount) FROM actions WHERE amount IS NOT NULL"
        " GROUP BY plan ORDER BY plan NULLS LAST",
        "SELECT plan, count(), sum(amount), avg(amount) FROM actions WHERE amount IS NOT NULL"
        " GROUP BY plan ORDER BY plan NULLS LAST",
    ),
    "top10_last_7_days": (
        "SELECT action_name, count(*) AS c, count(DISTINCT user_id) FROM actions"
        " WHERE time >= TIMESTAMP '2026-09-24 00:00:00' AND time < TIMESTAMP '2026-10-01 00:00:00'"
        " GROUP BY action_name ORDER BY c DESC, action_name LIMIT 10",
        "SELECT action_name, count() AS c, count(DISTINCT user_id) FROM actions"
        " WHERE time >= toDateTime64('2026-09-24 00:00:00', 6, 'UTC')"
        " AND time < toDateTime64('2026-10-01 00:00:00', 6, 'UTC')"
        " GROUP BY action_name ORDER BY c DESC, action_name LIMIT 10",
    ),
    "one_company": (
        "SELECT action_name, count(*), count(DISTINCT user_id) FROM actions WHERE company_id = 'company-1234'"
        " GROUP BY action_name ORDER BY action_name",
        "SELECT action_name, count(), count(DISTINCT user_id) FROM actions WHERE company_id = 'company-1234'"
        " GROUP BY action_name ORDER BY action_name",
    ),
    "top_users": (
        "SELECT user_id, count(*) AS c FROM actions GROUP BY user_id ORDER BY c DESC, user_id NULLS LAST LIMIT 10",
        "SELECT user_id, count() AS c FROM actions GROUP BY user_id ORDER BY c DESC, user_id NULLS LAST LIMIT 10",
    ),
    "amount_percentiles": (
        "SELECT action_name, quantile_disc(amount, 0.5), quantile_disc(amount, 0.99) FROM actions"
        " WHERE amount IS NOT NULL GROUP BY action_name ORDER BY action_name",
        f"SELECT action_name, {ch_rank(0.5, 'amount')}, {ch_rank(0.99, 'amount')} FROM actions"
        " WHERE amount IS NOT NULL GROUP BY action_name ORDER BY action_name",
    ),
    "full_scan": (
        "SELECT count(*), count(DISTINCT user_id), count(DISTINCT company_id), sum(quantity) FROM actions",
        "SELECT count(), count(DISTINCT user_id), count(DISTINCT company_id), sum(quantity) FROM actions",
    ),
    "trial_pages_by_variant": (
        "SELECT experiment_variant, count(*), count(DISTINCT session_token) FROM actions"
        " WHERE is_trial = true AND starts_with(page_path, '/p/1')"
        " GROUP BY experiment_variant ORDER BY experiment_variant NULLS LAST",
        "SELECT experiment_variant, count(), count(DISTINCT session_token) FROM actions"
        " WHERE is_trial = true AND startsWith(page_path, '/p/1')"
        " GROUP BY experiment_variant ORDER BY experiment_variant NULLS LAST",
    ),
}


def timed(fn, repeats):
    fn()  # warm-up, as actionbench does
    times = []
    rows = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return rows, statistics.median(times) * 1000, times[max(0, math.ceil(0.99 * len(times)) - 1)] * 1000


class DuckDBPeer:
    name = "DuckDB"

    def __init__(self, work):
        self.path = os.path.join(work, "duckdb.db")
        for p in (self.path, self.path + ".wal"):
            if os.path.exists(p):
                os.remove(p)
        self.con = duckdb.connect(self.path)
        self.version = duckdb.__version__

    def load(self, source):
        cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in DUCKDB_COLUMNS.items()) + "}"
        select = FLAT_SELECT.format(time="CAST(request.time AS TIMESTAMP)", tags="metadata.tags")
        t0 = time.perf_counter()
        self.con.execute(f"CREATE TABLE actions AS SELECT {select} FROM read_ndjson('{source}', columns = {cols})")
        self.con.execute("CHECKPOINT")
        return time.perf_counter() - t0

    def compact(self):
        return None  # DuckDB compresses while it checkpoints: nothing more to do.

    def bytes(self):
        return sum(os.path.getsize(p) for p in (self.path, self.path + ".wal") if os.path.exists(p))

    def query(self, sql):
        return [list(r) for r in self.con.execute(sql).fetchall()]

    def close(self):
        self.con.close()


class ChDBPeer:
    name = "chDB"

    def __init__(self, work):
        self.path = os.path.join(work, "chdb")
        shutil.rmtree(self.path, ignore_errors=True)
        self.s = chdb_session.Session(self.path)
        self.version = chdb.__version__

    def load(self, source):
        self.s.query(CH_TABLE)
        select = FLAT_SELECT.format(time="parseDateTime64BestEffort(request.time, 6, 'UTC')", tags="metadata.tags")
        t0 = time.perf_counter()
        self.s.query(f"INSERT INTO actions SELECT {select} FROM file('{source}', 'JSONEachRow', '{CH_STRUCTURE}')")
        return time.perf_counter() - t0

    def compact(self):
        t0 = time.perf_counter()
        self.s.query("OPTIMIZE TABLE actions FINAL")
        return time.perf_counter() - t0

    def bytes(self):
        r = self.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 'actions' AND active")
        return int(r[0][0])

    def query(self, sql):
        out = self.s.query(sql + " SETTINGS output_format_json_quote_64bit_integers = 0", "JSONCompact")
        return json.loads(str(out))["data"]

    def close(self):
        self.s.close()


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return a == b


def difference(ours, theirs):
    if len(ours) != len(theirs):
        return f"{len(theirs)} rows, ActionStore has {len(ours)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if len(a) != len(b) or not all(same(x, y) for x, y in zip(a, b)):
            return f"row {i}: {b} vs ActionStore {a}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--actionbench-json", required=True)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--work", default=None, help="folder for the peers' databases (default: beside the report)")
    ap.add_argument("--out", default=None, help="write the comparison as JSON here")
    args = ap.parse_args()

    ours = json.load(open(args.actionbench_json))
    source = os.path.abspath(ours["config"]["source"])
    events = ours["config"]["events"]
    work = args.work or os.path.join(os.path.dirname(os.path.abspath(args.actionbench_json)), "peers")
    os.makedirs(work, exist_ok=True)
    our_queries = {q["name"]: q for q in ours.get("queries", [])}

    results = {}
    mismatches = []
    for peer_cls, idx in ((DuckDBPeer, 0), (ChDBPeer, 1)):
        peer = peer_cls(work)
        print(f"{peer.name} {peer.version}: loading {events} actions from {source}", file=sys.stderr)
        load_s = peer.load(source)
        compact_s = peer.compact()
        r = {
            "version": peer.version,
            "load_seconds": load_s,
            "load_actions_per_second": events / load_s,
            "compact_seconds": compact_s,
            "bytes": peer.bytes(),
            "queries": {},
        }
        r["bytes_per_action"] = r["bytes"] / events
        for name, sqls in QUERIES.items():
            rows, med, p99 = timed(lambda: peer.query(sqls[idx]), args.repeats)
            diff = difference(our_queries[name]["rows"], rows) if name in our_queries else "not run by actionbench"
            if diff:
                mismatches.append(f"{peer.name} {name}: {diff}")
            r["queries"][name] = {"median_ms": med, "p99_ms": p99, "equal": diff is None, "rows": rows}
            print(f"  {name}: {med:.2f} ms{'' if diff is None else '  DIFFERS: ' + diff}", file=sys.stderr)
        results[peer.name] = r
        peer.close()

    ing = ours.get("ingest_json") or {}
    st = ours.get("storage") or {}
    rows = [("load actions/s (higher is better)", ing.get("actions_per_second"), "load_actions_per_second", "rate")]
    rows.append(("bytes/action on disk", st.get("bytes_per_action"), "bytes_per_action", "size"))
    for name in QUERIES:
        q = our_queries.get(name)
        rows.append((f"{name} median ms", q and q["median_ms"], name, "time"))

    d, c = results["DuckDB"], results["chDB"]
    print()
    print(f"{events} actions; ratio = ActionStore / peer (rates: >1 is ours faster; sizes and times: <1 is ours better)")
    print(f"{'':34} {'ActionStore':>12} {'DuckDB':>12} {'chDB':>12} {'vs DuckDB':>10} {'vs chDB':>10}")

    def peer_value(r, key, kind):
        return r["queries"][key]["median_ms"] if kind == "time" else r[key]

    table = []
    for label, our, key, kind in rows:
        dv, cv = peer_value(d, key, kind), peer_value(c, key, kind)
        rd = our / dv if our else None
        rc = our / cv if our else None
        table.append({"metric": label, "actionstore": our, "duckdb": dv, "chdb": cv, "ratio_duckdb": rd, "ratio_chdb": rc})
        fmt = (lambda v: f"{v:12.0f}") if kind == "rate" else (lambda v: f"{v:12.2f}")
        ours_s = fmt(our) if our is not None else f"{'-':>12}"
        rds = f"{rd:10.2f}" if rd is not None else f"{'-':>10}"
        rcs = f"{rc:10.2f}" if rc is not None else f"{'-':>10}"
        print(f"{label:34} {ours_s} {fmt(dv)} {fmt(cv)} {rds} {rcs}")
    print(f"answers: {'all equal' if not mismatches else str(len(mismatches)) + ' differ'}")
    for m in mismatches:
        print("  " + m)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"events": events, "peers": results, "table": table, "mismatches": mismatches}, f, indent=2)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
