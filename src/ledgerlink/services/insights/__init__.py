"""Insights (issue 13): the person's category corrections and monthly budgets, kept sealed.

The rules themselves are pure (`domain/categories.py`, `recurring.py`, `insight_rules.py`);
this capability stores what the person said (`access` seals and opens it). Chat answers live in
`services/questions/`, alerts in `services/alerts/insights.py` and `budgets.py`.
"""
