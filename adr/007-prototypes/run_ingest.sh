#!/bin/bash
# Scenario 3: ingest, wrk 16 connections unique bodies, D each; one redis-server (own port, temp dir).
# AOF=1: redis with appendonly yes, appendfsync everysec (the project default).
cd "$(dirname "$0")"; . ./lib.sh
D=${D:-15s}; export RPORT=16399; RD=$(mktemp -d)
if [ "${AOF:-0}" = 1 ]; then RO="--appendonly yes --appendfsync everysec"; else RO="--appendonly no"; fi
redis-server --port $RPORT --bind 127.0.0.1 --dir $RD --save '' $RO --daemonize no > logs/redis.log 2>&1 & RPID=$!
trap 'kill $RPID $P1 $P2 $P3 $P4 $P5 $P6 2>/dev/null; sleep 0.5; rm -rf $RD' EXIT
sleep 0.5
$V/uvicorn ingest_asgi:app --host 127.0.0.1 --port 18101 --loop uvloop --http httptools --no-access-log --log-level warning & P1=$!
$V/uvicorn ingest_asgi:app --host 127.0.0.1 --port 18102 --loop uvloop --http httptools --no-access-log --log-level warning --workers 2 & P2=$!
$V/gunicorn -k gevent -w 1 -b 127.0.0.1:18103 --log-level warning --worker-tmp-dir /dev/shm ingest_wsgi:app & P3=$!
$V/gunicorn -k gevent -w 2 -b 127.0.0.1:18104 --log-level warning --worker-tmp-dir /dev/shm ingest_wsgi:app & P4=$!
$V/gunicorn -k gthread --threads 32 -w 1 -b 127.0.0.1:18105 --log-level warning --worker-tmp-dir /dev/shm ingest_wsgi:app & P5=$!
[ -d node/node_modules/bullmq ] && { node node/server.js 18106 & P6=$!; }
sleep 2; for p in 18101 18102 18103 18104 18105 18106; do for i in $(seq 50); do curl -s -o /dev/null -X POST -d '{}' http://127.0.0.1:$p/webhook/orders && break; sleep 0.2; done; done
declare -A NAME=([18101]="uvicorn ASGI x1" [18102]="uvicorn ASGI x2" [18103]="gevent x1" [18104]="gevent x2" [18105]="gthread32 x1 (today)" [18106]="node+BullMQ (seed)")
for p in ${PORTS:-18106 18101 18102 18103 18104 18105 18106}; do
  curl -s -o /dev/null -X POST -d '{"warm":1}' http://127.0.0.1:$p/webhook/orders
  l0=$(load); res=$(wrk -t2 -c16 -d$D -s unique.lua http://127.0.0.1:$p/webhook/orders | grep RESULT)
  echo "${NAME[$p]} (aof=${AOF:-0}): $res | load before=$l0 after=$(load)"; sleep 2
done
echo "jobs stored: $(redis-cli -p $RPORT llen rq:queue:default) (+ bullmq)"
