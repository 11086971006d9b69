"""How heard talks to Kafka: client options (TLS, SASL), topic names and their creation,
reading a topic back, consumer lag, and the Faust recovery fix."""
