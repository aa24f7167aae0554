# helpers: start servers on 127.0.0.1, tree RSS, hey summary
V="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/venv/bin"
rss_tree() { # KB of pid and its descendants
  local p=$1; local pids="$p $(pgrep -P $p | tr '\n' ' ')"; for c in $(pgrep -P $p); do pids="$pids $(pgrep -P $c | tr '\n' ' ')"; done
  ps -o rss= -p $(echo $pids | tr ' ' ',') 2>/dev/null | awk '{s+=$1} END{print s}'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
heysum() { # file -> rps p50 p99 errors
  awk '/Requests\/sec/{r=$2} /50% in/{p50=$3} /99% in/{p99=$3} /\[200\]/{ok=$2} /Error distribution/{e=1} END{printf "rps=%s p50=%ss p99=%ss ok=%s", r, p50, p99, ok}' "$1"
  grep -A3 "Error distribution" "$1" | tail -n +2 | head -3 | sed 's/^/   err:/' ; }
start_upstream() { if [ "${UPNODE:-1}" = 1 ]; then node node/upstream.js 18001 & UPPID=$!; else $V/python upstream.py 18001 & UPPID=$!; fi; }
start_gthread() { UP=http://127.0.0.1:18001 POOL=32 $V/gunicorn -k gthread --threads 32 -w ${1:-1} -b 127.0.0.1:18010 --backlog 4096 --timeout 120 --worker-tmp-dir /dev/shm --log-level warning wsgi_pass:app 2>>logs/gthread.err & GTPID=$!; }
start_gevent() { UP=http://127.0.0.1:18001 POOL=2000 $V/gunicorn -k gevent --worker-connections 2000 -w ${1:-1} -b 127.0.0.1:18020 --backlog 4096 --timeout 120 --worker-tmp-dir /dev/shm --log-level warning wsgi_pass:app 2>>logs/gevent.err & GEPID=$!; }
start_uvicorn() { UP=http://127.0.0.1:18001 $V/uvicorn asgi_pass:app --host 127.0.0.1 --port 18030 --loop uvloop --http httptools --backlog 4096 --no-access-log --log-level warning --workers ${1:-1} ${UVEXTRA} 2>>logs/uvicorn.err & UVPID=$!; }
start_granian() { UP=http://127.0.0.1:18001 $V/granian --interface asgi --host 127.0.0.1 --port 18040 --loop uvloop --backlog 4096 --workers ${1:-1} --log-level warning --no-ws asgi_pass:app 2>>logs/granian.err & GRPID=$!; }
wait_port() { for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$1/webhook/fast && return 0; sleep 0.2; done; echo "port $1 not up"; }
