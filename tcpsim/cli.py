"""The tcpsim command: thin, it parses arguments, calls the library and renders."""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path
import sys

import click
from rich.console import Console
from rich.markup import escape

from . import __version__
from .errors import DIFFERS, INCOMPLETE, INTERRUPTED, OK, STOPPED, UNSUPPORTED, USAGE, TcpsimError
from .i18n import t

_err = Console(stderr=True, highlight=False, emoji=False)


def _fail(message: str, code: int) -> None:
    _err.print(f"[bold red]tcpsim:[/] {message}", soft_wrap=True, markup=True)
    sys.exit(code)


class _Group(click.Group):
    """Turns every TcpsimError into one clear sentence and an exit code, never a traceback."""

    def invoke(self, ctx):
        _terminate_as_interrupt()
        try:
            return super().invoke(ctx)
        except TcpsimError as e:
            _fail(str(e).replace("[", "\\["), e.exit_code)
        except _Terminated as e:
            # cleaned up on the way here; now end as the signal would have ended us, so the
            # caller sees SIGTERM (or SIGHUP) as the cause
            import os
            import signal

            signal.signal(e.signum, signal.SIG_DFL)
            os.kill(os.getpid(), e.signum)
            raise SystemExit(128 + e.signum)
        except KeyboardInterrupt:
            _fail("interrupted; nothing was left behind (the lab's namespace went with it)",
                  INTERRUPTED)


class _Terminated(KeyboardInterrupt):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate_as_interrupt() -> None:
    """SIGTERM and SIGHUP end tcpsim through every finally, as Ctrl-C does: the programs
    `trace` and `lab --free` started are killed and their files removed (Python's default for
    SIGTERM dies at once, leaving them); then tcpsim dies of the signal.  A signal the caller
    ignores stays ignored."""
    import signal

    def interrupt(signum, frame):
        raise _Terminated(signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, interrupt)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tcpsim")
def main() -> None:
    """See what Linux TCP does under each socket call, checked against the real kernel."""


def _sysctl_option(f):
    return click.option("--sysctl", "sysctl", multiple=True, metavar="KEY=VALUE",
                        help="A per-namespace TCP setting, as net.ipv4.tcp_timestamps=0 "
                             "(the lab sets it in its namespace; the model uses it).")(f)


def _define_option(f):
    return click.option("-D", "--define", "define", multiple=True, metavar="SYMBOL=VALUE",
                        help="A symbol the script uses, as packetdrill's -D (run_all.py gives "
                             "TFO_COOKIE and CODE this way).")(f)


def _defines(pairs) -> dict[str, str]:
    out = {}
    for p in pairs:
        symbol, eq, value = p.partition("=")
        if not eq or not symbol:
            raise TcpsimError(f"-D {p}: give SYMBOL=VALUE, as TFO_COOKIE=3021b9d889017eeb")
        out[symbol] = value
    return out


def _mtu_option(f):
    return click.option("--mtu", type=int, default=None, metavar="N",
                        help="Loopback MTU (the lab sets lo's MTU in its namespace; the model's "
                             "profile follows), e.g. 1500 for Ethernet-sized segments.")(f)


def _picture_paths(ctx, param, value):
    for path in value:
        if not path.lower().endswith((".svg", ".png")):
            raise click.BadParameter(f"cannot tell the picture format of {path}; end the name "
                                     "with .svg or .png")
    return value


# How long `run` looks for a second exchange of the program (explore.py races()): a walk
# copies the whole run at each choice, so a program of hundreds of processes would take
# minutes and gigabytes (a 500-process program: no answer in 300 s, 3.3 GB); past this it
# says the question is open and names `tcpsim explore`.
RACE_BUDGET = 3.0


def _tsg_option(f):
    """--tsg FILE.svg|FILE.png: the time-sequence graph (render/tsg.py), repeatable."""
    return click.option("--tsg", "tsg_paths", multiple=True, type=click.Path(dir_okay=False),
                        metavar="FILE.svg|FILE.png", callback=_picture_paths,
                        help="Also draw the time-sequence graph (sequence number against "
                             "time, ACK and window lines, retransmissions marked, as tcptrace "
                             "draws it) of the busiest direction into this file "
                             "(repeatable).")(f)


def _save_picture(canvas, paths, out: Console) -> None:
    """A picture into each file (SVG or PNG by its suffix), each said."""
    for path in paths:
        canvas.save(path)
        out.print(f"[dim]{t('wrote.file', path=path)}[/]", soft_wrap=True)


def _write_tsg(trace, paths, out: Console) -> None:
    if not paths:
        return
    from .render.tsg import tsg_canvas

    _save_picture(tsg_canvas(trace), paths, out)


def _lang_option(f):
    """--lang en|zh (or TCPSIM_LANG): the language of every sentence the command shows."""
    def choose(ctx, param, value):
        from .i18n import set_lang

        set_lang(value)
        return value

    return click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
                        envvar="TCPSIM_LANG", callback=choose, expose_value=False, is_eager=True,
                        help="Language of the output: en (English) or zh (中文).")(f)


def _program(ref: str):
    """A built-in program by name, a program file, or "-": the program text on standard input."""
    from .scenario import load, parse

    if ref != "-":
        return load(ref)
    try:
        text = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError:
        raise TcpsimError("standard input is not UTF-8 text; give the program in UTF-8") from None
    return parse(text, source="<stdin>", name="stdin")


def _data_console(pcap_path: str | None, json_path: str | None) -> Console:
    """The console for a command's text: standard error when a file goes to standard output
    (as tcpdump -w - does), so that the pcap or JSON reaches the pipe alone."""
    if pcap_path == "-" and json_path == "-":
        raise click.UsageError("only one of --pcap and --json can go to standard output (-)")
    return Console(highlight=False, emoji=False, stderr="-" in (pcap_path, json_path))


def _sysctls(pairs) -> dict[str, str]:
    from .model.profile import parse_sysctl

    return dict(parse_sysctl(p) for p in pairs)


@main.command()
@click.argument("name", required=False)
def scenarios(name: str | None) -> None:
    """List the built-in programs, or print one of them."""
    from .scenario import builtin_names, load

    if name:
        # verbatim, never wrapped to the terminal's width: `scenarios NAME > f.tcp` must give a
        # file that `tcpsim check f.tcp` accepts
        click.echo(load(name).text, nl=False)
        return
    out = Console(highlight=False, emoji=False)
    from .model import KernelProfile
    from .sim.explore import races

    prof = KernelProfile.named("reference")
    for n in builtin_names():
        prog = load(n)
        mark = f"[yellow]{t('scenarios.races'):<6}[/]" if races(prog, prof) else " " * 6
        out.print(f"[bold]{n:<28}[/] {mark} {prog.description}", soft_wrap=True)
    out.print("\n[dim]Print one with `tcpsim scenarios NAME`; run it on the real kernel with "
              "`tcpsim lab NAME`; programs marked `races` have more than one exchange when "
              "their processes run concurrently: `tcpsim explore NAME` shows them all.[/]",
              soft_wrap=True)


@main.command()
@click.argument("program")
@click.option("--profile", default="reference", show_default=True,
              help="Kernel profile of the model (tcpsim run --help lists them).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the model's ISNs and ports.")
