"""The stdlib-only core: call values, the runner, warm objects and the worker loop.

Everything here imports nothing outside the standard library and runs on Python >= 3.10, so a
worker process in a bare virtualenv can import it by path.
"""
