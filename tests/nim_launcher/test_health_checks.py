"""Health rules as pure functions: Xid severities and escalation, temperature, remapping, slowdown."""

import pytest

from nim_launcher.agent.health import (
    NO_NVML_REASON,
    evaluate,
    memory_findings,
    slowdown_findings,
    temperature_findings,
    unavailable,
    xid_findings,
)
from nim_launcher.agent.readings import GpuReading
from nim_launcher.agent.xid import catalogue, xid_rule

NOW = 1_000_000.0


def xid(code, at=NOW - 60, gpu=0, **extra):
    return {"kind": "xid", "xid": code, "at": at, "gpu": gpu, **extra}


def reboot(at):
    return {"kind": "reboot", "at": at}


def gpu(**fields):
    return GpuReading(index=fields.pop("index", 0), uuid="GPU-a", **fields)


def verdict(history=(), gpus=None, slowdown=None):
    return evaluate(gpus or [gpu()], history, slowdown or {}, NOW)


def test_no_findings_is_healthy_with_no_repair():
    result = verdict()

    assert (result.state, result.repair, result.reasons) == ("healthy", "none", ())


def test_xid_79_is_unhealthy_with_reboot_then_hardware_inspection():
    result = verdict([xid(79)])

    assert result.state == "unhealthy"
    assert result.repair == "reboot"
    assert result.repair_actions == ("reboot", "hardware_inspection")
    assert "Xid 79" in result.reasons[0] and "fallen off the bus" in result.reasons[0]


def test_xid_13_is_healthy_and_asks_to_check_the_app():
    result = verdict([xid(13)])

    assert (result.state, result.repair) == ("healthy", "check_app")


def test_unlisted_xid_is_a_warning_with_no_action():
    assert xid_rule(2).severity == "warning" and xid_rule(2).actions == ()
    assert (verdict([xid(2)]).state, verdict([xid(2)]).repair) == ("healthy", "none")


def test_worst_recent_event_decides():
    result = verdict([xid(13, at=NOW - 30), xid(48, at=NOW - 120), xid(92, at=NOW - 10)])

    assert (result.state, result.repair) == ("unhealthy", "reboot")
    assert result.reasons[0].startswith("Xid 48")


def test_a_reboot_clears_a_rebooting_xid():
    assert verdict([xid(48, at=NOW - 600), reboot(NOW - 300)]).state == "healthy"


def test_same_rebooting_xid_after_two_reboots_asks_for_hardware_inspection():
    history = [xid(48, at=NOW - 900), reboot(NOW - 800), xid(48, at=NOW - 700), reboot(NOW - 600),
               xid(48, at=NOW - 60)]

    result = verdict(history)

    assert (result.state, result.repair, result.repair_actions) == ("unhealthy", "hardware_inspection",
                                                                    ("hardware_inspection",))
    assert "after 2 reboots" in result.reasons[0]


def test_after_one_reboot_the_same_xid_still_asks_for_a_reboot():
    history = [xid(48, at=NOW - 700), reboot(NOW - 600), xid(48, at=NOW - 60)]

    assert verdict(history).repair == "reboot"


def test_other_xids_do_not_count_towards_escalation():
    history = [xid(79, at=NOW - 900), reboot(NOW - 800), xid(79, at=NOW - 700), reboot(NOW - 600),
               xid(48, at=NOW - 60)]

    assert verdict(history).repair == "reboot"


def test_xid_94_escalates_only_after_a_thousand_reboots():
    history = []
    for i in range(3):
        history += [xid(94, at=NOW - 1000 + i * 100), reboot(NOW - 950 + i * 100)]
    history.append(xid(94, at=NOW - 10))

    assert verdict(history).repair == "reboot"


def test_hardware_inspection_outlives_a_reboot():
    assert verdict([xid(143, at=NOW - 600), reboot(NOW - 300)]).repair == "hardware_inspection"


