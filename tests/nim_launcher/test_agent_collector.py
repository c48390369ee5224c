"""One reading end to end over the NVML double: events and readings in, the report out, history kept."""

import json

import pytest

from nim_launcher.agent.collector import Collector
from nim_launcher.agent.health import NO_NVML_REASON

from .nvml_double import FakeGpu, FakeNode, nvmlClocksEventReasonHwSlowdown

REPORT_KEYS = {"state", "repair", "reasons", "gpus", "xid_events", "agent_version", "reported_at"}


@pytest.fixture
def node(tmp_path) -> FakeNode:
    return FakeNode(tmp_path / "state.json", [FakeGpu(uuid="GPU-aaaa", pci_bus_id="00000000:1B:00.0"),
                                              FakeGpu(uuid="GPU-bbbb", pci_bus_id="00000000:43:00.0")])


def collect_with_nvml_events(node):
    collector = node.collector()
    events = collector.session.wait_xid_events(0, clock=node.clock)
    return collector.collect(events)


def kernel_xid(node, code, pci="0000:1b:00", after_boot_s=30.0):
    node.kernel_lines.append((after_boot_s, f"NVRM: Xid (PCI:{pci}): {code}, pid=77, name=python3, details"))


def test_report_is_json_with_the_contract_fields(node):
    report = node.collector().collect()

    assert REPORT_KEYS <= set(report)
    assert json.loads(json.dumps(report)) == report
    assert (report["state"], report["repair"], report["reasons"]) == ("healthy", "none", [])
    assert [g["uuid"] for g in report["gpus"]] == ["GPU-aaaa", "GPU-bbbb"]
    assert report["gpus"][0]["health"] == "healthy" and report["driver_version"] == "580.159.04"


def test_xid_79_event_makes_the_node_unhealthy_with_reboot_and_inspection(node):
    node.nvml.push_xid(1, 79)

    report = collect_with_nvml_events(node)

    assert report["state"] == "unhealthy"
    assert report["repair"] == "reboot"
    assert report["repair_actions"] == ["reboot", "hardware_inspection"]
    assert [(e["xid"], e["gpu"], e["source"]) for e in report["xid_events"]] == [(79, 1, "nvml")]
    assert [g["health"] for g in report["gpus"]] == ["healthy", "unhealthy"]


def test_xid_13_event_keeps_the_node_healthy_and_asks_to_check_the_app(node):
    node.nvml.push_xid(0, 13)

    report = collect_with_nvml_events(node)

    assert (report["state"], report["repair"]) == ("healthy", "check_app")


def test_xid_stays_in_the_verdict_on_later_readings(node):
    node.nvml.push_xid(0, 79)
    collect_with_nvml_events(node)
    node.clock.advance(60)

    assert node.collector().collect()["state"] == "unhealthy"


def test_xid_48_seen_again_after_two_reboots_asks_for_hardware_inspection(node):
    for boot in ("boot-1", "boot-2", "boot-3"):
        if boot != "boot-1":
            node.reboot(boot)
        kernel_xid(node, 48)
        report = node.collector().collect()

    assert report["reboots"] == 2
    assert (report["state"], report["repair"]) == ("unhealthy", "hardware_inspection")


def test_xid_48_after_one_reboot_still_asks_for_a_reboot(node):
    kernel_xid(node, 48)
    node.collector().collect()
    node.reboot("boot-2")

    assert node.collector().collect()["state"] == "healthy"
    kernel_xid(node, 48)
    assert node.collector().collect()["repair"] == "reboot"


def test_kernel_log_xid_is_matched_to_its_gpu_and_counted_once(node):
    kernel_xid(node, 79, pci="0000:43:00", after_boot_s=999.5)
    node.nvml.push_xid(1, 79)  # the same error through NVML, a second later

    report = collect_with_nvml_events(node)
    again = node.collector().collect()

    assert [(e["xid"], e["gpu"]) for e in report["xid_events"]] == [(79, 1)]
    assert len(again["xid_events"]) == 1


def test_over_temperature_gpu_makes_the_node_degraded(node):
    node.nvml.gpus[0].temperature = 93

    report = node.collector().collect()

    assert (report["state"], report["repair"]) == ("degraded", "none")
    assert "GPU 0 at 93 C" in report["reasons"][0]


def test_pending_remap_asks_for_reboot_and_failed_remap_for_inspection(node):
    node.nvml.gpus[0].remapped_rows = (0, 1, 1, 0)
    assert node.collector().collect()["repair"] == "reboot"

    node.nvml.gpus[1].remapped_rows = (0, 8, 0, 1)
    assert node.collector().collect()["repair"] == "hardware_inspection"


def test_sustained_hardware_slowdown_turns_unhealthy_after_six_minutes_of_ten(node):
    node.nvml.gpus[0].clock_event_reasons = nvmlClocksEventReasonHwSlowdown
    states = []
    for _ in range(7):
        states.append(node.collector().collect()["state"])
        node.clock.advance(60)

    assert states[:5] == ["healthy"] * 5
    assert states[5:] == ["unhealthy", "unhealthy"]


def test_brief_hardware_slowdown_is_forgotten(node):
    node.nvml.gpus[0].clock_event_reasons = nvmlClocksEventReasonHwSlowdown
    for _ in range(3):
        node.collector().collect()
        node.clock.advance(60)
    node.nvml.gpus[0].clock_event_reasons = 0
    node.clock.advance(600)

    assert node.collector().collect()["state"] == "healthy"


def test_without_nvml_the_report_is_unknown_with_the_reason(tmp_path):
    collector = Collector(session=None, unavailable_reason="NVML Shared Library Not Found",
                          state_path=tmp_path / "s.json")

    report = collector.collect()

    assert report["state"] == "unknown"
    assert report["reasons"] == [f"{NO_NVML_REASON} (NVML Shared Library Not Found)"]
    assert report["gpus"] == [] and report["xid_events"] == []


def test_a_corrupt_state_file_starts_over(node):
    node.state_path.write_text("{not json")

    assert node.collector().collect()["state"] == "healthy"
    assert json.loads(node.state_path.read_text())["boot_id"] == "boot-1"
