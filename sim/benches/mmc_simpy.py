"""SimPy baseline for the same M/M/c model as `cargo bench -p crest-sim`:
10 servers (a simpy.Resource of capacity 10 = one shared FIFO queue),
Poisson arrivals at 9/s, exponential service of 1 s. Prints the same
BENCH line (requests/s of wall time, single thread) and the mean wait.

    python3 sim/benches/mmc_simpy.py [REQUESTS]
"""
import random
import sys
import time

import simpy

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
LAMBDA, MU, C = 9.0, 1.0, 10


def main():
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=C)
    rng = random.Random(1)
    stats = {"done": 0, "wait": 0.0}

    def request(arrival):
        with servers.request() as req:
            yield req
            stats["wait"] += env.now - arrival
            yield env.timeout(rng.expovariate(MU))
        stats["done"] += 1

    def source():
        for _ in range(N):
            yield env.timeout(rng.expovariate(LAMBDA))
            env.process(request(env.now))

    env.process(source())
    t0 = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t0
    print(f"simpy mmc: {N} requests in {wall:.2f} s wall = {N / wall:,.0f} requests/s; "
          f"mean wait {stats['wait'] / stats['done']:.4f} s (Erlang C 0.6687)")
    print(f"BENCH requests_per_s={N / wall:.0f}")


if __name__ == "__main__":
    main()
