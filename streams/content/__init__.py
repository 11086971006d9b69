"""What a message says: rendering the writers' templates in the reader's language and
timezone, linting them, and counting SMS segments."""
