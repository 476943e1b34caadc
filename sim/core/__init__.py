"""Small core shared by every stage; imports nothing from the rest of :mod:`sim`.

Parameter metadata and validation (``params``), the stage interface and registry (``stage``), the maths helpers
stage formulas use (``maths``), the compiler of the stage chain (``chain``) and the result schema (``results``).
"""

#: Package version (the single definition; pyproject.toml reads it).
__version__ = "0.2.0"
