"""What the CLI does through Docker itself: containers (python-on-whales) and registry credentials.

Used by cogkit.model and cogkit.commands; imports nothing of theirs (nor cogkit.build/llb/runtime).
"""
