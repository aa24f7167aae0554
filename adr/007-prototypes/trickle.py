"""Open N connections that trickle one byte a second (mode headers|body) for D seconds.
Reports how many were closed by the server, and when (median seconds after opening)."""
import asyncio, sys, time
host, port, n, mode, dur = "127.0.0.1", int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
closed_at = []
async def one(i):
    t0 = time.monotonic()
    try:
        r, w = await asyncio.open_connection(host, port)
        if mode == "headers":
            w.write(b"POST /webhook/fast HTTP/1.1\r\nHost: x\r\n"); drip = b"X-Slow: " + b"a" * 10000
        else:
            w.write(b"POST /webhook/fast HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"); drip = b"a" * 100000
        await w.drain()
        for b in drip:
            if time.monotonic() - t0 > dur:
                w.close(); return
            w.write(bytes([b])); await w.drain()
            try:
                d = await asyncio.wait_for(r.read(1024), 1.0)
                if d == b"" or d:
                    closed_at.append(time.monotonic() - t0); w.close(); return
            except asyncio.TimeoutError:
                pass
    except (ConnectionError, OSError):
        closed_at.append(time.monotonic() - t0)
async def main():
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one(i)))
        if i % 100 == 99: await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)
    c = sorted(closed_at)
    print(f"trickle {mode} port={port}: opened={n} closed_by_server={len(c)} median_close_s={c[len(c)//2] if c else '-'}")
asyncio.run(main())
