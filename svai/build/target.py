"""One target's artifact: the runtime code, the platform's entry point and packaging.

Per target: the whole of ``svai.runtime`` (derived from the package, not listed by hand), the
user's hooks and the model, ``svai_runtime.json``, pinned ``requirements.txt``, then either a
reproducible ``function.zip`` with the platform's entry point (the Lambda handler, ``main.py``
for Cloud Run functions, ``function_app.py`` + ``host.json`` for Azure Functions; checked
against the Lambda size limits) or a container build context (``Dockerfile`` rendered by
jinja2, ``.dockerignore``), and ``manifest.json`` with every file's sha256. A target is
assembled in a scratch folder beside its final place and renamed into place only when complete.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2

from svai.build.artifact import (
    CONFIG_NAME,
    MANIFEST_NAME,
    MODEL_NAME,
    MODEL_TARBALL,
    REQUIREMENTS_NAME,
    ZIP_NAME,
    FileEntry,
    file_entry,
    json_bytes,
    tarball,
    target_key,
    write_file,
    zip_bytes,
)
from svai.build.cache import wheelhouse
from svai.build.config import SERVER_PORT
from svai.build.gpu import CUDA_BASE_IMAGE, GPU_PYTHON, gpu_requirements, image_estimate
from svai.build.lock import lock
from svai.build.model import PreparedModel
from svai.build.openapi import OPENAPI_NAME, openapi_document
from svai.build.placement import fetch_at_start, manifest_entry, start_fetch, write_weights
from svai.compiler.recommendation import TargetRecommendation
from svai.compiler.streaming import STREAM_BOOTSTRAP, stream_url
from svai.errors import UsageError
from svai.spec.engines import Engine, EngineProblem, gpu_engine
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "AZURE_PYTHON",
    "BASE_IMAGE",
    "IMAGE_UID",
    "LAMBDA_PYTHON",
    "LAMBDA_UNZIPPED_LIMIT",
    "LAMBDA_ZIP_LIMIT",
    "TargetBuild",
    "build_target",
    "render",
    "shared_files",
]


# AWS Lambda quotas: 50 MB for a zip uploaded directly, 250 MB unzipped (code and layers).
MIB = 1024 * 1024


LAMBDA_ZIP_LIMIT = 50 * MIB


LAMBDA_UNZIPPED_LIMIT = 250 * MIB


BASE_IMAGE = "python:3.11.11-slim-bookworm"


IMAGE_PYTHON = BASE_IMAGE.split(":")[1].split("-")[0]
"""The image's Python ("3.11.11"): its lock evaluates markers such as python_full_version."""


IMAGE_UID = 10001


# Vendored wheels must match the interpreter that runs the zip: the AWS backend's Lambda runtime
# (python3.12) and the Azure backend's Flex Consumption runtime (3.11); a test keeps them equal.
LAMBDA_PYTHON = "3.12"


AZURE_PYTHON = "3.11"


AZURE_SITE = ".python_packages/lib/site-packages"


# The Python each function platform runs the zip with (GCP: the backend's python312 runtime).
_FUNCTION_PYTHON = {"aws": LAMBDA_PYTHON, "gcp": "3.12", "azure": AZURE_PYTHON}


# Function zips: the platform's entry-point library, per cloud.
_FUNCTION_DEPS = {
    "aws": "aws-lambda-powertools",
    "gcp": "functions-framework",
    "azure": "azure-functions",
}


SERVER_PACKAGES = ("httptools",)
OTEL_PACKAGES = ("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http")
"""What the server's OTLP export needs (``observability.tracing: otel``; images only)."""
"""What the HTTP server needs beyond the core (the image ships it; ``svai serve`` adds it)."""
"""What the container HTTP server needs beyond the core (its HTTP/1.1 parser)."""

_PACKAGE_INIT = '"""svai runtime package, copied by ``svai build``."""\n'


