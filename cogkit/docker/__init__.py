"""What cogkit does through Docker itself: containers, images (load, push) and registry credentials.

Used by cogkit.model, cogkit.images and cogkit.commands; imports none of them (nor buildkit/llb/runtime).
"""
