"""The CLI's side of a model project: find and build it, start it, send it inputs, write its outputs.

Called by cogkit.commands; calls cogkit.docker, cogkit.images and cogkit.runtime, never the reverse.
"""
