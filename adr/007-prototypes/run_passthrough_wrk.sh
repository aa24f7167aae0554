#!/bin/bash
# Scenario 4 with wrk (µs resolution): concurrency 1 and 8, upstream answers at once.
cd "$(dirname "$0")"; . ./lib.sh
trap 'kill $UPPID $GTPID $UVPID $GRPID 2>/dev/null' EXIT
start_upstream; start_gthread; start_uvicorn; start_granian
for p in 18001 18010 18030 18040; do wait_port $p; done
declare -A NAME=([18001]=direct [18010]=gthread32 [18030]=uvicorn [18040]=granian)
for p in ${PORTS:-18001 18010 18030 18040 18001}; do
  l0=$(load)
  a=$(wrk -t1 -c1 -d${D:-6s} -s post.lua http://127.0.0.1:$p/webhook/fast | grep RESULT)
  b=$(wrk -t2 -c8 -d${D:-6s} -s post.lua http://127.0.0.1:$p/webhook/fast | grep RESULT)
  echo "${NAME[$p]}: c1 $a | c8 $b | load before=$l0 after=$(load)"
done
