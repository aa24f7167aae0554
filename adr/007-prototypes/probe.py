"""Send K normal webhooks one after another, each on a new connection; print median and max ms
(timeouts at 5 s count as 5000 ms)."""
import http.client, sys, time
port, k = int(sys.argv[1]), int(sys.argv[2]); lat = []; fail = 0
for _ in range(k):
    t = time.perf_counter()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("POST", "/webhook/fast", body=b'{"a":1}', headers={"Content-Type": "application/json"})
        r = c.getresponse(); r.read(); c.close()
        if r.status != 200: fail += 1
    except Exception:
        fail += 1; lat.append(5000); continue
    lat.append((time.perf_counter() - t) * 1000)
    time.sleep(0.1)
lat.sort(); print(f"probe port={port}: median={lat[len(lat)//2]:.1f}ms max={lat[-1]:.1f}ms failed={fail}/{k}")
