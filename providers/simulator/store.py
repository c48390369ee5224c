"""Simulator state in SQLite: partners (token, faults), offers (finite capacity) and nodes.

Capacity is never stored as a counter: an offer's available nodes are its capacity minus its live
nodes, so provisioning consumes and termination returns capacity by construction. Node state comes
from timestamps (`pending` until `ready_at`), so no thread has to flip it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS partners (slug TEXT PRIMARY KEY, token TEXT NOT NULL, faults TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offers (
    slug TEXT NOT NULL, region TEXT NOT NULL, instance_type TEXT NOT NULL, gpu TEXT NOT NULL,
    gpus_per_node INTEGER NOT NULL, vcpus REAL NOT NULL, memory_gb REAL NOT NULL, interconnect TEXT NOT NULL,
    price_per_hour REAL NOT NULL, spot_price_per_hour REAL, capacity INTEGER NOT NULL,
    PRIMARY KEY (slug, region, instance_type));
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY, slug TEXT NOT NULL, idempotency_key TEXT, name TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL, instance_type TEXT NOT NULL, ip TEXT, tags TEXT NOT NULL,
    user_data TEXT NOT NULL DEFAULT '', ssh_public_key TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, ready_at REAL NOT NULL, terminated_at REAL, failed TEXT,
    UNIQUE (slug, idempotency_key));
CREATE TABLE IF NOT EXISTS ssh_keys (slug TEXT NOT NULL, name TEXT NOT NULL, public_key TEXT NOT NULL,
    PRIMARY KEY (slug, name));
CREATE TABLE IF NOT EXISTS firewall_rulesets (id TEXT PRIMARY KEY, slug TEXT NOT NULL, name TEXT NOT NULL,
    region TEXT NOT NULL, rules TEXT NOT NULL, created_at REAL NOT NULL);
"""
# Columns added after the first release: a state file written before them gains them on open.
LATER_NODE_COLUMNS = {"spot": "INTEGER NOT NULL DEFAULT 0", "ports": "TEXT NOT NULL DEFAULT '[]'",
                      "firewall_rulesets": "TEXT NOT NULL DEFAULT '[]'", "preempted_at": "REAL",
                      "preempt_at": "REAL", "notice_at": "REAL"}


@dataclass
class Faults:
    """Per-partner fault injection; rates are probabilities per request (capacity: per provision)."""

    capacity_error_rate: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    latency_ms: float = 0.0
    timeout_s: float = 30.0
    delay_s: float = 0.0
    terminate_delay_s: float = 0.0  # how long a terminated node stays `terminating` (Lambda)
    quota_nodes: int | None = None
    error_next: int = 0
    # Lambda's documented rate limits, answered with 429 + Retry-After; 0 = off.
    request_interval_s: float = 0.0
    launch_interval_s: float = 0.0
    # Spot nodes: the share preempted, how long after they run, and how long before that the notice is given.
    preemption_rate: float = 0.0
    preemption_after_s: float = 60.0
    preemption_notice_s: float = 0.0

    RATES = ("capacity_error_rate", "error_rate", "timeout_rate", "preemption_rate")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def updated(self, changes: dict[str, Any]) -> Faults:
        """A copy with `changes` applied; raise SimError(invalid_request) naming a bad field."""
        data = asdict(self)
        for name, value in changes.items():
            if name not in data:
                raise SimError("invalid_request", f"unknown fault field {name!r}")
            data[name] = _checked(name, value)
        return Faults(**data)


def _checked(name: str, value: Any) -> Any:
    if name == "quota_nodes" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SimError("invalid_request", f"{name} must be a number >= 0")
    if name in Faults.RATES and value > 1:
        raise SimError("invalid_request", f"{name} must be between 0 and 1")
    return int(value) if name in ("quota_nodes", "error_next") else float(value)


class SimError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


def default_token(slug: str) -> str:
    return f"sim-{slug}"


def simulated_ip(node_id: str, *, loopback: bool = False) -> str:
    """A stable address for a simulated node: 10.x (data only), or 127.x when its plan runs here.

    Every 127.0.0.0/8 address reaches this machine, so each node that runs its user data can serve
    the same port (the NIM port) on its own address, as real nodes do.
    """
    digest = hashlib.sha256(node_id.encode()).digest()
    return f"{127 if loopback else 10}.{digest[0]}.{digest[1]}.{max(digest[2], 2)}"


