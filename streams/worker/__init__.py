"""The Faust worker's agents, each a small class given what it needs.

Every agent here takes its tables as plain mappings, writes through a `Sink` and reads the
time from a clock, so a unit test drives it with dicts and a recording sink in
milliseconds; `heard.streams.worker.app` binds them to Faust's topics and tables.
"""
