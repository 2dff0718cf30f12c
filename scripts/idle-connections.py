#!/usr/bin/env python3
"""Holds N idle keep-alive connections to a proxy and reports its memory.

Each connection sends one request (so it is past the head timeout and counts as an
idle keep-alive connection, as a browser's would), reads the response, then stays open.
Prints the proxy's RSS before, with all N held, and the cost per connection.

    scripts/idle-connections.py --port 8080 --pid $(pgrep -f 'gatehouse serve') -n 10000 \
        --header 'Authorization: Bearer …' --path /_api/hello
Raise the open-file limit first (ulimit -n 30000): both sides hold N descriptors.
"""
import argparse, asyncio, resource, sys, time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def one(host, port, request, held, failures):
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if length:
            await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 2"):
            failures.append(head.split(b"\r\n")[0])
        held.append(writer)
    except Exception as error:  # noqa: BLE001 - counted, reported
        failures.append(repr(error))


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("--path", default="/")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--hold", type=float, default=5.0, help="seconds to hold before measuring")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.n + 1000)), hard))
    request = (f"GET {a.path} HTTP/1.1\r\nHost: bench.test\r\n" + "".join(h + "\r\n" for h in a.header) + "\r\n").encode()
    before = rss_kb(a.pid)
    held, failures = [], []
    started = time.time()
    for i in range(0, a.n, 500):
        await asyncio.gather(*(one(a.host, a.port, request, held, failures) for _ in range(min(500, a.n - i))))
    await asyncio.sleep(a.hold)
    with_all = rss_kb(a.pid)
    alive = sum(1 for w in held if not w.is_closing())
    print(f"connections held: {alive} of {a.n} (failures: {len(failures)}{', first: ' + str(failures[0]) if failures else ''}) in {time.time() - started:.1f} s")
    print(f"proxy RSS: {before / 1024:.1f} MB before, {with_all / 1024:.1f} MB with them held, "
          f"{(with_all - before) / max(alive, 1):.2f} kB per connection")
    for w in held:
        w.close()
    return 0 if alive == a.n and not failures else 1


sys.exit(asyncio.run(main()))
