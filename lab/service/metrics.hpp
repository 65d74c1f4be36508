// lab/service/metrics.hpp — the bank service's counters, rendered in Prometheus text format.
//
// The lab's names: transfers_total{status}, race_condition_hits_total, double_spend_detected_total,
// account_balance{account_id}, transfer_duration_seconds (histogram), concurrent_transfers; the
// barrier queue is `barrier_waiting` (the lab's `barrier_waiting_count` too with `lab_names`: a gauge
// named _count fails `promtool check metrics`). racelab's: racelab_transfers_total{strategy,status},
// racelab_money / racelab_money_expected, racelab_barrier_timeouts_total, racelab_retries_total{strategy},
// racelab_idempotent_replays_total,
// racelab_spans_*. The two lab counters mean different things:
//   race_condition_hits_total     transfers whose source balance changed between their check and
//                                 their write (another transfer got into the window)
//   double_spend_detected_total   transfers that succeeded and left their source below zero
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/strategy.hpp"

namespace lab::service {

class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  void transfer(Strategy strategy, const std::string& status, double seconds);
  void retries(Strategy strategy, int n);
  struct Spans {
    std::uint64_t exported = 0, dropped = 0, failed_exports = 0;
  };
  std::string render(const std::vector<std::pair<std::string, std::int64_t>>& balances, int waiting,
                     std::size_t barrier_timeouts, Spans spans, bool lab_names) const;

  // Percentiles of the last kWindow decided transfers' durations, in seconds (0 when none yet).
  static constexpr std::size_t kWindow = 2048;
  struct Latency {
    double p50 = 0, p99 = 0;
    std::size_t samples = 0;
  };
  Latency latency() const;
  std::map<std::string, std::int64_t> by_status() const;

  std::atomic<std::int64_t> race_condition_hits{0};
  std::atomic<std::int64_t> double_spend_detected{0};
  std::atomic<std::int64_t> idempotent_replays{0};
  std::atomic<std::int64_t> concurrent_transfers{0};
  std::int64_t money_expected = 1700;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::int64_t> by_status_;
  std::map<std::pair<std::string, std::string>, std::int64_t> by_strategy_status_;
  std::map<std::string, std::int64_t> retries_;
  std::array<std::int64_t, kBuckets.size()> buckets_{};
  std::int64_t duration_count_ = 0;
  double duration_sum_ = 0;
  std::vector<double> window_;  // ring of the last kWindow durations
  std::size_t window_next_ = 0;
};

}  // namespace lab::service
