"""The edges of surveybot: platforms, stores, configuration and the command line."""
