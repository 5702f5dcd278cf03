"""An application attribute that is not callable."""

application = 42
