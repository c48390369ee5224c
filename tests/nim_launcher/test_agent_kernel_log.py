"""Xid lines from the kernel log: parsing, NVLink subcodes, sources that fail, reading only new lines."""

import pytest

from nim_launcher.agent.kernel_log import (
    KernelLogReader,
    KernelLogUnavailable,
    parse_monotonic_lines,
    parse_xid_line,
    read_kmsg,
)

XID_79 = "NVRM: Xid (PCI:0000:1b:00): 79, pid=1234, name=python3, GPU has fallen off the bus."
NVLINK_149 = ("NVRM: Xid (PCI:0018:01:00): 149, NETIR_LINK_EVT Fatal XC0 i0 Link 00 "
              "(0x004505c6 0x00000000 0x00000000 0x00000000 0x00000000 0x00000000)")


def test_parses_xid_number_and_pci_address():
    event = parse_xid_line(XID_79, at=5.0)

    assert (event.xid, event.pci_bus_id, event.at, event.source) == (79, "0000:1b:00", 5.0, "kernel")
    assert event.subcode is None and event.log_severity is None
    assert "fallen off the bus" in event.message


def test_parses_a_line_with_a_kernel_prefix_and_quoted_pid():
    line = "[Fri Aug 30 11:43:09 2024] NVRM: Xid (PCI:0000:cb:00): 13, pid='<unknown>', name=<unknown>, Graphics SM Warp"

    assert parse_xid_line(line, at=0).xid == 13


def test_nvlink_xid_carries_subcode_and_driver_severity():
    event = parse_xid_line(NVLINK_149, at=0)

    assert (event.xid, event.subcode, event.log_severity) == (149, 4, "fatal")


def test_non_xid_lines_are_ignored():
    assert parse_xid_line("nvidia-nvswitch0: SXid (PCI:0000:00:00.0): 11001, Fatal", at=0) is None
    assert parse_xid_line("usb 1-1: new high-speed USB device", at=0) is None


def test_dmesg_and_journal_lines_keep_their_seconds_since_boot():
    lines = parse_monotonic_lines(f"[  12.500000] {XID_79}\n[  13.000000] host kernel: other\nno stamp")

    assert lines == [(12.5, XID_79), (13.0, "host kernel: other"), (None, "no stamp")]


def test_reader_dates_lines_from_boot_and_reads_only_new_ones():
    lines = [(10.0, XID_79), (20.0, "unrelated"), (30.0, XID_79.replace(": 79,", ": 48,"))]
    reader = KernelLogReader(boot_time=1000.0, sources=[("test", lambda: lines)])

    events, newest = reader.read(after=None)
    again, _ = reader.read(after=newest)

    assert [(e.xid, e.at) for e in events] == [(79, 1010.0), (48, 1030.0)]
    assert newest == 30.0 and again == []
    assert reader.source_name == "test"


def test_reader_falls_back_to_the_next_source_and_survives_none_working():
    def refuse():
        raise KernelLogUnavailable("dmesg exited 1: Operation not permitted")

    fallback = KernelLogReader(0.0, sources=[("dmesg", refuse), ("journal", lambda: [(1.0, XID_79)])])
    nothing = KernelLogReader(0.0, sources=[("dmesg", refuse)])

    assert [e.xid for e in fallback.read(None)[0]] == [79] and fallback.source_name == "journal"
    assert nothing.read(None) == ([], None)
    assert "Operation not permitted" in nothing.unavailable_reason


def test_kmsg_records_are_parsed_from_a_file(tmp_path):
    kmsg = tmp_path / "kmsg"
    kmsg.write_text(f"4,1001,12500000,-;{XID_79}\n SUBSYSTEM=pci\n")

    assert read_kmsg(str(kmsg)) == [(12.5, XID_79)]


def test_kmsg_that_cannot_be_opened_is_unavailable(tmp_path):
    with pytest.raises(KernelLogUnavailable):
        read_kmsg(str(tmp_path / "missing"))
