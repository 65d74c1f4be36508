#include "service/metrics.hpp"

#include <algorithm>
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
    if (window_.size() < kWindow) {
      window_.push_back(seconds);
    } else {
      window_[window_next_] = seconds;
      window_next_ = (window_next_ + 1) % kWindow;
    }
  }
}

Metrics::Latency Metrics::latency() const {
  std::vector<double> v;
  {
    std::lock_guard lk(mu_);
    v = window_;
  }
  if (v.empty()) return {};
  auto at = [&](double q) {
    auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
  };
  Latency l;
  l.samples = v.size();
  l.p50 = at(0.50);
  l.p99 = at(0.99);
  return l;
}

std::map<std::string, std::int64_t> Metrics::by_status() const {
  std::lock_guard lk(mu_);
  return by_status_;
}

void Metrics::retries(Strategy strategy, int n) {
  if (n <= 0) return;
  std::lock_guard lk(mu_);
  retries_[std::string(to_string(strategy))] += n;
}

std::string Metrics::render(const std::vector<std::pair<std::string, std::int64_t>>& balances, int waiting,
                            std::size_t barrier_timeouts, Spans spans, bool lab_names) const {
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
  header("racelab_idempotent_replays_total", "counter",
         "Transfers retried with an Idempotency-Key already in the ledger: answered, not run again.");
  out << "racelab_idempotent_replays_total " << idempotent_replays.load() << '\n';
  header("double_spend_detected_total", "counter",
         "Successful transfers that left their source account below zero.");
  out << "double_spend_detected_total " << double_spend_detected.load() << '\n';
  header("account_balance", "gauge", "Balance per account, in whole units.");
  std::int64_t total = 0;
  for (const auto& [id, balance] : balances) {
    out << "account_balance{account_id=\"" << id << "\"} " << balance << '\n';
    total += balance;
  }
  header("racelab_money", "gauge", "Money in all accounts.");
  out << "racelab_money " << total << '\n';
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
  header("barrier_waiting", "gauge", "Transfers held at the race window (barrier or delay) right now.");
  out << "barrier_waiting " << waiting << '\n';
  if (lab_names) {  // the original's name, which its dashboards query (a gauge with a _count suffix)
    header("barrier_waiting_count", "gauge", "Same as barrier_waiting (the original lab's name).");
    out << "barrier_waiting_count " << waiting << '\n';
  }
  header("racelab_barrier_timeouts_total", "counter",
         "Barrier waits that timed out since the switches last changed.");
  out << "racelab_barrier_timeouts_total " << barrier_timeouts << '\n';
  header("racelab_retries_total", "counter", "Transaction retries by strategy (optimistic, serializable).");
  for (const auto& [strategy, n] : retries_)
    out << "racelab_retries_total{strategy=\"" << strategy << "\"} " << n << '\n';
  header("racelab_spans_exported_total", "counter", "Transfer spans accepted by the OTLP collector.");
  out << "racelab_spans_exported_total " << spans.exported << '\n';
  header("racelab_spans_dropped_total", "counter", "Transfer spans lost: queue full or export failed.");
  out << "racelab_spans_dropped_total " << spans.dropped << '\n';
  header("racelab_span_exports_failed_total", "counter", "OTLP export requests that failed.");
  out << "racelab_span_exports_failed_total " << spans.failed_exports << '\n';
  return out.str();
}

}  // namespace lab::service
