"""Root of the `cog` compatibility tree; shipped inside cogkit as `cogkit._compat`.

This directory (not the package) is what goes on sys.path, so `import cog` resolves to
`compat/cog` in the predictor process without installing a top-level `cog` distribution.
"""
