"""What every platform adapter shares: splitting and showing replies, bounded caches,
titles, help text and task tracking. One piece of code per idea, used by all platforms."""
