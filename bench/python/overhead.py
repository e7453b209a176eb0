"""Per-item overhead of Python's multiprocessing.Pool: imap at chunksize 1 and 1000 over x * 2."""
import json
import sys
import time
from multiprocessing import Pool


def double(x):
    return x * 2


def main():
    opts = dict(arg[2:].split("=", 1) for arg in sys.argv[1:] if arg.startswith("--"))
    n = int(opts.get("n", "2000000"))
    n1 = int(opts.get("n1", "200000"))
    repeats = int(opts.get("repeats", "5"))
    processes = int(opts.get("processes", "2"))
    variants = [("Pool.imap chunksize 1", n1, 1), ("Pool.imap chunksize 1000", n, 1000)]
    runs = {name: {"name": name, "items": items, "wallMs": []} for name, items, _ in variants}
    with Pool(processes) as pool:
        for round_ in range(-1, repeats):
            for name, items, chunksize in variants:
                start = time.perf_counter()
                total = sum(pool.imap(double, range(items), chunksize))
                wall = (time.perf_counter() - start) * 1000
                assert total == items * (items - 1), total
                if round_ >= 0:
                    runs[name]["wallMs"].append(wall)
    print("BENCH_RESULT " + json.dumps({"runs": list(runs.values())}), flush=True)


if __name__ == "__main__":
    main()
