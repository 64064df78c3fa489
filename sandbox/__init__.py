"""Stand-ins and fixtures for systems that cannot run on a laptop or a CI machine.

Used by the tests, the demo and the benchmarks; never by production code paths.
"""
