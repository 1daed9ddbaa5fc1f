"""Reports: accuracy per method and budget N, aggregated in SQL from `prediction`."""
