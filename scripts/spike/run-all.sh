#!/usr/bin/env bash
# Every run behind docs/job-engine.md, in the order they were made (about 35 minutes). Needs Redis
# :6379 and Postgres :5432 (database test); the pgbouncer block needs `pgbouncer -d pgbouncer.ini`
# (as the postgres user) and a database spike_bmq with a database-level search_path:
#   createdb -h 127.0.0.1 -U postgres spike_bmq
#   psql -h 127.0.0.1 -U postgres -c "alter database spike_bmq set search_path = bullmq_spike, public"
# Results are appended to results/results.jsonl. SKIP_PGBOUNCER=1 skips the pgbouncer block.
set -u
cd "$(dirname "$0")"
for e in bullmq pgboss graphile; do
  node bench.mjs $e latency-idle 300
  node bench.mjs $e latency-busy 300
  node bench.mjs $e hammer 20
  node bench.mjs $e delay 50
done
node bench.mjs bullmq recovery 3
node bench.mjs pgboss recovery 3
node bench.mjs graphile recovery 1
HEARTBEAT=1 node bench.mjs graphile recovery 3
node bench.mjs bullmq longrun
PGBOSS_EXPIRE=3 node bench.mjs pgboss longrun
node pgboss-hol.mjs
for e in bullmq pgboss graphile; do node bench.mjs $e hol 20; done
node bench.mjs bullmq recovery-coalesce
node bench.mjs pgboss recovery-coalesce
HEARTBEAT=1 node bench.mjs graphile recovery-coalesce
# BullMQ's Postgres backend (what the repo uses without REDIS_URL)
node bench.mjs bullmqpg latency-idle 300
node bench.mjs bullmqpg latency-busy 300
node bench.mjs bullmqpg hammer 20
node bench.mjs bullmqpg delay 50
node bench.mjs bullmqpg hol 20
node bench.mjs bullmqpg recovery 3
node bench.mjs bullmqpg recovery-coalesce
node bench.mjs bullmqpg longrun
[ "${SKIP_PGBOUNCER:-0}" = 1 ] && exit 0
export VIA_PGBOUNCER=1
for e in pgboss graphile; do
  node bench.mjs $e latency-idle 100
  node bench.mjs $e hammer 20
  node bench.mjs $e recovery 1
done
GW_PREPARED=1 node bench.mjs graphile hammer 5
HEARTBEAT=1 node bench.mjs graphile recovery 1
# BullMQ-Postgres through pgbouncer on database test: its search_path startup option is dropped
node bench.mjs bullmqpg latency-idle 100
node bench.mjs bullmqpg recovery 1
# ...and on spike_bmq, whose search_path is set on the database instead
export PG_URL=postgres://postgres@127.0.0.1:5432/spike_bmq PGBOUNCER_URL=postgres://postgres@127.0.0.1:6543/spike_bmq
node bench.mjs bullmqpg hammer 20
node bench.mjs bullmqpg recovery 1
node bench.mjs bullmqpg latency-idle 50