@click.option("--limit", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Stop after this many schedules.")
@click.option("--json", "as_json", is_flag=True, help="Write the outcomes as JSON on stdout.")
@click.option("--sysctl", multiple=True, metavar="NAME=VALUE",
              help="Model a kernel with this setting changed (repeatable).")
@_lang_option
def explore(program: str, profile: str, seed: int, limit: int, as_json: bool,
            sysctl) -> None:
    """Every exchange PROGRAM can produce when its processes run concurrently, and the
    ordering that makes each one: which process's call goes first, two calls at once, and
    the kernel's clock against a call (a timer due within a jiffy, a delayed segment) when
    the call runs a little late (docs/concurrency.md)."""
    import json

    from .model import KernelProfile
    from .render.explore import exploration_json, render_exploration
    from .sim.explore import explore as walk

    prog = _program(program)
    prof = KernelProfile.named(profile).with_sysctls(_sysctls(sysctl))
    with _walk_progress(prog.name) as progress:
        exp = walk(prog, prof, seed=seed, limit=limit, progress=progress)
    if as_json:
        click.echo(json.dumps(exploration_json(exp), indent=2))
        return
    render_exploration(exp, prog, Console(highlight=False, emoji=False))


@main.command()
@click.argument("program")
def check(program: str) -> None:
    """Parse a program and report its first error (line and column), or that it is well formed."""
    p = _program(program)
    Console(highlight=False, emoji=False).print(
        f"{p.source}: {len(p.steps)} calls by {len(p.processes)} processes "
        f"({', '.join(p.processes)}); well formed", soft_wrap=True)


@main.command()
@click.argument("program")
@click.option("--pcap", "pcap_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the capture here (-: standard output, the text then on standard error).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the Trace here (-: standard output, the text then on standard error).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds with every process waiting and nothing happening before giving up.")
@click.option("--tail", type=click.FloatRange(min=0), default=100.0, show_default=True,
              help="Milliseconds to keep watching after the last call (delayed ACKs, final ACKs).")
@click.option("--sequence", "sequence_paths", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE.svg|FILE.png", callback=_picture_paths,
              help="Also draw the kernel's sequence (ladder) diagram into this file (repeatable).")
@_tsg_option
@click.option("--explain", is_flag=True, help="After each step, say why it happened.")
@click.option("--free", is_flag=True,
              help="Run the processes as concurrent OS processes, nothing ordering them, and "
                   "check each run's exchange against `tcpsim explore`'s set.")
@click.option("--runs", type=click.IntRange(min=1), default=20, show_default=True,
              help="With --free: how many runs.")
@_lang_option
@_sysctl_option
@_mtu_option
def lab(program: str, pcap_path: str | None, json_path: str | None, timeout: float,
        tail: float, sequence_paths, tsg_paths, explain: bool, free: bool, runs: int, sysctl,
        mtu: int | None) -> None:
    """Run PROGRAM (a built-in name or a file) on real sockets in a private network namespace."""
    from .lab import LabStuck, run_lab
    from .render import render_header, render_summary, render_timeline

    prog = _program(program)
    out = _data_console(pcap_path, json_path)
    if free:
        if mtu is not None:
            raise click.UsageError("--free runs at lo's own MTU; leave out --mtu")
        if sequence_paths or tsg_paths:
            raise click.UsageError("--free makes many runs; draw one without --free")
        # a free run hangs when nothing happens for a second, unless --timeout says otherwise
        given = click.get_current_context().get_parameter_source("timeout")
        _lab_free(prog, runs, timeout if given == click.core.ParameterSource.COMMANDLINE else 1.0,
                  _sysctls(sysctl), out)
        return
    try:
        trace = run_lab(prog, tail=tail / 1000, timeout=timeout, sysctls=_sysctls(sysctl),
                        mtu=mtu)
    except LabStuck as stuck:
        trace = stuck.trace
        render_header(trace, out)
        render_timeline(trace, out)
        raise
    render_header(trace, out)
    render_timeline(trace, out, explain=explain)
    render_summary(trace, out)
    _write_outputs(trace, pcap_path, json_path, out)
    _write_sequence(trace, sequence_paths, out)
    _write_tsg(trace, tsg_paths, out)
    if any(c.ok is False for c in trace.calls):
        sys.exit(DIFFERS)


@contextlib.contextmanager
def _walk_progress(name: str):
    """A progress callback for explore(): on a terminal, one line on stderr that says how far
    the walk has come (schedules walked, exchanges found) and is gone when it ends; elsewhere
    (a pipe, a file, CI) nothing."""
    if not _err.is_terminal:
        yield None
        return
    with _err.status(f"exploring {name}", spinner="dots") as status:
        yield lambda schedules, exchanges: status.update(
            f"exploring {name}: {schedules} schedules walked, {exchanges} exchanges so far")


def _lab_free(prog, runs: int, timeout: float, overrides: dict, out: Console) -> None:
    """lab --free: the distribution of the exchanges the kernel showed, against the set."""
    from collections import Counter

    from .lab.free import run_free
    from .model import KernelProfile
    from .render.explore import how, nearest_outcome
    from .sim.explore import explore

    with _walk_progress(prog.name) as progress:
        exp = explore(prog, KernelProfile.named("reference").with_sysctls(overrides),
                      progress=progress)
    index = {o.signature: i for i, o in enumerate(exp.outcomes)}
    seen: Counter = Counter()
    outside = []
    for _ in range(runs):
        run = run_free(prog, timeout=timeout, overrides=overrides)
        i = index.get(run.signature)
        seen[i] += 1
        if i is None:
            outside.append(run)
    out.print(f"[bold]{t('free.title', program=prog.name, runs=runs)}[/]", soft_wrap=True)
    for i, o in enumerate(exp.outcomes):
        why = how(exp, i)
        out.print(f"  {seen[i]:>4}  {t('explore.outcome', n=i + 1, total=len(exp.outcomes), runs=o.runs)}"
                  f"[dim]{': ' + why if why else ''}[/]", soft_wrap=True)
    if outside:
        j, diff = nearest_outcome(exp, outside[0].signature)
        out.print(f"[bold red]{t('free.outside', n=len(outside), nearest=j + 1, diff=diff)}[/]",
                  soft_wrap=True)
        sys.exit(DIFFERS)
    out.print(f"[green]{t('free.inside', runs=runs, seen=len([k for k in seen if k is not None]), total=len(exp.outcomes))}[/]",
              soft_wrap=True)


@main.command(name="trace")
@click.argument("commands", nargs=-1, required=True, metavar="CMD [CMD...]")
@click.option("--after", type=click.FloatRange(min=0), default=None, metavar="MS",
              help="Start each command this many milliseconds after the one before it "
                   "(default: once the one before has blocked in a call or exited).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds with nothing happening (no segment, no command ending) before the commands "
                   "still running are killed.")
@click.option("--tail", type=click.FloatRange(min=0), default=100.0, show_default=True,
              help="Milliseconds to keep capturing after the last command exits.")
@click.option("--save", "save_path", type=click.Path(dir_okay=False),
              help="Write the recovered program here (scenario format, e.g. mine.tcp).")
@click.option("--pcap", "pcap_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the capture here (-: standard output, the text then on standard error).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the kernel's Trace here (-: standard output, the text then on standard error).")
@click.option("--sequence", "sequence_paths", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE.svg|FILE.png", callback=_picture_paths,
              help="Also draw the kernel's sequence (ladder) diagram into this file (repeatable).")
@_tsg_option
@click.option("--explain", is_flag=True, help="After each step, say why it happened.")
@click.option("--limit", type=click.IntRange(min=1), default=5_000, show_default=True,
              help="Stop walking the program's schedules after this many (when the run is not "
                   "the file order's exchange).")
@_lang_option
def trace_cmd(commands, after, timeout: float, tail: float, save_path, pcap_path, json_path,
              sequence_paths, tsg_paths, explain: bool, limit: int) -> None:
    """Run your own programs on the real kernel and hold them to the model.

    Each CMD is a shell command line (quote it: './client 127.0.0.1'), started in the given
    order in one private network namespace, the next once the one before has blocked in a
    call (a server in accept()) or exited.  Their calls on TCP sockets are recorded with
    strace and the loopback traffic captured; tcpsim shows the kernel's timeline, the program
    those calls are (scenario format), and whether the capture is one of the exchanges that
    program can produce in the model.  Needs root, and strace.

    Exit status: 0 the run is one of the program's exchanges, 1 it is not, 2 unusable input
    (no command, strace missing), 3 needs root, 7 the capture lost frames."""
    from .render import render_header, render_timeline

    out = _data_console(pcap_path, json_path)
    from .lab.traced import run_traced

    traced = run_traced(list(commands), after=None if after is None else after / 1000,
                        timeout=timeout, tail=tail / 1000)
    trace = traced.trace
    render_header(trace, out)
    render_timeline(trace, out, explain=explain)
    for note in trace.notes:
        out.print(f"[yellow]{escape(note)}[/]", soft_wrap=True)
    for process, text in traced.outputs.items():
        if text.strip():
            out.print(f"[dim]{escape(t('trace.output', process=process))}[/]", soft_wrap=True)
            for line in text.rstrip("\n").splitlines()[:20]:
                out.print(f"[dim]  | {escape(line)}[/]", soft_wrap=True)
    out.print()
    out.print(f"[bold]{escape(t('trace.program'))}[/]", soft_wrap=True)
    for line in traced.text.splitlines():
        out.print(f"  {escape(line)}", soft_wrap=True, highlight=False)
    for process, calls in traced.left_out.items():
        out.print(f"[dim]{escape(t('trace.left_out', process=process, calls=', '.join(calls)))}[/]",
                  soft_wrap=True)
    for why in traced.unsupported:
        out.print(f"[yellow]{escape(why)}[/]", soft_wrap=True)
    if save_path:
        try:
            Path(save_path).write_text(traced.text)
        except OSError as e:
            raise TcpsimError(f"cannot write {save_path}: {e.strerror}; choose a writable path")
        out.print(f"[dim]{escape(t('wrote.file', path=save_path))}[/]", soft_wrap=True)
    _write_outputs(trace, pcap_path, json_path, out)
    _write_sequence(trace, sequence_paths, out)
    _write_tsg(trace, tsg_paths, out)
    code = _hold_traced(traced, limit, out)
    sys.exit(code)


def _hold_traced(traced, limit: int, out: Console) -> int:
    """The verdict of `tcpsim trace`: the run held against the recovered program."""
    from .compare.against import hold_traced, trace_packets
    from .model import KernelProfile

    trace = traced.trace
    if traced.program is None:
        if any(not ln.startswith("#") for ln in traced.text.splitlines()):
            return DIFFERS  # the lines do not make a program: the reason is printed above
        out.print(f"[yellow]{escape(t('trace.nothing'))}[/]", soft_wrap=True)
        return DIFFERS if traced.unsupported else OK
    if trace.capture_lost:
        out.print(f"[yellow]{escape(t('trace.not_held', why=t('note.capture_lost', n=trace.capture_lost)))}[/]",
                  soft_wrap=True)
        return INCOMPLETE
    prof = KernelProfile.from_trace(trace, where="the traced run")
    if traced.congestion and traced.congestion != prof.modelled_congestion:
        out.print(f"[dim]{escape(t('trace.congestion', cc=traced.congestion, model=prof.modelled_congestion))}[/]",
                  soft_wrap=True)
    packets = trace_packets(trace)
    held = hold_traced(packets, trace, traced.program, prof, limit=limit)
    _print_held(held, _exchange(held), dict(name=trace.program, capture=t("trace.the_run"),
                                            profile=prof.name, n=len(packets)), out)
    return OK if held.ok and not traced.unsupported else DIFFERS


@main.command()
@click.argument("program")
@click.option("--pcap", "pcap_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the segments here (-: standard output, the text then on standard error).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the Trace here (-: standard output, the text then on standard error).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Fixes every ISN, TS offset and ephemeral port.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds of the model's clock with every process waiting and nothing "
                   "happening (no timer due) before giving up.")
@click.option("--profile", default="reference", show_default=True,
              help="The kernel to model: a built-in profile, or 'host' for this machine's sysctls.")
@click.option("--ladder/--no-ladder", default=True, show_default=True,
              help="Draw the ladder diagram after the timeline.")
@click.option("--sequence", "sequence_paths", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE.svg|FILE.png", callback=_picture_paths,
              help="Also draw the sequence (ladder) diagram into this file (repeatable).")
@_tsg_option
@click.option("--explain", is_flag=True,
              help="After each step, say why it happened and cite the rule (RFC section, "
                   "kernel function).")
@_lang_option
@_sysctl_option
@_mtu_option
def run(program: str, pcap_path, json_path, seed: int, timeout: float, profile: str,
        ladder: bool, sequence_paths, tsg_paths, explain: bool, sysctl,
        mtu: int | None) -> None:
    """Show what Linux TCP does under each call of PROGRAM, in the model (no root needed).

    Exit status: 0 every call returned what the program expects, 1 some did not, 6 the
    program is stuck (its timeline up to there is shown)."""
    from .model import KernelProfile
    from .render import render_header, render_ladder, render_summary, render_timeline
    from .sim.runner import Stuck
    from .sim.world import run_model

    prog = _program(program)
    prof = KernelProfile.named(profile).with_sysctls(_sysctls(sysctl)).with_mtu(mtu)
    out = _data_console(pcap_path, json_path)
    try:
        trace = run_model(prog, prof, seed=seed, timeout=timeout)
    except Stuck as stuck:
        # what happened up to the wait that never ends, then the sentence naming that wait
        render_header(stuck.trace, out)
        render_timeline(stuck.trace, out, explain=explain)
        raise
    render_header(trace, out)
    render_timeline(trace, out, explain=explain)
    if ladder:
        render_ladder(trace, out)
    render_summary(trace, out)
    if not explain:
        out.print(f"[dim]{t('run.hint.explain')}[/]", soft_wrap=True)
    from .sim.explore import races

    found = races(prog, prof, seed, budget=RACE_BUDGET)
    if found:
        out.print(f"[yellow]{t('run.hint.races', program=program)}[/]", soft_wrap=True)
    elif found is None:
        out.print(f"[dim]{t('run.hint.races.unknown', program=program, s=f'{RACE_BUDGET:g}')}[/]",
                  soft_wrap=True)
    _write_outputs(trace, pcap_path, json_path, out)
    _write_sequence(trace, sequence_paths, out)
    _write_tsg(trace, tsg_paths, out)
    if any(c.ok is False for c in trace.calls):
        sys.exit(DIFFERS)  # as lab does: a script can tell the model ran the program otherwise


def _write_sequence(trace, paths, out: Console, differences=None) -> None:
    """The sequence diagram into each file (SVG or PNG by suffix), explanations as tooltips;
    with verify's differences, each segment marked as matched by the kernel or not."""
    if not paths:
        return
    from .render.sequence import segment_marks, sequence_canvas
    from .teach import explain

    marks = None if differences is None else segment_marks(trace, differences)
    notes = {k: w.line() for k, w in explain(trace).items()}
    _save_picture(sequence_canvas(trace, marks, notes), paths, out)


# verify --all's programs at once by default: each lab run is mostly idle (the program's sleeps,
# the 100 ms tail), and each has its own namespace; docs/status.md ("verify --all in parallel")
# has the times and verdicts measured at 1, 2, 4 and 8 on the 2-core machine.
VERIFY_JOBS = 4


@main.command()
@click.argument("program", required=False)
@click.option("--all", "run_all", is_flag=True, help="Verify every built-in program.")
@click.option("--profile", default=None,
              help="Model this profile instead of the kernel the lab ran on (to see verify fail).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True)
@click.option("--sequence", "sequence_paths", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE.svg|FILE.png", callback=_picture_paths,
              help="Draw the model's sequence diagram with each segment marked as matched by "
                   "the kernel or not (one PROGRAM only; repeatable).")
@_tsg_option
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="With --all: verify this many programs at once, each in its own process and "
                   f"namespace.  [default: {VERIFY_JOBS}]")
@_lang_option
@_sysctl_option
@_mtu_option
def verify(program: str | None, run_all: bool, profile: str | None, seed: int, timeout: float,
           sequence_paths, tsg_paths, jobs: int | None, sysctl, mtu: int | None) -> None:
    """Run PROGRAM in the model and on the real kernel, and compare them field by field."""
    from rich.table import Table

    from .scenario import builtin_names

    if bool(program) == run_all:
        raise click.UsageError("give one PROGRAM, or --all")
    if run_all and (sequence_paths or tsg_paths):
        raise click.UsageError(f"--{'sequence' if sequence_paths else 'tsg'} draws one program: "
                               "give PROGRAM instead of --all")
    out = Console(highlight=False, emoji=False)
    names = builtin_names() if run_all else [program]
    overrides = _sysctls(sysctl)
    results = []
    if run_all:
        results = _verify_all(names, jobs or VERIFY_JOBS, out,
                              (profile, seed, timeout, overrides, mtu))
        table = Table(*(t(f"verify.col.{c}") for c in ("program", "verdict", "segments", "calls",
                                                         "differences")))
        for r in results:
            table.add_row(r["name"], f"[green]{t('verdict.match')}[/]" if r["ok"]
                          else f"[yellow]{t('verdict.incomplete')}[/]" if r["lab"].capture_lost
                          else f"[red]{t('verdict.differs')}[/]",
                          str(r["segments"]), str(r["calls"]), str(len(r["diffs"])))
        out.print(table)
    else:
        results.append(_verify_one(_program(program), profile, seed, timeout, overrides,
                                   program, mtu))
    for r in results:
        if not (run_all and r["ok"]):  # the table already says "match"
            _print_verdict(r, out)
    if sequence_paths:
        _write_sequence(results[0]["model"], sequence_paths, out, results[0]["diffs"])
    if tsg_paths:  # the kernel's run: what the model is held to
        _write_tsg(results[0]["lab"], tsg_paths, out)
    if not all(r["ok"] or r["lab"].capture_lost for r in results):
        sys.exit(DIFFERS)
    if not all(r["ok"] for r in results):
        sys.exit(INCOMPLETE)


@main.command()
@click.argument("capture", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--program", default=None, metavar="NAME|FILE",
              help="Hold the capture against what the model predicts for this program.")
@click.option("--profile", default=None,
              help="Model profile for --program (default: the capture's own kernel if its "
                   "Trace JSON lies next to it, else 'reference').")
@click.option("--json", "as_json", is_flag=True, help="Write the findings as JSON on stdout.")
@click.option("--limit", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="With --program: stop walking the program's schedules after this many.")
@click.option("--sequence", "sequence_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Also draw the sequence (ladder) diagram of the capture's connections "
                   "(--connection; default the first) into this file, SVG or PNG (repeatable).")
@_tsg_option
@click.option("--connection", "connections", multiple=True, type=click.IntRange(min=1),
              metavar="N", help="The connection (compare's number) --sequence and --tsg draw "
                                "(repeatable; default: the first).")
@_lang_option
def compare(capture: str, program: str | None, profile: str | None, as_json: bool,
            limit: int, sequence_paths, tsg_paths, connections) -> None:
    """Check each TCP connection of a pcap/pcapng capture against the model's rules.

    Exit status: 0 every connection conforms (or is only partly captured), 1 some depart,
    2 the file cannot be read, 4 reading stopped part way (the findings before it stand).
    CAPTURE - reads the capture from standard input (tcpdump -w - | tcpsim compare -)."""
    out = Console(highlight=False, emoji=False)
    if capture == "-" and program == "-":
        raise click.UsageError(t("compare.usage.both_stdin"))
    if capture == "-" and (sequence_paths or tsg_paths):
        raise click.UsageError(t("compare.usage.pictures_stdin"))
    if program is not None:
        code = _compare_program(capture, program, profile, as_json, limit, out)
    else:
        from .compare.report import render_text, write_json

        code = write_json(capture, sys.stdout) if as_json else render_text(capture, out, True)
    if (sequence_paths or tsg_paths) and code in (OK, DIFFERS, STOPPED):
        # (with --json the JSON alone is on standard output: "wrote FILE" goes to stderr)
        _compare_pictures(capture, connections, sequence_paths, tsg_paths,
                          Console(stderr=True, highlight=False, emoji=False) if as_json else out)
    sys.exit(code)


def _compare_pictures(capture: str, connections, sequence_paths, tsg_paths,
                      out: Console) -> None:
    """compare --sequence / --tsg: the chosen connections of the capture, drawn."""
    from .compare.pictures import NoConnection, choose, sequence_picture, tsg_picture

    try:
        chosen = choose(capture, tuple(connections))
    except NoConnection as e:
        raise click.UsageError(str(e)) from None
    if sequence_paths:
        _save_picture(sequence_picture(chosen), sequence_paths, out)
    if tsg_paths:
        _save_picture(tsg_picture(chosen), tsg_paths, out)


def _compare_program(capture: str, program: str, profile: str | None, as_json: bool,
                     limit: int, out: Console) -> int:
    import json
    from pathlib import Path

    from .compare.against import hold_capture
    from .model import KernelProfile
    from .pcap.reader import Reader
    from .trace import Trace

    prog = _program(program)
    with Reader(capture, payload=True) as reader:
        packets = list(reader)
    if reader.stopped is not None:
        out.print(f"[yellow]{t('against.stopped', frame=reader.stopped.number, reason=reader.stopped.reason)}[/]",
                  soft_wrap=True)
    meta = Path(capture).with_suffix(".json")
    if profile is None and capture != "-" and meta.is_file():
        prof = KernelProfile.from_trace(Trace.load(meta), where=f"trace {meta}")
    else:
        prof = KernelProfile.named(profile or "reference")
    held = hold_capture(packets, prog, prof, limit=limit)
    exchange = _exchange(held)
    if as_json:
        print(json.dumps({"format": "tcpsim-compare/1", "program": prog.name,
                          "profile": prof.name, "match": held.ok, **exchange,
                          "differences": [d.sentence for d in held.differences]}, indent=1))
        return STOPPED if reader.stopped is not None else OK if held.ok else DIFFERS
    names = dict(name=prog.name, capture="standard input" if capture == "-" else capture,
                 profile=prof.name, n=len(packets))
    _print_held(held, exchange, names, out)
    _exchange_notes(held, prog, prof, program, out)
    return STOPPED if reader.stopped is not None else OK if held.ok else DIFFERS


def _print_held(held, exchange: dict, names: dict, out: Console) -> None:
    """A run held against a program's exchanges: the verdict, the ordering that makes the
    exchange (or the first departure from the nearest), and the differences."""
    if held.ok:
        key = "against.match" if held.outcome is None else "against.match.exchange"
    elif held.nearest is not None:
        key = "against.outside"
    else:
        key = "against.differs" if held.outcome is None else "against.differs.exchange"
    place = exchange["exchange"] or exchange["nearest"] or {}
    out.print(_verdict(t(key, **names, k=place.get("index"), total=place.get("of"),
                         count=len(held.differences)), held.ok), soft_wrap=True)
    _exchange_lines(held, exchange, out)
    for d in held.differences[:12]:
        out.print(f"  - {d.sentence}", soft_wrap=True, markup=False)


def _verdict(sentence: str, ok: bool) -> str:
    """The sentence with its first word (match / differs) coloured."""
    head, rest = sentence.split(" ", 1)
    return f"[bold {'green' if ok else 'red'}]{escape(head)}[/] {escape(rest)}"


def _exchange(held) -> dict:
    """Which of the program's exchanges a run is ("exchange"), or the nearest ("nearest")."""
    from .render.explore import how

    exp = held.exploration
    info: dict = {"exchange": None, "nearest": None, "first_difference": held.first_difference
                  or None, "exchanges": None if exp is None else len(exp.outcomes),
                  "complete": None if exp is None else exp.complete}
    if held.outcome is not None:
        info["exchange"] = {"index": held.outcome + 1, "of": len(exp.outcomes),
                            "how": how(exp, held.outcome)}
    if held.nearest is not None:
        info["nearest"] = {"index": held.nearest + 1, "of": len(exp.outcomes),
                           "how": how(exp, held.nearest)}
    info["races"] = [{"kind": r.kind, "segment": r.segment + 1} for r in held.races]
    return info


def _exchange_lines(held, exchange: dict, out: Console) -> None:
    """Under the verdict: the ordering that makes the exchange; outside the set, where the run
    first departs from the nearest exchange."""
    place = exchange["exchange"] or exchange["nearest"]
    if place and place["how"]:
        out.print(f"  [italic]{escape(place['how'])}[/]", soft_wrap=True)
    if held.nearest is not None:
        out.print(f"  {escape(t('against.first', diff=held.first_difference))}", soft_wrap=True)
    for race in held.races:  # decisions on microseconds the run took the other way
        out.print(f"  [italic]{escape(t('against.race.' + race.kind, segment=race.segment + 1))}[/]",
                  soft_wrap=True)


def _exchange_notes(held, prog, prof, program: str, out: Console) -> None:
    """What a reader needs next: the walk was cut short; the program has other exchanges."""
    exp = held.exploration
    if exp is not None and not exp.complete:
        out.print(f"[yellow]{t('against.incomplete', limit=exp.schedules)}[/]", soft_wrap=True)
    if held.ok and held.outcome is None:
        from .sim.explore import races

        if races(prog, prof):
            out.print(f"[dim]{t('against.file_order', program=program)}[/]", soft_wrap=True)
    elif exp is not None:
        out.print(f"[dim]{t('against.see_all', program=program)}[/]", soft_wrap=True)


@main.command()
@click.option("--profile", default="reference", show_default=True)
def coverage(profile: str) -> None:
    """Which rules of the transition table the built-in programs exercise, and which none does."""
    from rich.table import Table

    from .model import KernelProfile
    from .model.table import NOT_EXERCISED, RULES
    from .scenario import builtin_names, load
    from .sim.world import rules_followed

    prof = KernelProfile.named(profile)
    by_rule: dict[tuple, list[str]] = {(r.state, r.event): [] for r in RULES}
    for name in builtin_names():
        for key in rules_followed(load(name), prof):
            by_rule[key].append(name)
    table = Table("state", "event", "next", "programs", "for example, or why none")
    for r in RULES:
        progs = by_rule[(r.state, r.event)]
        why = NOT_EXERCISED.get((r.state, r.event), "")
        table.add_row(r.state, r.event, r.next, str(len(progs)) if progs else "[red]none[/]",
                      progs[0] if progs else f"[dim]{why}[/]")
    out = Console(highlight=False, emoji=False, width=max(100, Console().width))
    out.print(table)
    done = sum(1 for v in by_rule.values() if v)
    unexplained = [k for k, v in by_rule.items() if not v and k not in NOT_EXERCISED]
    summary = f"{done} of {len(RULES)} rules exercised by the {len(builtin_names())} built-in programs"
    if done < len(RULES):
        summary += f"; {len(RULES) - done} by none" + (
            f", {len(unexplained)} of them without a reason yet" if unexplained
            else ", each with its reason")
    out.print(summary)


@main.command()
@click.option("-n", "--n", "count", type=click.IntRange(min=1), default=100, show_default=True,
              help="How many programs to generate.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The generator's seed: the same seed makes the same programs.")
@click.option("--profile", default=None,
              help="Model this profile instead of the kernel the lab ran on.")
@_mtu_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="selfcheck",
              show_default=True, help="Where each cause's minimal program and traces go.")
