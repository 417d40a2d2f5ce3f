"""Names whose spelling differs across the Pythons cog.yaml accepts (3.10 to 3.13).

The runtime runs on the model's Python, not cogkit's. On 3.10 `asyncio.wait_for` and aiohttp's
timeouts raise `asyncio.TimeoutError`, which only became the builtin TimeoutError in 3.11, so an
`except TimeoutError:` there lets a timeout escape.
"""

from __future__ import annotations

import asyncio

# catch this, not TimeoutError, around asyncio.wait_for and aiohttp requests
ASYNC_TIMEOUT: tuple[type[BaseException], ...] = (TimeoutError, asyncio.TimeoutError)  # noqa: UP041
