"""Pulumi provider resources registered by type token, without importing the provider SDK.

The generated Python classes of pulumi-gcp and pulumi-azure-native cost seconds of imports
per process (one azure-native module defines hundreds of typed argument classes), more than
everything else ``svai plan`` does. The engine needs only what those classes send: the type
token, the inputs under their camelCase wire names and the provider version. A
:class:`Provider` sends exactly that through :class:`TokenResource`; the provider plugin of
the installed SDK package does the real work on ``apply``.

Backends keep writing arguments the way the SDK takes them (snake_case keyword arguments with
nested dicts) and read outputs with the SDK's snake_case names (``service.uri``,
``identity.principal_id``). :func:`create_with_sdk` builds the same resource with the SDK's own
class, which the tests use to prove both paths send the engine identical registrations.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import keyword
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import pulumi

from svai.backends.cloud import sdk_of, token_package

__all__ = [
    "Creator",
    "Provider",
    "TokenResource",
    "by_package",
    "camel",
    "create_with_sdk",
    "plugin_version",
    "sdk_class",
]

Creator = Callable[..., pulumi.CustomResource]
"""``(token, name, props, opts=None) -> resource``: how a backend creates one resource."""

_SNAKE = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    """Return the engine's camelCase name of an SDK argument.

    ``min_instance_count`` -> ``minInstanceCount``; a trailing ``_`` that dodges a Python keyword
    or the resource-name parameter (``resource_name_``) is dropped.
    """
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def plugin_version(package: str) -> str:
    """Return the version of an installed provider SDK package, as its generated classes send it.

    Read from the package's ``pulumi-plugin.json`` (the semver string the SDK's own
    ``_utilities.get_version`` derives from the distribution's metadata), without importing the
    package; falls back to the distribution metadata when the manifest is missing.

    Args:
        package: Import name, e.g. ``pulumi_gcp``.

    Raises:
        ModuleNotFoundError: The package is not installed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"No module named {package!r}", name=package)
    manifest = Path(spec.origin).with_name("pulumi-plugin.json")
    if manifest.is_file():
        return str(json.loads(manifest.read_text())["version"])
    return importlib.metadata.version(package)