@click.option("--json", "as_json", is_flag=True, help="Write the report as JSON on stdout.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help=f"Check this many programs at once, each in its own process and namespace.  "
                   f"[default: {VERIFY_JOBS}]")
@click.option("--shrink", "shrink_runs", type=click.IntRange(min=0), default=80, show_default=True,
              help="Candidate programs the shrinker runs at most per cause (0: no shrinking).")
@click.option("--again", "again_path", type=click.Path(dir_okay=False), default=None,
              help="Check again only the programs an earlier run found diverging or counted "
                   "apart (its REPORT, DIR/selfcheck.json), with its seed: which of its causes "
                   "are gone.")
@_lang_option
def selfcheck(count: int, seed: int, profile: str | None, mtu: int | None, out_dir: str,
              as_json: bool, jobs: int | None, shrink_runs: int, again_path: str | None) -> None:
    """Generate random programs, run each in the model and on the real kernel, and hold the
    kernel's run against the model's exchanges (as verify does); shrink each cause of
    divergence to a minimal program, written to --out as cause-K.tcp (replay it with tcpsim
    verify) with both traces.  Needs root.

    Exit status: 0 no program diverged (the ones the lab could not run faithfully, the model
    refused or could not walk are counted apart), 1 some diverged, 2 unusable input, 3 needs
    root."""
    import json
    from collections import Counter

    from rich.progress import Progress
    from rich.table import Table

    from .lab.netns import private_netns
    from .model import KernelProfile
    from .selfcheck import STATUSES, run as selfcheck_run

    if profile:
        KernelProfile.named(profile).with_mtu(mtu)  # a wrong name or --mtu: refused at once
    indices, earlier = None, []
    if again_path:
        from .selfcheck import findings_of

        try:
            seed, indices, earlier = findings_of(json.loads(Path(again_path).read_text()))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            _fail(f"--again {again_path}: cannot read it as a selfcheck report "
                  f"({getattr(e, 'strerror', None) or e}); give the selfcheck.json an earlier "
                  "run wrote to its --out directory", USAGE)
        from .selfcheck import generator_id

        drawn_by = json.loads(Path(again_path).read_text()).get("generator")
        if drawn_by != generator_id():
            _err.print(t("selfcheck.again.generator", path=again_path), soft_wrap=True,
                       markup=False)
        if not indices:
            out = Console(highlight=False, emoji=False)
            out.print(f"--again {again_path}: that run found nothing to check again (every "
                      "program agreed).")
            return
        count = len(indices)
    with private_netns("tcpsim selfcheck"):  # without root: its one sentence, exit 3
        pass
    out = Console(highlight=False, emoji=False, stderr=as_json)

    def map_jobs(job, items, jobs_, done):
        stage = t("selfcheck.stage.checking") if items and isinstance(items[0][0], int) \
            else t("selfcheck.stage.shrinking")
        seen: dict[str, int] = {}

        @contextlib.contextmanager
        def watch():
            with Progress(transient=True, console=out) as bar:
                task = bar.add_task(stage, total=len(items))

                def finished(item, result):
                    done(item, result)
                    r = result[0] if isinstance(result, tuple) else result
                    seen[r.status] = seen.get(r.status, 0) + 1
                    bar.update(task, advance=1, description=f"{stage} " + ", ".join(
                        f"{t('selfcheck.status.' + s)} {seen[s]}" for s in STATUSES if s in seen))
                yield finished

        return _in_workers(job, items, jobs_, watch)

    report = selfcheck_run(count, seed=seed, profile=profile, mtu=mtu, jobs=jobs or VERIFY_JOBS,
                           out=out_dir, shrink_runs=shrink_runs, map_jobs=map_jobs,
                           indices=indices)
    # --again: what became of each cause of the earlier run
    again = [{"key": c.get("key", ""), "programs": len(c["programs"]),
              "now": dict(Counter(report.statuses.get(int(i), "?") for i in c["programs"]))}
             for c in earlier]
    if as_json:
        click.echo(json.dumps(report.to_dict() | ({"again": again} if again_path else {}),
                              indent=2))
    table = Table(t("selfcheck.table.outcome"), t("selfcheck.table.programs"))
    for s in STATUSES:
        table.add_row(t("selfcheck.status." + s), str(report.counts.get(s, 0)))
    out.print(table)
    if report.causes:
        causes = Table("#", t("selfcheck.table.programs"), t("selfcheck.table.cause"),
                       t("selfcheck.table.lines"), t("selfcheck.table.minimal"))
        for k, c in enumerate(report.causes, 1):
            causes.add_row(str(k), str(c.count), escape(c.key), str(c.lines), c.path)
        out.print(causes)
    for why, n in report.refused.most_common():
        out.print(t("selfcheck.refused", n=n, why=escape(why)), soft_wrap=True)
    if again:
        before = Table("#", t("selfcheck.table.earlier"), t("selfcheck.table.programs"),
                       t("selfcheck.table.now"))
        for k, c in enumerate(again, 1):
            before.add_row(str(k), escape(c["key"]), str(c["programs"]), ", ".join(
                f"{t('selfcheck.status.' + s)} {c['now'][s]}" for s in STATUSES if s in c["now"]))
        out.print(before)
    agreed = report.counts.get("agree", 0)
    out.print(t("selfcheck.summary.again" if again_path else "selfcheck.summary", agreed=agreed,
                count=count, diverged=report.diverged,
                causes=len(report.causes), apart=count - agreed - report.diverged, seed=seed,
                seconds=f"{report.seconds:.0f}", path=f"{out_dir}/selfcheck.json"),
              soft_wrap=True)
    if report.diverged:
        sys.exit(DIFFERS)


