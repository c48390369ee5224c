"""Where a request may go: the public catalogue, the workspace's private offers, or both (DESIGN §13).

The same engine and the same rules run over both indexes (spot first, then on demand with `spot_fallback`, as
`marketplace.spot` orders them); the request's `capacity` mode decides how the two ranked lists are merged, and the
explanation counts what the mode itself excluded under the rule `fleet`.
"""

from marketplace.matching import (
    FLEET_ONLY,
    MARKETPLACE_ONLY,
    Explanation,
    MatchResult,
    OfferIndex,
    PlacementRequest,
)
from marketplace.selectors.offer_index import get_offer_index
from marketplace.selectors.private_offers import private_offer_index
from marketplace.spot import spot_first

FLEET_RULE = "fleet"  # the capacity mode: offers a `fleet_only` / `marketplace_only` request may not use


def placements_for(request: PlacementRequest, workspace_id: int | None, *, limit: int | None) -> MatchResult:
    """Ranked placements for this workspace: its private ones first under `fleet_first`, then the public ones."""
    private = private_offer_index(workspace_id)
    public = get_offer_index()
    if request.capacity == FLEET_ONLY:
        return _merged(match(request, private, limit=limit), None, excluded_by_mode=len(public))
    if request.capacity == MARKETPLACE_ONLY or not len(private):
        return _merged(None, match(request, public, limit=limit), excluded_by_mode=len(private))
    return _merged(match(request, private, limit=limit), match(request, public, limit=limit), excluded_by_mode=0,
                   limit=limit)


def match(request: PlacementRequest, index: OfferIndex, *, limit: int | None) -> MatchResult:
    placements, explanation = spot_first(request, index, limit=limit)
    return MatchResult(tuple(placements), explanation)


def _merged(first: MatchResult | None, second: MatchResult | None, *, excluded_by_mode: int,
            limit: int | None = None) -> MatchResult:
    results = [result for result in (first, second) if result is not None]
    excluded: dict[str, int] = {}
    for result in results:
        for rule, count in result.explanation.excluded.items():
            excluded[rule] = excluded.get(rule, 0) + count
    excluded[FLEET_RULE] = excluded_by_mode
    placements = tuple(p for result in results for p in result.placements)
    if limit is not None:
        placements = placements[:limit]
    explanation = Explanation(considered=sum(r.explanation.considered for r in results) + excluded_by_mode,
                              excluded=excluded, matched=sum(r.explanation.matched for r in results))
    return MatchResult(placements, explanation)
