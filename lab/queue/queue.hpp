// lab/queue/queue.hpp — a job queue where N workers must process each job exactly once.
//
//   unsafe        pick the first pending job; mark it done; process   (two workers, one job)
//   mutex         pick and mark under an in-process lock
//   pessimistic   PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED (workers never wait on each other);
//                 SQLite: BEGIN IMMEDIATE around pick and mark
//   nowait        FOR UPDATE NOWAIT / BEGIN IMMEDIATE without waiting; a busy worker comes back later
//   optimistic    UPDATE jobs SET status = 'taken' WHERE id = ? AND status = 'pending'; 0 rows: pick again
//   atomic        one UPDATE … WHERE id = (SELECT … LIMIT 1) AND status = 'pending' RETURNING id
//   constraint    UNIQUE (job_id) on the processed log: a second processing is refused
//   serializable  pick and mark in a SERIALIZABLE transaction; retry on conflict
// "Processing" is an insert into the processed log, in the same transaction as the claim.
#pragma once

#include <cstdint>
#include <optional>

#include "common/db.hpp"
#include "common/strategy.hpp"

namespace lab::queue {

class JobQueue {
 public:
  explicit JobQueue(Db& db) : db_(db) {}
  static void reset(Db& db, Strategy strategy, int jobs);
  // Claims and processes one job as `worker`; the job's id, or nullopt when none is pending.
  std::optional<std::int64_t> work_one(const std::string& worker, Strategy strategy);
  // Works until no job is pending; returns how many this worker processed.
  int drain(const std::string& worker, Strategy strategy);
  std::int64_t processed();           // rows in the processed log
  std::int64_t distinct_processed();  // distinct jobs in it
  std::int64_t jobs();

 private:
  std::optional<std::int64_t> pick(const char* lock_clause);
  void process(std::int64_t job, const std::string& worker);
  Db& db_;
};

}  // namespace lab::queue