def _verify_all(names: list[str], jobs: int, out: Console, args: tuple) -> list[dict]:
    """_verify_one() of each built-in, in names' order, `jobs` of them at once in worker
    processes (forked: the parent's settings, --lang included, go with them); each lab run
    makes its own private namespace, as one run alone does.  Interrupted (Ctrl-C, SIGTERM),
    the workers are killed and waited for, and their namespaces go with them."""
    from rich.progress import Progress

    from .scenario import load

    if jobs == 1 or len(names) == 1:
        results = []
        with Progress(transient=True, console=out) as bar:
            task = bar.add_task("verifying", total=len(names))
            for name in names:
                bar.update(task, description=name)
                results.append(_verify_one(load(name), *args[:4], name, args[4]))
                bar.advance(task)
        return results
    # the longest pauses first (time-wait-expiry's 63 s sleep sets the floor), so that the
    # others run beside them
    order = sorted(names, key=lambda n: -load(n).total_sleep)

    @contextlib.contextmanager
    def watch():
        with Progress(transient=True, console=out) as bar:
            task = bar.add_task("verifying", total=len(names))
            yield lambda item, result: bar.update(task, description=item[0], advance=1)

    by_name = dict(zip(order, _in_workers(_verify_job, [(name, args) for name in order], jobs,
                                          watch)))
    return [by_name[name] for name in names]


