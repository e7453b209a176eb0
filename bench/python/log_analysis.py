"""The log analysis in Python, as the issue's peer: the same regular expression and the same
counting as examples/log-analysis (parse.ts), one gzip file per task, serial or through
multiprocessing.Pool().imap_unordered, the per-file Counters merged with Counter.update."""
import gzip
import json
import os
import re
import resource
import sys
import time
from collections import Counter
from multiprocessing import Pool

COMBINED_LOG_LINE = re.compile(
    r'^\S+ \S+ \S+ \[[^\]]+\] "(?:([A-Za-z]+) ([^\s"]+)(?: [^\s"]+)?|[^"\\]*(?:\\.[^"\\]*)*)" (\d{3}) (?:\d+|-) '
    r'"[^"\\]*(?:\\.[^"\\]*)*" "[^"\\]*(?:\\.[^"\\]*)*"(?: .*)?\Z'
)
ASSET = re.compile(r"\.(?:js|css|png|jpg|gif|ico)\Z", re.IGNORECASE)


def path_of(target):
    start = 0
    if not target.startswith("/"):
        scheme = target.find("://")
        if scheme <= 0:
            return None
        start = target.find("/", scheme + 3)
        if start < 0:
            return "/"
    end = len(target)
    query = target.find("?", start)
    if query >= 0:
        end = query
    fragment = target.find("#", start)
    if 0 <= fragment < end:
        end = fragment
    return target[start:end]


def analysis(path):
    lines = malformed = matched = 0
    counts = Counter()
    match_line = COMBINED_LOG_LINE.match
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as handle:
        for line in handle:
            line = line.rstrip("\n").rstrip("\r")
            lines += 1
            match = match_line(line)
            if match is None:
                malformed += 1
                continue
            if match.group(1) != "GET" or match.group(3) != "200":
                continue
            p = path_of(match.group(2))
            if p is None or ASSET.search(p):
                continue
            matched += 1
            counts[p] += 1
    return lines, malformed, matched, counts


def main():
    opts = dict(arg[2:].split("=", 1) for arg in sys.argv[1:] if arg.startswith("--"))
    directory = opts["dir"]
    mode = opts.get("mode", "pool")
    files = sorted(os.path.join(directory, name) for name in os.listdir(directory) if name.endswith(".gz"))
    cpu0 = os.times()
    start = time.perf_counter()
    total = Counter()
    lines = malformed = matched = 0
    if mode == "serial":
        results = map(analysis, files)
        pool = None
    else:
        pool = Pool(int(opts["processes"]) if "processes" in opts else None)
        results = pool.imap_unordered(analysis, files)
    for file_lines, file_malformed, file_matched, counts in results:
        lines += file_lines
        malformed += file_malformed
        matched += file_matched
        total.update(counts)
    if pool is not None:
        pool.close()
        pool.join()
    wall = (time.perf_counter() - start) * 1000
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system + cpu1.children_user - cpu0.children_user + cpu1.children_system - cpu0.children_system) * 1000
    top = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"wallMs": wall, "cpuMs": cpu, "peakRssMb": peak, "check": {"files": len(files), "lines": lines, "malformed": malformed, "matched": matched, "top": top}}
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
