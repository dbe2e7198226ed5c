"""Hostile inputs: each is refused with a clean, located ``SpecError`` and the right code.

Nothing here may raise anything but ``SpecError`` (no RecursionError, MemoryError, ValueError,
UnicodeError, yaml.YAMLError), and nothing may execute: the python-tag cases would create a
file if they ran.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from svai.diagnostics import Diagnostic
from svai.errors import SpecError
from svai.spec import load_spec, load_spec_text
from svai.spec.load import MAX_DEPTH, MAX_NODES, MAX_SPEC_BYTES

VALID = """\
version: 1
name: sentiment
model: {artifact: model/model.onnx, framework: onnx}
traffic: {pattern: steady, baseline_rps: 5}
targets: [{cloud: aws, region: us-east-1}]
"""


def refuse(data: str | bytes, file: str = "hostile.yaml") -> tuple[Diagnostic, ...]:
    """Load ``data`` and return the diagnostics of the SpecError it must raise."""
    with pytest.raises(SpecError) as caught:
        load_spec_text(data, file)
    diagnostics = caught.value.diagnostics
    assert diagnostics, "a SpecError carries at least one diagnostic"
    for diagnostic in diagnostics:
        assert diagnostic.file == file
        assert len(diagnostic.render()) < 1000, "messages stay short whatever the input"
    return diagnostics


def only(data: str | bytes) -> Diagnostic:
    """Load ``data``; it must be refused with exactly one located diagnostic."""
    diagnostics = refuse(data)
    assert len(diagnostics) == 1, [d.render() for d in diagnostics]
    return diagnostics[0]


def test_the_valid_base_loads() -> None:
    assert load_spec_text(VALID).name == "sentiment"


def billion_laughs(levels: int, fan_out: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan_out)}]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * fan_out)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused() -> None:
    text = billion_laughs(9, 9)  # 9^9 = 387 million strings if expanded
    assert len(text) < 1000
    found = only(text)
    assert found.code == "alias-bomb"
    assert found.line >= 1 and found.col >= 1


def test_alias_bomb_hidden_in_a_real_spec() -> None:
    found = only(VALID + "description: " + billion_laughs(6, 10).replace("\n", "\n  ")[:-2])
    assert found.code in ("alias-bomb", "yaml-syntax")


def test_aliases_below_the_cap_are_fine() -> None:
    text = VALID.replace("traffic:", "latency: {p95: &t 200ms, p99: *t}\ntraffic:")
    assert load_spec_text(text).latency.p99 == "200ms"


@pytest.mark.parametrize(
    "text",
    ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a\n  b: &b\n    c: *a\n    d: *b\n"],
    ids=["list-self", "map-self", "mutual"],
)
def test_cyclic_aliases_are_refused(text: str) -> None:
    assert only(text).code == "alias-bomb"


def test_long_alias_chain_is_refused_without_recursion_error() -> None:
    chain = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 3000))
    assert only(chain).code == "alias-bomb"


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!!python/name:os.system",
        "!!python/module:os",
        "!<tag:yaml.org,2002:python/object/apply:os.system>",
    ],
)
def test_python_tags_are_refused_and_never_run(tag: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = VALID + f"description: {tag} ['touch {marker}']\n"
    found = only(text)
    assert found.code == "unsafe-tag"
    assert (found.line, found.col) == (6, 14)
    assert not marker.exists()


def test_python_tag_as_the_whole_document(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    found = only(f"!!python/object/apply:os.system ['touch {marker}']\n")
    assert (found.code, found.line, found.col) == ("unsafe-tag", 1, 1)
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!!set", "!!omap", "!!binary", "!!pairs", "!custom"])
def test_other_non_plain_tags_are_refused(tag: str) -> None:
    assert only(f"description: {tag} x\n").code == "unsafe-tag"


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 10_000 + "]" * 10_000 + "\n",
        "{a: " * 10_000 + "1" + "}" * 10_000 + "\n",
        "- " * 10_000 + "x\n",
        "a:\n" + "- " * 10_000 + "x\n",
        "".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "x\n",
    ],
    ids=[
        "flow-seq-10000",
        "flow-map-10000",
        "block-seq-10000",
        "nested-block-seq-10000",
        "block-map-200",
    ],
)
def test_deep_nesting_is_refused(text: str) -> None:
    found = only(text)
    assert found.code == "too-deep"
    assert found.line >= 1 and found.col >= 1


@pytest.mark.parametrize(("depth", "refused"), [(MAX_DEPTH - 1, False), (MAX_DEPTH, True)])
def test_nesting_cap_is_exact(depth: int, refused: bool) -> None:
    # The document's own mapping is the first level.
    text = "description: " + "[" * depth + "]" * depth + "\n"
    codes = {d.code for d in refuse(VALID.replace("version", text + "version", 1))}
    assert ("too-deep" in codes) == refused


def test_ten_thousand_deep_block_mapping_is_refused_before_parsing() -> None:
    # Block mappings indent each level, so 10,000 levels cannot fit under the size cap.
    text = "".join(" " * i + f"k{i}:\n" for i in range(10_000))
    found = only(text)
    assert found.code == "file-too-large"
    assert found.line == 0  # the whole file


def test_multi_megabyte_text_is_refused() -> None:
    found = only(VALID + "description: " + "x" * (3 * 1024 * 1024) + "\n")
    assert found.code == "file-too-large"
    assert f"{MAX_SPEC_BYTES:,}" in found.message


def test_multi_megabyte_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "svai.yaml"
    with big.open("wb") as out:
        out.write(VALID.encode())
        out.seek(8 * 1024 * 1024)
        out.write(b"\n")
    with pytest.raises(SpecError) as caught:
        load_spec(big)
    (found,) = caught.value.diagnostics
    assert (found.code, found.file) == ("file-too-large", str(big))


def test_file_just_under_the_cap_is_read() -> None:
    padding = "#" * (MAX_SPEC_BYTES - len(VALID) - 2) + "\n"
    assert len((padding + VALID).encode()) <= MAX_SPEC_BYTES
    assert load_spec_text(padding + VALID).name == "sentiment"


@pytest.mark.parametrize("data", [VALID.replace("sentiment", "senti\0ment"), VALID + "\0"])
def test_nul_bytes_are_refused(data: str) -> None:
    for variant in (data, data.encode()):
        found = only(variant)
        assert found.code == "invalid-character"
        assert found.line >= 2


def test_nul_location_is_exact() -> None:
    found = only(VALID.replace("sentiment", "senti\0ment"))
    assert (found.line, found.col) == (2, 12)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (VALID.encode().replace(b"sentiment", b"sentim\xe9nt"), (2, 13)),
        (b"\xff\xfe" + VALID.encode("utf-16-le"), (1, 1)),
        (VALID.encode() + b"description: \xc3\x28\n", (6, 14)),
    ],
    ids=["latin-1", "utf-16", "truncated-sequence"],
)
def test_non_utf8_bytes_are_refused(data: bytes, where: tuple[int, int]) -> None:
    found = only(data)
    assert found.code == "encoding"
    assert (found.line, found.col) == where


def test_lone_surrogate_in_text_is_refused() -> None:
    found = only(VALID.replace("sentiment", "senti\ud800ment"))
    assert (found.code, found.line) == ("encoding", 2)


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\x7f"])
def test_control_characters_are_refused(char: str) -> None:
    found = only(VALID.replace("sentiment", f"senti{char}ment"))
    assert (found.code, found.line, found.col) == ("invalid-character", 2, 12)


def test_huge_single_scalar_gives_a_short_message() -> None:
    diagnostics = refuse(VALID.replace("sentiment", "x" * 200_000))
    assert [d.code for d in diagnostics] == ["invalid-value"]
    assert diagnostics[0].path == "name"


def test_huge_integer_is_refused_cleanly() -> None:
    diagnostics = refuse(VALID.replace("baseline_rps: 5", "baseline_rps: " + "9" * 5000))
    assert [(d.code, d.path) for d in diagnostics] == [("invalid-number", "traffic.baseline_rps")]


@pytest.mark.parametrize("count", [2, 1000])
def test_many_documents_are_refused(count: int) -> None:
    found = only("---\n" + "---\n".join([VALID] * count))
    assert found.code == "multiple-documents"
    assert found.line == 7


def test_many_empty_documents_are_refused() -> None:
    assert only("---\n" * 5000).code == "multiple-documents"


def test_many_keys_are_reported_without_blowing_up() -> None:
    text = VALID + "".join(f"k{i}: {i}\n" for i in range(5000))
    diagnostics = refuse(text)
    assert {d.code for d in diagnostics} == {"unknown-field"}
    assert len(diagnostics) == 5000


def test_wide_alias_fan_out_under_node_cap_is_not_a_bomb() -> None:
    text = VALID + "description: &d hello\nx: [" + ", ".join(["*d"] * 100) + "]\n"
    assert [d.code for d in refuse(text)] == ["unknown-field"]
    assert MAX_NODES > 100


@pytest.mark.parametrize(
    "text",
    [
        "a: *nowhere\n",
        "a: 'open\n",
        "a: [1, 2\n",
        "a:\n\t- b\n",
        "a: b: c\n",
        "%YAML 9.9\n---\na: 1\n",
    ],
)
def test_malformed_yaml_is_a_located_syntax_error(text: str) -> None:
    found = only(text)
    assert found.code == "yaml-syntax"
    assert found.line >= 1 and found.col >= 1


def test_missing_file_and_folder(tmp_path: Path) -> None:
    for path in (tmp_path / "nope.yaml", tmp_path):
        with pytest.raises(SpecError) as caught:
            load_spec(path)
        assert [d.code for d in caught.value.diagnostics] == ["file-not-found"]


def test_huge_key_gives_a_short_message() -> None:
    diagnostics = refuse(VALID + "? " + "k" * 100_000 + "\n: 1\n")
    assert [d.code for d in diagnostics] == ["unknown-field"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_device_is_refused_after_the_cap() -> None:
    # A device reports size 0, so only a bounded read stops it.
    with pytest.raises(SpecError) as caught:
        load_spec("/dev/zero")
    (found,) = caught.value.diagnostics
    assert found.code == "file-too-large"
    assert f"more than {MAX_SPEC_BYTES:,}" in found.message


def test_unreadable_path_is_a_clean_error(tmp_path: Path) -> None:
    loop = tmp_path / "svai.yaml"
    loop.symlink_to(loop)  # ELOOP: too many levels of symbolic links
    with pytest.raises(SpecError) as caught:
        load_spec(loop)
    assert [d.code for d in caught.value.diagnostics] == ["file-unreadable"]
