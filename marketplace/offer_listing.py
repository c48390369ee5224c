"""Offer lists answered from memory: the DESIGN §5 filters, orderings, counts and pages over the offer index.

Pure library (numpy, no Django). The listing keeps one numpy column per filterable field, with rows in the
default order (price per GPU-hour, unknown prices last, then id), and one precomputed permutation per
single-field ordering. A query is a few vectorised comparisons; its count is a popcount; a page is the
n-th to m-th hit in the requested order, found chunk by chunk so an early page never visits the whole
catalogue. Prices are compared in exact millionths of a dollar (the six decimal places prices are stored at),
so a price cap admits exactly what PostgreSQL's numeric comparison admits.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np

from marketplace.matching import INTERCONNECT_RANK, OfferSnapshot
from marketplace.money import PRICE_PLACES

ORDERING_FIELDS = ("price_per_gpu_hour", "price_per_hour", "gpu_memory_gb")
MISSING_PRICE = np.iinfo(np.int64).max  # an unknown price: never under a cap, last in either direction
_BIG = 2 ** 62  # caps and minimums beyond this are clamped (they admit everything / nothing anyway)
_CHUNK = 32_768
_SPARSE = 4  # see Selection.rows
_SCALE = Decimal(10) ** PRICE_PLACES


@dataclass(frozen=True, slots=True)
class ListedFields:
    """The stored columns of an offer that its matching snapshot normalises or leaves out."""

    country: str
    jurisdiction: str
    gpu_memory_gb: int
    form_factor: str
    price_per_gpu_hour: Decimal | None
    price_status: str
    price_status_reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferQuery:
    """Cleaned filter values (empty = no restriction) and the ordering terms, e.g. ("-price_per_hour",)."""

    gpu: str = ""
    min_gpus: int | None = None
    min_gpu_memory_gb: int | None = None
    architecture: str = ""
    form_factor: str = ""
    partner: str = ""
    region: str = ""
    country: str = ""
    jurisdiction: str = ""
    spot: bool = False
    max_price_per_gpu_hour: Decimal | None = None
    interconnect: str = ""
    ordering: tuple[str, ...] = ()


def price_units(value: Decimal | float | None) -> int:
    """A price in millionths of a dollar (exact for the stored six decimals); unknown → MISSING_PRICE."""
    if value is None:
        return MISSING_PRICE
    # str(): a float snapshot price goes through its shortest repr (27.44705, not 27.4470499999…)
    return int(Decimal(str(value)).scaleb(PRICE_PLACES).to_integral_value(rounding=ROUND_FLOOR))


class _Codes:
    """Distinct values of one text column as small integers."""

    def __init__(self, values: Sequence):
        self.values: list = []
        self.code_of: dict = {}
        codes = np.empty(len(values), dtype=np.int32)
        for i, value in enumerate(values):
            code = self.code_of.get(value)
            if code is None:
                code = self.code_of[value] = len(self.values)
                self.values.append(value)
            codes[i] = code
        # The narrowest integers that hold every code: comparing a column reads a quarter of the memory.
        self.codes = codes.astype(np.min_scalar_type(max(len(self.values) - 1, 0)))

    def equal(self, value) -> np.ndarray | None:
        """Rows holding `value`; None when no row does."""
        code = self.code_of.get(value)
        return None if code is None else self.codes == code


class OfferListing:
    """A columnar, filterable copy of the active offers of one catalogue version."""

    def __init__(self, offers: Sequence[tuple[OfferSnapshot, ListedFields]]):
        listed = [(o, f) for o, f in offers if o.partner_active]
        ppg = np.array([price_units(f.price_per_gpu_hour) for _, f in listed], dtype=np.int64)
        ids = np.array([o.id for o, _ in listed], dtype=np.int64)
        default = np.lexsort((ids, ppg))
        listed = [listed[i] for i in default]
        self.size = len(listed)
        self.snapshots = [o for o, _ in listed]
        fields = [f for _, f in listed]
        self.ids = ids[default]
        self.price_per_gpu_hour = ppg[default]
        self.price_per_hour = np.array([price_units(o.price_per_hour) for o in self.snapshots], dtype=np.int64)
        self.spot_price = np.array([price_units(o.spot_price_per_hour) for o in self.snapshots], dtype=np.int64)
        self.gpus_per_node = np.array([o.gpus_per_node for o in self.snapshots], dtype=np.int64)
        self.spot_per_gpu = _per_gpu_ceiling(self.spot_price, self.gpus_per_node)
        self.gpus_per_node = _narrow(self.gpus_per_node)
        self.gpu_memory_gb = np.array([f.gpu_memory_gb for f in fields], dtype=np.int64)
        self.gpu_memory_filter = _narrow(self.gpu_memory_gb)  # what the filter compares; sorting keeps int64
        self.interconnect = np.array([INTERCONNECT_RANK.get(o.interconnect, -1) for o in self.snapshots],
                                     dtype=np.int8)
        self.gpu = _Codes([o.gpu for o in self.snapshots])
        self.architecture = _Codes([o.architecture for o in self.snapshots])
        self.form_factor = _Codes([f.form_factor for f in fields])
        self.partner = _Codes([o.partner for o in self.snapshots])
        self.region = _Codes([o.region for o in self.snapshots])
        self.country = _Codes([f.country for f in fields])
        self.jurisdiction = _Codes([f.jurisdiction for f in fields])
        self.price_status = _Codes([(f.price_status, f.price_status_reason) for f in fields])
        self._orders = {term: self._sorted(term) for field in ORDERING_FIELDS for term in (field, f"-{field}")}
        self._orders["price_per_gpu_hour"] = None  # the rows' own order
        self._ranks: dict[str, np.ndarray] = {}  # term → each row's place in its order, made on first use
        self.rendered: dict[int, Any] = {}  # row → its rendering, for renderers that reuse it within a version

    def __len__(self) -> int:
        return self.size

    def row(self, i: int) -> tuple[OfferSnapshot, ListedFields]:
        units = int(self.price_per_gpu_hour[i])
        status, reason = self.price_status.values[self.price_status.codes[i]]
        return self.snapshots[i], ListedFields(
            country=self.country.values[self.country.codes[i]],
            jurisdiction=self.jurisdiction.values[self.jurisdiction.codes[i]],
            gpu_memory_gb=int(self.gpu_memory_gb[i]),
            form_factor=self.form_factor.values[self.form_factor.codes[i]],
            price_per_gpu_hour=None if units == MISSING_PRICE else Decimal(units).scaleb(-PRICE_PLACES),
            price_status=status, price_status_reason=reason)

    def sort_key(self, term: str) -> np.ndarray:
        """Ascending key of one ordering term, unknown values last in either direction (nulls_last)."""
        column = {"price_per_gpu_hour": self.price_per_gpu_hour, "price_per_hour": self.price_per_hour,
                  "gpu_memory_gb": self.gpu_memory_gb}[term.lstrip("-")]
        if not term.startswith("-"):
            return column
        return np.where(column == MISSING_PRICE, MISSING_PRICE, -column)

    def _sorted(self, term: str) -> np.ndarray:
        return np.lexsort((self.ids, self.sort_key(term))).astype(np.int32)

    def matching(self, query: OfferQuery) -> np.ndarray:
        """Boolean mask of the rows the query's filters keep."""
        mask = None
        for rows in self._restrictions(query):
            if rows is None:
                return np.zeros(self.size, dtype=bool)
            if mask is None:
                mask = rows
            else:
                mask &= rows
        return np.ones(self.size, dtype=bool) if mask is None else mask

    def _restrictions(self, query: OfferQuery) -> Iterator[np.ndarray | None]:
        """A fresh boolean column per filter the query sets (None: no row can match)."""
        for codes, value in ((self.gpu, query.gpu), (self.architecture, query.architecture),
                             (self.form_factor, query.form_factor), (self.partner, query.partner), (self.region, query.region),
                             (self.country, query.country), (self.jurisdiction, query.jurisdiction)):
            if value:
                yield codes.equal(value)
        if query.min_gpus is not None:
            yield _at_least(self.gpus_per_node, query.min_gpus)
        if query.min_gpu_memory_gb is not None:
            yield _at_least(self.gpu_memory_filter, query.min_gpu_memory_gb)
        if query.max_price_per_gpu_hour is not None:
            # spot: spot price per node ≤ cap × GPUs per node (as the filterset), which for whole millionths is
            # ⌈spot / GPUs⌉ ≤ ⌊cap⌋; an offer without a spot price is above every cap
            prices = self.spot_per_gpu if query.spot else self.price_per_gpu_hour
            yield prices <= _cap_units(query.max_price_per_gpu_hour)
        elif query.spot:
            yield self.spot_price != MISSING_PRICE
        if query.interconnect:
            yield self.interconnect >= INTERCONNECT_RANK[query.interconnect]

    def select(self, query: OfferQuery) -> Selection:
        """The rows the query keeps: their count now, pages of them in the query's order on demand."""
        return Selection(self, self.matching(query), query.ordering or ("price_per_gpu_hour",))

    def order(self, term: str) -> np.ndarray | None:
        """Row numbers in one ordering term's order (None: the rows' own order)."""
        return self._orders[term]

    def rank(self, term: str) -> np.ndarray:
        """Each row's place in one ordering term's order (the inverse of `order`)."""
        ranks = self._ranks.get(term)
        if ranks is None:
            order = self._orders[term]
            ranks = np.empty(self.size, dtype=np.int32)
            ranks[order] = np.arange(self.size, dtype=np.int32)
            self._ranks[term] = ranks
        return ranks

    def nbytes(self) -> int:
        """Memory of the numpy columns and orders (the snapshots belong to the matching index)."""
        arrays = [self.ids, self.price_per_gpu_hour, self.price_per_hour, self.spot_price, self.spot_per_gpu,
                  self.gpu_memory_filter, self.gpus_per_node, *self._ranks.values(),
                  self.gpu_memory_gb, self.interconnect, *(c.codes for c in self._codes()),
                  *(o for o in self._orders.values() if o is not None)]
        return sum(a.nbytes for a in arrays)

    def _codes(self) -> tuple[_Codes, ...]:
        return (self.gpu, self.architecture, self.form_factor, self.partner, self.region, self.country,
                self.jurisdiction, self.price_status)