@dataclass(frozen=True, slots=True)
class TargetBuild:
    """What ``svai build`` wrote for one target."""

    target: str
    package: str
    offering: str
    directory: Path
    files: tuple[FileEntry, ...]
    zip_bytes: int | None
    notes: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        """Bytes of every file in the target folder (the zip included)."""
        return sum(f.bytes for f in self.files) + (self.zip_bytes or 0)


def shared_files(model: PreparedModel, hooks: dict[str, Path]) -> dict[str, bytes]:
    """The files every target carries but its config: model, runtime code and the user's hooks.

    Read once per build, not once per target.
    """
    files = _runtime_code()
    for relative, source in sorted(hooks.items()):
        files[relative] = source.read_bytes()
    if model.data is not None:
        files[MODEL_NAME] = model.data
    files.update(model.files)
    return files


def build_target(
    spec: ResolvedSpec,
    rec: TargetRecommendation,
    version: str,
    model: PreparedModel,
    config: dict[str, Any],
    shared: dict[str, bytes],
    final: Path,
    *,
    vendor_deps: bool,
) -> TargetBuild:
    """Assemble one target's folder under ``final`` (atomically: staged, then renamed).

    Raises:
        UsageError: a zip over the Lambda limits, a failed dependency vendoring.
    """
    package, cloud = rec.choice.package, rec.cloud
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        notes: list[str] = list(model.notes)
        if model.data is not None:
            # Pinned: the runtime refuses a model file that is not the one built here. The task's
            # contract (labels, tokenizer, image processor) comes from the prepared model.
            pinned = {"sha256": model.info["sha256"], **model.runtime}
            config = {**config, "model": {**config["model"], **pinned}}
        engine = gpu_engine(spec)
        # The OpenAI routes reach an engine only where svai's HTTP server is the front (a
        # container); managed endpoints pass their one scoring path.
        # On AWS a SageMaker endpoint's proxy passes the generation routes to /invocations too.
        streamed = stream_url(spec, rec.choice.offering)
        openai_task = (
            engine.task
            if isinstance(engine, Engine) and (rec.choice.kind == "container" or streamed)
            else None
        )
        document = openapi_document(
            spec,
            version,
            config["model"],
            config["api"]["input_schema"],
            _model_io(model),
            mode=rec.choice.mode,
            openai_task=openai_task,
        )
        if streamed:  # the proxy serves POST routes only: no GET /v1/models behind it
            document["paths"].pop("/v1/models", None)
        # The proxy/front-door zips never load the model: their config names no source.
        zip_config = json_bytes(config)
        weights: dict[str, bytes | Path] = dict(model.weights)
        if model.data is not None:
            weights[MODEL_NAME] = model.data
        fetched = None
        if weights and fetch_at_start(spec, rec, int(model.info["bytes"])):
            source = start_fetch(rec.cloud, model.info["sha256"], weights)
            config = {**config, "model": {**config["model"], "source": source}}
            fetched = manifest_entry(source)
            shared = {k: v for k, v in shared.items() if k not in weights}
            write_weights(final.parent, weights)
            notes.append(
                f"model not packaged ({source['bytes']:,} bytes): the runtime fetches it at start "
                f"from the deployment's bucket (${source['bucket_env']}) and checks its sha256"
            )
        else:  # a GPU engine's folder, read only now that it is packaged
            shared = {**shared, **{k: v.read_bytes() for k, v in model.weights.items()}}
        runtime = {**shared, CONFIG_NAME: json_bytes(config), OPENAPI_NAME: json_bytes(document)}
        wheels = wheelhouse()
        front = _requirements(spec, (_FUNCTION_DEPS[cloud], *model.requirements))
        front = lock(front, _FUNCTION_PYTHON[cloud], wheels)
        otel = OTEL_PACKAGES if spec.observability.tracing == "otel" else ()
        server = (*SERVER_PACKAGES, *otel, *model.requirements)
        served = lock(_requirements(spec, server), IMAGE_PYTHON, wheels)
        requirements = front if package == "zip" else served
        if isinstance(engine, Engine):
            # The CUDA stack is pinned by svai/build/gpu.py for the GPU image's Python; its
            # closure cannot be read here (no CUDA wheels installed), so it is not locked.
            requirements = gpu_requirements(engine, spec.model.requirements, otel)
        extra: dict[str, bytes] = {REQUIREMENTS_NAME: requirements.encode()}
        if package == "zip":
            runtime.update(_function_entry(cloud, spec))
            members = dict(runtime)
        elif cloud == "aws" or rec.choice.mode == "async":
            # The async front door (and on AWS the endpoint proxy) are small zip functions beside
            # the image/endpoint: their zip carries the code and config, not the model.
            members = {k: v for k, v in runtime.items() if k != MODEL_NAME and k not in weights}
            members.update({CONFIG_NAME: zip_config, **_function_entry(cloud, spec)})
            if stream_url(spec, rec.choice.offering):  # the streaming function's start script
                members[STREAM_BOOTSTRAP] = render(f"{STREAM_BOOTSTRAP}.j2").encode()
        else:
            members = {}
        zipped = None
        if members:
            members.update(_function_deps(cloud, front, staging, vendor_deps, notes))
            zipped = zip_bytes(members, frozenset({STREAM_BOOTSTRAP}))
            if cloud == "aws":
                _check_lambda_size(len(zipped), sum(len(v) for v in members.values()))
        image = None
        if package != "zip":
            extra["Dockerfile"] = _dockerfile(spec, version, engine).encode()
            if isinstance(engine, Engine):
                baked = 0 if fetched is not None else int(model.info["bytes"])
                image = image_estimate(engine, baked)
                notes.append(
                    f"GPU image ({engine.name} on {rec.choice.gpu or spec.gpu.type}, "
                    f"{CUDA_BASE_IMAGE}): about {image['total_mb'] / 1000:,.1f} GB installed "
                    "(estimate; no image is built here)"
                )
            extra[".dockerignore"] = render("dockerignore.j2", extra=[]).encode()
            if package == "model":
                notes.append(
                    "managed endpoint: this is its serving container (SageMaker /invocations "
                    "and /ping, Vertex AI AIP_* routes, Azure ML /score)"
                )
        if cloud == "aws":
            # The versioned artifact in S3 (and a SageMaker model's ModelDataUrl): model, config,
            # hooks and runtime code, as a reproducible tar.gz.
            extra[MODEL_TARBALL] = tarball(runtime)
        files = dict(sorted({**runtime, **extra}.items()))
        for relative, data in files.items():
            write_file(staging, relative, data)
        entries = tuple(file_entry(relative, data) for relative, data in files.items())
        manifest_data = _manifest(spec, rec, version, model, entries, zipped, notes)
        if fetched is not None:
            manifest_data["model"] = {**manifest_data["model"], "packaged": False}
            manifest_data["start_fetch"] = fetched
        if image is not None:
            manifest_data["image"] = image
        manifest = json_bytes(manifest_data)
        write_file(staging, MANIFEST_NAME, manifest)
        if zipped is not None:
            write_file(staging, ZIP_NAME, zipped)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TargetBuild(
        target=target_key(rec.cloud, rec.region),
        package=package,
        offering=rec.choice.offering,
        directory=final,
        files=(*entries, file_entry(MANIFEST_NAME, manifest)),
        zip_bytes=len(zipped) if zipped is not None else None,
        notes=tuple(notes),
    )


