#!/usr/bin/env python3
"""Writes a small pthread program in C, the same one for the same seed and variant, for
tests/run/generated.sh: 2-3 threads, 1-3 mutexes, 1-3 shared plain ints, a few atomics, and per
thread a random sequence of well-nested lock regions, read-modify-writes, atomic adds,
sched_yield, usleep and (sometimes) a condition-variable gate. main joins every thread and asserts
that each counter equals the sum of what was added to it, so a lost update fails the assert.

usage: generate_program.py --seed N --variant VARIANT [-o FILE]
e.g.:  generate_program.py --seed 3 --variant lost-update -o prog.c

Variants, each a promise that the program's `// racelab-expect:` line states and the test checks:
  clean        every shared int is touched only under the mutex that guards it, and mutexes are
               always taken in ascending order: no interleaving fails (`pass`)
  lost-update  the clean program of the same seed plus one unguarded `counter += 1` in each of two
               threads, on a counter the assert checks: an interleaving loses one (`fail lost
               update on cK`)
  deadlock     the clean program of the same seed plus a nest in two threads, one taking mutex a
               then b, the other b then a: an interleaving deadlocks (`fail deadlock`)
  mixed        a program of its own with unguarded accesses, load-then-store atomics and inverted
               nests at random (at least one): it may or may not fail (`any`)

The bugs of lost-update and deadlock sit at the top level of a thread (no mutex held) and, in the
thread that waits at the gate, before the wait, so nothing in the program orders the two halves
of the bug. The clean program is kept small (a bound on its scheduling points) so that dfs:2
explores all of it in a few thousand runs. Each statement has a line of its own, so every
scheduling point has its own file:line.
"""

import argparse
import random
import sys

VARIANTS = ("clean", "lost-update", "deadlock", "mixed")
POINTS_MAX = {2: 14, 3: 9}  # scheduling points of the clean program, by its number of threads

PROMISES = {
    "clean": "every shared int only under its mutex, mutexes taken in ascending order: no interleaving fails",
    "lost-update": "one unguarded `+= 1` in each of two threads on a checked counter: an interleaving loses one",
    "deadlock": "two threads nest the same two mutexes in opposite orders: an interleaving deadlocks",
    "mixed": "unguarded accesses, load-then-store atomics, inverted nests at random: may or may not fail",
}

# An op is a tuple: ("lock", m, [ops]) | ("rmw", k, d, form) | ("atomic", a, d) |
# ("split_atomic", a, d) | ("yield",) | ("sleep", us) | ("gate_open",) | ("gate_wait",).


class Model:
    """The program's shape: threads, mutexes, which mutex guards which counter, the atomics, and
    what main's asserts expect."""

    def __init__(self, rng, variant):
        self.rng = rng
        self.mixed = variant == "mixed"
        self.threads = rng.randint(2, 3)
        self.locks = rng.randint(1, 3)
        self.counters = rng.randint(1, 3)
        self.guard = [rng.randrange(self.locks) for _ in range(self.counters)]
        # Each atomic is a plain int used through __atomic builtins, or an _Atomic int.
        self.atomics = [rng.choice(("builtin", "stdatomic")) for _ in range(rng.randint(0, 2))]
        self.gate = rng.random() < 0.3  # thread 0 opens it, thread `gate_waiter` waits for it
        self.gate_waiter = rng.randrange(1, self.threads)
        self.added = [0] * self.counters
        self.atomic_added = [0] * len(self.atomics)
        self.expect = "pass"


def gen_rmw(model, k, d=None, form=None):
    d = d or model.rng.randint(1, 3)
    model.added[k] += d
    return ("rmw", k, d, form or model.rng.choice(("plus", "plus", "temp", "temp_yield")))


def gen_atomic(model, split=False):
    a, d = model.rng.randrange(len(model.atomics)), model.rng.randint(1, 3)
    model.atomic_added[a] += d
    return ("split_atomic" if split else "atomic", a, d)


