"""The catalogue (configuration as code): its schema, loading with errors naming file and line,
lookups of stages and applications, and the clones and hosting providers its repositories name."""
