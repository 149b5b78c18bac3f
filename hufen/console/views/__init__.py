"""Console pages: thin views that read through selectors and write through services."""
