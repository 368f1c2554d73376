"""A TCP proxy that loses responses on purpose.

It sits between Kafka clients and the broker, forwards bytes both ways, and
parses the client's request frames (int32 size, int16 api_key, ...). Every
`cut_every`-th request whose API key is in `cut_keys` is forwarded to the
broker, which handles it, but its response is swallowed: the proxy waits a
moment and closes both sides. The client sees a dead connection with a
request in flight and must retry it, which is exactly the case idempotent
producers exist for. At most `max_cuts` cuts, so every run terminates.

Runs its own asyncio loop in a daemon thread; only ever connects to
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import struct
import threading

from helpers import free_port

PRODUCE = 0


class CuttingProxy:
    def __init__(self, target_port: int, cut_every: int = 5, max_cuts: int = 10,
                 cut_keys=(PRODUCE,), settle: float = 0.3):
        self.target_port = target_port
        self.cut_every = cut_every
        self.max_cuts = max_cuts
        self.cut_keys = set(cut_keys)
        # How long the broker gets to handle the request before the cut.
        self.settle = settle
        self.port = free_port()
        self.counted = 0  # requests seen with an API key in cut_keys
        self.cuts = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cutting-proxy")
        self._ready = threading.Event()
        self._server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "CuttingProxy":
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("proxy did not start")
        return self

    def stop(self) -> None:
        async def close():
            if self._server:
                self._server.close()
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel()
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def boot():
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            self._ready.set()
        self._loop.run_until_complete(boot())
        self._loop.run_forever()

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            b_reader, b_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.target_port), 10)
        except (OSError, asyncio.TimeoutError):
            c_writer.close()
            return
        cutting = asyncio.Event()

        async def upstream():
            # Client -> broker, frame by frame.
            while True:
                head = await c_reader.readexactly(4)
                (size,) = struct.unpack(">i", head)
                if size < 2 or size > 256 * 1024 * 1024:
                    raise ConnectionError(f"proxy: odd frame size {size}")
                body = await c_reader.readexactly(size)
                (api_key,) = struct.unpack(">h", body[:2])
                cut = False
                if api_key in self.cut_keys:
                    self.counted += 1
                    if self.cuts < self.max_cuts and self.counted % self.cut_every == 0:
                        cut = True
                        # Stop relaying responses before the broker can answer.
                        cutting.set()
                b_writer.write(head + body)
                await b_writer.drain()
                if cut:
                    self.cuts += 1
                    await asyncio.sleep(self.settle)
                    return

        async def downstream():
            # Broker -> client, raw bytes, until a cut is under way.
            while not cutting.is_set():
                data = await b_reader.read(65536)
                if not data or cutting.is_set():
                    return
                c_writer.write(data)
                await c_writer.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # proxy shutting down
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for w in (c_writer, b_writer):
                try:
                    w.close()
                except Exception:
                    pass
