"""The ``model`` section: the artifact to serve, its fallback and how to prepare it."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from svai.spec.model.base import FieldError, Strict
from svai.spec.model.scalars import (
    REL_PATH_PATTERN,
    Duration,
    EntryPoint,
    Fraction,
    Framework,
    RelPath,
    Requirement,
    Size,
    check_rel_path,
)
from svai.spec.source import SOURCE_PATTERN, parse_source, pin_problem

__all__ = ["Fallback", "Model", "Optimize", "Trust"]


class Optimize(Strict):
    """Build-time optimisation of the model artifact."""

    quantize: Literal["none", "int8", "fp16"] = "none"
    """Weight quantisation; int8 is dynamic quantisation, checked against fp32 before it is kept."""
    max_accuracy_drop: Fraction = 0.01
    """Largest accuracy loss (0-1) quantisation may cost; beyond it svai keeps fp32 and says so."""


class Trust(Strict):
    """Explicit trust for pickle-family artifacts (pickle, joblib, torch .pt), which can run code."""

    pickle: bool = False
    """Allow a pickle-family artifact; requires ``sha256``."""
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    """The artifact's SHA-256 (64 lowercase hex digits); loading refuses any other file."""

    @model_validator(mode="after")
    def _pinned(self) -> Trust:
        if self.pickle and self.sha256 is None:
            raise FieldError("pickle", "trusting a pickle-family artifact requires its `sha256`")
        return self


def _check_artifact(value: object) -> object:
    if not isinstance(value, str):
        return value
    if "://" not in value:
        return check_rel_path(value.rstrip("/") if value.endswith("/") else value)
    parse_source(value)  # raises ValueError with the accepted form
    return value


Artifact = Annotated[
    str,
    BeforeValidator(_check_artifact),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"pattern": REL_PATH_PATTERN}, {"pattern": SOURCE_PATTERN}],
            "examples": [
                "./model/model.onnx",
                "s3://bucket/model.onnx?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                "gs://bucket/model.onnx#1712345678901234",
                "https://account.blob.core.windows.net/models/model.onnx",
                "hf://org/name@0123456789abcdef0123456789abcdef01234567",
            ],
        }
    ),
]


class Fallback(Strict):
    """What answers when the main model fails or is too slow: a smaller model or a rules function."""

    model: Artifact | None = None
    """Artifact of a smaller model (same forms as ``model.artifact``); a remote one is fetched at
    build and ships in the package, so it answers when the store or the network cannot."""
    framework: Framework | None = None
    """Framework of the fallback model; defaults to the main model's."""
    rules: EntryPoint | None = None
    """A rules function ``path.py:function`` that answers without a model."""
    after: Duration | None = None
    """Answer from the fallback when the main model has not answered by then (default: on error)."""

    @model_validator(mode="after")
    def _one_source(self) -> Fallback:
        if (self.model is None) == (self.rules is None):
            raise ValueError(
                "give exactly one of `model` (a smaller model) or `rules` (a function)"
            )
        problem = pin_problem(parse_source(self.model), None) if self.model else None
        if problem is not None:
            raise FieldError("model", f"{problem[0]}; pin the store's version in the location")
        return self


class Model(Strict):
    """The model to serve and how to prepare it."""

    artifact: Artifact
    """Where the model is: a relative path, ``s3://BUCKET/KEY[?versionId=]``,
    ``gs://BUCKET/OBJECT[#GENERATION]``, ``https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH``
    or ``hf://ORG/NAME@<commit>[/PATH]``; a trailing ``/`` names a folder."""
    revision: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")] | None = None
    """Pinned revision (a 40-hex commit) for ``hf://`` artifacts; or write ``hf://org/name@rev``."""
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    """SHA-256 of the artifact (of a folder: of its manifest); pins a remote artifact, and the build
    refuses any other bytes."""
    allow_moving_revision: bool = False
    """Accept an ``hf://`` branch or tag revision that can move between builds (warned about)."""
    fetch: Literal["auto", "build", "start"] = "auto"
    """Where the prepared model lives: ``build`` packages it; ``start`` uploads it to the
    deployment's bucket by digest and the runtime fetches and verifies it at start (containers and
    endpoints); ``auto`` picks ``start`` above the offering's size threshold in the catalog."""
    engine: Literal["auto", "transformers", "vllm"] = "auto"
    """What serves the model in a GPU package (``gpu.required``): ``vllm`` (text generation),
    ``transformers`` (torch; generation, classification, embedding) or ``auto`` (vLLM for
    ``task: text-generation``, transformers otherwise)."""
    framework: Framework
    """Framework the artifact was produced with; decides the loader and the build-time conversion."""
    task: (
        Literal["classification", "regression", "embedding", "text-generation", "vision", "other"]
        | None
    ) = None
    """What the model does; shapes defaults such as batching and the fallback's answer."""
    size: Size | None = None
    """Declared artifact size (``svai bench`` measures it); drives cold-start fetch time."""
    memory: Size | None = None
    """Declared peak memory when serving; drives instance sizing."""
    load_time: Duration | None = None
    """Declared time to load the model in a fresh process (measured by ``svai bench``)."""
    inference_time: Duration | None = None
    """Declared warm time of one prediction (measured by ``svai bench``)."""
    optimize: Optimize | None = None
    """Build-time optimisation (quantisation)."""
    preprocess: EntryPoint | None = None
    """Function run on the validated payload before the model: ``src/pre.py:prepare``."""
    postprocess: EntryPoint | None = None
    """Function run on the model output before the response: ``src/post.py:format``."""
    prompt_templates: list[RelPath] = Field(default_factory=list, max_length=64)
    """Prompt template files; versioned with the model (a change is a new version)."""
    include: list[RelPath] = Field(default_factory=list, max_length=256)
    """Files or folders the hooks read at run time (``data/vocab.json``, ``assets/``): copied
    into the package at the same relative path and versioned with the model."""
    requirements: list[Requirement] = Field(default_factory=list, max_length=128)
    """Python packages the hooks import, pinned (``tokenizers==0.21.1``): installed in the
    package (Lambda zip with ``--vendor-deps``, image, ``svai serve``'s environment) and
    versioned with the model."""
    fallback: Fallback | None = None
    """What answers when the model fails or is too slow."""
    trust: Trust | None = None
    """Explicit trust for pickle-family artifacts."""

    @model_validator(mode="after")
    def _checks(self) -> Model:
        try:
            source = parse_source(self.artifact, self.revision)
        except ValueError as exc:
            raise FieldError("revision", str(exc)) from None
        problem = pin_problem(source, self.sha256, allow_moving=self.allow_moving_revision)
        if problem is not None:
            raise FieldError("artifact", f"{problem[0]}; {problem[1]}")
        pickled = self.artifact.rsplit(".", 1)[-1].lower() in {
            "pkl",
            "pickle",
            "joblib",
            "pt",
            "pth",
        }
        if pickled and not (self.trust and self.trust.pickle):
            raise FieldError(
                "artifact",
                "pickle-family artifacts can run code when loaded; convert to ONNX, or set "
                "`trust: {pickle: true, sha256: <hash>}`",
            )
        return self

    @model_validator(mode="after")
    def _one_pin_per_package(self) -> Model:
        seen: dict[str, str] = {}
        for requirement in self.requirements:
            name = re.sub(r"[-_.]+", "-", requirement.split("==")[0].split("[")[0]).lower()
            if name in seen:
                raise FieldError(
                    "requirements", f"{seen[name]} and {requirement} pin the same package twice"
                )
            seen[name] = requirement
        return self