def _model_io(model: PreparedModel) -> dict[str, Any] | None:
    """A raw ONNX model's input names (with ranks) and output names, for its OpenAPI document."""
    if model.data is None or model.runtime.get("task", "raw") != "raw":
        return None
    import onnx

    graph = onnx.load_model_from_string(model.data).graph
    initializers = {i.name for i in graph.initializer}
    inputs = {
        i.name: len(i.type.tensor_type.shape.dim) for i in graph.input if i.name not in initializers
    }
    return {"inputs": inputs, "outputs": [o.name for o in graph.output]}


def _runtime_code() -> dict[str, bytes]:
    """Every module of ``svai.runtime``: what ships is the package, not a list kept by hand.

    The server lets `svai serve` run any build, zips included; every build carries the entry
    points (Lambda handlers, the async front door, the queue workers) and the cloud data-plane
    clients, because the zip functions beside an image and the image's worker run from the same
    code.
    """
    root = Path(__file__).resolve().parent.parent / "runtime"
    files = {"svai/__init__.py": _PACKAGE_INIT.encode()}
    for source in sorted(root.rglob("*.py")):
        relative = source.relative_to(root.parent.parent).as_posix()
        files[relative] = source.read_bytes()
    return files


def _function_entry(cloud: str, spec: ResolvedSpec) -> dict[str, bytes]:
    """The entry point a function platform looks for at the zip's root (Lambda's is in entry/)."""
    if cloud == "gcp":
        return {"main.py": render("gcp_main.py.j2").encode()}
    if cloud == "azure":
        # Function keys are Azure Functions' api keys; iam and jwt are checked by the platform's
        # built-in authentication before a request reaches the function (see the Azure backend).
        level = "FUNCTION" if spec.api.auth == "api-key" else "ANONYMOUS"
        return {
            "function_app.py": render("azure_function_app.py.j2", auth_level=level).encode(),
            "host.json": render("azure_host.json.j2").encode(),
        }
    return {}


