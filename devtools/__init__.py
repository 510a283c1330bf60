"""Development tooling kept out of the product package: the embedded stores for ``make run`` and tests."""
