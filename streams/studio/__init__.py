"""The writers' studio: every message of every persona on one page, re-rendered on save."""
