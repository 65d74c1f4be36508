// One sample from the service's /metrics, for tests: the value of an unlabelled metric, or -1.
#pragma once

#include <httplib.h>

#include <sstream>
#include <string>

inline double metric(httplib::Client& c, const std::string& name) {
  auto r = c.Get("/metrics");
  if (!r) return -1;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  return -1;
}
