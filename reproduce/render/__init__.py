"""All formatting: markdown and CSV tables, Table 4, REPORT.md and the figures."""
