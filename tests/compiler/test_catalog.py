"""Tests of the platform catalog: coverage, sources and dates, numeric sanity, loader rules."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from svai.compiler.catalog import DEFAULT_PATH, CatalogError, load_catalog

REQUIRED = {
    "aws.lambda.zip",
    "aws.lambda.image",
    "aws.lambda.snapstart",
    "aws.sagemaker.serverless",
    "aws.sagemaker.realtime",
    "aws.ecs.fargate",
    "gcp.cloudrun.service",
    "gcp.cloudrun.functions",
    "gcp.vertex.endpoint",
    "azure.functions.flex_consumption",
    "azure.containerapps",
    "azure.ml.online_endpoint",
}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def test_required_offerings_present_on_every_cloud() -> None:
    cat = load_catalog()
    assert {o.id for o in cat.offerings()} >= REQUIRED
    for cloud in ("aws", "gcp", "azure"):
        offs = cat.offerings(cloud)
        assert offs and all(o.cloud == cloud for o in offs)
        assert {o.kind for o in offs} >= {"faas", "container"} or cloud == "aws"
    assert {o.kind for o in cat.offerings()} == {"faas", "container", "endpoint"}


def test_every_offering_has_sources_and_a_date() -> None:
    for o in load_catalog().offerings():
        assert o.sources, o.id
        assert all(s.startswith("https://") for s in o.sources), o.id
        assert DATE.match(o.as_of), (o.id, o.as_of)
    for s in load_catalog().resources():
        assert s.sources and DATE.match(s.as_of), s.id


def test_every_unverified_mark_has_a_note() -> None:
    cat = load_catalog()
    marks = [m for o in cat.offerings() for m in o.unverified]
    marks += [m for s in cat.resources() for m in s.unverified]
    assert len(marks) > 20  # the catalog is honest about what it could not confirm
    for m in marks:
        assert m.path and len(m.note.strip()) >= 8, m


def test_numeric_sanity() -> None:
    for o in load_catalog().offerings():
        lim = o.limits
        assert 0 < lim.memory_mb_min <= lim.memory_mb_max, o.id
        assert lim.vcpu_max > 0 and lim.timeout_s > 0 and lim.request_mb > 0, o.id
        assert 1 <= lim.concurrency_default <= lim.concurrency_max, o.id
        assert lim.max_instances >= 1, o.id
        for size in o.sizes:
            assert size.memory_mb > 0 and size.vcpu > 0, (o.id, size)
            if size.gpu is None:
                assert lim.memory_mb_min <= size.memory_mb <= lim.memory_mb_max, (o.id, size)
                assert size.vcpu <= lim.vcpu_max + 1e-9, (o.id, size)
            else:
                assert o.gpu.available, (o.id, size)
                o.gpu.get(size.gpu)  # every GPU size names a GPU the offering lists
        p = o.pricing
        assert 0 <= p.requests_usd_per_million < 5, o.id
        for rates in (p.active, p.idle, p.warm_idle, p.warm_busy):
            assert 0 <= rates.gb_s < 1e-3 and 0 <= rates.vcpu_s < 1e-3 and 0 <= rates.gib_s < 1e-3
        # Some compute is priced, one way or another.
        assert any(p.active.per_second(s) > 0 or s.usd_per_hour for s in o.sizes), o.id
        if p.billing == "always_on" and p.active.instance_hour:
            # 8-GPU H100 nodes (ml.p5.48xlarge, a3-highgpu-8g) list at about $100-115 an hour.
            assert all(s.usd_per_hour and 0 < s.usd_per_hour < 150 for s in o.sizes), o.id
        assert 0 < p.granularity_s <= 60 and p.min_billed_s >= 0, o.id
        cs = o.cold_start
        assert cs.platform_s >= 0 and cs.node_start_s >= 0, o.id
        if lim.scale_to_zero and p.billing != "always_on":
            assert o.keep_alive_s is not None and 60 <= o.keep_alive_s <= 3600, o.id
        if o.warm_pool.available and o.warm_pool.max is not None:
            assert o.warm_pool.max >= 1


def test_platform_facts_that_drive_decisions() -> None:
    cat = load_catalog()
    lam = cat.get("aws.lambda.zip")
    assert lam.limits.memory_mb_max == 10240 and lam.limits.timeout_s == 900
    assert lam.limits.request_mb == 6 and not lam.gpu.available
    assert lam.pricing.active.gb_s == pytest.approx(0.0000166667)
    assert lam.keep_alive_s == 600 and lam.is_unverified("keep_alive_s")
    assert not cat.get("aws.lambda.snapstart").warm_pool.available
    assert cat.get("aws.sagemaker.serverless").limits.memory_mb_max == 6144
    run = cat.get("gcp.cloudrun.service")
    assert run.gpu.get("l4").vram_gb == 24 and run.limits.concurrency_default == 80
    assert run.pricing.active.vcpu_s == pytest.approx(0.000024)
    assert cat.get("azure.functions.flex_consumption").limits.memory_mb_max == 4096
    assert {g.name for g in cat.get("azure.containerapps").gpu.types} == {"T4", "A100"}
    assert cat.gpu_runtime.import_torch_s == pytest.approx(3.4)
    assert {r.meter for r in cat.resources()} >= {"api_calls", "messages", "store", "compute"}


def test_get_unknown_and_cache_and_frozen() -> None:
    cat = load_catalog()
    assert load_catalog() is cat
    with pytest.raises(KeyError, match=r"aws\.lambda\.zip"):
        cat.get("aws.lambda.nope")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cat.get("aws.lambda.zip").keep_alive_s = 1.0  # type: ignore[misc]


def _write_variant(tmp_path: Path, mutate: object) -> Path:
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    mutate(raw)  # type: ignore[operator]
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_unverified_without_note_is_rejected(tmp_path: Path) -> None:
    def drop_note(raw: dict) -> None:  # type: ignore[type-arg]
        raw["offerings"][0]["keep_alive_s"] = {"value": 600, "unverified": True}

    with pytest.raises(CatalogError, match="without a note"):
        load_catalog(_write_variant(tmp_path, drop_note))


def test_offering_without_sources_is_rejected(tmp_path: Path) -> None:
    def drop_sources(raw: dict) -> None:  # type: ignore[type-arg]
        raw["offerings"][1]["sources"] = []

    with pytest.raises(CatalogError, match="no sources"):
        load_catalog(_write_variant(tmp_path, drop_sources))


def test_negative_price_is_rejected(tmp_path: Path) -> None:
    def negative(raw: dict) -> None:  # type: ignore[type-arg]
        raw["offerings"][0]["pricing"]["requests_usd_per_million"] = -1

    with pytest.raises(CatalogError, match="non-negative"):
        load_catalog(_write_variant(tmp_path, negative))