class TokenResource(pulumi.CustomResource):
    """One provider resource, registered by type token with camelCase inputs.

    Outputs are attributes under their camelCase wire names; reading one with the SDK's
    snake_case name (``principal_id``) returns the camelCase output (``principalId``).
    """

    def __init__(
        self,
        token: str,
        name: str,
        inputs: Mapping[str, Any],
        *,
        version: str,
        outputs: Iterable[str] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Register resource ``name`` of type ``token``.

        Args:
            token: Pulumi type token, e.g. ``gcp:pubsub/topic:Topic``.
            name: Logical name.
            inputs: Inputs already in wire form (camelCase keys).
            version: Provider plugin version the engine must use.
            outputs: camelCase output properties to read besides the inputs.
            opts: Pulumi options.
        """
        props: dict[str, Any] = dict(inputs)
        for output in outputs:
            # A None input is not sent; it only makes the SDK expose the output attribute.
            props.setdefault(output, None)
        merged = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=version))
        super().__init__(token, name, props, merged)

    def __getattr__(self, name: str) -> Any:
        # Only reached when the attribute is missing: try the camelCase wire name.
        if name.startswith("_"):
            raise AttributeError(name)
        wire = _SNAKE.sub(lambda m: m.group(1).upper(), name.rstrip("_"))
        if wire != name:
            return getattr(self, wire)
        raise AttributeError(name)


class Provider:
    """Creates one provider package's resources by type token.

    Args:
        package: Import name of the provider SDK, e.g. ``pulumi_gcp``; only its version is read.
        outputs: Type token -> the outputs svai reads from such a resource besides ``id`` and
            its inputs (SDK snake_case names). Reading any other output raises
            ``AttributeError``, as the SDK class does for an attribute it lacks.
        data_keys: Argument names whose value, when it is a dict, is a user map: its keys are
            data (label names, environment variables, tags) and are sent as written, the way
            the SDK leaves the keys of a ``Mapping[str, ...]`` argument alone.
        names: Argument names whose wire name is not their plain camelCase
            (``instance_memory_mb`` -> ``instanceMemoryMB``).
        defaults: Type token -> top-level arguments the SDK class fills in when they are not
            given (``if hyper_v is None: hyper_v = False`` in its generated constructor).
        secret_outputs: Type token -> outputs the SDK class stores as secrets
            (``additional_secret_outputs`` of its generated constructor).
    """

    def __init__(
        self,
        package: str,
        outputs: Mapping[str, Sequence[str]],
        data_keys: Iterable[str] = (),
        names: Mapping[str, str] | None = None,
        defaults: Mapping[str, Mapping[str, Any]] | None = None,
        secret_outputs: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.package = package
        self.outputs = {token: tuple(attrs) for token, attrs in outputs.items()}
        self.data_keys = frozenset(data_keys)
        self.names = dict(names or {})
        self.defaults = {token: dict(values) for token, values in (defaults or {}).items()}
        self.secret_outputs = {t: list(names) for t, names in (secret_outputs or {}).items()}

    @cached_property
    def version(self) -> str:
        """Version of the installed provider SDK (read once, on the first resource)."""
        return plugin_version(self.package)

    def wire(self, value: Any) -> Any:
        """Return ``value`` with snake_case argument keys renamed to camelCase, user maps kept."""
        if isinstance(value, Mapping):
            return {
                self.names.get(k) or camel(k): (
                    dict(v) if k in self.data_keys and isinstance(v, Mapping) else self.wire(v)
                )
                for k, v in value.items()
                if v is not None
            }
        if isinstance(value, list | tuple):
            return [self.wire(v) for v in value]
        return value

    def create(
        self,
        token: str,
        name: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> TokenResource:
        """Register ``token`` resource ``name`` from SDK-style keyword arguments.

        Args:
            token: Pulumi type token.
            name: Logical name.
            props: The SDK constructor's keyword arguments (snake_case, nested dicts).
            opts: Pulumi options; ``ignore_changes`` take the SDK's snake_case names.
        """
        if opts is not None and opts.ignore_changes:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions())
            opts.ignore_changes = [_wire_path(p) for p in opts.ignore_changes or ()]
        secrets = self.secret_outputs.get(token)
        if secrets:
            opts = pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions(additional_secret_outputs=secrets), opts
            )
        defaults = self.defaults.get(token)
        if defaults:
            props = {**defaults, **{k: v for k, v in props.items() if v is not None}}
        return TokenResource(
            token,
            name,
            self.wire(props),
            version=self.version,
            outputs=[camel(o) for o in self.outputs.get(token, ())],
            opts=opts,
        )


def _wire_path(path: str) -> str:
    # The SDK translates a top-level argument name only; property paths go through unchanged.
    return camel(path) if re.fullmatch(r"[a-z][a-z0-9_]*", path) else path


def sdk_class(token: str) -> type[pulumi.CustomResource]:
    """Return the provider SDK's generated class of ``token``, importing its submodule.

    The reference path only (tests prove :class:`Provider` sends the same registrations); a
    plan never calls it. Tokens look like ``gcp:cloudrunv2/service:Service``,
    ``azure-native:app:ContainerApp`` or ``aws:lambda/function:Function``.
    """
    package, module_path, class_name = token.split(":")
    module = module_path.split("/")[0]
    if keyword.iskeyword(module):
        module += "_"
    # ``index`` is the package's top level (``docker-build:index:Image``).
    name = sdk_of(package) + ("" if module == "index" else f".{module}")
    sdk = importlib.import_module(name)
    cls: type[pulumi.CustomResource] = getattr(sdk, class_name)
    return cls


def by_package(*providers: Provider) -> Creator:
    """Return a creator that registers each token with the provider of its package.

    A deployment mixes packages (a cloud's resources and ``docker-build``'s image build); each
    registration must carry its own package's version.
    """
    packages = {token_package(p.package): p for p in providers}

    def create(
        token: str,
        name: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> pulumi.CustomResource:
        return packages[token.split(":", 1)[0]].create(token, name, props, opts)

    return create


def create_with_sdk(
    token: str,
    name: str,
    props: Mapping[str, Any],
    opts: pulumi.ResourceOptions | None = None,
) -> pulumi.CustomResource:
    """Create ``token`` resource ``name`` with the SDK's own class.

    Same signature as :meth:`Provider.create`, so a test can swap it in for the token path.
    """
    return sdk_class(token)(name, opts=opts, **props)
