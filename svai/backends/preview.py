"""Offline preview: run a backend program under Pulumi mocks and record every resource it registers.

No ``pulumi`` CLI, no credentials and no network are needed: the Pulumi language SDK talks to an
in-process mock monitor instead of the engine. :func:`record` returns what the program asked for —
type token, logical name, inputs, parent and top-level component — in the order the program
constructed the resources, so the same program always gives the same record.

Inputs are recorded from the wire form the SDK sends to the engine, which keeps the markers the
Python values lose: a secret is shown as ``"[secret]"`` (never its value) and a value that is only
known after deployment as ``"<computed>"``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import register_stack_transformation, run_in_stack

from svai.backends.base import RecordedResource
from svai.backends.cloud import Mocks, mock_id
from svai.backends.registry import cloud_of_package

__all__ = ["COMPUTED", "SECRET", "mock_id", "record"]

COMPUTED = "<computed>"
"""How a value that is unknown until deployment is recorded."""
SECRET = "[secret]"
"""How a secret value is recorded: the value itself never enters the record."""

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_STACK_TYPE = "pulumi:pulumi:Stack"

# Mocked runs log through this logger; the SDK reports program errors by raising, so its own
# log lines are noise for a preview.
_LOG = logging.getLogger("svai.preview")


def record(
    program: Callable[[], None], *, project: str = "svai", stack: str = "plan"
) -> tuple[RecordedResource, ...]:
    """Run ``program`` under Pulumi mocks (preview mode) and return every resource it registered.

    Args:
        program: A Pulumi program: creates resources, returns nothing.
        project: Pulumi project name the program sees (``pulumi.get_project()``).
        stack: Pulumi stack name the program sees (``pulumi.get_stack()``).

    Returns:
        Custom and component resources, in construction order, with JSON-ready inputs (keys
        sorted), ``parent`` (logical name of the parent, ``None`` under the stack) and
        ``component`` (the top-level component the resource belongs to).

    Raises:
        Exception: Whatever ``program`` raised, after the run has been cleaned up.
    """
    monitor = _RecordingMonitor(_PlausibleMocks())
    order: list[tuple[str, str, str | None]] = []

    def note(args: pulumi.ResourceTransformationArgs) -> None:
        parent = args.opts.parent if args.opts is not None else None
        parent_name = None if parent is None or parent._type == _STACK_TYPE else parent._name
        order.append((args.type_, args.name, parent_name))

    def main() -> None:
        # A legacy stack transformation runs synchronously inside each constructor, so it sees
        # the program's construction order; the monitor sees registrations in whatever order
        # their inputs resolve on the thread pool.
        register_stack_transformation(note)
        program()

    _configure(monitor, project, stack)
    loop = _loop()
    with _no_source_positions():
        try:
            loop.run_until_complete(run_in_stack(main))
        finally:
            _cancel_pending(loop)
            pulumi_settings.ROOT.set(None)
    return _assemble(monitor.registrations, order)


@contextlib.contextmanager
def _no_source_positions() -> Iterator[None]:
    """Skip the stack walk Pulumi does per resource to tell the engine its source position.

    Under mocks there is no engine to tell, and the walk is ~12% of recording time. The hook is
    private SDK API: when it is absent, nothing is patched and recording is only slower.
    """
    hook = getattr(pulumi_resource, "_get_stack_trace", None)
    if hook is None:
        yield
        return
    empty = type(hook())

    pulumi_resource._get_stack_trace = lambda: empty()
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = hook


def _configure(monitor: _RecordingMonitor, project: str, stack: str) -> None:
    """Install fresh global settings so that each recording starts from a clean runtime."""
    pulumi_settings.ROOT.set(None)
    settings = pulumi_mocks.MockSettings(  # type: ignore[no-untyped-call]
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),  # type: ignore[no-untyped-call]
        engine=pulumi_mocks.MockEngine(_LOG),
        project=project,
        stack=stack,
        dry_run=True,
        organization="organization",
        root_directory=None,
        parallel=None,
        legacy_apply_enabled=False,
        callbacks=None,
        outputs=set(),
        lock=threading.Lock(),
        package_refs={},
        base_providers_by_ref={},
    )
    pulumi_settings.configure(settings)


_LOOPS = threading.local()


def _loop() -> asyncio.AbstractEventLoop:
    """This thread's recording loop, kept across recordings.

    Reusing it keeps its thread pool (the SDK runs every mock RPC on it) warm: a fresh loop per
    recording would start new threads each time.
    """
    loop: asyncio.AbstractEventLoop | None = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        loop.set_default_executor(_InlineExecutor())
        _LOOPS.loop = loop
    return loop


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each submitted call at once, on the loop's own thread.

    The SDK sends every RPC through ``run_in_executor`` because a real engine answers over
    gRPC; the mock monitor answers synchronously in microseconds, so a thread hand-off per
    resource (and the event-loop wake-ups it costs) is pure overhead. (asyncio only accepts a
    ``ThreadPoolExecutor`` as the default executor; this one never starts a thread.)
    """

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered to the awaiting coroutine, as a thread would
            future.set_exception(exc)
        return future


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failed program left behind, so the next recording starts clean."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(task)


