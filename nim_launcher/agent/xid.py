"""The Xid catalogue (xid.csv) and the rules that give one Xid event its severity and repair actions."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

CATALOGUE_PATH = Path(__file__).with_name("xid.csv")
SEVERITIES = ("info", "warning", "critical", "fatal")
NVLINK_XIDS = range(144, 151)
# NVLink catalogue entries say "RB*": reboot, with the real severity decided per subcode.
NVLINK_CATALOGUE_ACTION = "RB*"
# gpud's operational override: NETIR link events with these subcodes are cartridge/PHY failures.
FATAL_NVLINK_SUBCODES = {149: frozenset({4, 10})}
REBOOT_ESCALATION_DEFAULT = 2
REBOOT_ESCALATION = {94: 1000}
MAX_XID = 173


@dataclass(frozen=True)
class XidRule:
    xid: int
    description: str
    severity: str
    actions: tuple[str, ...]


def _actions(raw: str) -> tuple[str, ...]:
    if raw == NVLINK_CATALOGUE_ACTION:
        return ("reboot",)
    return tuple(action for action in raw.split("+") if action and action != "none")


@lru_cache(maxsize=1)
def catalogue() -> dict[int, XidRule]:
    """Every Xid listed in xid.csv; unlisted ones are warnings with no action (see `xid_rule`)."""
    with CATALOGUE_PATH.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        int(row["xid"]): XidRule(int(row["xid"]), row["description"], row["severity"], _actions(row["repair_actions"]))
        for row in rows
    }


def xid_rule(xid: int, *, subcode: int | None = None, log_severity: str | None = None) -> XidRule:
    """The rule for one event; NVLink Xids 144-150 take their severity from the subcode and the driver's word."""
    rule = catalogue().get(xid) or XidRule(xid, "Xid not in the catalogue", "warning", ())
    if xid not in NVLINK_XIDS:
        return rule
    if subcode is not None and subcode in FATAL_NVLINK_SUBCODES.get(xid, ()):
        return replace(rule, severity="fatal", actions=("hardware_inspection",))
    if log_severity == "fatal":
        return replace(rule, severity="fatal")
    return rule


def reboot_escalation_threshold(xid: int) -> int:
    """Reboots after which the same rebooting Xid seen again means hardware inspection."""
    return REBOOT_ESCALATION.get(xid, REBOOT_ESCALATION_DEFAULT)
