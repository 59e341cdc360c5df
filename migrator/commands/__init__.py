"""One plain function per verb: usable as an API; the CLI only parses and renders."""
