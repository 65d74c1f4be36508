// The fatal-signal report (fatal_signals.hpp). Everything the handler touches is set up before it
// can run: the text is in static tables, backtrace() is loaded, and the alternate stacks exist.
#include "fatal_signals.hpp"

#include <execinfo.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RACELAB_CLI_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define RACELAB_CLI_SANITIZED 1
#endif
#endif

namespace racelab::cli {
namespace {

struct FatalSignal {
  int number;
  const char* name;
  const char* description;  // as strsignal(3) words it (which is not async-signal-safe itself)
};
constexpr FatalSignal kFatalSignals[] = {
    {SIGSEGV, "SIGSEGV", "Segmentation fault"},
    {SIGBUS, "SIGBUS", "Bus error"},
    {SIGFPE, "SIGFPE", "Floating point exception"},
    {SIGILL, "SIGILL", "Illegal instruction"},
    {SIGABRT, "SIGABRT", "Aborted"},
};
constexpr int kFramesMax = 64;
constexpr std::size_t kSignalStackBytes = 64 * 1024;  // backtrace_symbols_fd needs a few KiB

std::atomic<bool> g_installed{false};

// A line assembled without allocating: fixed buffer, written with one write(2).
class Line {
 public:
  Line& text(const char* s) {
    while (*s != '\0' && len_ < sizeof buf_) buf_[len_++] = *s++;
    return *this;
  }
  Line& number(std::uint64_t n, unsigned base = 10) {
    char digits[24];
    int count = 0;
    do {
      digits[count++] = "0123456789abcdef"[n % base];
      n /= base;
    } while (n != 0 && count < 24);
    if (base == 16) text("0x");
    while (count > 0 && len_ < sizeof buf_) buf_[len_++] = digits[--count];
    return *this;
  }
  void write() const {
    std::size_t done = 0;
    while (done < len_) {
      const auto n = ::write(STDERR_FILENO, buf_ + done, len_ - done);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  char buf_[256];
  std::size_t len_ = 0;
};

void on_fatal_signal(int sig, siginfo_t* info, void*) {
  const FatalSignal* known = nullptr;
  for (const auto& s : kFatalSignals)
    if (s.number == sig) known = &s;
  Line head;
  head.text("racelab: fatal signal ");
  if (known != nullptr)
    head.text(known->name).text(" (").text(known->description).text(")");
  else
    head.number(static_cast<std::uint64_t>(sig));
  head.text("\n").write();
  Line where;
  where.text("racelab: in thread ").number(static_cast<std::uint64_t>(::syscall(SYS_gettid)));
  if (info != nullptr && info->si_code <= 0 && info->si_pid == ::getpid())  // raise(), abort()
    where.text(", raised by this process");
  else if (info != nullptr && info->si_code <= 0)  // SI_USER, SI_TKILL, SI_QUEUE: kill(2) and the like
    where.text(", sent by process ").number(static_cast<std::uint64_t>(info->si_pid));
  else if (info != nullptr && sig != SIGABRT)
    where.text(", at address ").number(reinterpret_cast<std::uintptr_t>(info->si_addr), 16);
  where.text("; backtrace, innermost first:\n").write();
  void* frames[kFramesMax];
  const int n = ::backtrace(frames, kFramesMax);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  // SA_RESETHAND put the default action back, and the signal stays blocked until this handler
  // returns: then the raised one is delivered and ends the process with `sig` (a fault that came
  // from an instruction would also recur when it re-runs).
  ::raise(sig);
}

// The calling thread's alternate signal stack; disabled before its memory goes with the thread.
struct SignalStack {
  std::unique_ptr<char[]> memory;
  SignalStack() : memory(new char[kSignalStackBytes]) {
    stack_t ss{};
    ss.ss_sp = memory.get();
    ss.ss_size = kSignalStackBytes;
    ::sigaltstack(&ss, nullptr);
  }
  ~SignalStack() {
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    ::sigaltstack(&ss, nullptr);
  }
  SignalStack(const SignalStack&) = delete;
  SignalStack& operator=(const SignalStack&) = delete;
};

}  // namespace

void use_signal_stack() {
#ifndef RACELAB_CLI_SANITIZED
  if (!g_installed.load(std::memory_order_relaxed)) return;
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0) return;  // has one
  thread_local SignalStack stack;
#endif
}

bool report_fatal_signals() {
#ifdef RACELAB_CLI_SANITIZED
  return false;
#else
  if (!g_installed.exchange(true)) {
    void* warm[1];
    static_cast<void>(::backtrace(warm, 1));  // loads libgcc_s now, not in the handler
    struct sigaction action {};
    action.sa_sigaction = on_fatal_signal;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (const auto& s : kFatalSignals) ::sigaction(s.number, &action, nullptr);
  }
  use_signal_stack();
  return true;
#endif
}

}  // namespace racelab::cli
