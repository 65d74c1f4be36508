// lab/service/metrics.hpp — the bank service's counters, rendered in Prometheus text format.
//
// The lab's names: transfers_total{status}, race_condition_hits_total, double_spend_detected_total,
// account_balance{account_id}, transfer_duration_seconds (histogram), concurrent_transfers,
// barrier_waiting_count; and racelab's: racelab_transfers_total{strategy,status},
// racelab_money_total / racelab_money_expected, racelab_barrier_timeouts_total,
// racelab_retries_total{strategy}. The two lab counters mean different things:
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
  std::string render(const std::vector<std::pair<std::string, std::int64_t>>& balances, int waiting,
                     std::size_t barrier_timeouts) const;

  std::atomic<std::int64_t> race_condition_hits{0};
  std::atomic<std::int64_t> double_spend_detected{0};
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
};

}  // namespace lab::service
