"""Reading back what the workers did, for the people running heard: dead letters and
their replay, erasure requests, and the promise, feedback and transfer reports."""
