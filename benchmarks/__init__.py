"""Benchmark scripts of the course (run from the repository root).

    python -m benchmarks.sim_throughput --quick

Each script prints a table and writes JSON under ``benchmarks/out/``; the
figures worth keeping go into ``benchmarks/RESULTS.md`` with the machine
they ran on. Nothing here is imported by ``course_lib``.
"""
