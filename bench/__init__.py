"""Benchmarks of the kvstore service: `python -m bench` (or `make bench`).

Why a package of its own: the load generator (wrk), the servers under test and the profiler
are development tools, not part of the service; nothing in `kvstore` imports from here.
Every figure is reported as a ratio to a floor measured in the same run, because absolute
requests/s drift with whatever else the machine is doing.
"""
