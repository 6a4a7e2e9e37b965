"""The monitoring facade: one dashboard and severity-keyed alarms over the constructs' own metrics."""
