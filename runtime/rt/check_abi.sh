#!/usr/bin/env bash
# check_abi.sh LIBRACELAB_RT_SO: every ThreadSanitizer entry point that GCC and Clang emit for a
# program touching the usual C and C++ concurrency features (plus the annotations of
# <sanitizer/tsan_interface.h>) must be defined by the runtime, and the families left out on
# purpose (fibers, the report API, Java) must stay undefined. Exits 1 naming each offender.
#
#   runtime/rt/check_abi.sh build/release/runtime/libracelab_rt.so
#
# Compilers: $RACELAB_CHECK_CXX (default "g++ clang++") and their C drivers (gcc, clang); one not
# installed is skipped, none installed is a failure.
set -euo pipefail

lib=${1:?usage: check_abi.sh path/to/libracelab_rt.so}
[[ -r $lib ]] || { echo "check_abi: cannot read $lib" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/prog.cpp" <<'EOF'
#include <sanitizer/tsan_interface.h>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

struct Base { virtual ~Base() = default; virtual int f() { return 1; } };
struct Derived : Base { int f() override { return 2; } };
struct Big { char data[100]; int x; };
struct __attribute__((packed)) Packed { char c; int i; long l; short s; };
struct alignas(16) Pair { long a, b; };

int g_int; long g_long; short g_short; char g_char; Big g_big; Packed g_packed; Pair g_pair;
std::atomic<char> g_a8; std::atomic<short> g_a16; std::atomic<int> g_a32; std::atomic<long> g_a64;
std::atomic<bool> g_flag; std::atomic<Base*> g_ptr; std::atomic<unsigned __int128> g_a128;
std::mutex g_m; std::shared_mutex g_sm; std::condition_variable g_cv;

__attribute__((noinline)) void copy(Big* d, const Big* s) { *d = *s; }

template <class A, class T>
void all_ops(A& a, T v) {
  a.store(v); (void)a.load(std::memory_order_acquire); (void)a.exchange(v);
  T e = v; a.compare_exchange_strong(e, v); a.compare_exchange_weak(e, v, std::memory_order_acq_rel, std::memory_order_relaxed);
  (void)a.fetch_add(v); (void)a.fetch_sub(v); (void)a.fetch_and(v); (void)a.fetch_or(v); (void)a.fetch_xor(v);
}

int main() {
  auto sp = std::make_shared<Derived>();
  std::vector<std::thread> ts;
  for (int i = 0; i < 2; ++i) ts.emplace_back([sp, i] {
    { std::lock_guard<std::mutex> l(g_m); g_int += i; g_long++; g_short++; g_char++; }
    { std::shared_lock<std::shared_mutex> l(g_sm); (void)g_int; }
    g_packed.i++; g_packed.l++; g_packed.s++; g_pair = Pair{1, 2};
    all_ops(g_a8, char{1}); all_ops(g_a16, short{1}); all_ops(g_a32, 1); all_ops(g_a64, 1L);
    g_flag.store(true); g_ptr.store(sp.get());
    unsigned __int128 v = g_a128.load(); g_a128.store(v + 1); (void)g_a128.exchange(v);
    unsigned __int128 e = 0; g_a128.compare_exchange_strong(e, 5);
    __atomic_fetch_add(&v, 1, __ATOMIC_SEQ_CST); __atomic_fetch_nand(&v, 1, __ATOMIC_SEQ_CST);
    for (auto* p : {&g_int}) { __atomic_fetch_nand(p, 1, __ATOMIC_SEQ_CST); (void)__sync_val_compare_and_swap(p, 1, 2); }
    char c = 0; __atomic_fetch_nand(&c, 1, __ATOMIC_SEQ_CST); short s = 0; __atomic_fetch_nand(&s, 1, __ATOMIC_SEQ_CST);
    long l = 0; __atomic_fetch_nand(&l, 1, __ATOMIC_SEQ_CST); (void)__sync_val_compare_and_swap(&l, 1, 2);
    std::atomic_thread_fence(std::memory_order_seq_cst); std::atomic_signal_fence(std::memory_order_seq_cst);
    Base* b = sp.get(); (void)b->f();
    copy(&g_big, &g_big); std::memset(&g_big, 0, sizeof g_big);
    std::string str = "long enough to live on the heap, not in the object"; str += "x";
    __tsan_acquire(&g_int); __tsan_release(&g_int);
    __tsan_mutex_create(&g_m, 0); __tsan_mutex_pre_lock(&g_m, 0); __tsan_mutex_post_lock(&g_m, 0, 0);
    __tsan_mutex_pre_unlock(&g_m, 0); __tsan_mutex_post_unlock(&g_m, 0); __tsan_mutex_pre_signal(&g_m, 0);
    __tsan_mutex_post_signal(&g_m, 0); __tsan_mutex_pre_divert(&g_m, 0); __tsan_mutex_post_divert(&g_m, 0);
    __tsan_mutex_destroy(&g_m, 0);
    void* tag = __tsan_external_register_tag("T"); __tsan_external_register_header(tag, "h");
    __tsan_external_assign_tag(&g_int, tag); __tsan_external_read(&g_int, nullptr, tag);
    __tsan_external_write(&g_int, nullptr, tag);
  });
  for (auto& t : ts) t.join();
  delete new Derived;
  return g_int;
}
EOF

cat >"$work/prog.c" <<'EOF'
#include <stdatomic.h>
#include <string.h>
struct S { char b[64]; };
_Atomic int a32; _Atomic long a64; _Atomic char a8; _Atomic short a16; int plain; struct S s1, s2;
int main(void) {
  atomic_fetch_add(&a32, 1); atomic_store(&a64, 2); atomic_exchange(&a8, 1); atomic_fetch_or(&a16, 1);
  int e = 0; atomic_compare_exchange_strong(&a32, &e, 1); atomic_thread_fence(memory_order_seq_cst);
  plain++; s1 = s2; memcpy(&s1, &s2, sizeof s1);
  return atomic_load(&a32);
}
EOF

declare -A cc_of=([g++]=gcc [clang++]=clang)
needed="$work/needed"
: >"$needed"
ran=0
for cxx in ${RACELAB_CHECK_CXX:-g++ clang++}; do
  if ! command -v "$cxx" >/dev/null; then
    echo "check_abi: $cxx not installed, skipped"
    continue
  fi
  cc=${cc_of[$cxx]:-}
  for opt in -O0 -O2; do
    "$cxx" -std=c++20 "$opt" -fsanitize=thread -w -c "$work/prog.cpp" -o "$work/prog.o"
    nm -u "$work/prog.o" | awk '$2 ~ /^__tsan_/ {print $2}' >>"$needed"
    if [[ -n $cc ]] && command -v "$cc" >/dev/null; then
      "$cc" -std=c11 "$opt" -fsanitize=thread -w -c "$work/prog.c" -o "$work/progc.o"
      nm -u "$work/progc.o" | awk '$2 ~ /^__tsan_/ {print $2}' >>"$needed"
    fi
  done
  ran=$((ran + 1))
done
((ran > 0)) || { echo "check_abi: no compiler ran" >&2; exit 2; }

nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u >"$work/defined"
status=0
for sym in $(sort -u "$needed"); do
  if ! grep -qx "$sym" "$work/defined"; then
    echo "check_abi: missing $sym"
    status=1
  fi
done
for sym in __tsan_create_fiber __tsan_switch_to_fiber __tsan_get_current_report __tsan_java_init; do
  if grep -qx "$sym" "$work/defined"; then
    echo "check_abi: $sym is defined but must stay out (see tsan_abi.cpp)"
    status=1
  fi
done
((status == 0)) && echo "check_abi: all $(sort -u "$needed" | wc -l) entry points defined"
exit $status
