"""Helpers of the commands: mail-program setup and the demo's loopback server."""
