// lab/queue/queue.hpp — a job queue where N workers must process each job exactly once.
//
//   unsafe        pick the first pending job; mark it done; process   (two workers, one job)
//   mutex         pick and mark under an in-process lock
//   pessimistic   PostgreSQL, MariaDB: SELECT … FOR UPDATE SKIP LOCKED (workers never wait on each
//                 other); SQLite: BEGIN IMMEDIATE around pick and mark
//   nowait        PostgreSQL, MariaDB: FOR UPDATE NOWAIT; SQLite: BEGIN IMMEDIATE without waiting; a
//                 busy worker comes back later
//   optimistic    UPDATE jobs SET status = 'taken' WHERE id = ? AND status = 'pending'; 0 rows: pick again
//   atomic        one UPDATE … WHERE id = (SELECT … LIMIT 1) AND status = 'pending' RETURNING id;
//                 MariaDB (no UPDATE … RETURNING, no subquery on the updated table): UPDATE … SET
//                 id = LAST_INSERT_ID(id) WHERE status = 'pending' ORDER BY id LIMIT 1, then
//                 SELECT LAST_INSERT_ID() on the same connection
//   constraint    UNIQUE (job_id) on the processed log: a second processing is refused
//   serializable  pick and mark in a SERIALIZABLE transaction; retry on conflict (MariaDB: its shared-
//                 lock reads deadlock, 1213, and the transaction is retried)
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
  std::optional<std::int64_t> claim();  // the atomic strategy's one-statement claim
  void process(std::int64_t job, const std::string& worker);
  Db& db_;
};

}  // namespace lab::queue
