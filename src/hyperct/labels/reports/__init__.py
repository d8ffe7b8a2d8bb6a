"""Report labelers: turn free-text chest-CT reports into the 18 conventional task labels."""