def _in_workers(job, items: list[tuple], jobs: int, watch=None) -> list:
    """job(*item) for each item, `jobs` of them at once in worker processes (forked: the
    parent's settings, --lang included, go with them), the results in items' order.
    watch(): a context manager (a progress bar) giving done(item, result), called as each
    finishes; it starts after every worker is forked (at the first submit: the fork context
    starts them all at once), so that no thread of it is forked.  Interrupted
    (Ctrl-C, SIGTERM), the workers are killed and waited for, and their lab namespaces go with
    them.  verify --all and selfcheck use it."""
    import multiprocessing
    import os
    import signal
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(min(jobs, len(items)), mp_context=multiprocessing.get_context("fork"),
                               initializer=_verify_worker, initargs=(os.getpid(),))
    finished_all = False
    try:
        futures = {pool.submit(job, *item): i for i, item in enumerate(items)}
        with (watch() if watch is not None else contextlib.nullcontext(None)) as done:
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    result = f.result()  # an error (e.g. no root) ends the run, as one by one
                    if done is not None:
                        done(items[futures[f]], result)
        results = [None] * len(items)
        for f, i in futures.items():
            results[i] = f.result()
        finished_all = True
        return results
    finally:
        if not finished_all:  # interrupted or failed: the workers go now, not after their jobs
            for proc in list((pool._processes or {}).values()):
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        pool.shutdown(wait=True, cancel_futures=True)


