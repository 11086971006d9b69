"""The pure policy: given a ticket's state, an event and the time, what heard says and when.

No I/O and no clock of its own. `decide` is the entry point; each concern has a module:
the step and its outcome, the event handlers, the release rules for scheduled messages,
promises and their ladders, the options offered and chosen, customers' replies, and
routing (channels, quiet hours, team hours)."""
