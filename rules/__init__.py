"""Built-in learning rules: one module per rule, each written exactly as a plug-in would be.

They are registered through the ``rulelab.rules`` entry-point group in
``pyproject.toml``, the same path an installed plug-in package uses.
"""