def _verify_worker(parent: int) -> None:  # pragma: no cover - runs in a worker
    """A verify --all worker dies with verify, whatever kills it (free.py _orphan_proof() does
    the same for lab --free's children): its lab namespace then goes too."""
    import ctypes
    import os
    import signal

    if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0) != 0 \
            or os.getppid() != parent:  # PR_SET_PDEATHSIG; verify died before it took effect
        os._exit(1)
    # Ctrl-C reaches the whole process group: verify ends the workers itself; SIGTERM from it
    # (or anyone) ends a worker at once, not through the parent's handler it inherited
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _verify_job(name: str, args: tuple) -> dict:  # pragma: no cover - runs in a worker
    """One program of verify --all, in a worker: what the table and a verdict need, pickled
    back (a match needs only its row)."""
    from .scenario import load

    r = _verify_one(load(name), *args[:4], name, args[4])
    if r["ok"]:
        return {k: r[k] for k in ("name", "ok", "diffs", "segments", "calls")}
    return r


def _verify_one(prog, profile_name, seed, timeout, overrides, ref: str | None = None,
                mtu: int | None = None) -> dict:
    """ref: the program as the user named it (a built-in's name, a file's path)."""
    from .compare.against import hold_lab
    from .lab import run_lab
    from .model import KernelProfile

    if profile_name:  # checked before the lab runs: a wrong --mtu is refused at once
        KernelProfile.named(profile_name).with_mtu(mtu)
    lab = run_lab(prog, timeout=timeout, sysctls=overrides, mtu=mtu)
    if profile_name:  # the kernel named, with the same settings the lab's namespace had
        profile = KernelProfile.named(profile_name).with_sysctls(overrides).with_mtu(mtu)
    else:  # the kernel the lab ran on, settings and lo's MTU included
        profile = KernelProfile.from_trace(lab)
    held = hold_lab(lab, prog, profile, seed=seed, timeout=timeout)
    # a capture that lost frames is not the kernel's exchange: say so, never a difference
    return {"name": prog.name, "ref": ref or prog.name, "program": prog,
            "ok": held.ok and not lab.capture_lost, "diffs": held.differences, "lab": lab,
            "model": held.model, "held": held, "profile": profile, "segments": len(lab.segments),
            "calls": len([c for c in lab.calls if c.result is not None])}


