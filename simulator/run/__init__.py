"""Executing runs: in this process, in worker processes or on Dask; sweeps; resume and interrupts."""
