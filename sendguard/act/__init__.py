"""Act: keep (the queue), deliver, delay, notify, tell the observers."""