def _print_verdict(r: dict, out: Console) -> None:
    lab, held = r["lab"], r["held"]
    kernel = f"Linux {lab.kernel.get('release', '?')}"
    if lab.capture_lost:
        out.print(_verdict(t("verify.incomplete", name=r["name"], n=lab.capture_lost), False),
                  soft_wrap=True)
        return
    exchange = _exchange(held)
    place = exchange["exchange"] or exchange["nearest"] or {}
    if r["ok"]:
        key = "verify.match" if held.outcome is None else "verify.match.exchange"
        out.print(_verdict(t(key, name=r["name"], segments=r["segments"], calls=r["calls"],
                             states=len(lab.states), kernel=kernel, profile=r["profile"].name,
                             k=place.get("index"), total=place.get("of")), True), soft_wrap=True)
        _exchange_lines(held, exchange, out)
        _exchange_notes(held, r["program"], r["profile"], r["ref"], out)
        return
    key = "verify.outside" if held.nearest is not None else "verify.differs"
    out.print(_verdict(t(key, name=r["name"], n=len(r["diffs"]), profile=r["profile"].name,
                         kernel=kernel, k=place.get("index"), total=place.get("of")), False),
              soft_wrap=True)
    _exchange_lines(held, exchange, out)
    for d in r["diffs"][:8]:
        out.print(f"  - {d.sentence}", soft_wrap=True, markup=False)
    if len(r["diffs"]) > 8:
        out.print(t("verify.more", n=len(r["diffs"]) - 8))
    from .lab.executor import JIFFY, stall

    if lab.stall > JIFFY:  # the lab, not the kernel, may be the cause: say so
        gap, (a, b) = stall(lab)
        out.print(f"[yellow]{escape(t('note.stall', ms=f'{gap * 1000:.1f}', a=a, b=b))}[/]",
                  soft_wrap=True)
    _exchange_notes(held, r["program"], r["profile"], r["ref"], out)


@main.command()
@click.argument("program")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The HTML file to write.")
@click.option("--lab/--no-lab", "use_lab", default=None,
              help="Check against the real kernel (needs root). Default: when it can run here.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--profile", default="reference", show_default=True,
              help="The model's kernel when the lab does not run (else the lab's own kernel).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True)
@_lang_option
def report(program: str, output: str, use_lab: bool | None, seed: int, profile: str,
           timeout: float) -> None:
    """Write one self-contained HTML report of PROGRAM: the program, the kernel's verdict and
    capture, the sequence and state diagrams, and why each step happened."""
    import os

    from .model import KernelProfile
    from .render.report import build_report
    from .sim.world import run_model

    prog = _program(program)
    out = Console(highlight=False, emoji=False)
    verdict, problem = None, None
    if use_lab is False:
        problem = "--no-lab"
    elif use_lab is None and os.geteuid() != 0:
        problem = "the lab needs root (run as root, for example with sudo, to include it)"
    else:
        try:
            verdict = _verify_one(prog, None, seed, timeout, {})
        except TcpsimError as e:
            if use_lab:
                raise
            problem = str(e)
    model = verdict["model"] if verdict else run_model(prog, KernelProfile.named(profile),
                                                        seed=seed, timeout=timeout)
    html = build_report(prog, model, seed, verdict, problem)
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(html)
    except OSError as e:
        raise TcpsimError(f"cannot write {output}: {e.strerror}; choose a writable path")
    out.print(t("wrote.file", path=output), soft_wrap=True)


@main.command()
@click.argument("program")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--profile", default="reference", show_default=True)
@_lang_option
def quiz(program: str, seed: int, profile: str) -> None:
    """Predict each segment (flags, seq, ack) and state change of PROGRAM before it is shown.

    Answers are read line by line, so they can come from a file: an empty line skips a
    question, the end of input ends the quiz."""
    from .model import KernelProfile
    from .scenario import load
    from .sim.world import run_model
    from .teach.quiz import run_quiz

    if program == "-":
        raise click.UsageError("quiz reads its answers from standard input, so its program "
                               "cannot come from there; give a name or a file")
    trace = run_model(load(program), KernelProfile.named(profile), seed=seed)
    out = Console(highlight=False, emoji=False)

    def ask(question: str) -> str | None:
        try:
            answer = click.prompt(question, default="", show_default=False, prompt_suffix=" ")
        except (click.Abort, EOFError):
            out.print()
            return None
        if not sys.stdin.isatty():  # answers from a file: show them, as a terminal would
            out.print(answer, markup=False)
        return answer

    run_quiz(trace, ask, lambda text, style: out.print(text, style=style, soft_wrap=True,
                                                       markup=False))


_DIAGRAM_SUFFIXES = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot",
                     ".mmd": "mermaid", ".md": "mermaid"}


@main.command()
@click.option("--program", default=None, metavar="NAME|FILE",
              help="Draw the path each socket of this program took, its steps numbered in time "
                   "order.")
@click.option("-o", "--output", "outputs", multiple=True, type=click.Path(dir_okay=False),
              help="Write the diagram here; the suffix picks the format (.svg .png .dot "
                   ".mmd/.md for Mermaid). May be given more than once.")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "dot", "mermaid"]), default=None,
              help="The format for standard output (default: a Mermaid block), or for an -o "
                   "file whose suffix names none.")
@click.option("--engine", type=click.Choice(["builtin", "dot"]), default="builtin",
              show_default=True,
              help="builtin: tcpsim's own textbook layout (needs nothing); dot: Graphviz lays "
                   "it out (needs dot on PATH).")
@click.option("--profile", default="reference", show_default=True,
              help="The kernel to model for --program.")
@click.option("--seed", type=int, default=0, show_default=True)
@_lang_option
def diagram(program: str | None, outputs, fmt: str | None, engine: str, profile: str,
            seed: int) -> None:
    """Draw the TCP state diagram from the model's transition table, optionally with the path
    a program's sockets took."""
    from pathlib import Path

    from .render.statediagram import render_states, render_with_dot, to_dot, to_mermaid

    # every file's format is known before anything runs or is written
    targets = []
    for path in outputs:
        kind = _DIAGRAM_SUFFIXES.get(Path(path).suffix.lower(), fmt)
        if kind is None:
            raise TcpsimError(f"cannot tell the format of {path} from its suffix; name it .svg, "
                              ".png, .dot or .mmd (or give --format)")
        if not Path(path).resolve().parent.is_dir():
            raise TcpsimError(f"cannot write {path}: its directory does not exist; choose a "
                              "writable path")
        targets.append((path, kind))
    if not outputs and fmt == "png":
        raise TcpsimError("a PNG cannot go to the terminal; write it to a file with -o states.png")
    trace = None
    if program is not None:
        from .model import KernelProfile
        from .sim.world import run_model

        trace = run_model(_program(program), KernelProfile.named(profile), seed=seed)

    def text_of(kind: str) -> str:
        if kind == "dot":
            return to_dot(trace)
        if kind == "mermaid":
            return to_mermaid(trace)
        return render_states(trace).svg()

    if not outputs:
        kind = fmt or "mermaid"
        if engine == "dot" and kind == "svg":
            click.echo(render_with_dot(to_dot(trace), "svg").decode(), nl=False)
        elif kind == "mermaid":
            click.echo(f"```mermaid\n{to_mermaid(trace)}```")
        else:
            click.echo(text_of(kind), nl=False)
        return
    for path, kind in targets:
        try:
            if engine == "dot" and kind in ("svg", "png"):
                Path(path).write_bytes(render_with_dot(to_dot(trace), kind))
            elif kind == "png":
                render_states(trace).png(path)
            elif kind == "mermaid" and Path(path).suffix.lower() == ".md":
                Path(path).write_text(f"```mermaid\n{to_mermaid(trace)}```\n", encoding="utf-8")
            else:
                Path(path).write_text(text_of(kind), encoding="utf-8")
        except OSError as e:
            raise TcpsimError(f"cannot write {path}: {e.strerror}; choose a writable path")
        click.echo(t("wrote.file", path=path))


@main.group(cls=_Group)
def pkt() -> None:
    """packetdrill scripts: run them against the model, write them from programs."""


@pkt.command("run")
@click.argument("scripts", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--profile", default="reference", show_default=True,
              help="The kernel the model imitates (a built-in profile, or 'host').")
@click.option("--preset", type=click.Choice(["packetdrill", "none"]), default="packetdrill",
              show_default=True,
              help="packetdrill: the environment its scripts are written for (a tun device of "
                   "MTU 1500, the sysctls of its defaults.sh); none: the profile as it is.")
