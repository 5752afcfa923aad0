"""How much one screenplay import may ask of the server; every cap is refused with one sentence.

A feature film has 100-200 scenes on about 120 pages; a whole TV season is under 1,000 scenes.
The caps leave room for that many times over, and keep one upload from holding the server.
"""

from __future__ import annotations

MAX_BYTES = 20 * 1024 * 1024  # a screenplay file, any format
MAX_SCENES = 2_000  # scene headings in one screenplay
MAX_PDF_PAGES = 1_000  # pages of a screenplay PDF
