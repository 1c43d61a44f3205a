"""Benchmarks (``p2plend bench …``): each times a business act against the plainest work that
must happen anyway, measured on the same database in the same run, and prints the ratio.

Our machines are shared and noisy, so no benchmark prints an absolute goal. Each prints a
short table and, as its last line, one JSON object of its figures (docs/performance.md).
Every benchmark runs on a scratch database it creates and drops — a temporary SQLite file,
or a new database on the PostgreSQL server named by ``--db`` — never on the platform's own.
"""
