"""The message as sendguard reads it: parsing, MIME, text, greetings and quotes."""
