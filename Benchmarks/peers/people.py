#!/usr/bin/env python3
"""A 3-step funnel and an 8-week retention in chDB (windowFunnel; cohorts by first start week)
beside ActionStore's answers, on the same NDJSON actions.

Usage: Benchmarks/peers/.venv/bin/python Benchmarks/peers/people.py \
         --actionbench-json bench-out/actionbench-10000000.json [--repeats 5] [--work DIR]
The report (actionbench run --phases queries --json FILE) holds ActionStore's medians and answers of
QuerySuite's funnel_pricing_signup_purchase (Viewed Pricing → Clicked Sign Up → Purchased a
Subscription, window 7d) and retention_signup_signin_8w (start Clicked Sign Up, return Signed In,
week, 8 periods), both over 2026-07-01..2026-10-01; the NDJSON it names is loaded into chDB.
A person is user_id, else anonymous_id, as in ActionStore. Answers compared: users per step, and
(cohort, users, period, returned) per row.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import ChDBPeer, timed  # noqa: E402

RANGE = "time >= toDateTime64('2026-07-01 00:00:00', 6, 'UTC') AND time < toDateTime64('2026-10-01 00:00:00', 6, 'UTC')"

FUNNEL = f"""
SELECT level, count() FROM (
  SELECT coalesce(user_id, anonymous_id) AS person,
         windowFunnel(604800000000)(toUInt64(toUnixTimestamp64Micro(time)),
           action_name = 'Viewed Pricing', action_name = 'Clicked Sign Up',
           action_name = 'Purchased a Subscription') AS level
  FROM actions
  WHERE {RANGE} AND person IS NOT NULL
    AND action_name IN ('Viewed Pricing', 'Clicked Sign Up', 'Purchased a Subscription')
  GROUP BY person)
WHERE level > 0 GROUP BY level ORDER BY level
"""

RETENTION = f"""
SELECT toString(cohort), users, period, returned FROM (
  SELECT cohort, period, count() AS users, countIf(has(weeks, addWeeks(cohort, period))) AS returned
  FROM (
    SELECT coalesce(user_id, anonymous_id) AS person,
           toMonday(minIf(time, action_name = 'Clicked Sign Up')) AS cohort,
           groupUniqArrayIf(toMonday(time), action_name = 'Signed In') AS weeks
    FROM actions
    WHERE {RANGE} AND person IS NOT NULL AND action_name IN ('Clicked Sign Up', 'Signed In')
    GROUP BY person HAVING countIf(action_name = 'Clicked Sign Up') > 0)
  ARRAY JOIN range(8) AS period
  GROUP BY cohort, period)
WHERE addWeeks(cohort, period) < toDate('2026-10-01')
ORDER BY cohort, period
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--actionbench-json", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--work", default="/tmp/people-peers")
    a = ap.parse_args()
    report = json.load(open(a.actionbench_json))
    ours = {q["name"]: q for q in report["queries"]}
    source = report["config"]["source"]
    os.makedirs(a.work, exist_ok=True)
    ch = ChDBPeer(a.work)
    print(f"chDB {ch.version}: loading {source}", flush=True)
    print(f"  load {ch.load(source):.1f} s", flush=True)
    ch.compact()
    levels, f_ms, _ = timed(lambda: ch.query(FUNNEL), a.repeats)
    cohorts, r_ms, _ = timed(lambda: ch.query(RETENTION), a.repeats)
    counts = {int(l): int(n) for l, n in levels}
    theirs_f = [sum(n for l, n in counts.items() if l >= k) for k in (1, 2, 3)]
    f = ours["funnel_pricing_signup_purchase"]
    ours_f = [r[1] for r in f["rows"]]
    theirs_r = [[c[:10], int(u), int(p), int(m)] for c, u, p, m in cohorts]
    r = ours["retention_signup_signin_8w"]
    ours_r = [[row[0][:10], row[1], row[2], row[3]] for row in r["rows"]]
    for name, ours_ms, ch_ms, same in (
        ("funnel", f["median_ms"], f_ms, ours_f == theirs_f),
        ("retention", r["median_ms"], r_ms, ours_r == theirs_r),
    ):
        print(f"{name:10} ActionStore {ours_ms:8.1f} ms  chDB {ch_ms:8.1f} ms  ratio {ours_ms / ch_ms:5.2f}  "
              f"answers {'equal' if same else 'DIFFER'}")
    if ours_f != theirs_f:
        print(f"  funnel users: ours {ours_f} chDB {theirs_f}")
    for x, y in zip(ours_r, theirs_r):
        if x != y:
            print(f"  retention first difference: ours {x} chDB {y}")
            break
    ch.close()


if __name__ == "__main__":
    main()
