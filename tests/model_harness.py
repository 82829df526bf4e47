"""A hand-driven model kernel for rule tests: segments move only when a test says so."""

from tcpsim.model import Kernel, KernelProfile
from tcpsim.model.kernel import ACK, FIN, PSH, RST, SYN, Seg

REFERENCE = KernelProfile.builtin("reference")
SERVER = ("127.0.0.1", 8080)
FLAGS = {FIN: "F", SYN: "S", RST: "R", PSH: "P"}


def flags(seg) -> str:
    text = "".join(letter for bit, letter in ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"))
                   if seg.flags & bit)
    return text + ("." if seg.flags & ACK else "")


class Net:
    def __init__(self, profile: KernelProfile = REFERENCE, seed: int = 0):
        self.k = Kernel(profile, seed)
        self.wire = []  # every segment sent, in order

    def take(self):
        segs = list(self.k.outbox)
        self.k.outbox.clear()
        self.wire += segs
        return segs

    def deliver(self, segs) -> None:
        for s in segs:
            self.k.receive(s)

    def settle(self):
        """Deliver until nothing is in flight; returns what was sent meanwhile."""
        sent = []
        while True:
            segs = self.take()
            if not segs:
                self.k.capture_reads += 1  # as SimWorld.settle(): the lab reads its capture
                return sent
            sent += segs
            self.deliver(segs)

    def advance(self, dt: float):
        """Let dt seconds pass, firing timers; returns what they sent (not delivered)."""
        end = self.k.now + dt
        while (t := self.k.next_timer()) is not None and t <= end:
            self.k.handle_timer(t)
        self.k.now = end
        return self.take()

    def state(self, sid: int) -> str:
        return self.k.socks[sid].state if sid in self.k.socks else "freed"

    # -- ready-made situations ------------------------------------------------------------
    def listener(self, backlog: int = 3) -> int:
        s = self.k.socket(2)
        self.k.bind(s, ("0.0.0.0", SERVER[1]))
        self.k.listen(s, backlog)
        return s

    def connected(self, with_data: bool = False):
        """(listener, client, server child), ESTABLISHED on both sides."""
        lst = self.listener()
        c = self.k.socket(2)
        self.k.connect(c, SERVER)
        self.settle()
        child = self.k.accept(lst)
        if with_data:
            self.k.send(c, b"ping")
            self.settle()
            self.k.recv(child, 100)
            self.k.send(child, b"pong")
            self.settle()
            self.k.recv(c, 100)
        return lst, c, child

    def close_wait(self):
        """(client, server child): the client closed, its FIN arrived; the child is CLOSE_WAIT."""
        _, c, child = self.connected()
        self.k.close(c)
        self.deliver(self.take())
        return c, child

    def fin_wait2(self, close: bool = False):
        """(client, server child): the client's FIN is ACKed (by the one-jiffy delayed ACK)."""
        _, c, child = self.connected()
        self.k.close(c) if close else self.k.shutdown(c, 1)
        self.deliver(self.take())
        self.deliver(self.advance(0.004))
        return c, child

    def rst_to(self, sid: int) -> None:
        """Deliver an acceptable RST to sid from its peer."""
        sk = self.k.socks[sid]
        self.deliver([Seg(sk.remote, sk.local, RST, sk.rcv_nxt, 0, 0)])
