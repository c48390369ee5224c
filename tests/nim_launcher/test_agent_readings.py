"""The NVML seam against the NVML double: readings, unsupported calls, lost GPUs, Xid events."""

from nim_launcher.agent.nvml import normalize_pci, open_nvml

from .nvml_double import (
    NVML_AGGREGATE_ECC,
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
    NVML_NVLINK_ERROR_DL_REPLAY,
    NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
    FakeGpu,
    FakeNvml,
)


def test_reading_has_every_field_nvml_gives():
    gpu = FakeGpu(ecc={(NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_AGGREGATE_ECC): 2},
                  retired_pages={NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR: [0x1000]},
                  remapped_rows=(3, 1, 0, 0), clock_event_reasons=0x8 | 0x4, nvlink_links=2,
                  nvlink_errors={(1, NVML_NVLINK_ERROR_DL_REPLAY): 7})
    session, reason = open_nvml(FakeNvml([gpu]))
    (reading,) = session.read_gpus()

    assert reason == ""
    assert (reading.name, reading.uuid, reading.pci_bus_id) == ("NVIDIA H100 80GB HBM3", gpu.uuid, "0000:1b:00")
    assert (reading.temperature_c, reading.memory_temperature_c) == (41, 48)
    assert (reading.temperature_slowdown_c, reading.temperature_shutdown_c, reading.memory_temperature_max_c) == (89, 92, 95)
    assert (reading.power_w, reading.power_limit_w) == (118.0, 700.0)
    assert (reading.sm_clock_mhz, reading.memory_clock_mhz) == (1980, 2619)
    assert (reading.gpu_utilization_pct, reading.memory_total_mib) == (12, 80 * 1024)
    assert reading.ecc["aggregate_uncorrected"] == 2 and reading.ecc["volatile_corrected"] == 0
    assert reading.retired_pages == {"single_bit": 0, "double_bit": 1, "pending": False}
    assert reading.remapped_rows == {"corrected": 3, "uncorrected": 1, "pending": False, "failure": False}
    assert reading.clock_events["hw_slowdown"] and reading.clock_events["sw_power_cap"]
    assert not reading.clock_events["hw_thermal_slowdown"]
    assert [link["errors"]["replay"] for link in reading.nvlink] == [0, 7]
    assert reading.error is None


def test_unsupported_calls_give_none_not_a_crash():
    unsupported = {"nvmlDeviceGetRemappedRows", "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetRetiredPages",
                   "nvmlDeviceGetRetiredPagesPendingStatus", "nvmlDeviceGetCurrentClocksEventReasons",
                   "nvmlDeviceGetPowerUsage", "NVML_FI_DEV_MEMORY_TEMP", "nvmlDeviceGetTemperatureThreshold"}
    session, _ = open_nvml(FakeNvml([FakeGpu(not_supported=unsupported)]))
    (reading,) = session.read_gpus()

    assert reading.temperature_c == 41
    assert reading.memory_temperature_c is None and reading.temperature_slowdown_c is None
    assert reading.power_w is None and reading.ecc is None and reading.retired_pages is None
    assert reading.remapped_rows is None and reading.clock_events is None and reading.nvlink is None
    assert reading.error is None


def test_lost_gpu_is_recorded_on_its_reading():
    fake = FakeNvml([FakeGpu(uuid="GPU-a"), FakeGpu(uuid="GPU-b")])
    session, _ = open_nvml(fake)
    fake.gpus[1].lost = True

    readings = session.read_gpus()

    assert readings[0].error is None
    assert readings[1].error == "GPU is lost" and readings[1].temperature_c is None


def test_missing_library_means_no_session_and_the_reason():
    session, reason = open_nvml(FakeNvml(library_missing=True))

    assert session is None
    assert reason == "NVML Shared Library Not Found"


def test_xid_events_come_from_the_event_set_with_their_gpu():
    fake = FakeNvml([FakeGpu(uuid="GPU-a"), FakeGpu(uuid="GPU-b", pci_bus_id="00000000:43:00.0")])
    session, _ = open_nvml(fake)
    fake.push_xid(1, 79)
    fake.push_xid(0, 13)

    events = session.wait_xid_events(500, clock=lambda: 100.0)

    assert [(e.xid, e.gpu, e.pci_bus_id, e.source) for e in events] == [(79, 1, "0000:43:00", "nvml"), (13, 0, "0000:1b:00", "nvml")]
    assert fake.waits == [500, 0, 0]  # waits once, then drains without waiting
    assert session.wait_xid_events(0) == []


def test_no_event_support_means_no_events_and_no_error():
    session, _ = open_nvml(FakeNvml(events_supported=False))

    assert session.xid_events_supported() is False
    assert session.wait_xid_events(10) == []


def test_pci_ids_from_nvml_and_the_kernel_log_compare_equal():
    assert normalize_pci("00000000:1B:00.0") == normalize_pci("0000:1b:00") == "0000:1b:00"
    assert normalize_pci(None) is None
