from broker.cli.commands.catalog import explanation_lines, sort_offers
from broker.cli.output import money, render_table


def test_render_table_aligns_columns_and_right_aligns_numbers():
    rows = [{"name": "lambda", "price": "2.5"}, {"name": "aws-eu", "price": "12.25"}]
    table = render_table(rows, [("PARTNER", lambda r: r["name"]), ("PRICE", lambda r: r["price"])])
    assert table.splitlines() == [
        "PARTNER  PRICE",
        "lambda     2.5",
        "aws-eu   12.25",
    ]


def test_render_table_shows_missing_values_as_dash_and_booleans_as_words():
    table = render_table([{"a": None, "b": True}], [("A", lambda r: r["a"]), ("B", lambda r: r["b"])])
    assert table.splitlines()[1].split() == ["-", "yes"]


def test_money_formats_strings_numbers_and_none():
    assert money("3.5") == "3.50"
    assert money(23.916, 3) == "23.916"
    assert money(None) == "-"


def test_offers_sort_cheapest_per_gpu_hour_first_unpriced_last():
    offers = [{"id": 3, "price_per_gpu_hour": None}, {"id": 2, "price_per_gpu_hour": "4.10"},
              {"id": 1, "price_per_gpu_hour": "2.99"}, {"id": 0, "price_per_gpu_hour": "4.10"}]
    assert [offer["id"] for offer in sort_offers(offers)] == [1, 0, 2, 3]


def test_explanation_lists_rules_by_how_many_offers_they_excluded():
    lines = explanation_lines({"considered": 120, "matched": 0, "excluded": {"gpu": 80, "policy.jurisdictions": 40}})
    assert lines == ["considered 120 offers, matched 0", "  excluded by gpu: 80",
                     "  excluded by policy.jurisdictions: 40"]
