"""When one side of a worker's channel polls before it blocks (``Worker(spin=...)``).

Both sides use it, the worker pledged: it reads the monotonic clock (vDSO) and its
peer's CPU clock (clock_gettime, which "stdio" allows for any process's clock).
A side spins only while its last wait ended within the window and it has not
lately been preempted while spinning: a spinner that loses its CPU to another
runnable task (another process, or its own peer on a busy machine) delays that
task, so it stops spinning for a while, longer each time it happens again.
A side also pauses when its peer, while it spun, was not running for most of the
wait (:func:`starved`, from the peer's process CPU clock): on a busy machine the
spinner is seldom preempted itself, it keeps a CPU that its peer then waits for.
"""

from __future__ import annotations

#: A spin iteration longer than this (seconds) means this side was not running:
#: its CPU is wanted by another task. Iterations take ~1-3 µs.
PREEMPTED = 50e-6
#: The peer was not running for longer than this (seconds) and for most of a wait
#: that this side spun through: it was waiting for a CPU (or blocked: spinning for it
#: is no use either; a wake-up from a halted vCPU costs less). See :func:`starved`.
STARVED = 100e-6
#: The first and the longest pause in spinning after preemptions (seconds).
CALM = 0.01
MAX_CALM = 1.0


class Spin:
    """One side's spin: its window (seconds; 0 never spins) and what it learnt."""

    __slots__ = ("window", "waited", "calm_until", "calm")

    def __init__(self, window: float) -> None:
        self.window = window
        self.waited = 0.0  # how long the last wait lasted
        self.calm_until = 0.0  # no spinning before this (monotonic)
        self.calm = CALM  # the last pause

    def until(self, now: float) -> float:
        """When a wait starting *now* stops spinning; 0.0: it does not spin."""
        if self.window and self.waited <= self.window and now >= self.calm_until:
            return now + self.window
        return 0.0

    def preempted(self, now: float) -> None:
        """This side lost its CPU while spinning: pause spinning, twice as long as last
        time if that pause ended lately (the CPUs are still busy: a retry costs the
        task that preempted it a time slice), else for CALM again."""
        if self.calm_until and now - self.calm_until < 2 * self.calm:
            self.calm = min(self.calm * 2, MAX_CALM)
        else:
            self.calm = CALM
        self.calm_until = now + self.calm

    def ended(self, waited: float) -> None:
        """A wait ended after *waited* seconds."""
        self.waited = waited


def starved(waited: float, peer_ran: float) -> bool:
    """Whether a peer that ran *peer_ran* CPU seconds during a wait of *waited* seconds
    was kept from running for most of it (its CPU clock counts all its threads)."""
    idle = waited - peer_ran
    return idle > STARVED and idle > waited / 2
