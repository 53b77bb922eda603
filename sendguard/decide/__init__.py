"""Decide: run the rules, turn findings into one verdict, and measure it."""