def _function_deps(
    cloud: str, requirements: str, staging: Path, vendor: bool, notes: list[str]
) -> dict[str, bytes]:
    """What a function zip carries besides code: requirements, or the dependencies themselves."""
    if cloud == "gcp":
        # Cloud Run functions install requirements.txt from the source zip when they build.
        notes.append(
            "Cloud Run functions install requirements.txt (inside the zip) when they build"
            + ("; --vendor-deps is not needed there" if vendor else "")
        )
        return {REQUIREMENTS_NAME: requirements.encode()}
    if cloud == "azure":
        # A Flex Consumption app runs the package blob as uploaded (no remote build), so its
        # dependencies must be inside, where the Python worker looks for them.
        members = {REQUIREMENTS_NAME: requirements.encode()}
        if vendor:
            vendored = _vendor(requirements, staging, AZURE_PYTHON)
            members.update({f"{AZURE_SITE}/{k}": v for k, v in vendored.items()})
            notes.append(f"dependencies vendored into the zip under {AZURE_SITE}")
        else:
            notes.append(
                "dependencies are not in the package: Flex Consumption runs it as uploaded; "
                "rebuild with --vendor-deps (svai apply does)"
            )
        return members
    if vendor:
        notes.append("dependencies vendored into the zip (manylinux2014_x86_64 wheels)")
        return _vendor(requirements, staging, LAMBDA_PYTHON)
    notes.append(
        "dependencies are not in the Lambda zip: requirements.txt lists them; attach them as a "
        "Lambda layer or rebuild with --vendor-deps (needs the package index)"
    )
    return {}


def _requirements(spec: ResolvedSpec, extra: Sequence[str]) -> str:
    """The artifact's ``requirements.txt``: the runtime's pins, then the spec's own.

    The runtime's packages are pinned to the versions installed here; the ones the spec
    declares for its hooks (``model.requirements``) follow, pinned as declared.

    Raises:
        UsageError: a declared pin of a package the runtime itself pins to another version.
    """
    # redis: SVAI_CACHE_STORE may point any built artifact at a Redis (Memorystore, Azure Cache).
    names = {"numpy", "onnxruntime", "orjson", "redis", *extra}
    if spec.model.task == "embedding":
        names.add("tokenizers")
    pins: dict[str, str] = {}
    for name in sorted(names):
        try:
            pins[_canonical(name)] = f"{name}=={importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            pins[_canonical(name)] = (
                f"{name}  # not installed where this was built: pin it yourself"
            )
    declared: list[str] = []
    for requirement in spec.model.requirements:
        name = _canonical(requirement.split("==", 1)[0].split("[", 1)[0])
        ours = pins.get(name)
        if ours is not None and ours.split("  #")[0].split("==")[-1] != requirement.split("==")[-1]:
            raise UsageError(
                f"model.requirements: {requirement} conflicts with the runtime's own pin {ours}; "
                f"drop it (the runtime installs {name}) or pin the same version"
            )
        if ours is None:
            declared.append(requirement)
    lines = ["# Generated by svai build: pinned to the versions svai was tested with here."]
    lines += list(pins.values())
    if declared:
        lines.append("# Declared by the spec (model.requirements) for its hooks.")
        lines += declared
    return "\n".join(lines) + "\n"


