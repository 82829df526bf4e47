"""epoll (fs/eventpoll.c) over the model's sockets.

An epoll instance keeps an item per watched socket (struct epitem: the events asked for, the
user's data) and a ready list (ep->rdllist).  An item joins the ready list in three ways, as
in the kernel:
- when it is added or modified and the socket's poll mask (tcp_poll()) has an event it asks
  for (ep_insert(), ep_modify() call ep_item_poll());
- when the socket wakes its wait queue with a key among the item's events, or with no key
  (ep_poll_callback()): the TCP code wakes it where the kernel does, through _ep_wake():
  sk_data_ready() (sock_def_readable(): EPOLLIN|EPOLLPRI|EPOLLRDNORM|EPOLLRDBAND) when data
  is queued (tcp_data_ready()) and on a listener when a child joins its accept queue
  (tcp_child_process()); sk_write_space() (sk_stream_write_space(): EPOLLOUT|EPOLLWRNORM|
  EPOLLWRBAND) when the send buffer becomes writeable again (tcp_check_space(), and
  TCP_NOTSENT_LOWAT/SO_SNDBUF set); sk_state_change() (sock_def_wakeup(): no key) on the
  state changes the kernel signals (tcp_finish_connect(), tcp_fin(), tcp_done(), the FIN
  acknowledged in FIN_WAIT1, inet_shutdown()) and sk_error_report() (EPOLLERR) with
  tcp_reset()/tcp_write_err() (followed by tcp_done());
- a level-triggered item that epoll_wait() reported goes back on the list (ep_send_events()).
epoll_wait() takes the ready items in order and reports those whose poll mask, masked by
their events, is not empty; EPOLLET items leave the list when reported (so they report again
only after a new wakeup), EPOLLONESHOT items are disarmed (events &= EP_PRIVATE_BITS) until
EPOLL_CTL_MOD.  EPOLLERR and EPOLLHUP are always asked for (do_epoll_ctl()).  Closing a
socket's descriptor removes its items (eventpoll_release()).

Not modelled: EPOLLEXCLUSIVE between several epoll instances on one socket (which of them is
woken depends on which has a thread waiting); PktRun refuses that by name.
"""

from __future__ import annotations

import errno as E
from dataclasses import dataclass, field

from .sock import _oserror

EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP = 0x1, 0x2, 0x4, 0x8, 0x10
EPOLLRDNORM, EPOLLRDBAND, EPOLLWRNORM, EPOLLWRBAND = 0x40, 0x80, 0x100, 0x200
EPOLLMSG, EPOLLRDHUP = 0x400, 0x2000
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
EPOLLEXCLUSIVE_OK_BITS = (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET
                          | EPOLLEXCLUSIVE)
EP_MAX_EVENTS = 0x7FFFFFFF // 12  # INT_MAX / sizeof(struct epoll_event)
# the keys of the socket's wakeups (include/net/sock.h, net/core/sock.c, net/core/stream.c)
KEY_DATA_READY = EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND  # sock_def_readable()
KEY_WRITE_SPACE = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND  # sk_stream_write_space()
KEY_ERROR = EPOLLERR  # sock_def_error_report()
KEY_ALL = 0  # sock_def_wakeup(): wake_up_interruptible_all(), no key


@dataclass
class EpItem:
    events: int
    data: object


@dataclass
class EPoll:
    items: dict[int, EpItem] = field(default_factory=dict)  # socket id -> its item
    ready: list[int] = field(default_factory=list)  # ep->rdllist, in order


