"""The SkyPilot catalogue parser on the real shared data (or its bundled snapshot)."""

import csv
from pathlib import Path

import pytest

from marketplace.catalog.gpus import UnknownGpu, canonical_gpu
from marketplace.catalog.regions import UnmappedRegion, locate_region
from marketplace.catalog.skypilot import parse_catalog
from tests.conftest import SHARED_CATALOG

needs_shared = pytest.mark.skipif(not SHARED_CATALOG.is_dir(), reason="../shared/catalog not beside the checkout")


def _gpu_rows(cloud):
    with (SHARED_CATALOG / cloud / "vms.csv").open(newline="", encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle) if (r.get("AcceleratorName") or "").strip()]


@needs_shared
def test_every_gpu_name_and_region_in_the_data_is_mapped():
    for path in SHARED_CATALOG.glob("*/vms.csv"):
        cloud = path.parent.name
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if (row.get("AcceleratorName") or "").strip():
                    canonical_gpu(row["AcceleratorName"])
                locate_region(cloud, row.get("Region") or "")


def test_unknown_names_are_errors():
    with pytest.raises(UnknownGpu):
        canonical_gpu("TPU-v5")
    with pytest.raises(UnmappedRegion):
        locate_region("aws", "mars-north-1")


def test_parse_reports_no_gpu_or_region_problem(parsed_catalog):
    reasons = [p.reason for p in parsed_catalog.problems]
    assert not [r for r in reasons if "unknown GPU" in r or "not mapped" in r]
    assert {"aws", "gcp", "lambda", "vast", "nebius", "mithril"} <= set(parsed_catalog.partners)


def test_vast_zero_spot_means_no_spot(parsed_catalog):
    vast = [o for o in parsed_catalog.offers if o.partner == "vast"]
    assert vast and all(o.spot_price_per_hour is None for o in vast)


@needs_shared
def test_gcp_gpu_vm_price_is_host_plus_accelerator():
    rows = list(csv.DictReader((SHARED_CATALOG / "gcp" / "vms.csv").open(newline="", encoding="utf-8")))
    zone = "us-central1-a"
    host = next(r for r in rows if r["InstanceType"] == "a3-highgpu-8g" and r["AvailabilityZone"] == zone)
    acc = next(r for r in rows if r["AcceleratorName"] == "H100" and r["AcceleratorCount"] in ("8", "8.0")
               and r["AvailabilityZone"] == zone)
    offer = next(o for o in parse_catalog(SHARED_CATALOG).offers
                 if o.partner == "gcp" and o.instance_type == "a3-highgpu-8g" and o.region == "us-central1")
    assert offer.price_per_hour == pytest.approx(float(host["Price"]) + float(acc["Price"]))
    assert offer.gpus_per_node == 8 and offer.gpu == "H100"


def test_rows_without_region_become_unspecified_locations(parsed_catalog):
    seeweb_blank = [info for (p, code), info in parsed_catalog.regions.items() if p == "seeweb" and code == ""]
    assert seeweb_blank and seeweb_blank[0].country == "" and seeweb_blank[0].jurisdiction == ""


def test_malformed_rows_are_reported_not_fatal(tmp_path):
    cloud = tmp_path / "aws"
    cloud.mkdir()
    (cloud / "vms.csv").write_text(
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,SpotPrice\n"
        "ok.1,H100,1,8,64,2.5,us-east-1,\n"
        "bad.price,H100,1,8,64,abc,us-east-1,\n"
        "bad.gpu,TPU9,1,8,64,1.0,us-east-1,\n"
        "frac.gpu,L4,0.5,8,64,1.0,us-east-1,\n", encoding="utf-8")
    parsed = parse_catalog(tmp_path)
    assert [o.instance_type for o in parsed.offers] == ["ok.1"]
    assert sorted(p.line for p in parsed.problems) == [3, 4, 5]
    assert "Price 'abc' is not a number" in parsed.problems[0].reason


def test_lambda_rows_replicated_over_regions(parsed_catalog):
    lambda_h100 = {o.region for o in parsed_catalog.offers if o.partner == "lambda" and o.gpu == "H100"}
    assert len(lambda_h100) == 17


@needs_shared
def test_every_gpu_row_becomes_an_offer_or_a_reported_problem():
    parsed = parse_catalog(SHARED_CATALOG)
    for cloud in ("lambda", "vast", "shadeform", "nebius"):
        keys = {(r.get("Region", "").strip(), r["InstanceType"]) for r in _gpu_rows(cloud)}
        offers = {(o.region, o.instance_type) for o in parsed.offers if o.partner == cloud}
        problems = [p for p in parsed.problems if p.partner == cloud]
        assert len(offers) + len(problems) >= len(keys) - len(problems)
        assert offers <= keys


def test_directory_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError):
        parse_catalog(Path(tmp_path) / "missing")