@click.option("--mtu", type=click.IntRange(min=576, max=65536), default=None,
              help="The device MTU (packetdrill's tun has 1500).")
@click.option("-v", "--verbose", is_flag=True, help="Show every event as the model ran it.")
@click.option("--kernel", "on_kernel", is_flag=True,
              help="Run the scripts on the real kernel instead, as packetdrill does: a tun "
                   "device in a private network namespace made for each run (needs root).")
@_sysctl_option
@_define_option
@click.option("--local_ip", "local_ip", default=None, metavar="ADDRESS",
              help="packetdrill's --local_ip (run_all.py's IPv4 run gives 192.168.0.1); as "
                   "there, it overrides the script's own (config.c parse_and_finalize_config()).")
@click.option("--remote_ip", "remote_ip", default=None, metavar="ADDRESS",
              help="packetdrill's --remote_ip (192.0.2.1, or 2001:db8::1 over IPv6).")
@click.option("--ip_version", "ip_version", default=None,
              type=click.Choice(["ipv4", "ipv4-mapped-ipv6", "ipv6"]),
              help="packetdrill's --ip_version: the socket's family and the packets' (run_all.py "
                   "runs every script in all three; ipv6 with --mtu 1520).")
def pkt_run(scripts, profile: str, preset: str, mtu: int | None, verbose: bool, on_kernel: bool,
            sysctl, define, local_ip, remote_ip, ip_version) -> None:
    """Run packetdrill scripts against the model (or, with --kernel, the real kernel): exit 0
    when every one passes, 1 when one fails, 5 when one needs what tcpsim does not do (a
    shell command, Python, UDP)."""
    from .model import KernelProfile
    from .pkt import load, packetdrill_profile, run_script
    from .pkt.run import Unsupported, run_script_on_kernel

    out = Console(highlight=False, emoji=False)
    base = KernelProfile.named(profile)
    prof = packetdrill_profile(base) if preset == "packetdrill" else base
    if mtu is not None:
        prof = KernelProfile(f"{prof.name}+mtu{mtu}", prof.release, mtu, prof.hz, prof.sysctls)
    prof = prof.with_sysctls(_sysctls(sysctl))
    worst = OK
    defines = _defines(define)
    for path in scripts:
        script = load(path, defines)
        for name, value in (("local_ip", local_ip), ("remote_ip", remote_ip),
                            ("ip_version", ip_version)):
            if value is not None:
                script.options[name] = value
        try:
            outcome = run_script_on_kernel(script, prof) if on_kernel else run_script(script, prof)
        except Unsupported as e:
            out.print(f"[yellow]unsupported[/] {e}", soft_wrap=True, markup=True)
            worst = max(worst, UNSUPPORTED)
            continue
        if verbose:
            for step in outcome.steps:
                out.print(f"  [dim]{step}[/]", soft_wrap=True)
        where = (f"Linux {platform.release()}, over tun" if on_kernel else
                 f"model profile {prof.name}")
        for note in getattr(outcome, "notes", []):
            out.print(f"  [yellow]{escape(note)}[/]", soft_wrap=True)
        if outcome.passed:
            out.print(f"[bold green]pass[/] {path} ({len(script.events)} events, {where})",
                      soft_wrap=True)
            for extra in outcome.leftover:
                out.print(f"  [dim]after the last line the {'kernel' if on_kernel else 'model'} "
                          f"also sent {extra} (packetdrill does not check these either)[/]",
                          soft_wrap=True)
        else:
            out.print(f"[bold red]fail[/] {path}:{outcome.line}: {outcome.message}",
                      soft_wrap=True)
            if outcome.held_up and outcome.message.startswith("timing error"):
                out.print("  [yellow]the machine held this run up, so the timing error may be "
                          "its own, not the kernel's; run it again on a quieter machine:[/]",
                          soft_wrap=True)
                for slow in outcome.held_up:
                    out.print(f"    [yellow]{escape(slow)}[/]", soft_wrap=True)
            worst = max(worst, DIFFERS)
    sys.exit(worst)


@pkt.command("verify")
@click.argument("scripts", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--profile", default="reference", show_default=True,
              help="The kernel the model imitates (a built-in profile, or 'host').")
@_sysctl_option
@_define_option
def pkt_verify(scripts, profile: str, sysctl, define) -> None:
    """Run packetdrill scripts on the real kernel (as `pkt run --kernel`: needs root) and on
    the model, and show where the model parts from the kernel: exit 0 when the two agree on
    every script, 1 when they part on one, 5 when one needs what tcpsim does not do."""
    from .model import KernelProfile
    from .pkt import load, packetdrill_profile
    from .pkt.run import Unsupported
    from .pkt.verify import verify_script

    out = Console(highlight=False, emoji=False)
    prof = packetdrill_profile(KernelProfile.named(profile)).with_sysctls(_sysctls(sysctl))
    worst = OK
    defines = _defines(define)
    for path in scripts:
        script = load(path, defines)
        try:
            v = verify_script(script, prof)
        except Unsupported as e:
            kernel = getattr(e, "kernel", None)
            if kernel is not None:  # the kernel ran it; the model cannot
                verdict = ("[green]pass[/]" if kernel.passed else
                           f"[red]fail[/] at line {kernel.line}: {escape(kernel.message)}")
                out.print(f"  kernel {verdict}", soft_wrap=True)
            out.print(f"[yellow]unsupported[/] {e}", soft_wrap=True, markup=True)
            worst = max(worst, UNSUPPORTED)
            continue
        for who, o in (("kernel", v.kernel), ("model", v.model)):
            verdict = ("[green]pass[/]" if o.passed else
                       f"[red]fail[/] at line {o.line}: {escape(o.message)}")
            out.print(f"  {who:<7}{verdict}", soft_wrap=True)
        if v.agree:
            out.print(f"[bold green]agree[/] {path}: the model did what Linux "
                      f"{platform.release()} did, event for event", soft_wrap=True)
        else:
            p = v.parting
            out.print(f"[bold red]part[/] {path}:{p.line}: the kernel {escape(p.kernel)}; "
                      f"the model {escape(p.model)}", soft_wrap=True)
            worst = max(worst, DIFFERS)
    sys.exit(worst)


@pkt.command("export")
@click.argument("program")
@click.option("--process", default=None,
              help="The process whose kernel is under test (default: the one that listens).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the script here (default: standard output).")
@click.option("--profile", default="reference", show_default=True)
def pkt_export(program: str, process: str | None, output: str | None, profile: str) -> None:
    """Write a packetdrill script for one process of a program (the peer's segments become
    inbound packets), in packetdrill's environment (MTU 1500, its defaults.sh sysctls)."""
    from .model import KernelProfile
    from .pkt.export import export

    text = export(_program(program), process, KernelProfile.named(profile))
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w") as fh:
            fh.write(text)
    except OSError as e:
        raise TcpsimError(f"cannot write {output}: {e.strerror}; choose a writable path")


def _write_outputs(trace, pcap_path, json_path, out: Console) -> None:
    """--pcap and --json; "-" is standard output (and the text went to standard error)."""
    if pcap_path:
        from .pcap import write_pcap

        n = write_pcap(trace, pcap_path)
        if pcap_path != "-":
            out.print(f"[dim]{t('wrote.segments', n=n, path=pcap_path)}[/]")
    if json_path == "-":
        sys.stdout.write(trace.to_json())
    elif json_path:
        try:
            trace.to_json(json_path)
        except OSError as e:
            raise TcpsimError(f"cannot write {json_path}: {e.strerror}; choose a writable path")
        out.print(f"[dim]{t('wrote.trace', path=json_path)}[/]")


if __name__ == "__main__":  # pragma: no cover
    main()