class EventPoll:
    """The epoll calls of the model's Kernel (epoll ids are their own numbers)."""

    def epoll_create(self) -> int:
        """do_epoll_create(): a new instance."""
        eid = max(self.epolls, default=0) + 1
        self.epolls[eid] = EPoll()
        return eid

    def epoll_close(self, eid: int) -> None:
        self.epolls.pop(eid, None)

    def epoll_ctl(self, eid: int, op: int, sid: int, events: int, data=None) -> None:
        """do_epoll_ctl() with a socket as the target."""
        ep = self.epolls[eid]
        events &= 0xFFFFFFFF
        if op in (EPOLL_CTL_ADD, EPOLL_CTL_MOD) and events & EPOLLEXCLUSIVE:
            if op == EPOLL_CTL_MOD or events & ~EPOLLEXCLUSIVE_OK_BITS:
                raise _oserror(E.EINVAL)
        item = ep.items.get(sid)
        if op == EPOLL_CTL_ADD:
            if item is not None:
                raise _oserror(E.EEXIST)
            ep.items[sid] = item = EpItem(events | EPOLLERR | EPOLLHUP, data)  # ep_insert()
            if self.poll(sid) & item.events and sid not in ep.ready:
                ep.ready.append(sid)
        elif op == EPOLL_CTL_DEL:
            if item is None:
                raise _oserror(E.ENOENT)
            del ep.items[sid]  # ep_remove()
            if sid in ep.ready:
                ep.ready.remove(sid)
        elif op == EPOLL_CTL_MOD:
            if item is None:
                raise _oserror(E.ENOENT)
            if item.events & EPOLLEXCLUSIVE:
                raise _oserror(E.EINVAL)
            item.events, item.data = events | EPOLLERR | EPOLLHUP, data  # ep_modify()
            if self.poll(sid) & item.events and sid not in ep.ready:
                ep.ready.append(sid)
        else:
            raise _oserror(E.EINVAL)

    def epoll_wait(self, eid: int, maxevents: int) -> list[tuple[int, object]]:
        """ep_send_events() without blocking: (events, data) of each ready item reported."""
        if not 0 < maxevents <= EP_MAX_EVENTS:
            raise _oserror(E.EINVAL)
        ep = self.epolls[eid]
        out: list[tuple[int, object]] = []
        txlist, ep.ready = ep.ready, []
        requeue = []
        while txlist and len(out) < maxevents:
            sid = txlist.pop(0)  # list_del_init(&epi->rdllink)
            item = ep.items.get(sid)
            if item is None or sid not in self.socks:
                continue
            revents = self.poll(sid) & item.events  # ep_item_poll()
            if not revents:
                continue
            out.append((revents, item.data))
            if item.events & EPOLLONESHOT:
                item.events &= EP_PRIVATE_BITS
            elif not item.events & EPOLLET:
                requeue.append(sid)  # level-triggered: back on the ready list
        # ep_done_scan(): what was not taken goes back first (list_splice()), then the
        # level-triggered items re-added meanwhile
        ep.ready = txlist + [s for s in requeue if s not in txlist]
        return out

    def epoll_poll(self, eid: int) -> bool:
        """Whether the epoll descriptor itself is readable (__ep_eventpoll_poll()): a ready
        item whose socket has one of its events; items that have none leave the list."""
        ep = self.epolls[eid]
        for sid in list(ep.ready):
            item = ep.items.get(sid)
            if item is not None and sid in self.socks and self.poll(sid) & item.events:
                return True
            ep.ready.remove(sid)  # list_del_init(): woken, but not ready for what it asks
        return False

    def ep_watched(self, sid: int) -> list[int]:
        """The epoll instances with an item for this socket."""
        return [eid for eid, ep in self.epolls.items() if sid in ep.items]

    def _ep_forget(self, sid: int) -> None:
        """eventpoll_release(): the socket's descriptor is closed; its items go."""
        for ep in self.epolls.values():
            if ep.items.pop(sid, None) is not None and sid in ep.ready:
                ep.ready.remove(sid)

    def _ep_wake(self, sk, key: int) -> None:
        """A wakeup of the socket's wait queue: ep_poll_callback() of each item on it."""
        eps = self.epolls
        if not eps or sk.orphan:  # no file, no wait queue of a socket (SOCK_DEAD)
            return
        for ep in eps.values():
            item = ep.items.get(sk.id)
            if item is None or not item.events & ~EP_PRIVATE_BITS:  # a disarmed one-shot
                continue
            if key and not key & item.events:
                continue
            if sk.id not in ep.ready:
                ep.ready.append(sk.id)
