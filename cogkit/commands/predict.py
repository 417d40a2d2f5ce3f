"""`cogkit predict [IMAGE]`: run one prediction in a container (or locally) and write its output.

Since Cog 0.20 `cog predict` is a hidden alias of `cog run` that warns
`"cog predict" is deprecated, use "cog run"` (pkg/cli/predict.go, pkg/cli/root.go); cogkit prints
the same one line (`PREDICT_DEPRECATED`) on stderr and then predicts exactly as before.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from cogkit.commands.flags import add_model_flags

    parser = subparsers.add_parser(
        "predict",
        help="run a prediction (deprecated name of `cogkit run`, as in Cog 0.20+)",
        description="Run a prediction. With IMAGE, runs that image; without, builds the project first. "
        "Inputs are checked against the model's schema before anything starts.",
        epilog="examples:\n"
        "  cogkit predict -i prompt='a cat' -i steps=20        build this project, then predict\n"
        "  cogkit predict my-model -i image=@photo.jpg -o out.png\n"
        "  cogkit predict my-model -i tags=a -i tags=b          a repeated -i builds a list\n"
        "  cogkit predict --local -i text=hi                    no Docker: this Python environment\n"
        '  echo \'{"text": "hi"}\' | cogkit predict my-model --json @-',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_flags(parser, output_default=None)
    parser.set_defaults(func=run)


PREDICT_DEPRECATED = 'warning: "cogkit predict" is deprecated, use "cogkit run" (same flags, as in Cog 0.20+)'


def run(args: argparse.Namespace) -> int:
    import sys

    from cogkit.model.prediction import run_model
    from cogkit.terminal import paint

    if getattr(args, "progress", None) != "quiet":  # quiet means quiet
        print(paint(PREDICT_DEPRECATED), file=sys.stderr, flush=True)
    return run_model(args, "predict")
