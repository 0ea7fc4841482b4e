"""Charts drawn server-side as SVG (issue 13): pygal behind `services/insights/ports.ChartRenderer`."""
