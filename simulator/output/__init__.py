"""The run folder (one writer, one reader), summary statistics, figures and the report."""
