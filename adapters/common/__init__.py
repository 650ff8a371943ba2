"""What every platform adapter shares: splitting and showing replies, bounded caches,
titles, help text, task tracking and incoming text. One piece of code per idea, used by all
platforms."""
