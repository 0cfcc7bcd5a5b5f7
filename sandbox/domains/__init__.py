"""A data domain per data-holding organization, each with a store of its own."""
