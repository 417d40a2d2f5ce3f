"""`cogkit train [IMAGE]`: run the model's train() through /trainings and write the weights."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from cogkit.commands.flags import add_model_flags

    parser = subparsers.add_parser(
        "train",
        help="run training and write the trained weights",
        description="Run the model's `train:` entry point with the given inputs and write its output "
        "(the weights) to -o. With IMAGE, runs that image; without, builds the project first.",
    )
    add_model_flags(parser, output_default="weights")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cogkit.model.prediction import run_model

    return run_model(args, "train")
