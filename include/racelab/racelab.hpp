// racelab/racelab.hpp — the whole library in one include (the database adapters excepted:
// include racelab/db/sqlite.hpp and link racelab::sqlite for those).
//
//   #include <racelab/racelab.hpp>
//
//   RACELAB_POINT("transfer.after_read");              // in the code under test
//   racelab::Hooks hooks;                               // in the test
//   hooks.barrier("transfer.after_read", 2);
//   auto report = racelab::stress({.threads = 2, .iterations = 100}, setup, body, check);
#pragma once

#include "racelab/explore.hpp"
#include "racelab/fault.hpp"
#include "racelab/history.hpp"
#include "racelab/hooks.hpp"
#include "racelab/observe.hpp"
#include "racelab/outcome.hpp"
#include "racelab/point.hpp"
#include "racelab/sim/simulation.hpp"
#include "racelab/sim/strategy.hpp"
#include "racelab/sim/sync.hpp"
#include "racelab/sim/trace.hpp"
#include "racelab/sim/wait.hpp"
#include "racelab/stress.hpp"
