"""`tcpsim quiz`: the run stops before each segment and state change and asks what comes next.

The student predicts a segment's flags, relative seq and ack, or a socket's next state; the
answer and the rule behind it follow.  Questions are read line by line (a terminal or a pipe),
so a test can answer them from standard input; an empty line skips, end of input stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..i18n import t
from ..model.table import RFC_NAMES
from ..trace import Call, Segment, State, Trace
from .explain import explain


@dataclass
class Score:
    right: int = 0
    asked: int = 0
    skipped: int = 0


# The names a student may know a state by, each to Linux's (include/net/tcp_states.h):
# RFC 9293's (SYN-RECEIVED, FIN-WAIT-1, CLOSED), the BSD and netstat spellings textbooks print
# (SYN_RCVD, FIN_WAIT_1), ss's (ESTAB, SYN-RECV).  Hyphens, spaces and underscores are one.
STATE_SPELLINGS: dict[str, str] = {
    "SYN_RECEIVED": "SYN_RECV", "SYN_RCVD": "SYN_RECV", "FIN_WAIT_1": "FIN_WAIT1",
    "FIN_WAIT_2": "FIN_WAIT2", "CLOSED": "CLOSE", "ESTAB": "ESTABLISHED",
}
# flag words (SYN+ACK, FIN/ACK, "RST, ACK") as tcpdump's letters
FLAG_WORDS = {"SYN": "S", "ACK": ".", "FIN": "F", "RST": "R", "PSH": "P", "URG": "U",
              "ECE": "E", "CWR": "W"}


def state_named(answer: str) -> str:
    """The Linux state an answer names, whatever its spelling ('' for none)."""
    norm = "_".join(answer.strip().upper().replace("-", " ").replace("_", " ").split())
    return STATE_SPELLINGS.get(norm, norm)


def same_state(answer: str, state: str) -> bool:
    """Linux's name, RFC 9293's, the BSD/textbook spelling or ss's; a request socket
    (NEW_SYN_RECV) is the RFC's SYN-RECEIVED, so SYN_RECV and SYN_RCVD are right for it."""
    named = state_named(answer)
    return named == state or (state == "NEW_SYN_RECV" and named == "SYN_RECV")


def same_flags(answer: str, flags: str) -> bool:
    """'S.' == '.S' == '[S.]' == 's.'; 'A' stands for the ACK flag as tcpdump's '.'; flag
    words too: 'SYN+ACK', 'SYN/ACK', 'SYN-ACK', 'syn ack', 'FIN, ACK', 'ACK'."""
    words = [w for w in answer.strip().strip("[]").upper().replace("+", " ").replace("/", " ")
             .replace("-", " ").replace(",", " ").replace("|", " ").split()]
    if words and all(w in FLAG_WORDS for w in words):
        norm = "".join(FLAG_WORDS[w] for w in words)
    else:
        norm = answer.strip().strip("[]").upper().replace("A", ".").replace(" ", "")
    return sorted(norm) == sorted(flags)


def _number(answer: str) -> int | None:
    try:
        return int(answer.strip())
    except ValueError:
        return None


def run_quiz(trace: Trace, ask: Callable[[str], str | None], say: Callable[[str, str], None]) -> Score:
    """ask(question) -> the answer (None at the end of input); say(text, style)."""
    from ..render.timeline import call_text, endpoint_namer, segment_text

    whys = explain(trace)
    name = endpoint_namer(trace)
    rel = {id(r.seg): r for r in trace.relative()}
    last: dict[str, str] = {}
    score = Score()
    say(t("quiz.intro", program=trace.program), "bold")
    for ev in trace.events:
        why = whys.get(id(ev))
        if isinstance(ev, Call):
            say(f"{ev.process}: {call_text(ev)}", "magenta")
            continue
        if isinstance(ev, State):
            prev = last.get(ev.socket)
            last[ev.socket] = ev.state
            if ev.via != "transition" or prev == ev.state:
                continue
            answer = ask(t("quiz.ask.state", socket=ev.socket, state=prev or "CLOSE"))
            if answer is None:
                break
            ok = same_state(answer, ev.state)
            _mark(score, answer, ok, ev.state, why, say)
            if answer.strip() and answer.strip().upper() != ev.state:
                # the names differ between the RFC, textbooks and Linux: say which is which
                if ev.state == "NEW_SYN_RECV":
                    say("  " + t("quiz.state.request"), "dim")
                elif ev.state in RFC_NAMES:
                    say("  " + t("quiz.state.names", linux=ev.state, rfc=RFC_NAMES[ev.state]),
                        "dim")
            continue
        if isinstance(ev, Segment):
            r = rel[id(ev)]
            answers = []
            for key in ("quiz.ask.flags", "quiz.ask.seq", "quiz.ask.ack"):
                answers.append(ask(t(key, src=name(ev.src), dst=name(ev.dst))))
                if answers[-1] is None or (key == "quiz.ask.flags" and not answers[-1].strip()):
                    break
            if answers[-1] is None:
                break
            flags_ok = same_flags(answers[0], ev.flags)
            seq_ok = len(answers) < 2 or not answers[1].strip() or _number(answers[1]) == r.seq
            ack_ok = len(answers) < 3 or not answers[2].strip() or _number(answers[2]) == (
                r.ack if ev.has_ack else 0)
            shown = t("quiz.answer.segment", flags=ev.flags, seq=r.seq,
                      ack=r.ack if ev.has_ack else "-", len=ev.length)
            _mark(score, answers[0], flags_ok and seq_ok and ack_ok, shown, why, say)
            say(segment_text(r, name), "cyan")
    say(t("quiz.score", right=score.right, total=score.asked), "bold")
    return score


def _mark(score: Score, answer: str, ok: bool, shown: str, why, say) -> None:
    if not answer.strip():
        score.skipped += 1
        say(shown, "yellow")
    else:
        score.asked += 1
        score.right += ok
        say(t("quiz.right") if ok else t("quiz.wrong", answer=shown), "green" if ok else "red")
    if why is not None:
        say("  ↳ " + why.line(), "dim")
