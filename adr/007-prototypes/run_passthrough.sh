#!/bin/bash
# Scenario 4: passthrough added latency (upstream answers at once), concurrency 1 and 8.
cd "$(dirname "$0")"; . ./lib.sh
trap 'kill $UPPID $GTPID $GEPID $UVPID $GRPID 2>/dev/null' EXIT
start_upstream; start_gthread; start_gevent; start_uvicorn; start_granian
for p in 18001 18010 18020 18030 18040; do wait_port $p; done
declare -A NAME=([18001]=direct [18010]=gthread32 [18020]=gevent [18030]=uvicorn [18040]=granian)
pct() { awk -v q="$2% in" 'index($0,q){print $3*1000}' $1; }
for p in ${PORTS:-18001 18010 18020 18030 18040 18001}; do
  hey -c 1 -n 200 -m POST -d '{"a":1}' http://127.0.0.1:$p/webhook/fast > /dev/null
  l0=$(load)
  hey -c 1 -n ${N1:-3000} -m POST -d '{"a":1}' -T application/json http://127.0.0.1:$p/webhook/fast > results/pt1_$p.txt
  hey -c 8 -z ${D8:-8s} -m POST -d '{"a":1}' -T application/json http://127.0.0.1:$p/webhook/fast > results/pt8_$p.txt
  printf "%s: c1 p50=%.2fms p99=%.2fms | c8 rps=%s p50=%.2fms p99=%.2fms | load before=%s after=%s\n" ${NAME[$p]} \
    $(pct results/pt1_$p.txt 50) $(pct results/pt1_$p.txt 99) $(awk '/Requests\/sec/{print $2}' results/pt8_$p.txt) $(pct results/pt8_$p.txt 50) $(pct results/pt8_$p.txt 99) "$l0" "$(load)"
done
