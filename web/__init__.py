"""The edges: Flask UI, REST API, authentication, and the `sandbox` command line."""
