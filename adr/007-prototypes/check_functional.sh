#!/bin/bash
# Functional checks of the ASGI candidate (uvicorn + asgi_pass): Flask via a2wsgi, raw path,
# SSE streamed as it comes, connection cap 503 + Retry-After, graceful SIGTERM.
cd "$(dirname "$0")"; . ./lib.sh
trap 'kill $UPPID $UVPID 2>/dev/null' EXIT
start_upstream
MAX_INFLIGHT=5 UP=http://127.0.0.1:18001 $V/uvicorn asgi_pass:app --host 127.0.0.1 --port 18030 --loop uvloop --http deadline_proto:DeadlineHttpToolsProtocol --no-access-log --log-level info --timeout-graceful-shutdown 30 2>logs/uvicorn_func.err & UVPID=$!
wait_port 18030
echo "1. Flask via a2wsgi: $(curl -s http://127.0.0.1:18030/mgmt/hello)"
echo "2. raw path+query reach upstream as sent: $(curl -s --path-as-is 'http://127.0.0.1:18030/webhook/echo/a%2Fb/%2e%2E/x%7e?sig=a%2fB%3D&q=1' -d 'hello')"
echo "3. SSE (arrival time of each event, upstream sends one every 0.5 s):"
curl -sN http://127.0.0.1:18030/webhook/sse | while IFS= read -r line; do [ -n "$line" ] && echo "   $(date +%S.%N | cut -c1-6) $line"; done
echo "4. cap MAX_INFLIGHT=5, 12 concurrent 1-s webhooks:"
for i in $(seq 12); do (curl -s -o /dev/null -D - -X POST http://127.0.0.1:18030/webhook/slow | grep -iE '^HTTP|retry-after' | tr -d '\r' | tr '\n' ' '; echo) > logs/cap_$i.txt & CP="$CP $!"; done; wait $CP; cat logs/cap_*.txt | sort | uniq -c
echo "5. graceful SIGTERM: 3 slow requests in flight, SIGTERM after 0.3 s"
for i in 1 2 3; do (curl -s -o /dev/null -w "   in-flight answered %{http_code} after %{time_total}s\n" -X POST http://127.0.0.1:18030/webhook/slow) & GP="$GP $!"; done
sleep 0.3; kill -TERM $UVPID; sleep 0.2
curl -s -o /dev/null -w "   new request during shutdown: %{http_code} (000 = refused)\n" http://127.0.0.1:18030/webhook/fast
wait $UVPID; echo "   uvicorn exited rc=$?"; wait $GP
grep -iE "shutting|waiting|finished" logs/uvicorn_func.err | sed 's/^/   log: /'