def _canonical(name: str) -> str:
    """A distribution name as pip compares it (PEP 503: case and runs of -_. folded)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _vendor(requirements: str, staging: Path, python: str) -> dict[str, bytes]:
    """Install the requirements for a Linux x86_64 CPython ``python`` ("3.11") as zip members."""
    work = staging / ".vendor"
    work.mkdir()
    req = work / "requirements.txt"
    req.write_text(requirements, encoding="utf-8")
    target = work / "site"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
        "--platform", "manylinux2014_x86_64", "--implementation", "cp",
        "--python-version", python,
        "--only-binary=:all:", "--target", str(target), "-r", str(req),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UsageError(
            "--vendor-deps: pip could not download the dependencies (it needs the package "
            f"index):\n{done.stderr.strip()[-2000:]}"
        )
    members: dict[str, bytes] = {}
    for path in sorted(target.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            members[path.relative_to(target).as_posix()] = path.read_bytes()
    shutil.rmtree(work)
    return members


def _check_lambda_size(zipped: int, unzipped: int) -> None:
    if zipped > LAMBDA_ZIP_LIMIT or unzipped > LAMBDA_UNZIPPED_LIMIT:
        raise UsageError(
            f"the Lambda zip is {zipped / MIB:,.1f} MiB zipped and {unzipped / MIB:,.1f} MiB "
            f"unzipped; Lambda allows {LAMBDA_ZIP_LIMIT / MIB:,.0f} MiB zipped (direct upload) "
            f"and {LAMBDA_UNZIPPED_LIMIT / MIB:,.0f} MiB unzipped. Use a container image "
            "(targets[].runtime: container) or a smaller/quantised model"
        )


def _dockerfile(spec: ResolvedSpec, version: str, engine: Engine | EngineProblem | None) -> str:
    """The image's Dockerfile: the slim CPU image, or the CUDA image of a GPU engine."""
    command = ["python", "-m", "svai.runtime.server", "--config", f"/app/{CONFIG_NAME}"]
    common = {
        "image_name": spec.name,
        "model_version": version,
        "port": SERVER_PORT,
        "uid": IMAGE_UID,
        "healthcheck": _healthcheck(),
        "command": command,
    }
    if isinstance(engine, Engine):
        return render(
            "Dockerfile.gpu.j2",
            base_image=CUDA_BASE_IMAGE,
            python=GPU_PYTHON,
            engine=engine.name,
            **common,
        )
    return render("Dockerfile.j2", base_image=BASE_IMAGE, **common)


def _healthcheck() -> list[str]:
    probe = (
        "import os, urllib.request; "
        "urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), "
        "timeout=2)"
    )
    return ["python", "-c", probe]


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # not HTML: values enter only through the `json` filter or as ints
        keep_trailing_newline=True,
    )
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=True)
    return env


def render(template: str, **values: Any) -> str:
    """Render one of ``templates/`` (strict: an undefined value is an error)."""
    return _environment().get_template(template).render(**values)


def _manifest(
    spec: ResolvedSpec,
    rec: TargetRecommendation,
    version: str,
    model: PreparedModel,
    entries: tuple[FileEntry, ...],
    zipped: bytes | None,
    notes: list[str],
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": spec.name,
        "description": spec.description,
        "model_version": version,
        "target": target_key(rec.cloud, rec.region),
        "offering": rec.choice.offering,
        "package": rec.choice.package,
        "model": model.info,
        "remote": list(model.remote),
        "files": [asdict(e) for e in entries],
        "zip": asdict(file_entry(ZIP_NAME, zipped)) if zipped is not None else None,
        "notes": notes,
    }