def _cap_units(cap: Decimal) -> int:
    """The largest whole number of millionths at or under the cap, clamped to ±_BIG (far beyond any price)."""
    if cap.is_nan() or cap >= _BIG:
        return _BIG
    return min(_BIG, max(-_BIG, math.floor(cap * _SCALE)))


def _narrow(column: np.ndarray) -> np.ndarray:
    """The column in the narrowest integers that hold it (a comparison then reads less memory)."""
    if not len(column):
        return column
    return column.astype(np.promote_types(np.min_scalar_type(int(column.min())),
                                          np.min_scalar_type(int(column.max()))))


def _at_least(column: np.ndarray, minimum: int) -> np.ndarray:
    """column ≥ minimum for any Python integer, whatever the column's integer width."""
    bounds = np.iinfo(column.dtype)
    if minimum > bounds.max:
        return np.zeros(len(column), dtype=bool)
    if minimum <= bounds.min:
        return np.ones(len(column), dtype=bool)
    return column >= minimum


def _per_gpu_ceiling(prices: np.ndarray, gpus: np.ndarray) -> np.ndarray:
    """⌈price / GPUs⌉ in millionths: price ≤ cap × GPUs ⇔ ⌈price / GPUs⌉ ≤ ⌊cap⌋ for whole millionths.
    Unknown prices stay unknown; a node of 0 GPUs passes any cap ≥ 0 exactly when its price is ≤ 0."""
    known = prices != MISSING_PRICE
    safe = np.maximum(gpus, 1)
    ceiling = -(-prices // safe)
    ceiling = np.where(gpus > 0, ceiling, np.where(prices <= 0, -_BIG, MISSING_PRICE))
    return np.where(known, ceiling, MISSING_PRICE)


class Selection:
    """The rows one query keeps."""

    def __init__(self, listing: OfferListing, mask: np.ndarray, terms: tuple[str, ...]):
        self.listing, self.mask, self.terms = listing, mask, terms
        self.count = int(np.count_nonzero(mask))

    def rows(self, offset: int, limit: int) -> list[int]:
        """Row numbers of the `limit` matches from `offset` on, in the query's order."""
        if offset >= self.count or limit <= 0:
            return []
        listing = self.listing
        if len(self.terms) == 1:
            order = listing.order(self.terms[0])
            end = min(offset + limit, self.count)
            # Walking the order to the page's last hit visits about end / count of the catalogue; when that is
            # many times the hits themselves (a narrow filter, a later page), rank the hits instead.
            if order is None or end * listing.size < _SPARSE * self.count * self.count:
                return _hits(self.mask, order, offset, limit)
            return _ranked(np.flatnonzero(self.mask), listing.rank(self.terms[0]), offset, end)
        rows = np.flatnonzero(self.mask)
        keys = [listing.ids[rows]] + [listing.sort_key(term)[rows] for term in reversed(self.terms)]
        return rows[np.lexsort(keys)][offset:offset + limit].tolist()


def _ranked(hits: np.ndarray, ranks: np.ndarray, offset: int, end: int) -> list[int]:
    """The offset-th to end-th of `hits` by rank (ranks are distinct: a total order)."""
    places = ranks[hits]
    if end < len(hits):
        first = np.argpartition(places, end - 1)[:end]
        hits, places = hits[first], places[first]
    return hits[np.argsort(places)][offset:end].tolist()


def _hits(mask: np.ndarray, order: np.ndarray | None, offset: int, limit: int) -> list[int]:
    """The offset-th to (offset+limit)-th rows of `order` that `mask` keeps, scanning chunk by chunk."""
    found: list[int] = []
    seen = 0
    for start in range(0, len(mask), _CHUNK):
        rows = slice(start, start + _CHUNK)
        hits = np.flatnonzero(mask[rows] if order is None else mask[order[rows]])
        if seen + len(hits) > offset:
            first = max(0, offset - seen)
            taken = hits[first:first + limit - len(found)] + start
            found.extend((taken if order is None else order[taken]).tolist())
            if len(found) >= limit:
                break
        seen += len(hits)
    return found
