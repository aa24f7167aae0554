#!/bin/bash
# Scenario 2: 500 connections trickling headers + 500 trickling bodies (1 byte/s, 20 s);
# a normal webhook's latency quiet vs during; how many tricklers each server closes.
cd "$(dirname "$0")"; . ./lib.sh
N=${N:-500}; D=${D:-20}; export HEADER_DEADLINE=${HEADER_DEADLINE:-5} BODY_DEADLINE=${BODY_DEADLINE:-5}
trap 'kill $UPPID $GTPID $GEPID $UVPID $UV2PID $GRPID 2>/dev/null' EXIT
start_upstream; start_gthread; start_gevent; start_uvicorn
UVEXTRA="--http deadline_proto:DeadlineHttpToolsProtocol" UP=http://127.0.0.1:18001 $V/uvicorn asgi_pass:app --host 127.0.0.1 --port 18031 --loop uvloop --http deadline_proto:DeadlineHttpToolsProtocol --backlog 4096 --no-access-log --log-level warning 2>>logs/uvicorn.err & UV2PID=$!
UP=http://127.0.0.1:18001 $V/granian --interface asgi --host 127.0.0.1 --port 18040 --loop uvloop --backlog 4096 --log-level warning --no-ws --http 1 --http1-header-read-timeout $((HEADER_DEADLINE*1000)) asgi_pass:app 2>>logs/granian.err & GRPID=$!
for p in 18001 18010 18020 18030 18031 18040; do wait_port $p; done
declare -A NAME=([18001]="direct(upstream)" [18010]=gthread32 [18020]=gevent [18030]="uvicorn(body deadline only)" [18031]="uvicorn+header deadline" [18040]="granian(header-read-timeout)")
for p in ${PORTS:-18001 18010 18020 18030 18031 18040}; do
  echo "== ${NAME[$p]}  load $(load)"
  $V/python probe.py $p 20 | sed 's/^/quiet /'
  $V/python trickle.py $p $N headers $D > results/trk_h_$p.txt &  T1=$!
  $V/python trickle.py $p $N body $D > results/trk_b_$p.txt & T2=$!
  sleep 3; echo "open conns at 3s: $(ss -Htn state established "( sport = :$p )" | wc -l)"
  $V/python probe.py $p 10 | sed 's/^/during /'
  echo "open conns: $(ss -Htn state established "( sport = :$p )" | wc -l)  load $(load)"
  wait $T1 $T2; cat results/trk_h_$p.txt results/trk_b_$p.txt; sleep 2
done
