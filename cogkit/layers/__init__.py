"""cog.yaml to image layers: plan.py decides them (pure data), compile.py makes them LLB (docs/build.md)."""
