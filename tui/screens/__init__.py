"""The screens of the review app: one module each, composition and key handling only."""
