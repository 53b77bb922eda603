"""Recover: fix, undo, oops and the review's data."""
