#!/usr/bin/env python3
"""The trio-bench workloads that exist in Python Trio, on Python Trio.

Same constants, same fixed-seed inputs (a port of fastrand's wyrand), same measuring
loop and the same output line format as the Rust suite (whose workloads are
defined in ``bench/src/params.rs``)::

    python-trio <workload> <ops> <ns_per_op>

Usage::

    pip install trio
    python3 bench/python/trio_bench.py [--runs N] [--only w1,w2] [--quick] > python.txt
    cargo run --release -p trio-bench -- --python-results python.txt

The measuring loop, as for every runtime: one ``trio.run`` per (workload)
measurement; each iteration runs the workload body inside a spawned task
(``nursery.start_soon``); one untimed warm-up, then timed iterations until their
summed time reaches 400 ms or the iteration cap, at least one.
"""

import argparse
import socket
import sys
import time

import trio

SPAWN_MANY_N = 10_000
TREE_DEPTH, TREE_FANOUT, TREE_TASKS = 10, 3, 29_524
CHAIN_N = 1_000
PING_PONG_N = 100_000
CHAN_N, CHAN_CAP = 1_000_000, 128
YIELD_TASKS, YIELD_N = 200, 1_000
TIMERS_N, TIMERS_SEED = 100_000, 0x5EED_7135
CANCEL_N, CANCEL_SEED = 100_000, 0xC4_9CE1
ECHO_CONNS, ECHO_ROUNDS, ECHO_MSG, ECHO_BUF = 64, 1_000, 64, 4096
MUTEX_TASKS, MUTEX_N = 100, 1_000
SCOPE_N = 100_000
BUDGET_NS = 400_000_000

MASK = (1 << 64) - 1


class FastRand:
    """fastrand 2's ``Rng`` (wyrand) and its ``u64(low..high)``, so that the
    sleeps and deadlines are the very ones the Rust suite uses."""

    def __init__(self, seed):
        self.s = seed & MASK

    def gen_u64(self):
        self.s = (self.s + 0x2D35_8DCC_AA6C_78A5) & MASK
        t = self.s * (self.s ^ 0x8BB8_4B93_962E_ACC9)
        return (t & MASK) ^ (t >> 64)

    def gen_mod_u64(self, n):
        r = self.gen_u64()
        hi, lo = (r * n) >> 64, (r * n) & MASK
        if lo < n:
            t = ((-n) & MASK) % n
            while lo < t:
                r = self.gen_u64()
                hi, lo = (r * n) >> 64, (r * n) & MASK
        return hi

    def u64(self, low, high):
        """Uniform in [low, high)."""
        return low + self.gen_mod_u64(high - low)


def sleep_durations():
    rng = FastRand(TIMERS_SEED)
    return [rng.u64(0, 10_000) / 1e6 for _ in range(TIMERS_N)]


def cancel_durations():
    rng = FastRand(CANCEL_SEED)
    return [10.0 + rng.u64(0, 10_000) / 1e6 for _ in range(CANCEL_N)]


def echo_message(client, rnd):
    m = bytearray(ECHO_MSG)
    m[0], m[1], m[2] = client & 0xFF, rnd & 0xFF, (rnd >> 8) & 0xFF
    return bytes(m)


now = time.perf_counter_ns


# ---- workloads: each returns the ns of its timed section ------------------------


async def spawn_many():
    ran = [0]

    async def child():
        ran[0] += 1

    t0 = now()
    async with trio.open_nursery() as n:
        for _ in range(SPAWN_MANY_N):
            n.start_soon(child)
    d = now() - t0
    assert ran[0] == SPAWN_MANY_N
    return d


async def _node(depth, count):
    count[0] += 1
    if depth > 1:
        async with trio.open_nursery() as n:
            for _ in range(TREE_FANOUT):
                n.start_soon(_node, depth - 1, count)


async def spawn_join_nested():
    count = [0]
    t0 = now()
    async with trio.open_nursery() as n:
        n.start_soon(_node, TREE_DEPTH, count)
    d = now() - t0
    assert count[0] == TREE_TASKS
    return d


async def _link(n, k, count):
    count[0] += 1
    if k > 0:
        n.start_soon(_link, n, k - 1, count)


