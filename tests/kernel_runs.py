"""Running a packetdrill script on the real kernel from a test, as a busy machine allows."""


def kernel_outcome(script, profile, tries: int = 3):
    """The script's run on the kernel (`pkt run --kernel`), again when it failed on a timing
    error while the machine held the run up (Outcome.held_up).  Measured: in a CI run
    write() of 20000 bytes took 4.4 ms on the script's thread and the first segment came
    4.45 ms late, past packetdrill's 4 ms tolerance (tests/pkt/frto-loss-real.pkt).  A
    failure of any other kind, or a timing error with no hold-up, is never retried."""
    from tcpsim.pkt.run import run_script_on_kernel

    for _ in range(tries):
        outcome = run_script_on_kernel(script, profile)
        if outcome.passed or not (outcome.held_up and
                                  outcome.message.startswith("timing error")):
            return outcome
        print(f"again after: {outcome.message}; held up: {outcome.held_up}")
    return outcome
