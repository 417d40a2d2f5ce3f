"""The model's interface: signatures, the OpenAPI document, `$ref` resolution and input validation.

One package for the build (the image's schema label), the CLI (inputs checked before a container
starts) and the runtime (the 422 answer), so all three read the document the same way. Standard
library only (no pydantic): the in-image runtime and the predictor child import it. Submodules are
imported directly (`cogkit.schema.validation`, ...) so the child's start-up pays only for what it uses.
"""