async def chained_spawn():
    count = [0]
    t0 = now()
    async with trio.open_nursery() as n:
        n.start_soon(_link, n, CHAIN_N, count)
    d = now() - t0
    assert count[0] == CHAIN_N + 1
    return d


async def ping_pong():
    a_tx, a_rx = trio.open_memory_channel(1)
    b_tx, b_rx = trio.open_memory_channel(1)
    result = [0]

    async def pinger():
        v = 0
        async with a_tx:
            for _ in range(PING_PONG_N):
                await a_tx.send(v)
                v = await b_rx.receive()
        result[0] = v

    async def ponger():
        async for x in a_rx:
            await b_tx.send(x + 1)

    t0 = now()
    async with trio.open_nursery() as n:
        n.start_soon(pinger)
        n.start_soon(ponger)
    d = now() - t0
    assert result[0] == PING_PONG_N
    return d


async def channel_throughput():
    tx, rx = trio.open_memory_channel(CHAN_CAP)
    total = [0]

    async def producer():
        async with tx:
            for i in range(CHAN_N):
                await tx.send(i)

    async def consumer():
        s = 0
        async for v in rx:
            s += v
        total[0] = s

    t0 = now()
    async with trio.open_nursery() as n:
        n.start_soon(producer)
        n.start_soon(consumer)
    d = now() - t0
    assert total[0] == CHAN_N * (CHAN_N - 1) // 2
    return d


async def yield_many():
    total = [0]

    async def child():
        for _ in range(YIELD_N):
            await trio.lowlevel.checkpoint()
        total[0] += YIELD_N

    t0 = now()
    async with trio.open_nursery() as n:
        for _ in range(YIELD_TASKS):
            n.start_soon(child)
    d = now() - t0
    assert total[0] == YIELD_TASKS * YIELD_N
    return d


async def timers_sleep():
    durations = sleep_durations()
    woke = [0]

    async def child(s):
        await trio.sleep(s)
        woke[0] += 1

    t0 = now()
    async with trio.open_nursery() as n:
        for s in durations:
            n.start_soon(child, s)
    d = now() - t0
    assert woke[0] == TIMERS_N
    return d


async def timers_cancel():
    durations = cancel_durations()
    completed = 0
    t0 = now()
    for s in durations:
        with trio.CancelScope(deadline=trio.current_time() + s) as scope:
            pass
        if not scope.cancelled_caught:
            completed += 1
    d = now() - t0
    assert completed == CANCEL_N
    return d


async def timeout_yield():
    durations = cancel_durations()
    completed = 0
    t0 = now()
    for s in durations:
        with trio.move_on_after(s) as scope:
            await trio.lowlevel.checkpoint()
        if not scope.cancelled_caught:
            completed += 1
    d = now() - t0
    assert completed == CANCEL_N
    return d


async def _echo_handler(stream):
    async with stream:
        while True:
            data = await stream.receive_some(ECHO_BUF)
            if not data:
                break
            await stream.send_all(data)


async def tcp_echo():
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    arrived = [0]
    released = trio.Event()
    finished = trio.Event()
    rounds = [0]
    elapsed = [None]

    async def barrier():
        arrived[0] += 1
        if arrived[0] == ECHO_CONNS + 1:
            released.set()
        await released.wait()

    async def server():
        with listener:
            async with trio.open_nursery() as n:
                for _ in range(ECHO_CONNS):
                    sock, _ = await listener.accept()
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    n.start_soon(_echo_handler, trio.SocketStream(sock))

    async def client(cid):
        stream = await trio.open_tcp_stream("127.0.0.1", port)  # sets TCP_NODELAY
        async with stream:
            await barrier()
            for rnd in range(ECHO_ROUNDS):
                msg = echo_message(cid, rnd)
                await stream.send_all(msg)
                got = b""
                while len(got) < ECHO_MSG:
                    chunk = await stream.receive_some(ECHO_MSG - len(got))
                    if not chunk:
                        raise EOFError("server closed early")
                    got += chunk
                assert got == msg
        rounds[0] += ECHO_ROUNDS
        if rounds[0] == ECHO_CONNS * ECHO_ROUNDS:
            finished.set()

    async with trio.open_nursery() as n:
        n.start_soon(server)
        for cid in range(ECHO_CONNS):
            n.start_soon(client, cid)
        await barrier()
        t0 = now()
        await finished.wait()
        elapsed[0] = now() - t0
    assert rounds[0] == ECHO_CONNS * ECHO_ROUNDS
    return elapsed[0]


