"""What each environment costs: a monthly on-demand estimate read from the synthesized templates.

``python -m cost.report`` (``make cost``) prints a table per environment with its top cost drivers and its
budget, and writes a stacked-bar chart next to the table. Prices come from a pinned, dated us-east-1 table
(``prices_us_east_1.json``), so an estimate needs no network and no AWS account; ``python -m
cost.refresh_prices`` re-reads it from AWS's public Price List Bulk API when a network is available.
"""
