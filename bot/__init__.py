"""surveybot's platform-neutral core: survey model, loader, expressions and the conversation engine.

Nothing in this package imports a platform SDK, a web framework or a database driver.
"""
