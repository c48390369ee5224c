"""Usage page (charts, totals, budget, CSV) and the node health page."""

from decimal import Decimal

from marketplace.models import NodeHealthEvent
from marketplace.services.node_health import node_health_record
from tests.marketplace.node_health_helpers import report

from .rows import make_deployment, make_rental


def test_usage_shows_totals_charts_and_budget(owner, catalogue):
    owner.workspace.monthly_budget = Decimal("100")
    owner.workspace.save()
    make_rental(owner.workspace, catalogue["h100_par_1x"], hours_running=2, price="3.50")
    make_deployment(owner.workspace, "chat", offer=catalogue["h100_par_1x"])
    html = owner.client.get("/usage/").content.decode()
    assert 'aria-labelledby="chart-cost-per-day-last-30-days-t' in html
    assert 'aria-labelledby="chart-cost-per-deployment-and-rental-t' in html
    assert "deployment chat" in html and "rental " in html
    assert 'id="usage-total" class="price">$10.50' in html  # 2 h + 1 h at $3.50
    assert "of $100.00 budget" in html and '<meter id="budget-meter"' in html


def test_usage_without_cost_has_an_empty_state(viewer):
    html = viewer.client.get("/usage/?days=7").content.decode()
    assert "Nothing used in the last 7 days" in html and "no budget set" in html


def test_csv_export_link_downloads_with_the_session(owner, catalogue):
    make_rental(owner.workspace, catalogue["h100_par_1x"], hours_running=1, price="3.50")
    html = owner.client.get("/usage/").content.decode()
    link = html.split('class="button secondary" href="')[1].split('"')[0].replace("&amp;", "&")
    response = owner.client.get(link)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response.content.decode().startswith("day,rental_id,deployment,partner,hours,cost_usd")
    assert ",nimbus," in response.content.decode()


def test_nodes_page_shows_gpus_health_repair_and_history(owner, stranger, catalogue):
    rental = make_rental(owner.workspace, catalogue["h100_par_1x"])
    node = rental.nodes.get()
    node_health_record(node=node, report=report())
    node_health_record(node=node, report=report("unhealthy", "reboot", ["Xid 79: GPU fell off the bus"]))
    make_rental(stranger.workspace, catalogue["h100_par_1x"], ip="198.51.100.9")
    html = owner.client.get("/nodes/").content.decode()
    assert '<span class="badge health health-unhealthy">health: unhealthy</span>' in html
    assert "<strong>reboot</strong> — Reboot the node." in html and "Xid 79: GPU fell off the bus" in html
    assert "0 · NVIDIA H100 80GB HBM3" in html and ">41<" in html
    assert f"Health history ({NodeHealthEvent.objects.filter(node=node).count()})" in html
    assert html.count('class="card node') == 1  # the stranger's node is not listed


def test_nodes_page_empty_state(viewer):
    assert "No live nodes" in viewer.client.get("/nodes/").content.decode()


def test_usage_and_rental_pages_show_spot_savings_and_a_recovered_preemption(owner, catalogue):
    from marketplace.models import Rental

    lost = make_rental(owner.workspace, catalogue["h100_par_1x"], hours_running=2, price="1.00", ended=True)
    Rental.objects.filter(pk=lost.pk).update(state="preempted", spot=True, on_demand_price_per_hour=Decimal("3.00"),
                                             failure_reason="spot node i-1 preempted by nimbus")
    recovery = make_rental(owner.workspace, catalogue["h100_par_1x"], hours_running=1, price="1.00")
    Rental.objects.filter(pk=recovery.pk).update(spot=True, on_demand_price_per_hour=Decimal("3.00"), replaces=lost)
    html = owner.client.get("/usage/").content.decode()
    assert 'id="spot-savings" class="price">$6.00' in html  # (3.00 − 1.00) × (2 h + 1 h)
    assert 'id="spot-preemptions">1, 1 recovered' in html
    page = owner.client.get(f"/rentals/{recovery.pk}/").content.decode()
    assert f"preempted rental {lost.pk}" in page and "spot" in page
    assert "Preempted:" in owner.client.get(f"/rentals/{lost.pk}/").content.decode()
