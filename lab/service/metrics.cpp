#include "service/metrics.hpp"

#include <sstream>

namespace lab::service {

void Metrics::transfer(Strategy strategy, const std::string& status, double seconds) {
  std::lock_guard lk(mu_);
  ++by_status_[status];
  ++by_strategy_status_[{std::string(to_string(strategy)), status}];
  if (status == "success" || status == "failed_insufficient_funds") {
    ++duration_count_;
    duration_sum_ += seconds;
    for (std::size_t i = 0; i < kBuckets.size(); ++i)
      if (seconds <= kBuckets[i]) ++buckets_[i];
  }
}

void Metrics::retries(Strategy strategy, int n) {
  if (n <= 0) return;
  std::lock_guard lk(mu_);
  retries_[std::string(to_string(strategy))] += n;
}

std::string Metrics::render(const std::vector<std::pair<std::string, std::int64_t>>& balances, int waiting,
                            std::size_t barrier_timeouts) const {
  std::lock_guard lk(mu_);
  std::ostringstream out;
  auto header = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  header("transfers_total", "counter", "Transfers by outcome.");
  for (const char* status : {"success", "failed_insufficient_funds"})
    out << "transfers_total{status=\"" << status << "\"} "
        << (by_status_.count(status) ? by_status_.at(status) : 0) << '\n';
  for (const auto& [status, n] : by_status_)
    if (status != "success" && status != "failed_insufficient_funds")
      out << "transfers_total{status=\"" << status << "\"} " << n << '\n';
  header("racelab_transfers_total", "counter", "Transfers by strategy and outcome.");
  for (const auto& [key, n] : by_strategy_status_)
    out << "racelab_transfers_total{strategy=\"" << key.first << "\",status=\"" << key.second << "\"} " << n
        << '\n';
  header("race_condition_hits_total", "counter",
         "Transfers whose source balance changed between their check and their write.");
  out << "race_condition_hits_total " << race_condition_hits.load() << '\n';
  header("double_spend_detected_total", "counter",
         "Successful transfers that left their source account below zero.");
  out << "double_spend_detected_total " << double_spend_detected.load() << '\n';
  header("account_balance", "gauge", "Balance per account, in whole units.");
  std::int64_t total = 0;
  for (const auto& [id, balance] : balances) {
    out << "account_balance{account_id=\"" << id << "\"} " << balance << '\n';
    total += balance;
  }
  header("racelab_money_total", "gauge", "Money in all accounts.");
  out << "racelab_money_total " << total << '\n';
  header("racelab_money_expected", "gauge", "Money the accounts held after the last reset.");
  out << "racelab_money_expected " << money_expected << '\n';
  header("transfer_duration_seconds", "histogram", "Time to decide and apply a transfer.");
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    out << "transfer_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} " << buckets_[i] << '\n';
  out << "transfer_duration_seconds_bucket{le=\"+Inf\"} " << duration_count_ << '\n';
  out << "transfer_duration_seconds_sum " << duration_sum_ << '\n';
  out << "transfer_duration_seconds_count " << duration_count_ << '\n';
  header("concurrent_transfers", "gauge", "Transfers in progress.");
  out << "concurrent_transfers " << concurrent_transfers.load() << '\n';
  header("barrier_waiting_count", "gauge", "Transfers held at the race window (barrier or delay) right now.");
  out << "barrier_waiting_count " << waiting << '\n';
  header("racelab_barrier_timeouts_total", "counter",
         "Barrier waits that timed out since the switches last changed.");
  out << "racelab_barrier_timeouts_total " << barrier_timeouts << '\n';
  header("racelab_retries_total", "counter", "Transaction retries by strategy (optimistic, serializable).");
  for (const auto& [strategy, n] : retries_)
    out << "racelab_retries_total{strategy=\"" << strategy << "\"} " << n << '\n';
  return out.str();
}

}  // namespace lab::service
