"""Task kinds: what a task checks, measures and runs after training."""
