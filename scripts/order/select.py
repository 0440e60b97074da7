#!/usr/bin/env python3
"""Turns the traced functions into the link order (scripts/order/voidoci.order).

usage: select.py MAP HITS... > voidoci.order

MAP is lld's -Map of the binary that was traced; each HITS file lists the functions one run hit,
"ADDR NAME" per line, first hit first (trace-functions.c). The linker places a whole input
section wherever the first of its symbols appears in the order, and a name in the order names
every local symbol of that name in every object. So the order is chosen by section, not by name:

- A section is hot when a traced address lies in it. Small hot sections (one function each, from
  the modules built with -function-sections, and glibc's one-function objects) come first, in
  first-hit order: they pack into a few pages. Large hot sections (libswiftCore's one 1.5 MB
  .text, a prebuilt library object) follow, each once: what of them is resident depends on
  where in them the code runs, which the order cannot change, so they must not split the
  packed ones.
- A traced function whose name other sections define too (merged functions such as
  `objectdestroyTm`, value witnesses of Optional, metadata accessors: local symbols that many
  objects define) pulls all of those sections along. When one of them is large and not hot
  itself (a prebuilt library's whole .text), the name goes last, after the large hot sections:
  the first such name drags the cold sections there, behind everything hot, and the rest find
  them placed already, so their own small sections still pack together.
"""
import bisect
import re
import sys

LARGE = 16 * 1024   # bytes: a section this large holds more than one function's worth of code

LINE = re.compile(r"\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+( +)(.*)")


def input_sections(path):
    """The input sections in lld's map: (output section, address, size, object, [symbols])."""
    secs, out = [], None
    with open(path) as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            indent, name = len(m.group(3)), m.group(4)
            if indent == 1:                 # an output section
                out = name
                continue
            addr, size = int(m.group(1), 16), int(m.group(2), 16)
            if indent <= 9:                 # an input section: "OBJECT:(SECTION)"
                secs.append([out, addr, size, name.rsplit(":(", 1)[0], []])
            elif secs:                      # a symbol in the last input section
                secs[-1][4].append(name)
    return secs


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: select.py MAP HITS...")
    every = input_sections(sys.argv[1])
    secs = [(a, size, syms, obj) for out, a, size, obj, syms in every if out == ".text"]
    starts = [s[0] for s in secs]
    where = {}      # symbol name -> the .text sections defining it
    for i, (_, _, syms, _) in enumerate(secs):
        for n in syms:
            where.setdefault(n, []).append(i)

    def section_of(addr):
        i = bisect.bisect_right(starts, addr) - 1
        return i if i >= 0 and addr < secs[i][0] + max(secs[i][1], 1) else None

    hits = []       # (section index, name), first hit first, one per section
    seen = set()
    for path in sys.argv[2:]:
        with open(path) as f:
            for line in f:
                parts = line.split(None, 1)
                if len(parts) != 2:
                    continue
                i = section_of(int(parts[0], 16))
                if i is not None and i not in seen:
                    seen.add(i)
                    hits.append((i, parts[1].strip()))
    small, large, last, listed = [], [], [], set()
    for i, name in hits:
        if name in listed:
            continue
        listed.add(name)
        if any(secs[j][1] >= LARGE and j not in seen for j in where.get(name, [])):
            last.append(name)
        else:
            (large if secs[i][1] >= LARGE else small).append(name)

    sys.stdout.write("".join(n + "\n" for n in small + large + last))
    print(f"select: {len(small)} small and {len(large)} large hot sections, then {len(last)} "
          "whose names also name large cold sections", file=sys.stderr)


if __name__ == "__main__":
    main()
