"""Load ``svai.yaml`` safely and report every problem with its ``file:line:col``.

Safety comes before parsing: the file size is capped, NUL bytes and invalid UTF-8 are refused,
and a scan of the YAML *events* (which does not build anything) refuses deep nesting, non-standard
tags such as ``!!python/object`` and multiple documents. Only then is the document composed; while
converting it to plain data we refuse duplicate keys, merge keys and alias expansions that would
blow up (billion laughs), and record where every key and value sits. pydantic then validates, and
:mod:`svai.spec.explain` maps its errors back to those positions with hints ("did you mean
`latency`?").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import ValidationError

from svai.diagnostics import Diagnostic
from svai.errors import SpecError
from svai.spec.checks import cross_check
from svai.spec.explain import KeyPath, SourceMap, dotted, from_pydantic
from svai.spec.features import unknown_features
from svai.spec.formats import artifact_problem, folder_problem
from svai.spec.model import Spec
from svai.spec.paths import escape, local_paths
from svai.spec.regions import unknown_regions
from svai.spec.units import quote

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_SPEC_BYTES",
    "load_document",
    "load_spec",
    "load_spec_text",
]

MAX_SPEC_BYTES = 256 * 1024
"""Largest accepted spec file; real specs are a few KB."""
MAX_DEPTH = 32
"""Deepest accepted nesting of mappings and sequences."""
MAX_NODES = 20_000
"""Most nodes the document may expand to once aliases are followed."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STANDARD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {f"{_STANDARD}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_KEEP_AS_TEXT = {f"{_STANDARD}timestamp"}


