#!/bin/bash
# Scenario 1: upstream answers after 1 s; C concurrent senders for D; direct vs each gateway, one run.
cd "$(dirname "$0")"; . ./lib.sh
C=${C:-1000}; D=${D:-15s}
trap 'kill $UPPID $GTPID $GEPID $UVPID $GRPID $GE2 $UV2 $GR2 2>/dev/null' EXIT
start_upstream; start_gthread; start_gevent; start_uvicorn; start_granian
UP=http://127.0.0.1:18001 POOL=2000 $V/gunicorn -k gevent --worker-connections 2000 -w 2 -b 127.0.0.1:18022 --backlog 4096 --timeout 120 --worker-tmp-dir /dev/shm --log-level warning wsgi_pass:app 2>>logs/gevent.err & GE2=$!
UP=http://127.0.0.1:18001 $V/uvicorn asgi_pass:app --host 127.0.0.1 --port 18032 --loop uvloop --http httptools --backlog 4096 --no-access-log --log-level warning --workers 2 2>>logs/uvicorn.err & UV2=$!
UP=http://127.0.0.1:18001 $V/granian --interface asgi --host 127.0.0.1 --port 18042 --loop uvloop --backlog 4096 --workers 2 --log-level warning --no-ws asgi_pass:app 2>>logs/granian.err & GR2=$!
for p in 18001 18010 18020 18030 18040 18022 18032 18042; do wait_port $p; done
declare -A PID=([18001]=$UPPID [18010]=$GTPID [18020]=$GEPID [18030]=$UVPID [18040]=$GRPID [18022]=$GE2 [18032]=$UV2 [18042]=$GR2)
declare -A NAME=([18001]=direct [18010]=gthread32 [18020]=gevent [18030]=uvicorn [18040]=granian [18022]=gevent_x2 [18032]=uvicorn_x2 [18042]=granian_x2)
for p in ${PORTS:-18001 18010 18020 18030 18040 18001}; do
  idle=$(rss_tree ${PID[$p]}); l0=$(load)
  hey -c $C -z $D -t 30 -m POST -d '{"a":1}' -T application/json http://127.0.0.1:$p/webhook/slow > results/slow_$p.txt &
  HP=$!; sleep 8; busy=$(rss_tree ${PID[$p]}); conns=$(ss -Htn state established "( sport = :$p )" | wc -l)
  wait $HP
  echo "${NAME[$p]}: $(heysum results/slow_$p.txt) | rss idle=${idle}KB busy=${busy}KB open=${conns} per_conn=$(( (busy-idle)*1000/ (conns>0?conns:1) ))B | load before=$l0 after=$(load)"
  sleep 3
done
