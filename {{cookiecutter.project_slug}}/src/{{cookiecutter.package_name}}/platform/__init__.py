"""The platform every variant runs on: settings, tracking, the API host, files, logs.

The template owns this package: `cruft update` brings its changes, so variant code
imports from it and does not edit it. Each module is its public surface.
"""