class _Refused(Exception):
    """Internal: stop composing and report this diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def load_spec(path: str | Path) -> Spec:
    """Read, check and validate a ``svai.yaml`` file.

    Raises:
        SpecError: with every problem found, each located in the file.
    """
    file = Path(path)
    name = str(path)
    try:
        size = file.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError([_too_large(name, size)])
        # Read one byte past the cap: a device or pipe (`/dev/zero`, `<(...)`) reports no size.
        with file.open("rb") as stream:
            data = stream.read(MAX_SPEC_BYTES + 1)
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError([_too_large(name, len(data), at_least=True)])
    except FileNotFoundError:
        raise SpecError(
            [
                Diagnostic(
                    "file-not-found",
                    f"no such file: {name}",
                    name,
                    hint="run `svai init` to create one",
                )
            ]
        ) from None
    except IsADirectoryError:
        raise SpecError(
            [Diagnostic("file-not-found", f"{name} is a folder, not a file", name)]
        ) from None
    except OSError as error:
        raise SpecError(
            [Diagnostic("file-unreadable", f"cannot read {name}: {error.strerror}", name)]
        ) from None
    return load_spec_text(data, name, project=file.resolve().parent)


def load_spec_text(
    data: str | bytes, file: str = "<string>", *, project: Path | None = None
) -> Spec:
    """Check and validate spec text (``bytes`` are decoded as UTF-8).

    With ``project`` (the folder the spec's relative paths resolve against), every local file the
    spec names is also held to the path policy of :mod:`svai.spec.paths` (``path-escapes``).

    Raises:
        SpecError: with every problem found, each located in the text.
    """
    document, source, problems = _read(data, file)
    if not isinstance(document, dict):
        line, col = source.position(())
        problems.append(
            Diagnostic(
                "wrong-type", "the document must be a mapping of keys to values", file, line, col
            )
        )
        raise SpecError(problems)
    try:
        spec = Spec.model_validate(document)
    except ValidationError as error:
        problems.extend(from_pydantic(error, source, document))
        raise SpecError(sorted(problems, key=lambda d: (d.line, d.col, d.path))) from None
    semantic = (("cross-field", cross_check(spec)), ("unknown-region", unknown_regions(spec)))
    problems.extend(
        Diagnostic(
            code,
            f.message,
            file,
            *source.position(f.path),
            path=dotted(f.path),
            hint=f.hint,
        )
        for code, findings in semantic
        for f in findings
    )
    if project is not None:
        escapes = list(_escapes(spec, project, source))
        problems.extend(escapes)
        if not escapes:
            problems.extend(_unservable(spec, project, source))
            problems.extend(
                Diagnostic(
                    "unknown-feature",
                    message,
                    file,
                    *source.position(key_path),
                    path=dotted(key_path),
                    hint="name a field of the request body as api.input_schema declares it",
                )
                for key_path, message in unknown_features(spec, project)
            )
    if problems:
        raise SpecError(sorted(problems, key=lambda d: (d.line, d.col, d.path)))
    return spec


def _escapes(spec: Spec, project: Path, source: SourceMap) -> Iterator[Diagnostic]:
    """A ``path-escapes`` diagnostic for each named file that leaves the project folder."""
    for key_path, relative in local_paths(spec):
        reason = escape(project, relative)
        if reason is not None:
            yield Diagnostic(
                "path-escapes",
                reason,
                source.file,
                *source.position(key_path),
                path=dotted(key_path),
                hint="keep the file inside the folder of svai.yaml (copy it in, not a link out)",
            )


def _unservable(spec: Spec, project: Path, source: SourceMap) -> Iterator[Diagnostic]:
    """A ``model-unservable`` diagnostic when svai cannot serve the local model artifact.

    A remote artifact is judged by ``svai check`` (``SVAI_READY_017``) from its name, and by
    ``svai build`` once it is fetched.
    """
    model = spec.model
    if "://" in model.artifact:
        return
    problem = artifact_problem(model.framework, model.artifact)
    folder = project.resolve().joinpath(*PurePosixPath(model.artifact).parts)
    # A GPU engine serves the folder as it is (svai.spec.engines); the ONNX export's limits
    # apply to CPU packages only.
    exported = not spec.gpu.required
    if problem is None and model.framework == "transformers" and folder.is_dir() and exported:
        problem = folder_problem(project, model.artifact, model.task)
    if problem is not None:
        yield Diagnostic(
            "model-unservable",
            problem.reason,
            source.file,
            *source.position(("model", "artifact")),
            path="model.artifact",
            hint=problem.hint,
        )


def load_document(data: str | bytes, file: str = "<string>") -> Any:
    """Read spec text safely into the plain data that pydantic (and the JSON Schema) validate.

    Used to compare svai with other validators on exactly the same data.

    Raises:
        SpecError: the text is refused while reading (before any validation).
    """
    document, _, problems = _read(data, file)
    if problems:
        raise SpecError(problems)
    return document


def _read(data: str | bytes, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    """Decode, scan, compose and build; return the data, its positions and reading problems."""
    text = _decode(data, file)
    _scan_events(text, file)
    source = SourceMap(file)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        raise SpecError([_syntax(error, file)]) from None
    if node is None:
        raise SpecError(
            [
                Diagnostic(
                    "empty-file",
                    "the file is empty",
                    file,
                    1,
                    1,
                    hint="run `svai init` for a starter spec",
                )
            ]
        )
    builder = _Builder(source, loader)
    try:
        document = builder.build(node, ())
    except _Refused as refused:
        raise SpecError([refused.diagnostic]) from None
    return document, source, list(builder.problems)


# ---- before parsing ---------------------------------------------------------------------------


def _too_large(file: str, size: int, *, at_least: bool = False) -> Diagnostic:
    return Diagnostic(
        "file-too-large",
        f"the file is {f'more than {MAX_SPEC_BYTES:,}' if at_least else f'{size:,}'} bytes; "
        f"a spec may be at most {MAX_SPEC_BYTES:,}",
        file,
        hint="a svai.yaml describes one deployment in a few KB; move data into referenced files",
    )


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _decode(data: str | bytes, file: str) -> str:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([_too_large(file, len(raw))])
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as error:
            # A lone surrogate cannot come from a file; it cannot be written as UTF-8 either.
            raise SpecError(
                [
                    Diagnostic(
                        "encoding",
                        f"character U+{ord(data[error.start]):04X} is not valid Unicode text",
                        file,
                        *_line_col(data, error.start),
                        hint="save the file as UTF-8",
                    )
                ]
            ) from None
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            good = data[: error.start].decode("utf-8", "replace")
            line, col = _line_col(good, len(good))
            raise SpecError(
                [
                    Diagnostic(
                        "encoding",
                        f"byte 0x{data[error.start]:02x} is not valid UTF-8",
                        file,
                        line,
                        col,
                        hint="save the file as UTF-8",
                    )
                ]
            ) from None
    else:
        text = data
    nul = text.find("\0")
    if nul >= 0:
        raise SpecError(
            [
                Diagnostic(
                    "invalid-character",
                    "the file contains a NUL byte",
                    file,
                    *_line_col(text, nul),
                    hint="a spec is plain text; remove the NUL byte",
                )
            ]
        )
    return text


def _syntax(error: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = error.problem or "invalid YAML"
    context = f" ({error.context})" if error.context else ""
    return Diagnostic(
        "yaml-syntax",
        f"{problem}{context}",
        file,
        line,
        col,
        hint="check indentation and quoting around here",
    )


def _scan_events(text: str, file: str) -> None:
    depth = 0
    documents = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise SpecError(
                        [
                            Diagnostic(
                                "multiple-documents",
                                "the file holds more than one YAML document",
                                file,
                                *_mark(event),
                                hint="keep one document per svai.yaml (remove the `---` separator)",
                            )
                        ]
                    )
            tag = getattr(event, "tag", None)
            if tag is not None and tag not in _ALLOWED_TAGS and tag != "!":
                raise SpecError(
                    [
                        Diagnostic(
                            "unsafe-tag",
                            f"the tag `{_short_tag(tag)}` is not allowed",
                            file,
                            *_mark(event),
                            hint="svai reads plain YAML only: strings, numbers, booleans, lists and mappings",
                        )
                    ]
                )
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise SpecError([_too_deep(file, *_mark(event))])
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as error:
        if "maximum nesting depth" in str(error.problem):
            # libyaml's own depth guard fires before our event count reaches MAX_DEPTH when a
            # flow collection is scanned ahead; it is the same refusal.
            mark = error.problem_mark
            position = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise SpecError([_too_deep(file, *position)]) from None
        raise SpecError([_syntax(error, file)]) from None
    except yaml.reader.ReaderError as error:  # control characters: no mark, only an offset
        raise SpecError(
            [
                Diagnostic(
                    "invalid-character",
                    f"{error.reason} (found U+{error.character:04X})"
                    if isinstance(error.character, int)
                    else f"invalid character: {error.reason}",
                    file,
                    *_line_col(text, error.position),
                    hint="a spec is plain text; remove the control character",
                )
            ]
        ) from None
    except yaml.YAMLError as error:
        raise SpecError(
            [Diagnostic("yaml-syntax", str(error).splitlines()[0], file, 1, 1)]
        ) from None


_DEEP_HINT = "a svai.yaml is a few levels deep; this looks generated or hostile"


def _too_deep(file: str, line: int, col: int) -> Diagnostic:
    return Diagnostic(
        "too-deep", f"nesting is deeper than {MAX_DEPTH} levels", file, line, col, hint=_DEEP_HINT
    )


def _mark(event: yaml.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_STANDARD) :] if tag.startswith(_STANDARD) else tag


# ---- composing to plain data ------------------------------------------------------------------


class _Builder:
    """Turn composed YAML nodes into plain data, recording positions and refusing what is unsafe."""

    def __init__(self, source: SourceMap, loader: yaml.SafeLoader) -> None:
        self.source = source
        self.loader = loader
        self.problems: list[Diagnostic] = []
        self.expanded = 0
        self.sizes: dict[int, int] = {}

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self._count(node)
        self.source.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        self.source.texts[path] = node.value
        if node.tag in _KEEP_AS_TEXT:
            return node.value
        value = self._scalar(node, path)
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            # JSON (and so JSON Schema) has one number type: `retries: 3.0` is the integer 3.
            return int(value)
        return value

    def _scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError):
            # e.g. an integer of thousands of digits, which Python refuses to convert
            self.source.reported.add(path)
            shown = node.value if len(node.value) <= 24 else f"{node.value[:20]}..."
            self.problems.append(
                Diagnostic(
                    "invalid-number",
                    f"`{shown}` ({len(node.value):,} characters) is not a usable number",
                    self.source.file,
                    node.start_mark.line + 1,
                    node.start_mark.column + 1,
                    dotted(path),
                    "write a number of ordinary size, or quote it if it is text",
                )
            )
            return None

    def _count(self, node: yaml.Node) -> None:
        # Aliases share nodes, so the *expanded* size is what a naive consumer would walk.
        self.expanded += self._size(node)
        if self.expanded > MAX_NODES:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            raise _Refused(
                Diagnostic(
                    "alias-bomb",
                    f"the document expands to more than {MAX_NODES:,} values through aliases",
                    self.source.file,
                    line,
                    col,
                    hint="remove the anchors (&) and aliases (*) that multiply each other",
                )
            )

    def _size(self, node: yaml.Node) -> int:
        # Expanded subtree size, memoised per node: linear in the composed graph.
        key = id(node)
        cached = self.sizes.get(key)
        if cached is not None:
            return cached
        self.sizes[key] = MAX_NODES + 1  # a cycle expands forever
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._size(item) for item in node.value)
        else:
            size = 1
        self.sizes[key] = size
        return size

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if key_node.tag == f"{_STANDARD}merge":
                self.problems.append(
                    Diagnostic(
                        "merge-key",
                        "merge keys (`<<`) are not supported",
                        self.source.file,
                        line,
                        col,
                        dotted(path),
                        "write the keys out, or use an alias (*name) for a whole value",
                    )
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(
                    Diagnostic(
                        "invalid-key",
                        "a key must be a plain string, not a list or a mapping",
                        self.source.file,
                        line,
                        col,
                        dotted(path),
                    )
                )
                continue
            if key_node.tag != f"{_STANDARD}str":
                # YAML 1.1 reads `yes:`, `1:` and `~:` as a boolean, an integer and null.
                self.problems.append(
                    Diagnostic(
                        "invalid-key",
                        f"a key must be a string; YAML reads {quote(key_node.value)} as "
                        f"{_TAG_NAMES.get(key_node.tag, 'a non-string')}",
                        self.source.file,
                        line,
                        col,
                        dotted(path),
                        f'quote it: "{key_node.value}"'
                        if len(key_node.value) <= 60
                        else "quote it",
                    )
                )
                continue
            key = key_node.value
            if key in first_seen:
                self.problems.append(
                    Diagnostic(
                        "duplicate-key",
                        f"duplicate key {quote(key)} (first at line {first_seen[key]})",
                        self.source.file,
                        line,
                        col,
                        dotted((*path, str(key))),
                        "YAML keeps only the last one; remove or merge the duplicates",
                    )
                )
                continue
            first_seen[key] = line
            child = (*path, key)
            self.source.keys[child] = (line, col)
            result[key] = self.build(value_node, child)
        return result


_TAG_NAMES = {
    f"{_STANDARD}int": "an integer",
    f"{_STANDARD}float": "a number",
    f"{_STANDARD}bool": "a boolean",
    f"{_STANDARD}null": "null",
    f"{_STANDARD}timestamp": "a date",
}


def iter_paths(document: Any, prefix: KeyPath = ()) -> Iterator[KeyPath]:
    """Yield the path of every value in plain ``document`` (used by tests and fuzzers)."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from iter_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from iter_paths(value, (*prefix, index))