class _Registration:
    """What the mock monitor received for one resource."""

    __slots__ = ("custom", "ignore_changes", "inputs", "name", "parent_urn", "type")

    def __init__(
        self,
        type_: str,
        name: str,
        parent_urn: str,
        custom: bool,
        inputs: dict[str, Any],
        ignore_changes: tuple[str, ...] = (),
    ) -> None:
        self.type = type_
        self.name = name
        self.parent_urn = parent_urn
        self.custom = custom
        self.inputs = inputs
        self.ignore_changes = ignore_changes


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, keeping the wire form of each registration's inputs."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, _Registration] = {}

    def RegisterResource(self, request: Any) -> Any:
        if request.type != _STACK_TYPE:
            urn = self.make_urn(request.parent, request.type, request.name)
            self.registrations[urn] = _Registration(
                request.type,
                request.name,
                request.parent,
                bool(request.custom),
                _json_struct(request.object),
                tuple(sorted(request.ignoreChanges)),
            )
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


def _json_struct(struct: Any) -> dict[str, Any]:
    return {key: _json_value(struct.fields[key]) for key in sorted(struct.fields)}


def _json_value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "null_value" or kind is None:
        return None
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return COMPUTED if value.string_value == _UNKNOWN else value.string_value
    if kind == "list_value":
        return [_json_value(item) for item in value.list_value.values]
    return _json_special(value.struct_value)


def _json_special(struct: Any) -> Any:
    """Render a struct, replacing the SDK's signed special values by readable markers."""
    if _SIG_KEY not in struct.fields:
        return _json_struct(struct)
    sig = struct.fields[_SIG_KEY].string_value
    if sig == _SECRET_SIG:
        return SECRET
    if sig == _OUTPUT_SIG:
        if struct.fields["secret"].bool_value if "secret" in struct.fields else False:
            return SECRET
        return _json_value(struct.fields["value"]) if "value" in struct.fields else COMPUTED
    if sig == _RESOURCE_SIG:
        return "ref:" + struct.fields["urn"].string_value.rsplit("::", 1)[-1]
    if sig in (_ASSET_SIG, _ARCHIVE_SIG):
        return _describe_asset(struct, "asset" if sig == _ASSET_SIG else "archive")
    return _json_struct(struct)


def _describe_asset(struct: Any, kind: str) -> str:
    """Name an asset or archive by where it comes from; inline text is shown only by its hash."""
    fields = struct.fields
    if "path" in fields:
        return f"<{kind}:path:{fields['path'].string_value}>"
    if "uri" in fields:
        return f"<{kind}:uri:{fields['uri'].string_value}>"
    if "text" in fields:
        digest = hashlib.sha256(fields["text"].string_value.encode()).hexdigest()[:16]
        return f"<{kind}:text:sha256:{digest}>"
    if "assets" in fields:
        names = ",".join(sorted(fields["assets"].struct_value.fields))
        return f"<{kind}:assets:{names}>"
    return f"<{kind}>"


def _assemble(
    registrations: Mapping[str, _Registration], order: list[tuple[str, str, str | None]]
) -> tuple[RecordedResource, ...]:
    """Attach parent and component names and sort the registrations by construction order."""
    by_urn = dict(registrations)

    def name_of(urn: str) -> str | None:
        reg = by_urn.get(urn)
        return None if reg is None else reg.name

    def component_of(urn: str) -> str | None:
        reg = by_urn[urn]
        top: str | None = None if reg.custom else reg.name
        seen = 0
        while reg.parent_urn in by_urn and seen < 64:
            reg = by_urn[reg.parent_urn]
            top = reg.name
            seen += 1
        return top

    rank: dict[tuple[str, str, str | None], int] = {}
    for index, key in enumerate(order):
        rank.setdefault(key, index)
    rows: list[tuple[int, str, RecordedResource]] = []
    for urn, reg in by_urn.items():
        parent = name_of(reg.parent_urn)
        position = rank.get((reg.type, reg.name, parent), len(order))
        resource = RecordedResource(
            type=reg.type,
            name=reg.name,
            inputs=reg.inputs,
            parent=parent,
            component=component_of(urn),
            ignore_changes=reg.ignore_changes,
        )
        rows.append((position, urn, resource))
    rows.sort(key=lambda row: (row[0], row[1]))
    return tuple(row[2] for row in rows)


class _PlausibleMocks(pulumi_mocks.Mocks):
    """Answers every registration with plausible ids and outputs so that outputs chain.

    What a cloud's resources answer is the cloud's own :class:`~svai.backends.cloud.Mocks`;
    a package no cloud owns (``docker-build``) gets an id and its name.
    """

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        mocks = _mocks_of(args.typ)
        state = mocks.state(dict(args.inputs))
        outputs = mocks.outputs(args.typ, args.name, state)
        if mocks.id_from_logical_name:
            outputs["id"] = mock_id(args.typ, args.name)
        for key, value in outputs.items():
            state.setdefault(key, value)
        return str(state["id"]), state

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        # A bare dict means "no check failures" to the mock monitor.
        return dict(_mocks_of(args.token).invokes.get(args.token, {}))


_NO_CLOUD = Mocks()


def _mocks_of(token: str) -> Mocks:
    found = cloud_of_package(token.partition(":")[0])
    return _NO_CLOUD if found is None else found.mocks