def gen_block(model, held, length):
    """A sequence of ops run while holding `held` (mutex indices, in the order taken)."""
    rng, ops = model.rng, []
    for _ in range(length):
        choice = rng.choice(("rmw", "rmw", "rmw", "lock", "lock", "atomic", "yield", "sleep"))
        top = max(held, default=-1)
        if choice == "lock" and len(held) < 2:
            # Ascending order only, except that `mixed` may invert it; never a mutex already held.
            free = [m for m in range(model.locks) if m not in held and (m > top or model.mixed)]
            if free:
                m = rng.choice(free)
                ops.append(("lock", m, gen_block(model, held + [m], rng.randint(1, 2))))
                continue
            choice = "rmw"
        if choice in ("rmw", "lock"):
            k = rng.randrange(model.counters)
            g = model.guard[k]
            if g in held or (model.mixed and rng.random() < 0.25):
                ops.append(gen_rmw(model, k))
            elif g > top and len(held) < 2:
                ops.append(("lock", g, [gen_rmw(model, k)]))
            else:
                ops.append(("yield",))
        elif choice == "atomic" and model.atomics:
            ops.append(gen_atomic(model, split=model.mixed and rng.random() < 0.3))
        elif choice == "sleep":
            ops.append(("sleep", rng.choice((1, 10, 100))))
        else:
            ops.append(("yield",))
    return ops


def points(ops):
    """How many scheduling points the ops pass at least (threading calls and atomics)."""
    weight = {"rmw": 0, "split_atomic": 2, "gate_open": 3, "gate_wait": 3}
    return sum(2 + points(op[2]) if op[0] == "lock" else weight.get(op[0], 1) for op in ops)


def insert_top(model, ops, op):
    """Puts `op` at a random top-level position of `ops`, before the gate wait if there is one."""
    limit = ops.index(("gate_wait",)) if ("gate_wait",) in ops else len(ops)
    ops.insert(model.rng.randint(0, limit), op)


def gen_base(rng, variant):
    """The program before its variant's bug: small enough for dfs:2 to exhaust."""
    for _ in range(10_000):  # about one draw in three is small enough
        model = Model(rng, variant)
        bodies = [gen_block(model, [], rng.randint(2, 3)) for _ in range(model.threads)]
        if model.gate:
            bodies[0].insert(rng.randint(0, len(bodies[0])), ("gate_open",))
            waiter = bodies[model.gate_waiter]
            waiter.insert(rng.randint(0, len(waiter)), ("gate_wait",))
        if sum(points(body) for body in bodies) <= POINTS_MAX[model.threads]:
            return model, bodies
    raise RuntimeError(f"no program within {POINTS_MAX} scheduling points in 10000 draws")


def inject_fault(model, bodies):
    """The one fault `mixed` is sure to have: an unguarded read-modify-write, a load-then-store
    on an atomic, or a nest that inverts the mutex order."""
    rng = model.rng
    faults = ["unguarded"] + ["split_atomic"] * bool(model.atomics) + ["inverted"] * (model.locks > 1)
    fault, t = rng.choice(faults), rng.randrange(model.threads)
    if fault == "unguarded":
        op = gen_rmw(model, rng.randrange(model.counters))
    elif fault == "split_atomic":
        op = gen_atomic(model, split=True)
    else:
        a, b = sorted(rng.sample(range(model.locks), 2))
        op = ("lock", b, [("lock", a, [("yield",)])])
    bodies[t].insert(rng.randint(0, len(bodies[t])), op)


def gen_program(seed, variant):
    # clean, lost-update and deadlock share a stream, so they are one program with or without a bug.
    rng = random.Random(f"{seed}/mixed" if variant == "mixed" else seed)
    model, bodies = gen_base(rng, variant)
    x, y = rng.sample(range(model.threads), 2)
    if variant == "lost-update":
        k = rng.randrange(model.counters)
        model.expect = f"fail lost update on c{k}"
        for t in (x, y):
            insert_top(model, bodies[t], gen_rmw(model, k, 1, "plus"))
    elif variant == "deadlock":
        model.expect = "fail deadlock"
        model.locks = max(model.locks, 2)  # a second mutex that guards nothing, if need be
        a, b = sorted(rng.sample(range(model.locks), 2))
        guarded = [k for k in range(model.counters) if model.guard[k] in (a, b)]
        for t, (first, second) in ((x, (a, b)), (y, (b, a))):
            inner = gen_rmw(model, guarded[0]) if guarded else ("yield",)
            insert_top(model, bodies[t], ("lock", first, [("lock", second, [inner])]))
    elif variant == "mixed":
        model.expect = "any"
        inject_fault(model, bodies)
    return model, bodies


