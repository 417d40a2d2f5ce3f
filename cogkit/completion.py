"""Shell completion scripts generated from the CLI's argparse parser, so they never drift from it.

`walk(parser)` flattens the parser into commands (a path of subcommand names), each with its
options, the options that take a value, and the choices of those that have them. `render(shell)`
turns that into a bash function (zsh loads the same through bashcompinit) or fish `complete` lines.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field


@dataclass
class Command:
    path: tuple[str, ...]
    help: str = ""
    subcommands: dict[str, str] = field(default_factory=dict)  # name -> help
    options: dict[str, str] = field(default_factory=dict)  # option string -> help
    takes_value: set[str] = field(default_factory=set)
    choices: dict[str, list[str]] = field(default_factory=dict)
    positionals: list[str] = field(default_factory=list)  # choices of positional arguments


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), help: str = "") -> list[Command]:
    command = Command(path, help)
    found = [command]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                command.subcommands[name] = helps.get(name, "")
                found += walk(sub, (*path, name), helps.get(name, ""))
            continue
        if not action.option_strings:
            command.positionals += [str(c) for c in action.choices or ()]
            continue
        if action.help == argparse.SUPPRESS:
            continue
        for option in action.option_strings:
            command.options[option] = action.help or ""
            if action.nargs != 0:
                command.takes_value.add(option)
                if action.choices:
                    command.choices[option] = [str(c) for c in action.choices]
    return found


def _case(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"    {shlex.quote(key)}) echo {shlex.quote(value)} ;;" for key, value in pairs)


def render_bash(commands: list[Command], prog: str = "cogkit") -> str:
    fn = f"_{prog}_complete"
    key = lambda c: " ".join(c.path)  # noqa: E731
    subcommands = _case([(key(c), " ".join(c.subcommands)) for c in commands if c.subcommands])
    positionals = _case([(key(c), " ".join(c.positionals)) for c in commands if c.positionals])
    options = _case([(key(c), " ".join(c.options)) for c in commands])
    takes = _case([(key(c), " ".join(sorted(c.takes_value))) for c in commands if c.takes_value])
    choices = _case([(f"{key(c)}|{opt}", " ".join(vals))
                     for c in commands for opt, vals in c.choices.items()])
    return f"""# bash completion for {prog}, generated from its argument parser (`{prog} completion bash`)
{fn}_subcommands() {{
  case "$1" in
{subcommands}
  esac
}}
{fn}_positionals() {{
  case "$1" in
{positionals}
  esac
}}
{fn}_options() {{
  case "$1" in
{options}
  esac
}}
{fn}_takes_value() {{
  case "$1" in
{takes}
  esac
}}
{fn}_choices() {{
  case "$1" in
{choices}
  esac
}}
{fn}() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" path="" word i skip=0
  (( COMP_CWORD > 0 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word="${{COMP_WORDS[i]}}"
    if (( skip )); then skip=0; continue; fi
    if [[ "$word" == -* ]]; then
      [[ "$word" != *=* && " $({fn}_takes_value "$path") " == *" $word "* ]] && skip=1
      continue
    fi
    if [[ " $({fn}_subcommands "$path") " == *" $word "* ]]; then
      path="${{path:+$path }}$word"
    fi
  done
  if [[ "$prev" == -* && " $({fn}_takes_value "$path") " == *" $prev "* ]]; then
    local values
    values="$({fn}_choices "$path|$prev")"
    if [[ -n "$values" ]]; then
      COMPREPLY=( $(compgen -W "$values" -- "$cur") )
    else
      COMPREPLY=( $(compgen -f -- "$cur") )
    fi
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$({fn}_options "$path")" -- "$cur") )
    return 0
  fi
  COMPREPLY=( $(compgen -W "$({fn}_subcommands "$path") $({fn}_positionals "$path")" -- "$cur") )
  if (( ${{#COMPREPLY[@]}} == 0 )); then
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
  return 0
}}
complete -o filenames -F {fn} {prog}
"""


def render_zsh(commands: list[Command], prog: str = "cogkit") -> str:
    return (f"#compdef {prog}\n# zsh completion for {prog}: the bash completion, loaded through zsh's "
            f"bashcompinit\nautoload -U +X bashcompinit && bashcompinit\n" + render_bash(commands, prog))


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_fish(commands: list[Command], prog: str = "cogkit") -> str:
    lines = [f"# fish completion for {prog}, generated from its argument parser (`{prog} completion fish`)",
             f"complete -c {prog} -f"]
    for c in commands:
        if not c.path:
            condition = "__fish_use_subcommand"
        else:
            condition = " ; and ".join(f"__fish_seen_subcommand_from {name}" for name in c.path)
            if c.subcommands:
                condition += " ; and not __fish_seen_subcommand_from " + " ".join(c.subcommands)
        cond = _fish_quote(condition)
        for name, help in c.subcommands.items():
            lines.append(f"complete -c {prog} -n {cond} -a {name} -d {_fish_quote(help)}")
        if c.positionals:
            lines.append(f"complete -c {prog} -n {cond} -a {_fish_quote(' '.join(c.positionals))}")
        for option, help in c.options.items():
            flag = f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}"
            extra = ""
            if option in c.choices:
                extra = " -x -a " + _fish_quote(" ".join(c.choices[option]))
            elif option in c.takes_value:
                extra = " -r -F"
            lines.append(f"complete -c {prog} -n {cond} {flag}{extra} -d {_fish_quote(help[:80])}")
    return "\n".join(lines) + "\n"


RENDERERS = {"bash": render_bash, "zsh": render_zsh, "fish": render_fish}


def render(parser: argparse.ArgumentParser, shell: str) -> str:
    return RENDERERS[shell](walk(parser), parser.prog)