def test_xids_older_than_the_lookback_are_forgotten():
    assert xid_findings([xid(79, at=NOW - 2 * 86400)], NOW) == []


@pytest.mark.parametrize(("subcode", "log_severity", "state", "repair"), [
    (4, None, "unhealthy", "hardware_inspection"),
    (10, "nonfatal", "unhealthy", "hardware_inspection"),
    (2, "nonfatal", "healthy", "reboot"),
    (2, "fatal", "unhealthy", "reboot"),
    (None, None, "healthy", "reboot"),
])
def test_nvlink_xid_149_takes_its_severity_from_the_subcode(subcode, log_severity, state, repair):
    result = verdict([xid(149, subcode=subcode, log_severity=log_severity)])

    assert (result.state, result.repair) == (state, repair)


def test_other_nvlink_xids_follow_the_catalogue():
    assert (verdict([xid(145, subcode=4)]).state, verdict([xid(145, subcode=4)]).repair) == ("healthy", "reboot")


def test_catalogue_holds_every_listed_xid():
    rules = catalogue()

    assert len(rules) == 74
    assert rules[79].severity == "fatal" and rules[94].actions == ("reboot",)


def test_gpu_over_its_slowdown_temperature_is_degraded():
    hot = gpu(temperature_c=90, temperature_slowdown_c=89, temperature_shutdown_c=92)

    (finding,) = temperature_findings(hot)
    result = verdict(gpus=[hot])

    assert finding.state == "degraded"
    assert (result.state, result.repair) == ("degraded", "none")
    assert "over its 89 C limit" in result.reasons[0]


def test_hbm_over_its_limit_is_degraded():
    assert temperature_findings(gpu(memory_temperature_c=96, memory_temperature_max_c=95))[0].state == "degraded"


def test_temperature_at_the_limit_or_unknown_limits_are_fine():
    assert temperature_findings(gpu(temperature_c=89, temperature_slowdown_c=89)) == []
    assert temperature_findings(gpu(temperature_c=120)) == []


def test_pending_row_remap_asks_for_a_reboot():
    result = verdict(gpus=[gpu(remapped_rows={"corrected": 0, "uncorrected": 1, "pending": True, "failure": False})])

    assert (result.state, result.repair) == ("unhealthy", "reboot")


def test_failed_row_remap_asks_for_hardware_inspection():
    rows = {"corrected": 0, "uncorrected": 9, "pending": True, "failure": True}

    result = verdict(gpus=[gpu(remapped_rows=rows)])

    assert (result.state, result.repair) == ("unhealthy", "hardware_inspection")
    assert len(memory_findings(gpu(remapped_rows=rows))) == 2


def test_sustained_hardware_slowdown_is_unhealthy():
    six_of_ten_minutes = [NOW - 60 * i for i in range(6)]

    result = verdict(slowdown={"GPU-a": six_of_ten_minutes})

    assert (result.state, result.repair) == ("unhealthy", "hardware_inspection")
    assert "0.6 events/min" in result.reasons[0]


def test_occasional_or_old_hardware_slowdown_is_fine():
    assert slowdown_findings(gpu(), [NOW - 60 * i for i in range(5)], NOW) == []
    assert slowdown_findings(gpu(), [NOW - 700 - 60 * i for i in range(8)], NOW) == []


def test_node_is_as_bad_as_its_worst_gpu():
    healthy, hot = gpu(index=0), gpu(index=1, temperature_c=95, temperature_slowdown_c=89)

    result = verdict([xid(13, gpu=0)], gpus=[healthy, hot])

    assert result.state == "degraded"
    assert result.gpu_states == {0: "healthy", 1: "degraded"}


def test_no_nvml_is_unknown_with_the_reason():
    result = unavailable("NVML Shared Library Not Found")

    assert result.state == "unknown" and result.repair == "none"
    assert result.reasons[0].startswith(NO_NVML_REASON)
