"""The application under test: a real HTTP server on loopback answering every GET with N bytes.

Run as its own process (`python -m meshmark_tasks.backends.local.app --port P --payload-bytes N`);
that process is the "app" component whose CPU and memory MeshMark counts. aiohttp on uvloop keeps
a few thousand requests per second on one core well within reach, so at the profile's rates the
mesh, not the app, is what changes between cells. The response body is built once at start so the
app's per-request work is the HTTP exchange itself.

`--work-kib N` adds a fixed amount of real work to every request: SHA-256 over N KiB (a buffer built
once). It is the controlled "regression" of the fidelity benchmark: a change of known size that
the nightly statistics must see (benchmarks/bench_fidelity.py measures what it moves).

`--workdir` is not used by the server; it puts the run's working directory into the process's
command line so a leftover process can be found and attributed to its run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

HEALTH_PATH = "/healthz"


def build_app(payload_bytes: int, work_kib: int = 0) -> web.Application:
    body = b"x" * payload_bytes
    work = bytes(range(256)) * (4 * work_kib)  # work_kib KiB

    async def payload(_request: web.Request) -> web.Response:
        if work:
            hashlib.sha256(work).digest()
        return web.Response(body=body, content_type="application/octet-stream")

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_route("*", "/{tail:.*}", payload)
    return app


async def serve(host: str, port: int, payload_bytes: int, work_kib: int = 0) -> None:
    runner = web.AppRunner(build_app(payload_bytes, work_kib), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="meshmark testbed application under test")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--payload-bytes", type=int, required=True)
    parser.add_argument(
        "--work-kib", type=int, default=0, help="extra work per request: SHA-256 over this many KiB"
    )
    parser.add_argument("--workdir", default="", help="the run's working directory (for attribution)")
    args = parser.parse_args(argv)
    if args.host != "127.0.0.1":
        parser.error("the testbed app binds to 127.0.0.1 only")
    if args.work_kib < 0:
        parser.error("--work-kib must not be negative")
    loop_factory = None
    with contextlib.suppress(ImportError):  # plain asyncio is slower but correct
        import uvloop

        loop_factory = uvloop.new_event_loop
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(args.host, args.port, args.payload_bytes, args.work_kib))
    return 0


if __name__ == "__main__":
    sys.exit(main())