async def _mutex(hold_across_yield):
    lock = trio.Lock()
    counter = [0]

    async def child():
        for _ in range(MUTEX_N):
            async with lock:
                counter[0] += 1
                if hold_across_yield:
                    await trio.lowlevel.checkpoint()

    t0 = now()
    async with trio.open_nursery() as n:
        for _ in range(MUTEX_TASKS):
            n.start_soon(child)
    d = now() - t0
    assert counter[0] == MUTEX_TASKS * MUTEX_N
    return d


async def mutex_contention():
    return await _mutex(True)


async def mutex_uncontended():
    return await _mutex(False)


async def cancel_scope():
    t0 = now()
    for _ in range(SCOPE_N):
        with trio.CancelScope():
            pass
    return now() - t0


async def checkpoint():
    t0 = now()
    for _ in range(SCOPE_N):
        await trio.lowlevel.checkpoint()
    return now() - t0


THREAD_N = 10_000


async def to_thread():
    t0 = now()
    total = 0
    for i in range(THREAD_N):
        total += await trio.to_thread.run_sync(lambda i=i: i)
    assert total == (THREAD_N - 1) * THREAD_N // 2
    return now() - t0


# (name, body, ops per iteration, iteration cap)
WORKLOADS = [
    ("spawn_many", spawn_many, SPAWN_MANY_N, 200),
    ("spawn_join_nested", spawn_join_nested, TREE_TASKS, 200),
    ("chained_spawn", chained_spawn, CHAIN_N, 200),
    ("ping_pong", ping_pong, PING_PONG_N, 20),
    ("channel_throughput", channel_throughput, CHAN_N, 20),
    ("yield_many", yield_many, YIELD_TASKS * YIELD_N, 200),
    ("timers_sleep", timers_sleep, TIMERS_N, 20),
    ("timers_cancel", timers_cancel, CANCEL_N, 200),
    ("timeout_yield", timeout_yield, CANCEL_N, 200),
    ("tcp_echo", tcp_echo, ECHO_CONNS * ECHO_ROUNDS, 5),
    ("mutex_contention", mutex_contention, MUTEX_TASKS * MUTEX_N, 200),
    ("mutex_uncontended", mutex_uncontended, MUTEX_TASKS * MUTEX_N, 200),
    ("cancel_scope", cancel_scope, SCOPE_N, 200),
    ("checkpoint", checkpoint, SCOPE_N, 200),
    ("to_thread", to_thread, THREAD_N, 200),
]


def measure(body, cap, quick):
    """One trio.run: warm-up, then timed iterations until budget or cap."""

    async def main():
        warmup = not quick
        iters, total = 0, 0
        while True:
            out = []

            async def root():
                out.append(await body())

            async with trio.open_nursery() as n:
                n.start_soon(root)
            if warmup:
                warmup = False
                continue
            iters += 1
            total += out[0]
            if quick or iters >= cap or total >= BUDGET_NS:
                return iters, total

    return trio.run(main)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1, help="passes over the workloads")
    p.add_argument("--only", default="", help="comma-separated workload names")
    p.add_argument("--quick", action="store_true", help="no warm-up, one iteration")
    args = p.parse_args()
    only = [w for w in args.only.split(",") if w]
    names = [w[0] for w in WORKLOADS]
    for w in only:
        if w not in names:
            p.error(f"unknown workload {w}")
    print(
        f"# python-trio {trio.__version__}, Python {sys.version.split()[0]}",
        file=sys.stderr,
    )
    for run in range(args.runs):
        print(f"# pass {run + 1}/{args.runs}", file=sys.stderr)
        for name, body, ops, cap in WORKLOADS:
            if only and name not in only:
                continue
            iters, total = measure(body, cap, args.quick)
            print(f"python-trio {name} {iters * ops} {total / (iters * ops):.1f}", flush=True)


if __name__ == "__main__":
    main()
