"""Built-in datasets: generated from a seed or shipped with rulelab (never downloaded)."""
