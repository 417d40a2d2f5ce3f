"""`cogkit predict [IMAGE]`: run one prediction in a container (or locally) and write its output."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from cogkit.commands.flags import add_model_flags

    parser = subparsers.add_parser(
        "predict",
        help="run a prediction",
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


def run(args: argparse.Namespace) -> int:
    from cogkit.model.prediction import run_model

    return run_model(args, "predict")
