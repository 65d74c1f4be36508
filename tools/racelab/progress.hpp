// A progress bar on standard error, drawn only on a terminal (so logs and pipes stay clean):
//
//   ProgressBar bar("explored");
//   bar.update(done, total);   // [##########··········]  50%  500 / 1000 explored
//   bar.clear();               // erases it before the report
#pragma once

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string>

namespace racelab::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string what) : what_(std::move(what)), tty_(::isatty(STDERR_FILENO) != 0) {}
  ~ProgressBar() { clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  bool shown() const { return tty_; }

  void update(long done, long total, const std::string& extra = {}) {
    if (!tty_ || total <= 0) return;
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * std::min(done, total) / total);
    std::string line = "\r  [" + std::string(static_cast<std::size_t>(filled), '#') +
                       std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] " +
                       std::to_string(100 * std::min(done, total) / total) + "%  " + std::to_string(done) +
                       " / " + std::to_string(total) + " " + what_ + extra;
    width_ = std::max(width_, line.size());
    std::cerr << line << std::flush;
    drawn_ = true;
  }
  // A count with no known total (a DFS until its tree is done): "  1380 interleavings".
  void tally(long done) {
    if (!tty_) return;
    std::string line = "\r  " + std::to_string(done) + " " + what_;
    width_ = std::max(width_, line.size());
    std::cerr << line << std::flush;
    drawn_ = true;
  }
  void clear() {
    if (!drawn_) return;
    std::cerr << '\r' << std::string(width_, ' ') << '\r' << std::flush;
    drawn_ = false;
  }

 private:
  std::string what_;
  bool tty_;
  bool drawn_ = false;
  std::size_t width_ = 0;
};

}  // namespace racelab::cli