def op_lines(model, op):
    kind = op[0]
    if kind == "lock":
        inner = [line for o in op[2] for line in op_lines(model, o)]
        return [f"pthread_mutex_lock(&m{op[1]});"] + ["  " + line for line in inner] + [
            f"pthread_mutex_unlock(&m{op[1]});"]
    if kind == "rmw":
        _, k, d, form = op
        if form == "plus":
            return [f"c{k} += {d};"]
        middle = ["  sched_yield();"] if form == "temp_yield" else []
        return ["{", f"  int seen = c{k};"] + middle + [f"  c{k} = seen + {d};", "}"]
    if kind in ("atomic", "split_atomic"):
        return [atomic_line(model.atomics[op[1]], *op)]
    if kind == "yield":
        return ["sched_yield();"]
    if kind == "sleep":
        return [f"usleep({op[1]});"]
    if kind == "gate_open":
        return ["pthread_mutex_lock(&gate_lock);", "gate_open = 1;", "pthread_cond_broadcast(&gate_changed);",
                "pthread_mutex_unlock(&gate_lock);"]
    assert kind == "gate_wait", kind
    return ["pthread_mutex_lock(&gate_lock);", "while (!gate_open) pthread_cond_wait(&gate_changed, &gate_lock);",
            "pthread_mutex_unlock(&gate_lock);"]


def atomic_line(style, kind, a, d):
    if kind == "atomic":
        if style == "builtin":
            return f"__atomic_fetch_add(&a{a}, {d}, __ATOMIC_SEQ_CST);"
        return f"atomic_fetch_add_explicit(&a{a}, {d}, memory_order_relaxed);"
    # A lost update without a data race: an atomic load, then an atomic store of the sum.
    if style == "builtin":
        return f"__atomic_store_n(&a{a}, __atomic_load_n(&a{a}, __ATOMIC_ACQUIRE) + {d}, __ATOMIC_RELEASE);"
    return f"atomic_store(&a{a}, atomic_load(&a{a}) + {d});"


def emit(seed, variant, model, bodies):
    out = [
        f"// generated by tests/run/generate_program.py --seed {seed} --variant {variant}",
        f"// {variant}: {PROMISES[variant]}",
        f"// racelab-expect: {model.expect}",
        "#define _GNU_SOURCE",
    ]
    out += [f"#include <{h}.h>" for h in ("assert", "pthread", "sched", "stdatomic", "stdio", "unistd")]
    out.append("")
    out += [f"static pthread_mutex_t m{m} = PTHREAD_MUTEX_INITIALIZER;" for m in range(model.locks)]
    out += [f"static int c{k};  // guarded by m{g}" for k, g in enumerate(model.guard)]
    for a, style in enumerate(model.atomics):
        builtin = style == "builtin"
        out.append(f"static int a{a};  // __atomic builtins" if builtin else f"static _Atomic int a{a};")
    if model.gate:
        out += ["static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;",
                "static pthread_cond_t gate_changed = PTHREAD_COND_INITIALIZER;",
                "static int gate_open;  // guarded by gate_lock"]
    for t, body in enumerate(bodies):
        out += ["", f"static void *thread{t}(void *arg) {{", "  (void)arg;"]
        out += ["  " + line for op in body for line in op_lines(model, op)]
        out += ["  return NULL;", "}"]
    out += ["", "int main(void) {", f"  pthread_t threads[{model.threads}];"]
    out += [f"  pthread_create(&threads[{t}], NULL, thread{t}, NULL);" for t in range(model.threads)]
    out += [f"  pthread_join(threads[{t}], NULL);" for t in range(model.threads)]
    values = [f"c{k}" for k in range(model.counters)] + [f"a{a}" for a in range(len(model.atomics))]
    out.append('  printf("' + " ".join(f"{v}=%d" for v in values) + '\\n", ' +
               ", ".join(f"(int){v}" for v in values) + ");")
    out += [f'  assert(c{k} == {n} && "lost update on c{k}");' for k, n in enumerate(model.added)]
    out += [f'  assert(a{a} == {n} && "lost update on a{a}");' for a, n in enumerate(model.atomic_added)]
    out += ["  return 0;", "}"]
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description="Write a generated pthread program in C.")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("-o", "--output", help="the file to write (default: standard output)")
    args = parser.parse_args()
    model, bodies = gen_program(args.seed, args.variant)
    text = emit(args.seed, args.variant, model, bodies)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
