"""The contract with producers and readers: the canonical event records and
`parse_event`, the ticket state and the records heard writes (notifications, decisions,
promise records), and builders of canonical events for tests, drills and benchmarks."""
