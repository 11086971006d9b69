"""What every layer stands on: the settings and their validation, redaction of personal
data in logs and reasons, the installed version, and the log format."""
