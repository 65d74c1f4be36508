#include "queue/queue.hpp"

#include <racelab/point.hpp>

#include "common/sql_strategy.hpp"

namespace lab::queue {

void JobQueue::reset(Db& db, Strategy strategy, int jobs) {
  db.script(
      std::string(
          "DROP TABLE IF EXISTS processed; DROP TABLE IF EXISTS jobs;"
          "CREATE TABLE jobs(id INTEGER PRIMARY KEY, status TEXT NOT NULL DEFAULT 'pending', taken_by TEXT);"
          "CREATE TABLE processed(job_id INTEGER NOT NULL") +
      (strategy == Strategy::constraint ? " UNIQUE" : "") + ", worker TEXT NOT NULL);");
  for (int i = 1; i <= jobs; ++i) db.run("INSERT INTO jobs(id) VALUES (?)", {std::int64_t{i}});
}

std::int64_t JobQueue::processed() { return db_.query_int64("SELECT count(*) FROM processed", {}).value(); }
std::int64_t JobQueue::distinct_processed() {
  return db_.query_int64("SELECT count(DISTINCT job_id) FROM processed", {}).value();
}
std::int64_t JobQueue::jobs() { return db_.query_int64("SELECT count(*) FROM jobs", {}).value(); }

std::optional<std::int64_t> JobQueue::pick(const char* lock_clause) {
  return db_.query_int64(
      std::string("SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1") + lock_clause, {});
}

// One statement claims the first pending job, so no two workers can claim the same one.
// PostgreSQL and SQLite: UPDATE … RETURNING, a subquery picking the id (on PostgreSQL its snapshot
// may name a job that another worker claims first: 0 rows, the caller looks again). MariaDB has no
// UPDATE … RETURNING and refuses a subquery on the table it updates (1093), so its UPDATE picks the
// row itself (ORDER BY id LIMIT 1) and hands the id to the connection's LAST_INSERT_ID(expr), which
// the next statement on this connection reads back (MySQL's documented idiom). InnoDB's UPDATE
// locks each row it reads and, after waiting for a lock, re-reads the row as its holder committed
// it, so a job another worker claimed meanwhile no longer matches and the scan moves on. No row
// changed: nothing was pending, and LAST_INSERT_ID() still holds an earlier claim, so it is not read.
std::optional<std::int64_t> JobQueue::claim() {
  if (db_.backend() != Backend::mariadb)
    return db_.query_int64(
        "UPDATE jobs SET status = 'taken' WHERE id = (SELECT id FROM jobs WHERE status = 'pending' ORDER "
        "BY id LIMIT 1) AND status = 'pending' RETURNING id",
        {});
  if (db_.run("UPDATE jobs SET status = 'taken', id = LAST_INSERT_ID(id) WHERE status = 'pending' ORDER BY "
              "id LIMIT 1",
              {}) != 1)
    return std::nullopt;
  return db_.query_int64("SELECT LAST_INSERT_ID()", {});
}

void JobQueue::process(std::int64_t job, const std::string& worker) {
  db_.run("UPDATE jobs SET status = 'done', taken_by = ? WHERE id = ?", {worker, job});
  db_.run("INSERT INTO processed(job_id, worker) VALUES (?, ?)", {job, worker});
}

std::optional<std::int64_t> JobQueue::work_one(const std::string& worker, Strategy strategy) {
  const bool server = db_.backend() != Backend::sqlite;  // PostgreSQL and MariaDB lock rows
  switch (strategy) {
    case Strategy::unsafe: {
      auto job = pick("");
      RACELAB_POINT("queue.after_pick");
      if (job) process(*job, worker);
      return job;
    }
    case Strategy::mutex: {
      RACELAB_POINT("queue.after_pick");
      std::lock_guard lock(process_lock("queue"));
      auto job = pick("");
      if (job) process(*job, worker);
      return job;
    }
    case Strategy::pessimistic:
    case Strategy::nowait: {
      RACELAB_POINT("queue.after_pick");
      NoWait nowait(db_, strategy == Strategy::nowait);
      Tx tx(db_, TxMode::write);
      auto job = pick(!server                        ? ""
                      : strategy == Strategy::nowait ? " FOR UPDATE NOWAIT"
                                                     : " FOR UPDATE SKIP LOCKED");
      if (job) process(*job, worker);
      tx.commit();
      return job;
    }
    case Strategy::optimistic:
      for (int attempt = 1;; ++attempt) {
        auto job = pick("");
        RACELAB_POINT("queue.after_pick");
        if (!job) return job;
        Tx tx(db_, TxMode::read);
        if (db_.run("UPDATE jobs SET status = 'taken' WHERE id = ? AND status = 'pending'", {*job}) == 1) {
          process(*job, worker);
          tx.commit();
          return job;
        }
        if (attempt >= 100) throw DbConflict("optimistic claim: gave up after 100 attempts");
      }
    case Strategy::atomic: {
      RACELAB_POINT("queue.after_pick");
      Tx tx(db_, TxMode::read);
      auto job = claim();
      if (job) process(*job, worker);
      tx.commit();
      if (!job && db_.query_int64("SELECT count(*) FROM jobs WHERE status = 'pending'", {}).value() > 0)
        return work_one(worker, strategy);  // lost the race for that job; others remain
      return job;
    }
    case Strategy::constraint:
      for (;;) {
        auto job = pick("");
        RACELAB_POINT("queue.after_pick");
        if (!job) return job;
        try {
          Tx tx(db_, TxMode::read);
          db_.run("INSERT INTO processed(job_id, worker) VALUES (?, ?)", {*job, worker});
          db_.run("UPDATE jobs SET status = 'done', taken_by = ? WHERE id = ?", {worker, *job});
          tx.commit();
          return job;
        } catch (const DbConstraint&) {
          // Another worker processed it first: the UNIQUE refused the second processing.
        }
      }
    case Strategy::serializable:
      RACELAB_POINT("queue.after_pick");
      return with_retries(50, [&] {
        Tx tx(db_, TxMode::serializable);
        auto job = pick("");
        if (job) process(*job, worker);
        tx.commit();
        return job;
      });
  }
  return std::nullopt;
}

int JobQueue::drain(const std::string& worker, Strategy strategy) {
  int done = 0;
  for (int i = 0; i < 10'000; ++i) {  // bounded: a queue of this lab never holds more
    auto job = retry_busy(100, [&] { return work_one(worker, strategy); });
    if (!job) return done;
    ++done;
  }
  return done;
}

}  // namespace lab::queue
