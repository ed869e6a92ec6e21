"""`PineconeEmulator`: a control plane and one data plane per index, in-process or standalone."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

from emulators._runtime import BackgroundServer, RateLimiter, bind_socket, start_app
from emulators.pinecone.persistence import SqliteLog
from emulators.pinecone.server import (
    DEFAULT_RATE_LIMITS,
    EMULATOR_PREFIX,
    RUNNER_OPTIONS,
    AccessPolicy,
    ControlPlane,
    DataPlane,
    IndexDescription,
    ServerSettings,
)
from emulators.pinecone.stats import StatsRegistry
from emulators.pinecone.store import IndexData, NamespaceData, Record
from emulators.pinecone.validation import MAX_DIMENSION, METRICS

logger = logging.getLogger(__name__)

_INDEX_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$")

#: Pass as `rate_limits=` to switch every rate limit off (as `--no-rate-limits` does).
NO_RATE_LIMITS: Mapping[str, float | None] = dict.fromkeys(DEFAULT_RATE_LIMITS)


@dataclass(frozen=True)
class IndexSpec:
    """One serverless index to emulate. `name` follows Pinecone's rule (1-45 characters,
    lowercase alphanumerics and '-', not starting or ending with '-')."""

    name: str
    dimension: int
    metric: str = "cosine"
    cloud: str = "aws"
    region: str = "us-east-1"
    tags: Mapping[str, str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not _INDEX_NAME.match(self.name):
            raise ValueError(
                f"invalid index name {self.name!r}: 1-45 lowercase letters, digits or '-', "
                "not starting or ending with '-'"
            )
        if isinstance(self.dimension, bool) or not 1 <= int(self.dimension) <= MAX_DIMENSION:
            raise ValueError(f"dimension must be 1-{MAX_DIMENSION}, got {self.dimension!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {self.metric!r}")


def resolve_rate_limits(
    rate_limits: Mapping[str, float | None] | bool | None,
) -> dict[str, float | None]:
    """`None`/`True`: serverless defaults; `False`: none; a mapping overrides the defaults
    operation by operation (a value of None or <= 0 switches that one off)."""
    if rate_limits is None or rate_limits is True:
        return dict(DEFAULT_RATE_LIMITS)
    if rate_limits is False:
        return dict(NO_RATE_LIMITS)
    resolved = dict(DEFAULT_RATE_LIMITS)
    for op, value in rate_limits.items():
        if op not in DEFAULT_RATE_LIMITS:
            raise ValueError(
                f"unknown rate-limit operation {op!r}; known: {', '.join(DEFAULT_RATE_LIMITS)}"
            )
        resolved[op] = float(value) if value is not None and value > 0 else None
    return resolved


def _url(host: str, port: int) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class PineconeEmulator(BackgroundServer):
    """A local Pinecone: `GET /indexes[/{name}]` on the control plane, the vector API on one
    port per index, all driven by the real `pinecone` SDK over HTTP.

    In tests: ``emu = PineconeEmulator(indexes=[IndexSpec("src", 8)], api_keys=["k"])
    .start_background()`` ... ``emu.stop()``. From the command line, `emulators.pinecone.cli`.
    """

    def __init__(
        self,
        indexes: Sequence[IndexSpec],
        api_keys: Sequence[str] | None = None,
        read_only_api_keys: Sequence[str] | None = None,
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        rate_limits: Mapping[str, float | None] | bool | None = None,
        data_dir: str | Path | None = None,
        seed: int | None = None,
        *,
        public_host: str | None = None,
        flush_interval: float = 0.05,
    ) -> None:
        # A lone string is one key, not a set of one-character keys.
        if isinstance(api_keys, str):
            api_keys = [api_keys]
        if isinstance(read_only_api_keys, str):
            read_only_api_keys = [read_only_api_keys]
        names = [spec.name for spec in indexes]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate index names in {names}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {fault_rate}")
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        self.specs = list(indexes)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.public_host = public_host
        self.flush_interval = flush_interval
        self._rng = random.Random(seed)
        self._stats = StatsRegistry(names)
        self._limiter = RateLimiter()
        self._settings = ServerSettings(
            access=AccessPolicy(frozenset(api_keys or ()), frozenset(read_only_api_keys or ())),
            stats=self._stats,
            limiter=self._limiter,
            rate_limits=resolve_rate_limits(rate_limits),
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            emulator_routes=[
                ("GET", EMULATOR_PREFIX + "stats", self._stats_handler),
                ("POST", EMULATOR_PREFIX + "reset", self._reset_handler),
                ("GET", EMULATOR_PREFIX + "health", self._health_handler),
            ],
        )
        self._indexes: dict[str, IndexData] = {}
        self._logs: list[SqliteLog] = []
        self._runners: list[web.AppRunner] = []
        self._urls: dict[str, str] = {}
        self._control_url: str | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Bind and serve on the running loop. Port 0: every plane on a free port; port P:
        control plane on P and index i on P+1+i (in declaration order)."""
        if self._runners:
            raise RuntimeError("the emulator is already started")
        sockets: list[socket.socket] = []
        try:
            sockets.append(bind_socket(host, port))
            for position in range(len(self.specs)):
                sockets.append(bind_socket(host, port + 1 + position if port else 0))
            self._open_indexes()
            advertised = self.public_host or (
                "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
            )
            ports = [sock.getsockname()[1] for sock in sockets]
            self._control_url = _url(advertised, ports[0])
            descriptions = []
            for spec, index_port in zip(self.specs, ports[1:], strict=True):
                self._urls[spec.name] = _url(advertised, index_port)
                descriptions.append(
                    IndexDescription(
                        name=spec.name,
                        dimension=spec.dimension,
                        metric=spec.metric,
                        host=self._urls[spec.name],
                        cloud=spec.cloud,
                        region=spec.region,
                        tags=dict(spec.tags) if spec.tags else None,
                    )
                )
            control = ControlPlane(descriptions, self._settings)
            control_app = control.app(random.Random(self._rng.random()))
            self._runners.append(await start_app(control_app, sockets[0], **RUNNER_OPTIONS))
            for spec, sock in zip(self.specs, sockets[1:], strict=True):
                plane = DataPlane(
                    self._indexes[spec.name],
                    self._settings,
                    fault_rng=random.Random(self._rng.random()),
                    latency_rng=random.Random(self._rng.random()),
                )
                self._runners.append(await start_app(plane.app(), sock, **RUNNER_OPTIONS))
        except BaseException:
            for sock in sockets:
                sock.close()
            await self.close()
            raise
        return self

    def _open_indexes(self) -> None:
        for spec in self.specs:
            log = None
            if self.data_dir is not None:
                log = SqliteLog(
                    self.data_dir / f"{spec.name}.sqlite3",
                    index_name=spec.name,
                    dimension=spec.dimension,
                    metric=spec.metric,
                    flush_interval=self.flush_interval,
                )
                self._logs.append(log)
            index = IndexData(spec.name, spec.dimension, spec.metric)
            if log is not None:
                for loaded in log.load():
                    data = NamespaceData(spec.dimension, explicit=loaded.explicit)
                    data.schema = loaded.schema
                    if loaded.ids:
                        records = [
                            Record(vector_id, metadata, encoded, sparse)
                            for vector_id, metadata, encoded, sparse in zip(
                                loaded.ids,
                                loaded.metadata,
                                loaded.metadata_json,
                                loaded.sparse,
                                strict=True,
                            )
                        ]
                        data.upsert(records, loaded.matrix(spec.dimension))
                    index.namespaces[loaded.name] = data
                index.log = log  # attached after loading, so loading writes nothing back
            self._indexes[spec.name] = index

    async def close(self) -> None:
        """Stop serving, then flush and close persistence. Safe to call more than once."""
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()
        logs, self._logs = self._logs, []
        if logs:
            await asyncio.get_running_loop().run_in_executor(None, _close_logs, logs)

    def __enter__(self) -> Self:
        if self._background is None and not self._runners:
            self.start_background()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ----------------------------------------------------------------------

    @property
    def control_url(self) -> str:
        """`Pinecone(api_key=..., host=emu.control_url)`."""
        if self._control_url is None:
            raise RuntimeError("the emulator is not started")
        return self._control_url

    def index_host(self, name: str) -> str:
        """`pc.Index(host=emu.index_host(name))`: the index's data plane, with `http://`."""
        try:
            return self._urls[name]
        except KeyError:
            raise KeyError(f"no index named {name!r}; indexes: {self.index_names()}") from None

    def index_names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    # --- observability ------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The same dict as `GET /_emulator/stats` (shape: `emulators.pinecone.stats`)."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero every counter and refill every rate-limit bucket."""
        self._stats.reset()
        self._limiter.reset()

    def vector_count(self, index: str, namespace: str = "") -> int:
        """Records in a namespace, read directly (for assertions; not thread-synchronised
        with in-flight requests, which is fine once the client has its answer)."""
        data = self._indexes[index].namespace(namespace)
        return len(data) if data is not None else 0

    def flush(self) -> None:
        """Block until every write so far is on disk (no-op without `data_dir`)."""
        for log in list(self._logs):
            log.flush()

    async def _stats_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats(), dumps=_dumps)

    async def _reset_handler(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return web.json_response({"reset": True}, dumps=_dumps)

    async def _health_handler(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True}, dumps=_dumps)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _close_logs(logs: list[SqliteLog]) -> None:
    errors: list[BaseException] = []
    for log in logs:
        try:
            log.close()
        except Exception as exc:
            logger.exception("pinecone emulator: closing %s failed", log.path)
            errors.append(exc)
    if errors:
        raise errors[0]


__all__ = ["NO_RATE_LIMITS", "IndexSpec", "PineconeEmulator", "resolve_rate_limits"]