OFFER_COLUMNS = ("region", "instance_type", "gpu", "gpus_per_node", "vcpus", "memory_gb", "interconnect",
                 "price_per_hour", "spot_price_per_hour")


class Store:
    """All simulator state behind one lock: a request's check-then-write is atomic."""

    def __init__(self, path: str | Path = ":memory:", *, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(SCHEMA)
        present = {row["name"] for row in self._db.execute("PRAGMA table_info(nodes)")}
        for name, ddl in LATER_NODE_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE nodes ADD COLUMN {name} {ddl}")

    def close(self) -> None:
        self._db.close()

    # -- partners and offers -------------------------------------------------------------------
    def seed(self, offers_by_partner: dict[str, list[dict]], *, capacity: int, faults: Faults | None = None) -> None:
        """Add partners and offers that are not there yet; what a restart finds is kept as it was."""
        with self._lock, self._tx():
            for slug, offers in offers_by_partner.items():
                self._db.execute("INSERT OR IGNORE INTO partners VALUES (?, ?, ?)",
                                 (slug, default_token(slug), json.dumps(asdict(faults or Faults()))))
                for offer in offers:
                    self._db.execute(
                        f"INSERT OR IGNORE INTO offers (slug, {', '.join(OFFER_COLUMNS)}, capacity) "
                        f"VALUES (?, {', '.join('?' * len(OFFER_COLUMNS))}, ?)",
                        (slug, *(offer.get(c) for c in OFFER_COLUMNS), capacity))

    def partner_slugs(self) -> list[str]:
        return [r["slug"] for r in self._db.execute("SELECT slug FROM partners ORDER BY slug")]

    def token(self, slug: str) -> str | None:
        row = self._db.execute("SELECT token FROM partners WHERE slug = ?", (slug,)).fetchone()
        return row["token"] if row else None

    def set_token(self, slug: str, token: str) -> None:
        with self._lock:
            self._db.execute("UPDATE partners SET token = ? WHERE slug = ?", (token, slug))

    def faults(self, slug: str) -> Faults:
        row = self._db.execute("SELECT faults FROM partners WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            raise SimError("not_found", f"no partner {slug!r}")
        return Faults.from_dict(json.loads(row["faults"]))

    def set_faults(self, slug: str, faults: Faults) -> None:
        with self._lock:
            self._db.execute("UPDATE partners SET faults = ? WHERE slug = ?", (json.dumps(asdict(faults)), slug))

    def take_error_next(self, slug: str) -> bool:
        """Consume one of the 'fail the next N requests' faults; True if this request must fail."""
        with self._lock:
            faults = self.faults(slug)
            if faults.error_next <= 0:
                return False
            faults.error_next -= 1
            self.set_faults(slug, faults)
            return True

    def set_capacity(self, slug: str, capacity: int, instance_type: str | None = None) -> None:
        with self._lock:
            self._db.execute("UPDATE offers SET capacity = ? WHERE slug = ? AND (? IS NULL OR instance_type = ?)",
                             (capacity, slug, instance_type, instance_type))

    def set_price(self, slug: str, instance_type: str, price_per_hour: float) -> None:
        with self._lock:
            self._db.execute("UPDATE offers SET price_per_hour = ? WHERE slug = ? AND instance_type = ?",
                             (price_per_hour, slug, instance_type))

    def remove_offer(self, slug: str, instance_type: str) -> None:
        """Stop selling a shape (its running nodes keep running)."""
        with self._lock:
            self._db.execute("DELETE FROM offers WHERE slug = ? AND instance_type = ?", (slug, instance_type))

    def offers(self, slug: str) -> list[dict]:
        """Offers with `available_nodes` = capacity minus live nodes."""
        rows = self._db.execute(
            "SELECT o.*, o.capacity - (SELECT COUNT(*) FROM nodes n WHERE n.slug = o.slug AND n.region = o.region"
            " AND n.instance_type = o.instance_type AND n.terminated_at IS NULL AND n.failed IS NULL)"
            " AS available_nodes FROM offers o WHERE o.slug = ? ORDER BY o.instance_type, o.region", (slug,))
        return [{**{c: row[c] for c in OFFER_COLUMNS}, "available_nodes": max(row["available_nodes"], 0)}
                for row in rows]

    def _offer(self, slug: str, instance_type: str, region: str) -> dict | None:
        return next((o for o in self.offers(slug) if o["instance_type"] == instance_type and o["region"] == region),
                    None)

    # -- nodes -----------------------------------------------------------------------------------
    def create_node(self, slug: str, *, instance_type: str, region: str, idempotency_key: str | None = None,
                    name: str = "", tags: dict | None = None, user_data: str = "", ssh_public_key: str = "",
                    capacity_error: bool = False, spot: bool = False, ports: list | None = None,
                    firewall_rulesets: list[str] | None = None, loopback: bool = False,
                    auction: bool = False) -> tuple[dict, bool]:
        """Start a node, consuming capacity; (node, created). A known idempotency key returns its node.

        `auction`: the partner sells every shape as spot at its auction's price (Mithril), fixed spot price or not.
        """
        with self._lock, self._tx():
            if idempotency_key:
                row = self._db.execute("SELECT * FROM nodes WHERE slug = ? AND idempotency_key = ?",
                                       (slug, idempotency_key)).fetchone()
                if row is not None:
                    return self._node(row), False
            offer = self._offer(slug, instance_type, region)
            if offer is None:
                raise SimError("invalid_request", f"no instance type {instance_type!r} in region {region!r}")
            if spot and offer["spot_price_per_hour"] is None and not auction:
                raise SimError("invalid_request", f"{instance_type} in {region} is not sold as spot")
            quota = self.faults(slug).quota_nodes
            if quota is not None and self._live_count(slug) >= quota:
                raise SimError("quota_exceeded", f"account limit of {quota} running nodes reached")
            if capacity_error or offer["available_nodes"] <= 0:
                raise SimError("no_capacity", f"no capacity for {instance_type} in {region}")
            node_id = uuid.uuid4().hex
            now = self.clock()
            self._db.execute(
                "INSERT INTO nodes (id, slug, idempotency_key, name, region, instance_type, ip, tags, user_data,"
                " ssh_public_key, created_at, ready_at, spot, ports, firewall_rulesets)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (node_id, slug, idempotency_key, name, region, instance_type, simulated_ip(node_id, loopback=loopback),
                 json.dumps(tags or {}), user_data, ssh_public_key, now, now + self.faults(slug).delay_s,
                 int(spot), json.dumps(ports or []), json.dumps(firewall_rulesets or [])))
            return self.get_node(slug, node_id), True

    def record_failed_node(self, slug: str, *, instance_type: str, region: str, name: str = "",
                           tags: dict | None = None, reason: str = "lack of resources") -> dict:
        """A create the partner accepted and then failed (Seeweb, for lack of resources): it holds no capacity."""
        with self._lock:
            node_id, now = uuid.uuid4().hex, self.clock()
            self._db.execute(
                "INSERT INTO nodes (id, slug, name, region, instance_type, tags, created_at, ready_at, failed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (node_id, slug, name, region, instance_type, json.dumps(tags or {}), now, now, reason))
            return self.get_node(slug, node_id)

    def get_node(self, slug: str, node_id: str) -> dict:
        row = self._db.execute("SELECT * FROM nodes WHERE slug = ? AND id = ?", (slug, node_id)).fetchone()
        if row is None:
            raise SimError("not_found", f"no node {node_id!r}")
        return self._node(row)

    def list_nodes(self, slug: str, *, tag: str | None = None, include_terminated: bool = False) -> list[dict]:
        rows = self._db.execute("SELECT * FROM nodes WHERE slug = ? ORDER BY created_at, id", (slug,))
        nodes = [self._node(row) for row in rows]
        if not include_terminated:
            nodes = [n for n in nodes if n["state"] not in ("terminated", "failed")]
        return [n for n in nodes if tag is None or _tag_matches(n["tags"], tag)]

    def terminate_node(self, slug: str, node_id: str) -> dict:
        """Mark the node terminated (returning its capacity); terminating it again changes nothing."""
        with self._lock:
            self.get_node(slug, node_id)
            self._db.execute("UPDATE nodes SET terminated_at = ? WHERE id = ? AND terminated_at IS NULL",
                             (self.clock(), node_id))
            return self.get_node(slug, node_id)

    def tag_node(self, slug: str, node_id: str, **tags: str) -> dict:
        """Add tags to a node, ended or not (Mithril: a cancelled bid whose instance was already taken back)."""
        with self._lock:
            node = self.get_node(slug, node_id)
            self._db.execute("UPDATE nodes SET tags = ? WHERE id = ?", (json.dumps({**node["tags"], **tags}), node_id))
            return self.get_node(slug, node_id)

    def set_launch(self, slug: str, node_id: str, *, user_data: str, ports: list) -> dict:
        """What a node runs and opens, given after it was created (Yotta: a cluster's machine, then its pod)."""
        with self._lock:
            self.get_node(slug, node_id)
            self._db.execute("UPDATE nodes SET user_data = ?, ports = ? WHERE id = ?",
                             (user_data, json.dumps(ports), node_id))
            return self.get_node(slug, node_id)

    def preempt_node(self, slug: str, node_id: str) -> dict:
        """The partner takes the node back: it ends now (capacity returns) and reports `preempted`."""
        with self._lock:
            self.get_node(slug, node_id)
            now = self.clock()
            self._db.execute("UPDATE nodes SET preempted_at = ?, terminated_at = COALESCE(terminated_at, ?)"
                             " WHERE id = ?", (now, now, node_id))
            return self.get_node(slug, node_id)

    def schedule_preemption(self, slug: str, node_id: str, *, after_s: float, notice_s: float) -> dict:
        """The partner will take this spot node back `after_s` seconds after it runs, noticed `notice_s` before."""
        with self._lock:
            node = self.get_node(slug, node_id)
            ready_at = self._db.execute("SELECT ready_at FROM nodes WHERE id = ?", (node_id,)).fetchone()[0]
            preempt_at = max(ready_at, self.clock()) + after_s
            self._db.execute("UPDATE nodes SET preempt_at = ?, notice_at = ? WHERE id = ? AND preempted_at IS NULL",
                             (preempt_at, preempt_at - notice_s, node["id"]))
            return self.get_node(slug, node_id)

    def due_preemptions(self) -> list[tuple[str, str]]:
        """(slug, node id) of the live nodes whose scheduled preemption time has come."""
        rows = self._db.execute("SELECT slug, id FROM nodes WHERE preempt_at IS NOT NULL AND preempt_at <= ?"
                                " AND terminated_at IS NULL", (self.clock(),))
        return [(row["slug"], row["id"]) for row in rows]

    def fail_node(self, slug: str, node_id: str, reason: str = "hardware fault") -> dict:
        """The node breaks (Lambda reports it `unhealthy`); it no longer counts against capacity."""
        with self._lock:
            self.get_node(slug, node_id)
            self._db.execute("UPDATE nodes SET failed = ? WHERE id = ?", (reason, node_id))
            return self.get_node(slug, node_id)

    def _live_count(self, slug: str) -> int:
        return self._db.execute("SELECT COUNT(*) FROM nodes WHERE slug = ? AND terminated_at IS NULL"
                                " AND failed IS NULL", (slug,)).fetchone()[0]

    def _node(self, row: sqlite3.Row) -> dict:
        if row["terminated_at"] is not None:
            state = "terminated"
        elif row["failed"]:
            state = "failed"
        else:
            state = "running" if self.clock() >= row["ready_at"] else "pending"
        return {"id": row["id"], "name": row["name"], "state": state, "region": row["region"],
                "instance_type": row["instance_type"], "ip": row["ip"], "tags": json.loads(row["tags"]),
                "created_at": row["created_at"], "user_data": row["user_data"], "spot": bool(row["spot"]),
                "ports": json.loads(row["ports"]), "firewall_rulesets": json.loads(row["firewall_rulesets"]),
                "terminated_at": row["terminated_at"], "preempted_at": row["preempted_at"],
                "preempt_at": row["preempt_at"] if row["preempted_at"] is None and row["notice_at"] is not None
                and self.clock() >= row["notice_at"] else None}

    # -- ssh keys (Lambda shape) -------------------------------------------------------------------
    def ssh_keys(self, slug: str) -> list[dict]:
        rows = self._db.execute("SELECT name, public_key FROM ssh_keys WHERE slug = ? ORDER BY name", (slug,))
        return [dict(row) for row in rows]

    def add_ssh_key(self, slug: str, name: str, public_key: str) -> None:
        with self._lock:
            if self._db.execute("SELECT 1 FROM ssh_keys WHERE slug = ? AND name = ?", (slug, name)).fetchone():
                raise SimError("invalid_request", f"ssh key {name!r} already exists")
            self._db.execute("INSERT INTO ssh_keys VALUES (?, ?, ?)", (slug, name, public_key))

    # -- firewall rulesets (Lambda shape) ----------------------------------------------------------
    def firewall_rulesets(self, slug: str) -> list[dict]:
        rows = self._db.execute("SELECT * FROM firewall_rulesets WHERE slug = ? ORDER BY created_at, id", (slug,))
        return [self._ruleset(row) for row in rows]

    def firewall_ruleset(self, slug: str, ruleset_id: str) -> dict:
        row = self._db.execute("SELECT * FROM firewall_rulesets WHERE slug = ? AND id = ?",
                               (slug, ruleset_id)).fetchone()
        if row is None:
            raise SimError("not_found", f"no firewall ruleset {ruleset_id!r}")
        return self._ruleset(row)

    def add_firewall_ruleset(self, slug: str, name: str, region: str, rules: list[dict]) -> dict:
        with self._lock:
            ruleset_id = uuid.uuid4().hex
            self._db.execute("INSERT INTO firewall_rulesets VALUES (?, ?, ?, ?, ?, ?)",
                             (ruleset_id, slug, name, region, json.dumps(rules), self.clock()))
            return self.firewall_ruleset(slug, ruleset_id)

    def add_firewall_rule(self, slug: str, ruleset_id: str, rule: dict) -> dict:
        """Append `rule` to a ruleset (Nebius adds rules to a security group one by one); a rule named as one
        already there raises SimError(conflict)."""
        with self._lock, self._tx():
            rules = self.firewall_ruleset(slug, ruleset_id)["rules"]
            if any(r.get("name") == rule["name"] for r in rules):
                raise SimError("conflict", f"a rule named {rule['name']!r} exists")
            self._db.execute("UPDATE firewall_rulesets SET rules = ? WHERE slug = ? AND id = ?",
                             (json.dumps([*rules, rule]), slug, ruleset_id))
        return self.firewall_ruleset(slug, ruleset_id)

    def _ruleset(self, row: sqlite3.Row) -> dict:
        users = [n["id"] for n in self.list_nodes(row["slug"]) if row["id"] in n["firewall_rulesets"]]
        return {"id": row["id"], "name": row["name"], "region": row["region"], "rules": json.loads(row["rules"]),
                "created_at": row["created_at"], "instance_ids": users}

    def _tx(self):
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN")

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _tag_matches(tags: dict, selector: str) -> bool:
    """`key` matches a node carrying that tag; `key:value` one whose tag has that value."""
    return selector in tags or any(f"{k}:{v}" == selector for k, v in tags.items())


def offer_dict(item: Any) -> dict:
    """A seed offer (dict, ProviderOffer or catalogue OfferRow) as a plain dict of OFFER_COLUMNS."""
    data = item if isinstance(item, dict) else {c: getattr(item, c, None) for c in (*OFFER_COLUMNS, "partner")}
    out = {c: data.get(c) for c in OFFER_COLUMNS}
    out["interconnect"] = out["interconnect"] or "pcie"
    for name in ("price_per_hour", "spot_price_per_hour", "vcpus", "memory_gb"):
        out[name] = None if out[name] is None else float(out[name])
    out["vcpus"], out["memory_gb"] = out["vcpus"] or 0.0, out["memory_gb"] or 0.0
    return out


def group_seed(items: dict[str, Iterable[Any]] | Iterable[Any]) -> dict[str, list[dict]]:
    """Seed offers grouped by partner slug: accepts {slug: offers} or rows that carry `partner`.

    Rows without a price are skipped (a simulated partner sells nothing for free); the first row
    for a (region, instance type) wins, as catalogues list one row per zone.
    """
    pairs = (((slug, o) for slug, offers in items.items() for o in offers) if isinstance(items, dict)
             else (((o["partner"] if isinstance(o, dict) else o.partner), o) for o in items))
    grouped: dict[str, dict[tuple, dict]] = {}
    for slug, item in pairs:
        offer = offer_dict(item)
        if offer["price_per_hour"] is None or not offer["gpus_per_node"]:
            continue
        grouped.setdefault(slug, {}).setdefault((offer["region"], offer["instance_type"]), offer)
    return {slug: list(offers.values()) for slug, offers in grouped.items()}
